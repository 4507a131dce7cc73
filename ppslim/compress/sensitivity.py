"""Per-layer pruning ratios solved for a FLOPs target (``Slim.prune.pruned_ratio: auto | uniform``).

``auto``: PaddleSlim's dygraph sensitivity analysis (``FilterPruner.sensitive``) prunes each prunable
Conv2D alone by 10%, 20% ... 90% of its filters and scores the network after each on a fixed part of the
Train split (held out from the Eval split the reports score; the trained model has seen these images, so
top-1 there starts near 100%: ``sensitivity_metric: loss`` is the smooth alternative, but top-1 chose the
better ratios on configs/digits_hard). The allocation then bisects a loss threshold: every layer gets the largest ratio whose
estimated loss stays under it, and the threshold is the one whose pruned network loses the target share of
FLOPs, so the layers that hurt least lose the most filters. The estimate per layer is its measured curve
made monotone (the worst loss at any ratio up to r: a smaller loss after pruning more is noise), read
linearly between grid points from (0, 0), plus a tie-breaking 0.001 per unit ratio, so a layer's ratio
grows continuously with the threshold. (PaddleSlim's own ``get_ratios_by_sensitivity`` does the same
bisection on the raw curves but stops when a pruned-FLOPs value repeats: on curves with flat or
non-monotone parts, common for top-1, it returned 53% for a 50% target on DigitsNet.) The analysis is the
expensive part (layers x 9 evaluations); it is cached in a JSON file keyed by the weights and every setting
that changes a score, so a re-run (another seed, other fine-tuning, another target) reuses it.

``uniform``: one ratio for every Conv2D, exactly ``pruned_ratio: <r>``, with ``r`` bisected so the pruned
network loses the target share of FLOPs: the comparison at equal FLOPs.

Both solve on the unpruned model with PaddleSlim's prune-then-restore and leave it unchanged; the stage then
prunes with :func:`ppslim.compress.pruning.prune`, so the checkpoint's plan is the usual replayable one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .. import artifacts, config, data, logs
from ..config import Config, PrunedRatioMode, PruneMethod, SensitivityMetric
from ..errors import ConfigError, PpslimError
from .pruning import conv_weights, drop_backups, ratios_for

log = logging.getLogger(__name__)

# The achieved FLOPs reduction must land this close to Slim.prune.target_flops_reduction.
FLOPS_TOLERANCE = 0.02
# PaddleSlim's sensitivity grid (FilterPruner._cal_sensitive: 0.1 ... 0.9) ends here: no layer loses more.
MAX_RATIO = 0.9
# The uniform ratio is bisected until the bracket is this narrow (well below one filter of a 64-filter conv).
UNIFORM_RATIO_STEP = 0.005
# auto: the loss-threshold bisection stops this close to the target (or after MAX_STEPS measurements).
STOP_WITHIN = FLOPS_TOLERANCE / 4
MAX_STEPS = 30
# Tie-break in the estimated loss of a layer: this much per unit ratio, far below one image of top-1.
RAMP = 1e-3
CACHE_VERSION = 1


@dataclass(frozen=True)
class Sensitivity:
    """A sensitivity table: ``table[weight][ratio]`` = relative score loss when only that Conv2D weight
    (structured name) loses ``ratio`` of its filters, ``(baseline - score) / (baseline + 1e-3)``."""
    table: dict
    baseline: float
    metric: str
    images: int
    seconds: float   # what the analysis took when it was computed
    path: str        # the cache file holding it
    cached: bool     # read from the cache in this run


@dataclass(frozen=True)
class TargetRatios:
    """Ratios solved for a FLOPs target, before the real pruning."""
    mode: str
    target: float
    ratios: dict                 # structured Conv2D weight name -> ratio, as :func:`pruning.prune` takes
    estimated_reduction: float   # FLOPs reduction of these ratios, measured by pruning and restoring
    uniform_ratio: Optional[float]
    sensitivity: Optional[Sensitivity]
    seconds: float               # spent in this run (analysis included unless cached)


def solve(cfg: Config, model) -> TargetRatios:
    """Per-layer ratios reaching ``Slim.prune.target_flops_reduction`` for ``pruned_ratio: auto | uniform``.

    :raises ConfigError: the target is beyond what pruning every Conv2D by 90% removes (checked first).
    """
    prune_cfg, shape = cfg.require("Slim.prune"), cfg.Global.image_shape
    mode, target, method = prune_cfg.mode, prune_cfg.target_flops_reduction, PruneMethod(prune_cfg.name)
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        cached = cached_analysis(cfg, model) if mode == PrunedRatioMode.AUTO else None
        # One PaddleSlim pruner (tracing the network is its slow part): reachability, analysis, solving.
        pruner = _pruner(model, method, shape)
        _check_reachable(pruner, model, shape, target)  # before the analysis: a bad target costs seconds
        if mode == PrunedRatioMode.UNIFORM:
            ratio, reduction = _bisect_uniform(pruner, model, shape, target)
            ratios, sens = ratios_for(model, ratio), None
        else:
            sens = cached or analyse(cfg, model, pruner)
            ratios, reduction = allocate(pruner, model, shape, sens.table, target)
            ratio = None
    finally:
        drop_backups(model)
        if was_training:
            model.train()
    log.info("%s ratios for FLOPs -%.0f%%: estimated -%.1f%% (%s)", mode.value, 100 * target, 100 * reduction,
             f"{ratio:.4f} for every Conv2D" if ratio is not None else
             ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    return TargetRatios(mode.value, target, ratios, round(reduction, 4), ratio, sens,
                        round(time.perf_counter() - start, 2))


# ------------------------------------------------------------------------------- sensitivity analysis
def score_images(cfg: Config, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` Train images, evenly spaced through the Train list (deterministic, every part of it
    represented), preprocessed with DataLoader.Eval's ops (no augmentation). Never the Eval split: the
    report scores that one."""
    samples = data.check_dataset(cfg, "Train")
    if count >= len(samples):
        picked = samples
        if count > len(samples):
            log.info("Slim.prune.sensitivity_images %d > the %d Train images: scoring all of them", count,
                     len(samples))
    else:
        picked = [samples[i] for i in np.linspace(0, len(samples) - 1, count).round().astype(int)]
    ds = data.ImageNetDataset(picked, data.eval_transform(cfg, "Eval").ops)
    return np.stack([ds[i][0] for i in range(len(ds))]), ds.labels


