"""``ppslim bench`` (``make bench``): measured proof of what compression buys, in one run.

1. Accuracy on the digits default: FP32, PTQ per ``Bench.ptq_algos``, QAT, pruned per
   ``Bench.prune_methods``, prune + QAT, Lite x86 FP32, each scored by ``eval``.
2. Latency of ``Bench.latency_models``, trained once on the digits at their 32x32 (cached in
   ``Bench.output_dir/cache``, precise BatchNorm statistics), exported with any input size, timed at
   ``Bench.image_size``: FP32, PaddleSlim PTQ INT8, NNCF INT8 (``Slim.ptq.engine: nncf``) and, with
   ``pruned_ratio``, FPGM-pruned FP32 and INT8; each on every serving backend that applies on this CPU
   (Paddle oneDNN FP32/BF16/INT8, OpenVINO f32/bf16/int8, 1 or 2 streams), beside an OpenVINO + NNCF
   peer written as a user would. Each serving is verified against its FP32 source on Paddle oneDNN
   (outputs, and top-1 on the digits val split) with the very predictor that is then timed; one that
   fails is refused, not timed. The fastest verified serving per artifact is recorded in its
   ``result.json`` (:mod:`ppslim.serve.pick`) for ``Global.inference_backend: auto``.
3. Toolchain overhead: ``ppslim ptq`` against ``paddleslim.quant.quant_post_static`` called directly.

All predictors are timed in one process, every variant once per round (:func:`ppslim.bench.timing.interleaved`).
Writes ``<Bench.output_dir>/results.json``, ``results.md`` and ``accuracy_vs_latency.png``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import artifacts, data, logs, models
from ..bench import report as bench_report, timing
from ..compress import pruning
from ..config import BenchConfig, Config, Device, InferenceBackend, LatencyModelConfig, PruneMethod, to_dict
from ..errors import ArtifactError, ConfigError, refusal_reason
from ..inference_model import verification_images
from ..predict import PaddlePredictor, compare, inference_config, predict_all, topk_scores, verify
from ..serve import backends, cpu, pick
from . import eval as eval_stage
from . import export, lite, prune, ptq, qat, train
from .pipeline import REQUIRED_SECTIONS, derive, stage_config, suffixed

log = logging.getLogger(__name__)

CACHE_DIRNAME = "cache"  # under Bench.output_dir: the trained latency models
# Groups of the accuracy tables: served on Global.inference_backend, scored on their own val split, each INT8
# row verified against the group's FP32 row (the latency models run on every backend instead).
DIGITS, UNSATURATED = "digits", "digits_hard"
ACCURACY_GROUPS = (DIGITS, UNSATURATED)


@dataclass(frozen=True)
class Artifact:
    """One thing that is scored and/or timed."""
    name: str                   # row label
    group: str                  # an accuracy group (ACCURACY_GROUPS) or the latency model's architecture
    variant: str                # fp32 | ptq_<algo> | qat | pruned_<method> | prune_qat | lite_x86 | int8 | pruned_fp32 | pruned_int8
    path: str                   # inference model dir or Lite .nb
    precision: str              # FP32 | INT8
    params: int
    flops: int
    reference: Optional[str] = None   # name of the FP32 artifact this INT8 model must match before it is timed
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return bool(self.path)  # a refused artifact has no path

    @property
    def scored(self) -> bool:
        """An accuracy-table row (served as configured, scored on its group's val split)."""
        return self.group in ACCURACY_GROUPS

    @property
    def timed(self) -> bool:
        return self.exists and not self.path.endswith(".nb")  # Lite runs in a subprocess: not comparable


@dataclass(frozen=True)
class BenchResult:
    json_path: str
    markdown_path: str
    plot_path: str
    targets_met: int
    targets_missed: int
    seconds: float
    markdown: str

    def report(self) -> str:
        return (self.markdown + f"\nwritten: {self.json_path}\n         {self.markdown_path}\n         {self.plot_path}\n"
                f"targets: {self.targets_met} met, {self.targets_missed} missed ({self.seconds:.0f} s)\n"
                "README: .venv/bin/python scripts/update_readme_results.py  (copies results.md into README.md)")


def copy_model(src_dir: str, dst_dir: str) -> str:
    """A private copy of an inference model, so each PTQ algorithm gets its own quant_post_static_model/."""
    with artifacts.atomic_dir(dst_dir) as tmp:
        for name in (artifacts.MODEL_FILE, artifacts.PARAMS_FILE):
            shutil.copy2(os.path.join(src_dir, name), os.path.join(tmp, name))
    return dst_dir


def digits_artifacts(cfg: Config, bench: BenchConfig) -> list[Artifact]:
    """Train the digits baseline and produce every compressed variant of it (stage outputs side by side)."""
    g = cfg.Global
    trained = train.run(cfg)
    weights = f"Global.pretrained_model={trained.best_model}"
    fp32 = export.run(derive(cfg, weights))
    base = {"params": fp32.params, "flops": fp32.flops}
    fp32_name = "FP32 (trained, exported)"
    out = [Artifact(fp32_name, "digits", "fp32", fp32.model_dir, "FP32", **base)]
    for algo in bench.ptq_algos:
        src = copy_model(fp32.model_dir, suffixed(g.save_inference_dir, f"ptq_{algo.value.lower()}"))
        name, variant = f"PTQ INT8 {algo.value}", f"ptq_{algo.value.lower()}"
        try:
            result = ptq.run(derive(cfg, f"Global.inference_model_dir={src}", f"Slim.ptq.algo={algo.value}"))
        except ArtifactError as e:  # a refused algorithm is a result too: its row says why
            log.warning("PTQ %s refused: %s", algo.value, e)
            out.append(Artifact(name, "digits", variant, "", "INT8", **base,
                                note="refused by verification: " + refusal_reason(e)))
            continue
        out.append(Artifact(name, "digits", variant, result.model_dir, "INT8", **base, reference=fp32_name,
                            note=f"{result.calib_images} calibration images"))
    if bench.search is not None:
        src = copy_model(fp32.model_dir, suffixed(g.save_inference_dir, "ptq_auto"))
        result, error = ptq_or_refusal(derive(cfg, f"Global.inference_model_dir={src}", "Slim.ptq.algo=auto"))
        search = search_record(result)
        out.append(Artifact("PTQ INT8 auto (search)", DIGITS, "ptq_auto", result.model_dir if result else "", "INT8",
                            **base, reference=fp32_name if result else None,
                            note=search_note(search) if result else
                            "refused by verification: " + refusal_reason(error),
                            extra={"search": search} if search else {}))
    src = copy_model(fp32.model_dir, suffixed(g.save_inference_dir, "ptq_nncf"))
    result, error = ptq_or_refusal(derive(cfg, f"Global.inference_model_dir={src}", "Slim.ptq.engine=nncf"))
    out.append(Artifact("PTQ INT8 NNCF (OpenVINO IR)", "digits", "ptq_nncf", result.model_dir if result else "", "INT8",
                        **base, reference=fp32_name if result else None,
                        note=f"{result.calib_images} calibration images" if result else
                        "refused by verification: " + refusal_reason(error)))
    quantized = qat.run(stage_config(cfg, "qat", weights))
    out.append(Artifact(f"QAT INT8 ({quantized.epochs_run} epochs)", "digits", "qat", quantized.model_dir, "INT8",
                        **base))
    ratio = cfg.require("Slim.prune").pruned_ratio
    pruned_best = {}
    for method in bench.prune_methods:
        stage = f"prune_{method.value}"
        pruned = prune.run(stage_config(cfg, stage, weights, f"Slim.prune.name={method.value}"))
        exported = export.run(stage_config(cfg, stage, f"Global.pretrained_model={pruned.best_model}"))
        pruned_best[method] = pruned.best_model
        out.append(Artifact(f"{method.value.upper()} {ratio} pruned + fine-tuned", "digits", f"pruned_{method.value}",
                            exported.model_dir, "FP32", exported.params, exported.flops,
                            note=f"FLOPs -{100 * pruned.flops_reduction:.0f}%"))
    if bench.prune_methods:
        method = bench.prune_methods[0]
        both = qat.run(stage_config(cfg, f"prune_{method.value}_qat", f"Global.pretrained_model={pruned_best[method]}"))
        counts = next(a for a in out if a.variant == f"pruned_{method.value}")
        out.append(Artifact(f"{method.value.upper()} pruned + QAT INT8", "digits", "prune_qat", both.model_dir, "INT8",
                            counts.params, counts.flops))
    nb = lite.run(derive(cfg, f"Global.inference_model_dir={fp32.model_dir}", "Slim.lite.valid_targets=[x86]"))
    out.append(Artifact("Lite x86 FP32 .nb", "digits", "lite_x86", nb.targets[0].nb_path, "FP32", **base,
                        note="verified on this host; not timed (Lite runs in a subprocess)"))
    return out


def score(cfg: Config, art: Artifact) -> eval_stage.EvalResult:
    return eval_stage.run(derive(cfg, f"Global.inference_model_dir={art.path}"))


# ------------------------------------------------------------------------------- latency models
def resize_overrides(cfg: Config, size: int) -> list[str]:
    """Overrides replacing each split's ``ResizeImage`` op with one to ``size`` x ``size``."""
    out = []
    for split in ("Train", "Eval"):
        ops = data.section(cfg, split).dataset.transform_ops
        index = next((i for i, op in enumerate(ops) if op.name == "ResizeImage"), None)
        if index is None:
            raise ConfigError(f"DataLoader.{split}.dataset.transform_ops",
                              "bench needs a ResizeImage op to feed the latency models Bench.image_size images")
        out.append(f"DataLoader.{split}.dataset.transform_ops.{index}={{ResizeImage: {{size: {size}}}}}")
    return out


def latency_config(cfg: Config, bench: BenchConfig, arch: str, name: str) -> Config:
    """The digits config turned into one for ``arch`` at the bench input size, outputs in their own dirs
    (its images are digits resized to ``Bench.image_size``: what the latency models are timed on)."""
    g, size = cfg.Global, bench.image_size
    return derive(cfg, f"Arch={{name: {arch}, class_num: {bench.class_num}}}",
                  f"Global.image_shape=[3, {size}, {size}]",
                  f"Global.output_dir={os.path.join(suffixed(g.output_dir, 'bench'), name)}",
                  f"Global.save_inference_dir={os.path.join(suffixed(g.save_inference_dir, 'bench'), name)}",
                  "Global.inference_model_dir=null", "Global.pretrained_model=null",
                  f"Slim.ptq.batch_size={bench.calib_batch_size}", f"Slim.ptq.batch_nums={bench.calib_batch_nums}",
                  *resize_overrides(cfg, size))


def train_config(cfg: Config, bench: BenchConfig, arch: str) -> Config:
    """``arch`` on the digits config at the digits' own resolution (``DataLoader.Train`` as it is)."""
    epochs = bench.latency_train_epochs
    lr = cfg.Optimizer.lr
    # LinearWarmup needs its start below the peak: with a smaller peak, warm up from a tenth of it.
    warmup = ([f"Optimizer.lr.warmup_start_lr={bench.latency_train_lr / 10}"]
              if lr.warmup_epoch and lr.warmup_start_lr >= bench.latency_train_lr else [])
    return derive(cfg, f"Arch={{name: {arch}, class_num: {bench.class_num}}}", f"Global.epochs={epochs}",
                  *warmup,
                  f"Global.save_interval={epochs}", "Global.pretrained_model=null", "Global.checkpoints=null",
                  "Global.inference_model_dir=null", f"DataLoader.Train.sampler.batch_size={bench.latency_train_batch_size}",
                  f"Optimizer.lr.learning_rate={bench.latency_train_lr}")


def recipe_digest(cfg: Config, *extra) -> str:
    """What a trained checkpoint depends on: network, optimizer, loss, training data and transforms, seed,
    epochs, input shape (and ``extra``, e.g. a pruning recipe); not where outputs go."""
    d = to_dict(cfg)
    keep = {"Arch": d.get("Arch"), "Optimizer": d.get("Optimizer"), "Loss": d.get("Loss"),
            "Train": d["DataLoader"].get("Train"), "Eval": d["DataLoader"].get("Eval"),
            "Global": {k: d["Global"].get(k) for k in ("seed", "epochs", "image_shape", "device")}, "extra": extra}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_stage(cfg: Config, bench: BenchConfig, name: str, digest: str, stage) -> dict:
    """``stage.run`` on ``cfg`` writing into ``<Bench.output_dir>/cache/<name>-<digest>``, or its stored
    ``result.json`` when that run finished before (a run killed half-way has none and is redone)."""
    out = os.path.join(bench.output_dir, CACHE_DIRNAME, f"{name}-{digest}")
    result_file = os.path.join(artifacts.model_dir(out, cfg.require("Arch").name), artifacts.RESULT_FILE)
    if os.path.isfile(result_file):
        with open(result_file, encoding="utf-8") as f:
            result = json.load(f)
        if os.path.isfile(result["best_model"] + ".pdparams"):
            log.info("%s: trained model from the cache (%s)", name, result["best_model"])
            return result
    log.info("%s: training once, cached under %s", name, out)
    stage.run(derive(cfg, f"Global.output_dir={out}"))
    with open(result_file, encoding="utf-8") as f:
        return json.load(f)


def precise_bn(cfg: Config, prefix: str) -> str:
    """The checkpoint at ``prefix`` with every BatchNorm's running mean/variance recomputed as the plain
    average over the Train split at the final weights ("precise BN"), saved beside it (once).

    A few hundred SGD steps are far too few for BatchNorm's moving averages to catch up with the weights:
    ``paddle.vision``'s MobileNetV3 keeps momentum 0.99, so its eval-mode outputs stay at chance while its
    train-mode ones are right; ResNet50 (0.9) lags less but its statistics are noisy, which costs INT8 and
    BF16 accuracy. Returns the new prefix."""
    import paddle

    from ..restore import load_trained_model

    out = prefix + "_precise_bn"
    if os.path.isfile(out + ".pdparams"):
        return out
    model, states = load_trained_model(cfg, prefix, "Global.pretrained_model")
    norms = [layer for layer in model.sublayers() if isinstance(layer, paddle.nn.layer.norm._BatchNormBase)]
    momenta = [n._momentum for n in norms]
    model.train()
    with paddle.no_grad():
        for k, (images, _) in enumerate(data.build_loader(cfg, "Train", shuffle=False).loader):
            for n in norms:  # running = k/(k+1) running + 1/(k+1) batch: the mean over all batches so far
                n._momentum = k / (k + 1)
            model(images)
    for n, m in zip(norms, momenta):
        n._momentum = m
    model.eval()
    artifacts.paddle_save(model.state_dict(), out + ".pdparams")
    artifacts.write_json(out + ".pdstates", states)
    log.info("precise BN: %d BatchNorm layers re-estimated on the Train split -> %s", len(norms), out)
    return out


def trained_checkpoint(cfg: Config, bench: BenchConfig, arch: str, pruned_ratio: Optional[float] = None) -> dict:
    """The trained (and with ``pruned_ratio``, FPGM-pruned and fine-tuned) checkpoint of ``arch``, cached:
    the last epoch's weights with precise BatchNorm statistics (:func:`precise_bn`).

    Returns the stage's result with ``weights`` (the prefix to export); pruning adds ``flops_reduction``."""
    tcfg = train_config(cfg, bench, arch)
    trained = cached_stage(tcfg, bench, arch, recipe_digest(tcfg), train)
    trained["weights"] = precise_bn(tcfg, os.path.join(trained["run_dir"], "latest"))
    if pruned_ratio is None:
        return trained
    pcfg = derive(tcfg, f"Global.pretrained_model={trained['weights']}", "Slim.prune.name=fpgm",
                  f"Slim.prune.pruned_ratio={pruned_ratio}",
                  f"Slim.prune.finetune_epochs={bench.latency_finetune_epochs}",
                  f"Global.save_interval={bench.latency_finetune_epochs}")
    pruned = cached_stage(pcfg, bench, f"{arch}_fpgm{pruned_ratio}",
                          recipe_digest(pcfg, to_dict(pcfg.require("Slim.prune")), trained["weights"]), prune)
    pruned["weights"] = precise_bn(pcfg, os.path.join(pruned["run_dir"], "latest"))
    return pruned


def random_checkpoint(cfg: Config, pruned_ratio: Optional[float] = None) -> tuple[str, Optional[float]]:
    """Seeded random-init weights (FPGM-pruned when ``pruned_ratio`` is set) saved as a checkpoint that
    ``export`` loads like a trained one; returns (prefix, FLOPs reduction). For tests of the report
    machinery; the bench's latency models are trained (:func:`trained_checkpoint`)."""
    import paddle

    paddle.seed(cfg.Global.seed)
    model = models.build_model(cfg.require("Arch"))
    state, reduction = {}, None
    if pruned_ratio is not None:
        shape = cfg.Global.image_shape
        before = models.count_flops(model, shape)
        state["prune_plan"] = pruning.prune(model, PruneMethod.FPGM, pruning.ratios_for(model, pruned_ratio), shape)
        reduction = round(1 - models.count_flops(model, shape) / before, 4)
    prefix = artifacts.checkpoint_prefix(cfg.Global.output_dir, cfg.Arch.name, "random_init")
    artifacts.paddle_save(model.state_dict(), prefix + ".pdparams")
    artifacts.write_json(prefix + ".pdstates", state)
    return prefix, reduction


def direct_quant_post_static(cfg: Config, src: str, out_dir: str) -> float:
    """What a user would write without ppslim: an executor, a DataLoader over the same calibration
    images, and ``quant_post_static`` with the same arguments (``ptq.quantize``, which is exactly
    that). Returns its wall time in seconds."""
    settings = ptq.settings(cfg)
    model_file, params_file = ptq.model_files(cfg, settings)
    calib = ptq.calibration(cfg, settings)
    t0 = time.perf_counter()
    with logs.capture_native():  # as save_verified does around ppslim's own PTQ
        ptq.quantize(settings, model_file, params_file, calib, out_dir, {})
    return time.perf_counter() - t0


def verified_ptq(cfg: Config, src: str, algos, overhead: Optional[dict] = None, pairs: int = 1):
    """PTQ with the first algorithm whose INT8 model passes verification; refusals are returned, not hidden.

    With ``overhead`` (a dict to fill), the first algorithm is also run through quant_post_static
    directly, ``pairs`` times each in alternating order, and every wall time is recorded.
    """
    refused = []
    for i, algo in enumerate(algos):
        # each algorithm tried replaces the one refused or timed before it in the bench's own folder
        algo_cfg = derive(cfg, f"Global.inference_model_dir={src}", f"Slim.ptq.algo={algo.value}",
                          "Global.overwrite=true")
        runs = pairs if overhead is not None and i == 0 else 0
        times = {"direct": [], "ppslim": []}
        result = error = None
        for what in ([("direct", "ppslim"), ("ppslim", "direct")][k % 2][j] for k in range(runs) for j in (0, 1)):
            t0 = time.perf_counter()
            if what == "direct":
                with tempfile.TemporaryDirectory(prefix="direct_ptq_") as tmp:
                    direct_quant_post_static(algo_cfg, src, tmp)
            else:
                result, error = ptq_or_refusal(algo_cfg)
            times[what].append(round(time.perf_counter() - t0, 2))
        if runs:
            overhead.update({"direct_runs_s": times["direct"], "ppslim_runs_s": times["ppslim"],
                             "direct_s": round(sum(times["direct"]), 2), "ppslim_s": round(sum(times["ppslim"]), 2)})
        else:
            result, error = ptq_or_refusal(algo_cfg)
        if error is not None:
            log.warning("PTQ %s of %s refused: %s", algo.value, src, error)
            refused.append({"algo": algo.value, "reason": refusal_reason(error)})
            continue
        return result, refused
    raise ArtifactError(f"{src}: every PTQ algorithm was refused: " + "; ".join(f"{r['algo']}: {r['reason']}"
                                                                                for r in refused))


def searched_ptq(cfg: Config, src: str, algos) -> tuple:
    """Each fixed algorithm of ``algos`` (verified, then scored on the Eval split by ``eval`` with the deploy
    backend), then ``Slim.ptq.algo: auto``, whose model is the one kept (and timed). Returns (auto's result, or
    None when it was refused too; the refusals; the comparison rows)."""
    compared, refused = [], []

    def attempt(name: str):
        result, error = ptq_or_refusal(derive(cfg, f"Global.inference_model_dir={src}", f"Slim.ptq.algo={name}",
                                              "Global.overwrite=true"))
        if error is not None:
            reason = refusal_reason(error)
            log.warning("PTQ %s of %s refused: %s", name, src, reason)
            refused.append({"algo": name, "reason": reason})
            compared.append({"algo": name, "top1": None, "refused": reason})
            return None
        top1 = eval_stage.run(derive(cfg, f"Global.inference_model_dir={result.model_dir}")).top1
        compared.append({"algo": name, "top1": top1, "refused": None, "seconds": result.seconds,
                         **({"search": search_record(result)} if name == "auto" else {})})
        return result

    for algo in algos:
        attempt(algo.value)
    auto = attempt("auto")  # the last one written into the folder: the model kept and timed
    return auto, refused if auto is None else [r for r in refused if r["algo"] != "auto"], compared


def search_record(result) -> Optional[dict]:
    """A PTQ result's search record (``Slim.ptq.algo: auto``) as plain data, or None."""
    record = getattr(result, "search", None) if result is not None else None
    return artifacts.to_jsonable(record) if record is not None else None


def search_note(search: Optional[dict]) -> str:
    return (f"auto: {search['tried']} candidates tried in {search['wall_s']:.0f} s, picked {search['pick']}"
            if search else "")


def ptq_or_refusal(cfg: Config):
    """(result, None) or (None, the ArtifactError that refused the INT8 model)."""
    try:
        return ptq.run(cfg), None
    except ArtifactError as e:
        return None, e


def latency_artifacts(cfg: Config, bench: BenchConfig) -> tuple[list[Artifact], Optional[dict], dict, dict]:
    """Train (cached), export, prune and quantize each latency model.

    Returns artifacts, the overhead record, and by group the config whose Eval split scores the group
    (digits at the training resolution) and the one whose images time it (resized to ``Bench.image_size``)."""
    out, overhead, configs, timing_configs = [], None, {}, {}
    for lm in bench.latency_models:
        timing_configs[lm.arch] = latency_config(cfg, bench, lm.arch, lm.arch)
        configs[lm.arch] = export_config(cfg, bench, lm.arch, lm.arch)
        out += build_latency_model(cfg, bench, lm, lm.arch, pruned=False)
        if lm.arch == bench.overhead_arch:
            overhead = measure_overhead(cfg, bench, lm)
        if lm.pruned_ratio is not None:
            out += build_latency_model(cfg, bench, lm, f"{lm.arch}_fpgm{lm.pruned_ratio}", pruned=True)
    return out, overhead, configs, timing_configs


def measure_overhead(cfg: Config, bench: BenchConfig, lm: LatencyModelConfig) -> dict:
    """``ppslim ptq`` against a bare ``quant_post_static`` on the trained ``lm.arch`` exported at
    ``Bench.image_size`` and calibrated on digits resized to it, as a user quantizing at their deploy size
    would. Only the wall times are kept: this copy's INT8 model is not served (the timed one is calibrated at
    the resolution the network was trained at), so its verification bars are off; the check still runs."""
    batches = max(1, 32 // bench.calib_batch_size)  # 32 images at 224: half a minute of calibration per run
    ocfg = derive(latency_config(cfg, bench, lm.arch, f"{lm.arch}_overhead"), "Global.verify_int8_min_cosine=0.0",
                  "Global.verify_int8_min_top1_agreement=0.0", f"Slim.ptq.batch_nums={batches}")
    weights = trained_checkpoint(cfg, bench, lm.arch)["weights"]
    fp32 = export.run(derive(ocfg, f"Global.pretrained_model={weights}"), dynamic_hw=True)
    rec = {}
    verified_ptq(ocfg, fp32.model_dir, lm.ptq_algos[:1], rec, bench.overhead_pairs)
    return {"model": lm.arch, "algo": lm.ptq_algos[0].value, **rec, "ratio": round(rec["ppslim_s"] / rec["direct_s"], 3),
            "calib_images": bench.calib_batch_size * batches, "verify_images": cfg.Global.verify_images,
            "image_size": bench.image_size}


def export_config(cfg: Config, bench: BenchConfig, arch: str, name: str) -> Config:
    """The training config of ``arch`` exporting to the bench's folders, FLOPs counted at ``Bench.image_size``;
    its Eval images (the digits' own resolution) verify and score, its Train images calibrate."""
    g, size = cfg.Global, bench.image_size
    return derive(train_config(cfg, bench, arch), f"Global.image_shape=[3, {size}, {size}]",
                  f"Global.output_dir={os.path.join(suffixed(g.output_dir, 'bench'), name)}",
                  f"Global.save_inference_dir={os.path.join(suffixed(g.save_inference_dir, 'bench'), name)}",
                  f"Slim.ptq.batch_size={bench.calib_batch_size}", f"Slim.ptq.batch_nums={bench.calib_batch_nums}",
                  *([f"Global.verify_int8_min_top1_agreement={bench.latency_min_top1_agreement}"]
                    if bench.latency_min_top1_agreement is not None else []))


def build_latency_model(cfg: Config, bench: BenchConfig, lm: LatencyModelConfig, name: str,
                        pruned: bool) -> list[Artifact]:
    """FP32 (exported with any input size), PaddleSlim PTQ INT8 and, unpruned, NNCF INT8 and the
    OpenVINO + NNCF peer of one trained latency model."""
    ecfg = export_config(cfg, bench, lm.arch, name)
    trained = trained_checkpoint(cfg, bench, lm.arch, lm.pruned_ratio if pruned else None)
    fp32 = export.run(derive(ecfg, f"Global.pretrained_model={trained['weights']}"), dynamic_hw=True)
    tag = f"FPGM-{lm.pruned_ratio} " if pruned else ""
    fp32_name = f"{lm.arch} {tag}FP32"
    extra = {"flops_reduction": trained.get("flops_reduction"), "trained_top1": trained["best_top1"]} if pruned \
        else {"trained_top1": trained["best_top1"]}
    compared = None
    try:
        if bench.search is not None:  # every fixed algorithm scored, then auto PTQ: the one timed
            int8, refused, compared = searched_ptq(ecfg, fp32.model_dir, lm.ptq_algos)
        else:
            int8, refused = verified_ptq(ecfg, fp32.model_dir, lm.ptq_algos)
    except ArtifactError as e:  # every algorithm refused: the FP32 row says so, no INT8 row is timed
        log.warning("%s", e)
        int8, refused = None, [{"algo": "/".join(a.value for a in lm.ptq_algos), "reason": refusal_reason(e)}]
    out = [Artifact(fp32_name, lm.arch, "pruned_fp32" if pruned else "fp32", fp32.model_dir, "FP32", fp32.params,
                    fp32.flops, extra={**extra, **({"refused": refused} if int8 is None else {}),
                                       **({"ptq_compared": compared} if compared is not None else {})})]
    if int8 is not None:
        out.append(Artifact(f"{lm.arch} {tag}PTQ INT8 ({int8.algo})", lm.arch, "pruned_int8" if pruned else "int8",
                            int8.model_dir, "INT8", fp32.params, fp32.flops, reference=fp32_name,
                            note=f"{int8.calib_images} calibration images",
                            extra={**extra, "ptq_algo": int8.algo, "refused": refused,
                                   "ptq_attempts": [a.value for a in lm.ptq_algos]}))
    nncf_cfg = derive(ecfg, f"Global.inference_model_dir={fp32.model_dir}", "Slim.ptq.engine=nncf")
    result, error = ptq_or_refusal(nncf_cfg)
    if error is None:
        out.append(Artifact(f"{lm.arch} {tag}NNCF INT8 (ppslim ptq, engine nncf)", lm.arch,
                            "pruned_nncf_int8" if pruned else "nncf_int8", result.model_dir, "INT8", fp32.params,
                            fp32.flops, reference=fp32_name, note=f"{result.calib_images} calibration images",
                            extra={**extra, "ptq_algo": "nncf"}))
    else:
        log.warning("NNCF PTQ of %s refused: %s", name, error)
    if pruned:
        if error is not None:
            out[0].extra.setdefault("refused", []).append({"algo": "nncf", "reason": refusal_reason(error)})
        return out
    out.append(Artifact(f"{lm.arch} OpenVINO + NNCF INT8 (direct)", lm.arch, "peer_nncf", fp32.model_dir, "INT8",
                        fp32.params, fp32.flops, reference=fp32_name,
                        note="peer: nncf.quantize + compile_model as a user writes them, same calibration images",
                        extra={"calib": nncf_cfg, "refused": [] if error is None else
                               [{"algo": "nncf", "reason": refusal_reason(error)}]}))
    return out


# ------------------------------------------------------------------------------- measuring
def centered_cosine(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Cosine after removing the mean logit vector over the images: an image-independent offset (which
    random-init networks produce) cannot make two outputs look alike."""
    ref = reference - reference.mean(axis=0, keepdims=True)
    out = candidate - candidate.mean(axis=0, keepdims=True)
    return compare(ref, out).cosine


def onednn_program(model_file: str, params_file: str, batch: np.ndarray, threads: int) -> dict:
    """What oneDNN INT8 inference really runs: the optimized program Paddle saves after its IR passes,
    summarized as op counts, with convolutions / fc split by ``mkldnn_data_type``. (The predictor
    settings are :func:`ppslim.predict.inference_config`'s for ``onednn_int8``, plus saving.)"""
    from collections import Counter

    from paddle.base import core
    from paddle.inference import create_predictor

    with tempfile.TemporaryDirectory(prefix="optim_") as tmp:
        config = inference_config(model_file, params_file, InferenceBackend.ONEDNN_INT8, Device.CPU, threads)
        config.set_optim_cache_dir(tmp)
        config.enable_save_optim_model(True)
        with logs.capture_native():
            PaddlePredictor(create_predictor(config), "paddle-cpu-onednn_int8")(batch)
        path = os.path.join(tmp, "_optimized.pdmodel")
        if not os.path.isfile(path):
            return {"note": "Paddle saved no optimized program"}
        with open(path, "rb") as f:
            desc = core.ProgramDesc(f.read())
    ops, kinds = Counter(), Counter()
    block = desc.block(0)
    for i in range(block.op_size()):
        op = block.op(i)
        ops[op.type()] += 1
        if op.type() in ("conv2d", "fused_conv2d", "depthwise_conv2d", "fc", "matmul", "matmul_v2", "fused_matmul"):
            dtype = op.attr("mkldnn_data_type") if "mkldnn_data_type" in op.attr_names() else "float32"
            kinds[f"{op.type()}:{dtype or 'float32'}"] += 1
    return {"ops": sum(ops.values()), "compute_ops": dict(sorted(kinds.items())),
            "quantize": ops.get("quantize", 0), "dequantize": ops.get("dequantize", 0),
            "requantize": ops.get("requantize", 0)}


@dataclass
class Served:
    """One artifact on one serving: what is verified, scored and timed as one row."""
    key: str                 # timing key: the artifact name (digits) or "<artifact> @ <serving>"
    art: Artifact
    serving: dict            # Serving.as_dict(); the peer's names its own setup
    run: object              # batch -> logits
    outputs: Optional[np.ndarray] = None
    top1: Optional[float] = None
    agreement: Optional[dict] = None
    score_run: Optional[object] = None   # the peer scores with a model compiled for any input size


def scored_key(group: str, name: str) -> str:
    """The timing key of an accuracy-group artifact (names repeat across groups: "PTQ INT8 hist")."""
    return name if group == DIGITS else f"{group}: {name}"


def served_key(art: Artifact, serving_name: str) -> str:
    return scored_key(art.group, art.name) if art.scored else f"{art.name} @ {serving_name}"


def openvino_nncf_peer(art: Artifact, images: dict, threads: int, size: int) -> tuple[object, object, dict]:
    """What a user writes without ppslim: OpenVINO reads the FP32 ``.pdmodel``, ``nncf.quantize`` on the same
    calibration images, the input fixed to ``size`` x ``size`` (batch left dynamic) and
    ``core.compile_model(model, "CPU")`` with OpenVINO's defaults. Returns (timed runner, runner for the
    verification images at their own size, costs)."""
    import nncf
    import openvino as ov

    from ..compress import nncf_ptq

    model_file, params_file = artifacts.inference_files(art.path)
    calib_cfg = art.extra["calib"]
    ptq_settings = ptq.settings(calib_cfg)
    calib = nncf_ptq.calibration_images(ptq_settings, ptq.calibration(calib_cfg, ptq_settings))
    t0 = time.perf_counter()
    core = ov.Core()
    quantized = nncf.quantize(core.read_model(model_file, params_file), nncf.Dataset(calib), subset_size=len(calib))
    seconds = round(time.perf_counter() - t0, 2)
    any_size = core.compile_model(quantized, "CPU")
    fixed = quantized.clone()
    channels = fixed.inputs[0].get_partial_shape()[1]
    fixed.reshape([-1, channels, size, size])
    timed = core.compile_model(fixed, "CPU")
    return (lambda batch: timed(batch)[0]), (lambda batch: any_size(batch)[0]), \
        {"nncf_quantize_s": seconds, "calib_images": len(calib)}


def open_served(cfg: Config, arts: list[Artifact], images: dict, threads: int,
                group_configs: Optional[dict] = None, size: Optional[int] = None) -> tuple[list, dict, list]:
    """Predictors for every timed artifact: a digits artifact on ``Global.inference_backend``; a latency
    artifact on every serving that applies on this CPU (:func:`ppslim.serve.backends.candidates`), each
    checked against its FP32 source's Paddle oneDNN outputs and top-1 on its group's Eval split.

    An INT8 digits model outside ``Global.verify_int8_*`` raises (it is never timed). A latency serving whose
    outputs disagree or whose top-1 drops more than ``Bench.max_bf16_drop_pt`` (FP32/BF16 servings) or
    ``Bench.max_int8_drop_pt`` (INT8) below the FP32 artifact on oneDNN is refused: listed, not timed.
    Returns (served rows, costs by key, refusals)."""
    bench = cfg.Bench
    group_configs = group_configs or {}
    served, costs, refused = [], {}, []
    eval_sets = {}
    for art in arts:
        if not art.timed:
            continue
        gc = group_configs.get(art.group, cfg)
        if art.variant == "peer_nncf":
            t0 = time.perf_counter()
            timed, any_size, cost = openvino_nncf_peer(art, images, threads, size or gc.Global.image_shape[-1])
            name = "openvino-cpu-default (user code)"
            served.append(Served(served_key(art, name), art, {"backend": "openvino", "precision": "int8",
                                                              "name": name, "peer": True}, timed,
                                 score_run=any_size))
            costs[served[-1].key] = {**cost, "create_predictor_s": round(time.perf_counter() - t0, 2)}
            continue
        model_file, params_file = artifacts.served_files(art.path)
        if art.scored:  # on its group's configured backend, as its stages verified it
            gg = gc.Global
            servings = [backends.resolve(gg.inference_backend, model_file, gg.device, gg.openvino_precision,
                                         streams=gg.openvino_streams)]
        else:
            servings = backends.candidates(model_file)
        for serving in servings:
            t0 = time.perf_counter()
            predictor = backends.create_predictor(model_file, params_file, serving, threads)
            costs[served_key(art, serving.name)] = {"create_predictor_s": round(time.perf_counter() - t0, 2)}
            served.append(Served(served_key(art, serving.name), art, serving.as_dict(), predictor))
    by_key = {s.key: s for s in served}
    for s in served:
        t1 = time.perf_counter()
        run = s.score_run or s.run
        s.outputs = predict_all(run, images[s.art.group], batch_size=16)
        costs[s.key]["predict_verify_images_s"] = round(time.perf_counter() - t1, 2)
        if not s.art.scored:
            gc = group_configs.get(s.art.group, cfg)
            if s.art.group not in eval_sets:
                eval_sets[s.art.group] = data.real_images(gc, None)
            eval_images, labels = eval_sets[s.art.group]
            s.top1 = topk_scores(predict_all(run, eval_images, batch_size=64), labels, ks=(1,))["top1"]
    for s in served:  # keep only what timing compiles again: the scoring shapes' OpenVINO models go
        if isinstance(s.run, backends.OpenVinoPredictor):
            s.run.requests.clear()
    kept = []
    for s in served:
        art = s.art
        gc = group_configs.get(art.group, cfg)
        if art.scored:
            if art.reference and scored_key(art.group, art.reference) in by_key:
                ref = by_key[scored_key(art.group, art.reference)].outputs
                a = verify(ref, s.outputs, gc, f"bench: {art.name} vs {art.reference}",
                           min_cosine=gc.Global.verify_int8_min_cosine,
                           min_agreement=gc.Global.verify_int8_min_top1_agreement)
                s.agreement = {"cosine": a.cosine, "top1_agreement": a.top1_agreement, "images": a.images,
                               "centered_cosine": centered_cosine(ref, s.outputs), "verified": True,
                               "backend": s.serving["name"]}
            kept.append(s)
            continue
        source = art.reference or art.name
        ref = by_key.get(served_key(next(a for a in arts if a.name == source), "paddle-cpu-onednn"))
        if ref is None:
            kept.append(s)
            continue
        int8 = s.serving["precision"] == "int8"
        drop_bar = bench.max_int8_drop_pt if int8 else bench.max_bf16_drop_pt
        what = f"bench: {art.name} on {s.serving['name']} vs {source} on paddle-cpu-onednn"
        try:
            if s is not ref:
                a = verify(ref.outputs, s.outputs, gc, what,
                           min_cosine=gc.Global.verify_int8_min_cosine if (int8 or s.serving["precision"] == "bf16")
                           else gc.Global.verify_min_cosine,
                           min_agreement=gc.Global.verify_int8_min_top1_agreement)
                s.agreement = {"cosine": a.cosine, "top1_agreement": a.top1_agreement, "images": a.images,
                               "centered_cosine": centered_cosine(ref.outputs, s.outputs), "verified": True,
                               "backend": s.serving["name"]}
            drop = round(100 * (ref.top1 - s.top1), 2)
            if drop > drop_bar:
                reason = (f"top-1 {100 * s.top1:.2f}% is {drop:.2f} pt below FP32's {100 * ref.top1:.2f}% "
                          f"(allowed {drop_bar} pt); refused")
                raise ArtifactError(f"{what}: {reason}", reason=reason)
        except ArtifactError as e:
            if s.serving.get("peer"):  # the peer is measured, not served: its numbers are reported as they are
                log.warning("peer (reported, not served): %s", e)
                s.agreement = {**(s.agreement or {}), "verified": False,
                               "reason": refusal_reason(e)}
                kept.append(s)
                continue
            log.warning("%s", e)
            refused.append({"model": art.group, "artifact": art.name, "backend": s.serving["name"],
                            "reason": refusal_reason(e)})
            continue
        kept.append(s)
    return kept, costs, refused


def open_predictors(cfg: Config, arts: list[Artifact], images: dict, threads: int,
                    group_configs: Optional[dict] = None) -> tuple[dict, dict, dict]:
    """:func:`open_served` for digits-style callers: (predictor by key, agreements by key, costs by key)."""
    served, costs, _ = open_served(cfg, arts, images, threads, group_configs)
    return ({s.key: s.run for s in served}, {s.key: s.agreement for s in served if s.agreement}, costs)


def time_all(served: list, images: dict, bench: BenchConfig) -> dict:
    """batch size -> TimingRun, every served row in the same interleaved rounds."""
    runs = {}
    for bs in bench.batch_sizes:
        calls = {}
        for s in served:
            group = images[s.art.group]
            batch = np.ascontiguousarray(np.resize(group, (bs, *group.shape[1:])))
            calls[s.key] = (lambda p=s.run, x=batch: p(x))
        log.info("timing %d variants at batch %d: %d warm-up runs, %d interleaved rounds", len(calls), bs,
                 bench.warmup, bench.repeats)
        runs[bs] = timing.interleaved(calls, bs, bench.warmup, bench.repeats, bench.quiet_wait_s)
    return runs


def latency_of(name: str, runs: dict) -> dict:
    return {str(bs): run.latencies[name] for bs, run in runs.items() if name in run.latencies}


def record_picks(served: list, runs: dict) -> list[dict]:
    """Per latency artifact: the fastest verified serving per batch size and the pick, written into the
    artifact's ``result.json`` (:func:`ppslim.serve.pick.record`); then what ``auto`` resolves to there."""
    out = []
    features = cpu.features()
    by_art: dict = {}
    for s in served:
        if not s.art.scored and not s.serving.get("peer"):
            by_art.setdefault(s.art.name, []).append(s)
    for name, rows in by_art.items():
        art = rows[0].art
        latencies = {str(bs): {s.serving["name"]: run.latencies[s.key].median_ms for s in rows
                               if s.key in run.latencies} for bs, run in runs.items()}
        entry = pick.record(art.path, {s.serving["name"]: s.serving for s in rows}, latencies, features)
        model_file, _ = artifacts.served_files(art.path)
        auto = backends.resolve(InferenceBackend.AUTO, model_file).name
        out.append({"model": art.group, "artifact": name, "path": art.path, "candidates": len(rows),
                    "fastest": {b: v["name"] for b, v in entry["fastest"].items()},
                    "pick": entry["pick"]["name"] if entry["pick"] else None, "auto": auto,
                    "cpu_features": entry["cpu_features"]})
    return out


# ------------------------------------------------------------------------------- rows
def accuracy_rows(cfg: Config, arts: list[Artifact], runs: dict, group_configs: Optional[dict] = None) -> list[dict]:
    """One row per accuracy-group artifact, scored by ``eval`` on its group's val split; Δ against the group's
    first (FP32) row."""
    rows, fp32 = [], {}
    for art in arts:
        if not art.scored:
            continue
        row = {"group": art.group, "artifact": art.name, "variant": art.variant, "precision": art.precision, "params": art.params,
               "flops": art.flops, "latency_ms": latency_of(scored_key(art.group, art.name), runs), "note": art.note, "path": art.path,
               "backend": None, "top1": None, "top5": None, "delta_pt": None, "images": None, "size_bytes": None,
               "size_ratio": None}
        if art.exists:
            result = score((group_configs or {}).get(art.group, cfg), art)
            base = fp32.setdefault(art.group, result)
            row.update({"backend": result.backend, "top1": result.top1, "top5": result.top5,
                        "delta_pt": round(100 * (result.top1 - base.top1), 2), "images": result.images,
                        "size_bytes": result.size_bytes,
                        "size_ratio": round(result.size_bytes / base.size_bytes, 4), "extra": art.extra})
        rows.append(row)
    return rows


def latency_rows(served: list, runs: dict, costs: dict, programs: dict, picks: list) -> list[dict]:
    """One row per latency artifact and serving; speed-ups against the group's FP32 artifact on Paddle oneDNN."""
    rows = []
    arts = [s.art for s in served]
    fastest = {}
    for bs, run in runs.items():
        for group in {s.art.group for s in served}:
            keys = [s.key for s in served if s.art.group == group and not s.serving.get("peer")
                    and s.key in run.latencies and "pruned" not in s.art.variant]
            if keys:
                fastest[(group, str(bs))] = min(keys, key=lambda k: run.latencies[k].median_ms)
    picked = {(p["artifact"], p["pick"]) for p in picks}
    for s in served:
        art = s.art
        if art.scored:
            continue
        base_art = next(a for a in arts if a.group == art.group and a.variant == "fp32")
        base_key = served_key(base_art, "paddle-cpu-onednn")
        ref_key = served_key(next(a for a in arts if a.name == (art.reference or art.name)), "paddle-cpu-onednn")
        base_top1 = next((x.top1 for x in served if x.key == ref_key), None)  # Δ top-1 vs its own FP32 source
        lat, base_lat = latency_of(s.key, runs), latency_of(base_key, runs)
        model_file, params_file = artifacts.served_files(art.path)
        params_bytes = os.path.getsize(params_file)
        base_bytes = os.path.getsize(os.path.join(base_art.path, artifacts.PARAMS_FILE))
        label = {"fp32": "FP32", "int8": f"PTQ INT8 ({art.extra.get('ptq_algo')})",
                 "nncf_int8": "NNCF INT8 (ppslim ptq, engine nncf)",
                 "pruned_nncf_int8": art.name.split(" ", 1)[1],
                 "peer_nncf": "OpenVINO + NNCF INT8 (direct, peer)",
                 "pruned_fp32": art.name.split(" ", 1)[1],
                 "pruned_int8": art.name.split(" ", 1)[1]}[art.variant]
        rows.append({"model": art.group, "variant": art.variant, "label": label, "precision": art.precision,
                     "backend": s.serving["name"], "compute": s.serving["precision"],
                     "peer": bool(s.serving.get("peer")), "artifact": art.name,
                     "params": art.params, "flops": art.flops,
                     "flops_reduction": round(1 - art.flops / base_art.flops, 4),
                     "params_bytes": params_bytes, "size_ratio": round(params_bytes / base_bytes, 4),
                     "top1": s.top1, "delta_pt": None if s.top1 is None or base_top1 is None
                     else round(100 * (s.top1 - base_top1), 2),
                     "agreement": s.agreement, "reference": art.reference,
                     "latency_ms": lat,
                     "speedup": {bs: round(base_lat[bs].median_ms / lat[bs].median_ms, 3) for bs in lat
                                 if bs in base_lat},
                     "fastest": [bs for bs in lat if fastest.get((art.group, bs)) == s.key],
                     "picked": (art.name, s.serving["name"]) in picked,
                     "refused": art.extra.get("refused", []), "note": art.note, "path": art.path,
                     "ptq_compared": art.extra.get("ptq_compared"),
                     "costs": costs.get(s.key),
                     "onednn_program": programs.get(art.name) if s.serving["name"] == "paddle-cpu-onednn_int8" else None,
                     "source": next((a.path for a in arts if a.name == art.reference), None)})
    return rows


# ------------------------------------------------------------------------------- stage
def run(cfg: Config) -> BenchResult:
    t0 = time.perf_counter()
    bench = cfg.require("Bench")
    for section in REQUIRED_SECTIONS:
        cfg.require(section)  # fail before training, not after
    data.check_dataset(cfg, "Train")
    data.check_dataset(cfg, "Eval")
    search_configs = {}
    if bench.search is not None:
        from . import bench_search

        bench_search.setting_configs(cfg)  # a missing or bad unsaturated setting fails now, not after training
    arts = digits_artifacts(cfg, bench)
    if bench.search is not None:
        hard_arts, search_configs[UNSATURATED] = bench_search.unsaturated_artifacts(cfg)
        arts += hard_arts
    lat_arts, overhead, configs, timing_configs = latency_artifacts(cfg, bench)
    return measure_and_report(cfg, arts + lat_arts, {**search_configs, **configs}, overhead, t0, timing_configs)


def measure_and_report(cfg: Config, arts: list[Artifact], group_configs: dict, overhead: Optional[dict],
                       t0: float, timing_configs: Optional[dict] = None) -> BenchResult:
    """Verify, time (interleaved), score and write the report for artifacts that exist on disk.

    :param group_configs: group -> config whose Eval images verify and score that group (``digits`` uses ``cfg``).
    :param timing_configs: group -> config whose Eval images are timed (default: ``group_configs``).
    """
    bench = cfg.require("Bench")
    threads = bench.threads or os.cpu_count() or 1
    groups = {DIGITS: cfg, **group_configs}
    images = {group: verification_images(c) for group, c in groups.items()}
    timed_images = {group: verification_images(c) for group, c in {**groups, **(timing_configs or {})}.items()}
    served, costs, refused = open_served(cfg, arts, images, threads, group_configs, bench.image_size)
    runs = time_all(served, timed_images, bench)
    picks = record_picks(served, runs)
    for s in served:
        s.run = s.score_run = None
    programs = {a.name: onednn_program(*artifacts.inference_files(a.path), images[a.group][:1], threads)
                for a in arts if not a.scored and a.variant in ("int8", "pruned_int8")}
    features = cpu.features()
    report = {
        "machine": {**bench_report.machine_info(threads), **features.as_dict()},
        "settings": {**to_dict(bench), "verify_int8_min_cosine": cfg.Global.verify_int8_min_cosine,
                     "verify_int8_min_top1_agreement": cfg.Global.verify_int8_min_top1_agreement,
                     "verify_images": cfg.Global.verify_images, "inference_backend": cfg.Global.inference_backend.value},
        "accuracy": accuracy_rows(cfg, arts, runs, group_configs),
        "latency": latency_rows(served, runs, costs, programs, picks),
        "serving_refused": refused,
        "picks": picks,
        "overhead": overhead,
        "noise": {str(bs): {"rounds": r.rounds, "disturbed_rounds": r.disturbed_rounds,
                            "other_cpu_share": r.other_cpu_share, "busy_share": timing.BUSY_SHARE}
                  for bs, r in runs.items()},
    }
    report = artifacts.to_jsonable(report)
    report["targets"] = bench_report.check_targets(report)
    report["notes"] = bench_report.evidence(report)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    json_path, md_path, png_path = bench_report.write(bench.output_dir, report)
    met = sum(t["met"] is True for t in report["targets"])
    missed = sum(t["met"] is False for t in report["targets"])
    return BenchResult(json_path, md_path, png_path, met, missed, report["seconds"],
                       bench_report.render_markdown(report))