def make_scorer(model, images: np.ndarray, labels: np.ndarray, metric: SensitivityMetric,
                batch_size: int) -> Callable[[], float]:
    """The ``eval_func`` PaddleSlim calls after pruning each layer: higher is better, > 0."""
    import paddle

    def score() -> float:
        with paddle.no_grad():
            logits = np.concatenate([_logits(model(paddle.to_tensor(images[i:i + batch_size])))
                                     for i in range(0, len(images), batch_size)]).astype("float64")
        if metric == SensitivityMetric.TOP1:
            return float((logits.argmax(1) == labels).mean())
        shifted = logits - logits.max(1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        return float(np.exp(log_p[np.arange(len(labels)), labels].mean()))

    return score


def _logits(outputs):
    if isinstance(outputs, (list, tuple)):  # GoogLeNet: [main, aux1, aux2]
        outputs = outputs[0]
    if isinstance(outputs, dict):          # return_patterns: {"logits": ..., ...}
        outputs = outputs["logits"]
    return outputs.numpy()


def weights_digest(model) -> str:
    """sha256 over the model's parameters and buffers (names, shapes, bytes): the weights, however loaded."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = np.ascontiguousarray(tensor.numpy())
        h.update(f"{name}:{value.dtype}:{value.shape};".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def cache_settings(cfg: Config, model) -> dict:
    """Everything a sensitivity score depends on; its hash names the cache file."""
    from importlib.metadata import version

    prune_cfg = cfg.require("Slim.prune")
    train, ev = data.section(cfg, "Train"), data.section(cfg, "Eval")
    samples = data.check_dataset(cfg, "Train")
    return {
        "version": CACHE_VERSION,
        "weights_sha256": weights_digest(model),
        "arch": config.to_dict(cfg.require("Arch")),
        "image_shape": list(cfg.Global.image_shape),
        "method": PruneMethod(prune_cfg.name).value,
        "metric": sensitivity_metric(prune_cfg).value,
        "images": sensitivity_images(prune_cfg),
        "train_list_sha256": hashlib.sha256(json.dumps(samples).encode()).hexdigest(),
        "train_image_root": os.path.abspath(train.dataset.image_root),
        "eval_transform_ops": config.to_dict(ev.dataset)["transform_ops"],
        "paddleslim": version("paddleslim"),
    }


def sensitivity_metric(prune_cfg) -> SensitivityMetric:
    return prune_cfg.sensitivity_metric or prune_cfg.SENSITIVITY_METRIC


def sensitivity_images(prune_cfg) -> int:
    return prune_cfg.sensitivity_images or prune_cfg.SENSITIVITY_IMAGES


def cache_dir(cfg: Config) -> str:
    """``Slim.prune.sensitivity_cache_dir``, default ``Global.output_dir/sensitivity``."""
    return cfg.require("Slim.prune").sensitivity_cache_dir or os.path.join(cfg.Global.output_dir, "sensitivity")


def _cache_path(cfg: Config, settings: dict) -> str:
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return os.path.join(cache_dir(cfg), f"{settings['method']}-{key[:16]}.json")


def cached_analysis(cfg: Config, model) -> Optional[Sensitivity]:
    """The cached sensitivity analysis of these weights with these settings, or ``None``."""
    settings = cache_settings(cfg, model)
    path = _cache_path(cfg, settings)
    if not os.path.isfile(path):
        return None
    cached = artifacts.read_json(path)
    if cached.get("settings") != settings:  # a hash prefix collision, or an edited file
        log.warning("%s was made from other settings; computing the sensitivity analysis again", path)
        return None
    log.info("sensitivity analysis reused from %s (took %.0f s when computed)", path, cached["seconds"])
    return Sensitivity(cached["table"], cached["baseline"], settings["metric"], settings["images"],
                       cached["seconds"], path, cached=True)


def analyse(cfg: Config, model, pruner) -> Sensitivity:
    """PaddleSlim's sensitivity analysis of ``model``'s prunable Conv2D weights with ``pruner`` (left
    holding the result for its ``get_ratios_by_sensitivity``), written to the cache."""
    prune_cfg = cfg.require("Slim.prune")
    settings = cache_settings(cfg, model)
    path = _cache_path(cfg, settings)
    images, labels = score_images(cfg, settings["images"])
    score = make_scorer(model, images, labels, sensitivity_metric(prune_cfg),
                        data.section(cfg, "Eval").sampler.batch_size)
    structured = {p.name: n for n, p in conv_weights(model).items()}
    start = time.perf_counter()
    baseline = score()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path), prefix=".tmp-sensitivity-") as tmp, \
            logs.capture_native():  # PaddleSlim logs every pruned layer and ratio
        # sen_file: PaddleSlim saves its progress there after every evaluation (a temp file here: the
        # parameter names in it are this process's, so ppslim's cache below uses structured names).
        raw = pruner.sensitive(eval_func=score, sen_file=os.path.join(tmp, "status.pkl"),
                               target_vars=list(structured), skip_vars=[])
    seconds = round(time.perf_counter() - start, 2)
    table = {structured[name]: {f"{float(r):.1f}": float(loss) for r, loss in sorted(losses.items())}
             for name, losses in raw.items() if name in structured}
    if not table:
        raise PpslimError("PaddleSlim's sensitivity analysis found no prunable Conv2D (groups=1) layer in this "
                          "network")
    artifacts.write_json(path, {"settings": settings, "baseline": baseline, "seconds": seconds, "table": table})
    log.info("sensitivity analysis: %d layers x %d ratios on %d Train images (%s %.4f unpruned) in %.0f s, "
             "cached in %s", len(table), len(next(iter(table.values()))), len(labels), settings["metric"],
             baseline, seconds, path)
    return Sensitivity(table, baseline, settings["metric"], len(labels), seconds, path, cached=False)


# ------------------------------------------------------------------------------- solving for FLOPs
def _pruner(model, method: PruneMethod, image_shape):
    from paddleslim.dygraph import FPGMFilterPruner, L1NormFilterPruner

    cls = FPGMFilterPruner if method == PruneMethod.FPGM else L1NormFilterPruner
    with logs.capture_native():
        return cls(model, [1, *image_shape])


def _reduction(pruner, model, image_shape, param_ratios: dict, base: int) -> float:
    """FLOPs reduction of pruning ``param_ratios`` (parameter names), measured, then undone."""
    from .. import models

    with logs.capture_native():
        plan = pruner.prune_vars(param_ratios, 0)
    try:
        return 1 - models.count_flops(model, image_shape) / base
    finally:
        plan.restore(model)


def _check_reachable(pruner, model, image_shape, target: float) -> None:
    from .. import models

    base = models.count_flops(model, image_shape)
    most = _reduction(pruner, model, image_shape, {p.name: MAX_RATIO for p in conv_weights(model).values()}, base)
    if most < target:
        raise ConfigError("Slim.prune.target_flops_reduction",
                          f"{target} not reachable: pruning {MAX_RATIO:.0%} of every Conv2D's filters removes "
                          f"{most:.1%} of this network's FLOPs")


def _bisect_uniform(pruner, model, image_shape, target: float) -> tuple[float, float]:
    """The ratio for every Conv2D whose FLOPs reduction lands closest to ``target``."""
    from .. import models

    base = models.count_flops(model, image_shape)
    weights = conv_weights(model)
    lo, hi, tried = 0.0, MAX_RATIO, {}
    while hi - lo > UNIFORM_RATIO_STEP:
        mid = round((lo + hi) / 2, 4)
        tried[mid] = _reduction(pruner, model, image_shape, {p.name: mid for p in weights.values()}, base)
        lo, hi = (mid, hi) if tried[mid] < target else (lo, mid)
    ratio = min(tried, key=lambda r: (abs(tried[r] - target), r))
    return ratio, tried[ratio]


def loss_curve(losses: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ratios, estimated losses) of one layer: from (0, 0), the running worst of its measured losses
    (floored at 0) plus ``RAMP`` per unit ratio, so strictly increasing."""
    grid = sorted(losses, key=float)
    ratios = np.array([0.0] + [float(r) for r in grid])
    measured = np.array([0.0] + [max(float(losses[r]), 0.0) for r in grid])
    return ratios, np.maximum.accumulate(measured) + RAMP * ratios


def ratios_at(curves: dict, threshold: float) -> dict:
    """Every layer's largest ratio whose estimated loss is <= ``threshold`` (linear between grid points)."""
    out = {}
    for name, (ratios, losses) in curves.items():
        ratio = round(float(np.interp(threshold, losses, ratios)), 4)
        if ratio > 0:
            out[name] = ratio
    return out


def allocate(pruner, model, image_shape, table: dict, target: float) -> tuple[dict, float]:
    """Per-layer ratios (structured names) for a FLOPs ``target``: bisect the loss threshold of
    :func:`ratios_at`, measuring each candidate's FLOPs by pruning and restoring; the closest is kept."""
    from .. import models

    weights = conv_weights(model)
    missing = [n for n in table if n not in weights]
    if missing:
        raise PpslimError(f"the sensitivity table names {missing[0]!r}, not a Conv2D weight of this network")
    curves = {name: loss_curve(losses) for name, losses in table.items()}
    base = models.count_flops(model, image_shape)
    lo, hi = 0.0, max(float(losses[-1]) for _, losses in curves.values())
    best = ({}, 0.0)
    for _ in range(MAX_STEPS):
        threshold = (lo + hi) / 2
        ratios = ratios_at(curves, threshold)
        reduction = _reduction(pruner, model, image_shape, {weights[n].name: r for n, r in ratios.items()}, base)
        if abs(reduction - target) < abs(best[1] - target):
            best = (ratios, reduction)
        if abs(reduction - target) <= STOP_WITHIN:
            break
        lo, hi = (threshold, hi) if reduction < target else (lo, threshold)
    return best
