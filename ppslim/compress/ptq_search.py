"""``Slim.ptq.algo: auto``: search PaddleSlim's PTQ settings and keep the best verified INT8 model.

One fixed recipe per method (PaddleClas's tutorial: hist on 10 batches) fails on some networks
(mobilenet_v3_large + hist under oneDNN INT8); PaddleSlim's ACT and Intel Neural Compressor search
instead. This module does the same, bounded and deterministic:

1. **Holdout.** :func:`holdout_split` takes up to ``Slim.ptq.search.holdout_images`` labelled images of
   ``DataLoader.Train`` (a seeded sample; ``score: cosine`` samples the calibration set instead), first
   among the images calibration does not reach (it reads the first ``batch_size x batch_nums``), and removes
   them from the calibration images: with enough spare images the candidates calibrate on exactly what a
   fixed-algorithm run calibrates on. ``DataLoader.Eval`` is never read by the search.
2. **Candidates** (:func:`plan_algos`, :func:`refinements`, :func:`skip_candidates`), in a fixed order:
   every algorithm of ``search.algos`` (``hist`` once per ``hist_percents``); on the best so far each
   other value of ``weight_quantize_types``, ``round_types`` and ``bias_correction``, kept when it
   scores better; then the best with its ``k`` most sensitive layers in FP32 for each ``skip_layers`` k.
3. **Score.** Each candidate is calibrated (``quant_post_static``) into a temp folder and run by the
   deploy predictor (``Global.inference_backend``) on the holdout: top-1 on its labels; ties broken by
   ``tie_break`` (default: the lower cross-entropy of the true labels; or the higher cosine of the
   logits vs FP32), then the cosine, then candidate order; at the same top-1 a candidate with fewer
   layers left in FP32 wins. A candidate that fails the INT8 verification bars
   (``Global.verify_int8_min_*``) on the holdout is refused, never picked.
   **Gate** (:func:`gate`): the best-ranked candidate replaces the baseline (the first candidate, PaddleSlim's
   default recipe) only when it is better beyond chance on the holdout (``significance``, default 0.05):
   a higher top-1 by a one-sided exact McNemar test, or a top-1 no lower and a lower per-image cross-entropy
   by a one-sided paired t-test. Many near-equal candidates ranked on a few hundred images the model trained
   on pick by noise otherwise (the winner's curse); the record names both p-values.
4. **Layer sensitivity** (:func:`layer_errors`): the FP32 program and the best candidate's program run
   side by side in Paddle's executor (quantize/dequantize ops simulate INT8) on a few holdout images;
   a layer's error is how much the noise-to-signal ratio of its output exceeds that of its input, i.e.
   the error the layer's own quantization adds. The top-k conv layers go to ``skip_tensor_list`` (their
   weights), so PaddleSlim leaves those ops unquantized (fc layers are listed but not skipped: oneDNN
   INT8 quantizes them anyway, see :data:`SKIPPABLE_OPS`).

``max_candidates`` bounds the search deterministically; ``budget_s`` is a wall-clock safety bound.
Untried candidates are listed as ``skipped: max_candidates`` / ``skipped: budget``. The whole table
(settings, holdout top-1, cosine, seconds, status) is returned as :class:`SearchRecord` and logged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from .. import artifacts, data, logs
from ..config import Config, InferenceBackend, PtqAlgo, PtqConfig, PtqSearchConfig, SearchScore, TieBreak
from ..errors import ArtifactError, ConfigError, PpslimError, refusal_reason

log = logging.getLogger(__name__)

# Where each quantizable op type keeps its weight, activation input and output.
_SLOTS = {"conv2d": ("Filter", "Input", "Output"), "depthwise_conv2d": ("Filter", "Input", "Output"),
          "conv2d_transpose": ("Filter", "Input", "Output"), "mul": ("Y", "X", "Out"),
          "matmul": ("Y", "X", "Out"), "matmul_v2": ("Y", "X", "Out")}
_QDQ = (".quantized.dequantized", ".quantized", ".dequantized")
# Layers the skip stage may leave in FP32. Paddle's oneDNN INT8 still runs an fc (mul/matmul) in INT8 when
# PaddleSlim skips it (it takes the scale its input inherits from the op before; measured on DigitsNet:
# "quantized 1 fc ops" with linear_0.w_0 in skip_tensor_list), while a skipped conv stays FP32 (3 -> 2 INT8
# convs). So fc layers are measured and listed, not skipped.
SKIPPABLE_OPS = ("conv2d", "depthwise_conv2d", "conv2d_transpose")
SENSITIVITY_SHOWN = 10  # layers listed in the record


# ------------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class Candidate:
    """One PTQ setting tried by the search."""
    algo: PtqAlgo
    hist_percent: Optional[float]
    weight_quantize_type: str
    round_type: str
    bias_correction: bool
    skip: tuple[str, ...] = ()  # weight tensors whose ops stay FP32 (added to Slim.ptq.skip_tensor_list)
    stage: str = "algo"         # algo | refine | skip

    @property
    def name(self) -> str:
        parts = [f"hist({self.hist_percent:g})" if self.algo == PtqAlgo.HIST else self.algo.value]
        if self.weight_quantize_type == "abs_max":
            parts.append("per-tensor")
        if self.round_type == "adaround":
            parts.append("adaround")
        if self.bias_correction:
            parts.append("bias-corr")
        if self.skip:
            parts.append(f"skip{len(self.skip)}")
        return "/".join(parts)

    def settings(self) -> dict:
        return {"algo": self.algo.value, "hist_percent": self.hist_percent,
                "weight_quantize_type": self.weight_quantize_type, "round_type": self.round_type,
                "bias_correction": self.bias_correction, "skip_tensors": list(self.skip)}

    def config(self, ptq: PtqConfig) -> PtqConfig:
        """``Slim.ptq`` with this candidate's settings (what :func:`ppslim.stages.ptq.quantize` reads)."""
        return dataclasses.replace(
            ptq, algo=self.algo, hist_percent=self.hist_percent if self.hist_percent is not None else ptq.hist_percent,
            weight_quantize_type=self.weight_quantize_type, round_type=self.round_type,
            bias_correction=self.bias_correction, skip_tensor_list=tuple(ptq.skip_tensor_list) + self.skip,
            search=None)


def plan_algos(search: PtqSearchConfig) -> list[Candidate]:
    """The first stage: every algorithm (hist once per percent) with the first value of each other list."""
    base = dict(weight_quantize_type=search.weight_quantize_types[0], round_type=search.round_types[0],
                bias_correction=search.bias_correction[0])
    out = []
    for algo in search.algos:
        for pct in (search.hist_percents if algo == PtqAlgo.HIST else (None,)):
            out.append(_valid(Candidate(algo, pct, **base)))
    return out


def _valid(c: Candidate, onnx_format: bool = True) -> Candidate:
    """PaddleSlim applies bias correction (onnx_format) only inside AdaRound: such a candidate gets AdaRound."""
    if c.bias_correction and onnx_format and c.round_type != "adaround":
        return dataclasses.replace(c, round_type="adaround")
    return c


def refinements(search: PtqSearchConfig) -> list[tuple[str, object]]:
    """The second stage's moves, in order: each other weight type, round type and bias_correction value."""
    moves = [("weight_quantize_type", v) for v in search.weight_quantize_types[1:]]
    moves += [("round_type", v) for v in search.round_types[1:]]
    return moves + [("bias_correction", v) for v in search.bias_correction[1:]]


def refine(base: Candidate, key: str, value, onnx_format: bool) -> Candidate:
    return _valid(dataclasses.replace(base, stage="refine", **{key: value}), onnx_format)


def skip_counts(search: PtqSearchConfig, layers: int) -> list[int]:
    """The ``skip_layers`` counts that leave at least one layer quantized, each once, in order."""
    out = []
    for k in search.skip_layers:
        k = min(k, layers - 1)
        if k >= 1 and k not in out:
            out.append(k)
    return out


def skip_candidates(search: PtqSearchConfig, base: Candidate, ranked_weights: list[str]) -> list[Candidate]:
    """The third stage: ``base`` with its k most sensitive layers left in FP32, for each k of ``skip_layers``."""
    return [dataclasses.replace(base, skip=tuple(ranked_weights[:k]), stage="skip")
            for k in skip_counts(search, len(ranked_weights))]


# ------------------------------------------------------------------------------- holdout
@dataclass(frozen=True)
class Holdout:
    calib: object                  # the calibration set without the held-out images (ppslim.stages.ptq.Calibration)
    images: np.ndarray
    labels: Optional[np.ndarray]   # None with score: cosine
    source: str                    # the config key the images came from


def holdout_size(available: int, wanted: int, calib_needed: int) -> int:
    """Up to ``wanted`` images, leaving ``calib_needed`` for calibration when the pool has them; at least a
    quarter of the pool, and never all of it."""
    return max(0, min(wanted, max(available - calib_needed, available // 4), available - 1))


def holdout_split(cfg: Config, ptq: PtqConfig, search: PtqSearchConfig, calib_set) -> Holdout:
    """Split the scoring images off, deterministically (``Global.seed``); they are never calibrated on."""
    if search.score == SearchScore.TOP1:
        if cfg.DataLoader.Train is None:
            raise ConfigError("Slim.ptq.search.score", "top1 scores candidates on labelled held-out images of "
                              "DataLoader.Train: set DataLoader.Train, or score: cosine (held-out calibration images)")
        pool = data.check_dataset(cfg, "Train")
        transform, source = data.eval_transform(cfg, "Train"), "DataLoader.Train"
    else:
        pool = [(path, -1) for path in calib_set.files]
        transform, source = calib_set.transform, calib_set.key
    needed = ptq.batch_size * ptq.batch_nums
    size = holdout_size(len(pool), search.holdout_images, needed)
    if size < 1:
        raise ConfigError("Slim.ptq.search.holdout_images", f"{source} has {len(pool)} image(s): the search needs "
                          "at least 2 (one to calibrate on, one held out)")
    # Images calibration does not reach (it reads the first batch_size x batch_nums) are held out first, so the
    # candidates calibrate on exactly the images a fixed-algorithm run would.
    used = {os.path.realpath(f) for f in calib_set.files[:needed]}
    rng = np.random.default_rng(cfg.Global.seed)
    order = rng.permutation(len(pool)).tolist()
    order.sort(key=lambda i: os.path.realpath(pool[i][0]) in used)  # stable: spare images first, each shuffled
    picked = sorted(order[:size])
    held = [pool[i] for i in picked]
    held_paths = {os.path.realpath(path) for path, _ in held}
    calib_files = tuple(f for f in calib_set.files if os.path.realpath(f) not in held_paths)
    if not calib_files:
        raise ConfigError("Slim.ptq.search.holdout_images", f"holding out {size} images leaves no calibration "
                          f"images in {calib_set.key}")

    def load(path: str) -> np.ndarray:
        with open(path, "rb") as f:
            return np.asarray(transform(f.read()), dtype="float32")

    images = np.stack([load(path) for path, _ in held])
    labels = np.asarray([label for _, label in held]) if search.score == SearchScore.TOP1 else None
    log.info("PTQ search: %d held-out images from %s (seed %d) for scoring, %d calibration images left",
             size, source, cfg.Global.seed, len(calib_files))
    return Holdout(dataclasses.replace(calib_set, files=calib_files), images, labels, source)


# ------------------------------------------------------------------------------- layer sensitivity
@dataclass(frozen=True)
class LayerError:
    weight: str       # the weight tensor (what skip_tensor_list names)
    op: str
    error: float      # output noise-to-signal ratio minus the input's: what this layer's quantization adds
    output_nsr: float


@contextlib.contextmanager
def _static() -> Iterator[None]:
    import paddle

    paddle.enable_static()
    try:
        yield
    finally:
        paddle.disable_static()


def _strip(name: str) -> str:
    for suffix in _QDQ:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _nsr(quant: np.ndarray, ref: np.ndarray) -> float:
    ref = ref.astype("float64")
    return float(((quant.astype("float64") - ref) ** 2).sum() / max((ref ** 2).sum(), 1e-30))


def layer_errors(model_file: str, params_file: str, quant_dir: str, images: np.ndarray,
                 op_types: tuple[str, ...]) -> list[LayerError]:
    """Per quantized layer of the INT8 program in ``quant_dir``: the quantization error it adds itself, on
    ``images``, worst first. Both programs run in Paddle's executor, where the INT8 program's
    quantize/dequantize ops simulate INT8; a layer's error is its output's noise-to-signal ratio vs the
    FP32 program minus that of its input (the error that reached it from upstream)."""
    import paddle

    quant_model, quant_params = artifacts.inference_files(quant_dir)
    with _static():
        exe = paddle.static.Executor(paddle.CPUPlace())
        loaded = []
        for model, params in ((model_file, params_file), (quant_model, quant_params)):
            scope = paddle.static.Scope()
            with paddle.static.scope_guard(scope):
                program, feeds, fetches = paddle.static.load_inference_model(
                    os.path.dirname(model), exe, model_filename=os.path.basename(model),
                    params_filename=os.path.basename(params))
            loaded.append((scope, program, feeds, fetches))
        (f_scope, f_prog, f_feeds, _), (q_scope, q_prog, q_feeds, _) = loaded
        f_vars = f_prog.global_block().vars
        layers = []
        for op in q_prog.global_block().ops:
            slots = _SLOTS.get(op.type)
            if op.type not in op_types or slots is None:
                continue
            w_in, a_in, out = op.input(slots[0])[0], op.input(slots[1])[0], op.output(slots[2])[0]
            if ".quantized" not in w_in and ".quantized" not in a_in:
                continue  # left in FP32 (skip_tensor_list)
            weight, act = _strip(w_in), _strip(a_in)
            if weight in f_vars and f_vars[weight].persistable and act in f_vars and out in f_vars:
                layers.append((weight, op.type, act, out))
        if not layers:
            return []
        names = sorted({n for _, _, act, out in layers for n in (act, out)})
        results = []
        for scope, program, feeds in ((f_scope, f_prog, f_feeds), (q_scope, q_prog, q_feeds)):
            with paddle.static.scope_guard(scope):
                values = exe.run(program, feed={feeds[0]: images}, fetch_list=names, return_numpy=True)
            results.append(dict(zip(names, values)))
    fp32, quant = results
    errors = []
    for weight, op_type, act, out in layers:
        out_nsr = _nsr(quant[out], fp32[out])
        errors.append(LayerError(weight, op_type, round(out_nsr - _nsr(quant[act], fp32[act]), 6), round(out_nsr, 6)))
    return sorted(errors, key=lambda e: -e.error)


# ------------------------------------------------------------------------------- the search
@dataclass(frozen=True)
class CandidateResult:
    """One row of the search table."""
    index: int
    name: str
    stage: str
    settings: dict
    status: str                      # ok | refused: ... | failed: ... | skipped: budget | skipped: max_candidates
    holdout_top1: Optional[float] = None
    holdout_nll: Optional[float] = None  # mean cross-entropy of the true labels (score top1)
    cosine: Optional[float] = None
    top1_agreement: Optional[float] = None
    calib_images: Optional[int] = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Gate:
    """Did the best-ranked candidate beat the baseline beyond chance on the holdout (score top1)?"""
    baseline: str
    best: str
    top1_p: float        # one-sided exact McNemar test on the images exactly one of the two gets right
    nll_p: float         # one-sided paired t-test on per-image cross-entropy (1.0 when best's top-1 is lower)
    significance: float
    replaced: bool       # True: best is kept; False: the baseline is

    def text(self) -> str:
        verdict = (f"{self.best} replaced the baseline {self.baseline}" if self.replaced else
                   f"kept the baseline {self.baseline}: the best-ranked {self.best} was not better beyond chance")
        return (f"{verdict} on the held-out images (top-1 McNemar p {self.top1_p:.3g}, cross-entropy paired "
                f"t-test p {self.nll_p:.3g}; significance {self.significance:g})")


@dataclass(frozen=True)
class SearchRecord:
    """What ``Slim.ptq.algo: auto`` tried and what it kept (``PtqResult.search``, result.json)."""
    pick: str
    pick_index: int
    score: str
    holdout_images: int
    holdout_source: str
    calib_images_available: int
    backend: str
    candidates: tuple[CandidateResult, ...]
    tried: int
    refused: int
    sensitivity: tuple[LayerError, ...]
    wall_s: float
    summary: str
    note: str = ""
    fp32_holdout_top1: Optional[float] = None
    gate: Optional[Gate] = None


@dataclass(frozen=True)
class Outcome:
    ranked: tuple[tuple[CandidateResult, Candidate, str, dict], ...]  # verified, best first: row, candidate, dir, calib
    rows: tuple[CandidateResult, ...]
    holdout: Holdout
    sensitivity: tuple[LayerError, ...]
    backend: str
    wall_s: float
    fp32_holdout_top1: Optional[float] = None  # the FP32 model on the held-out images (score top1)
    gate: Optional[Gate] = None


# The FP32 model at or above this top-1 on the held-out images most likely trained on them: every candidate then
# ties at the top and the tie-breaker alone ranks them; the record says so.
MEMORIZED_TOP1 = 0.999


def memorized_note(fp32_top1: Optional[float], images: int) -> str:
    if fp32_top1 is None or fp32_top1 < MEMORIZED_TOP1:
        return ""
    return (f"the FP32 model scores {100 * fp32_top1:.1f}% top-1 on the {images} held-out Train images (it trained "
            "on them), so top-1 there cannot separate the candidates and the tie-breaker ranks them; labelled "
            "images the model did not train on separate them better")


def _rank_key(row: CandidateResult, score: SearchScore, tie_break: Optional[TieBreak] = None) -> tuple:
    """Smaller is better: the primary score, then fewer layers left in FP32 (skipping layers costs INT8 size
    and speed, so it must buy a better primary score), then the tie-breakers, then candidate order.
    score top1: holdout top-1, then ``tie_break`` (default nll: lower cross-entropy; or cosine), then the
    cosine. score cosine: the cosine to 3 decimals, skipped layers, then the exact cosine."""
    skipped = len(row.settings.get("skip_tensors", ()))
    if score == SearchScore.COSINE:
        return (-round(row.cosine, 3), skipped, -row.cosine, row.index)
    tie = row.holdout_nll if (tie_break or TieBreak.NLL) == TieBreak.NLL else -row.cosine
    return (-row.holdout_top1, skipped, tie, -row.cosine, row.index)


def cross_entropy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels`` (:func:`per_image_nll`)."""
    return float(per_image_nll(outputs, labels).mean())


def mcnemar_p(wins: int, losses: int) -> float:
    """One-sided exact McNemar test: the chance of at least ``wins`` of the ``wins + losses`` images that exactly
    one of two models gets right going to the challenger, were both equally good."""
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue) if wins + losses else 1.0


def gate(baseline: str, base: tuple[np.ndarray, np.ndarray], best: str, challenger: tuple[np.ndarray, np.ndarray],
         significance: float) -> Gate:
    """``base`` / ``challenger``: (per-image top-1 correct, per-image cross-entropy) on the same held-out images."""
    from scipy.stats import ttest_rel

    (base_ok, base_nll), (best_ok, best_nll) = base, challenger
    wins, losses = int((best_ok & ~base_ok).sum()), int((base_ok & ~best_ok).sum())
    top1_p = mcnemar_p(wins, losses)
    nll_p = 1.0
    if wins >= losses and np.any(base_nll != best_nll):
        nll_p = float(ttest_rel(base_nll, best_nll, alternative="greater").pvalue)
    return Gate(baseline, best, round(top1_p, 6), round(nll_p, 6), significance,
                min(top1_p, nll_p) < significance)


def per_image_nll(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each image's negative log-likelihood of its label; ``outputs`` are logits, or probabilities when every
    row is non-negative and sums to 1 (a model exported with its softmax)."""
    from ..predict import softmax

    out = outputs.reshape(len(outputs), -1).astype("float64")
    probs = out if np.all(out >= 0) and np.allclose(out.sum(1), 1.0, atol=1e-3) else softmax(out)
    return -np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12))


def table(rows) -> str:
    """The search table as text (for the log)."""
    lines = [f"{'#':>3}  {'candidate':<34} {'stage':<6} {'top1':>7} {'nll':>7} {'cosine':>8} {'agree':>6} "
             f"{'calib':>5} {'s':>7}  status"]
    for r in rows:
        num = (lambda v, fmt: format(v, fmt) if v is not None else "-")
        lines.append(f"{r.index:>3}  {r.name:<34} {r.stage:<6} {num(r.holdout_top1, '.4f'):>7} "
                     f"{num(r.holdout_nll, '.4f'):>7} {num(r.cosine, '.4f'):>8} {num(r.top1_agreement, '.3f'):>6} {num(r.calib_images, 'd'):>5} "
                     f"{r.seconds:>7.1f}  {r.status}")
    return "\n".join(lines)


class _Search:
    """The run of one search: candidates tried in order against the bounds; rows kept in order."""

    def __init__(self, cfg: Config, ptq: PtqConfig, search: PtqSearchConfig, model_file: str, params_file: str,
                 holdout: Holdout, reference: np.ndarray, workdir: str, quantize: Callable):
        self.cfg, self.ptq, self.search = cfg, ptq, search
        self.model_file, self.params_file = model_file, params_file
        self.holdout, self.reference, self.workdir, self.quantize = holdout, reference, workdir, quantize
        self.rows: list[CandidateResult] = []
        self.kept: dict[int, tuple[Candidate, str, dict]] = {}
        self.evidence: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per image: top-1 correct, cross-entropy
        self.t0 = time.perf_counter()
        self.backend = ""

    def bound(self) -> Optional[str]:
        """Why no further candidate may start (None: it may)."""
        tried = sum(1 for r in self.rows if not r.status.startswith("skipped"))
        if self.search.max_candidates is not None and tried >= self.search.max_candidates:
            return "skipped: max_candidates"
        if tried and time.perf_counter() - self.t0 >= self.search.budget_s:  # the first candidate always runs
            return "skipped: budget"
        return None

    def skip(self, c: Candidate, why: str, name: Optional[str] = None) -> CandidateResult:
        row = CandidateResult(len(self.rows), name or c.name, c.stage, c.settings(), why)
        self.rows.append(row)
        return row

    def run(self, c: Candidate) -> CandidateResult:
        """Calibrate, run on the holdout with the deploy predictor, score; a failure is a row, not an exception."""
        import paddle

        from ..predict import compare, paddle_predictor, predict_all, shortfalls

        why = self.bound()
        if why is not None:
            return self.skip(c, why)
        index, g = len(self.rows), self.cfg.Global
        out_dir = os.path.join(self.workdir, f"candidate_{index:02d}")
        os.makedirs(out_dir)
        calib: dict = {}
        t0 = time.perf_counter()
        log.info("PTQ search candidate %d: %s", index, c.name)
        try:
            paddle.seed(g.seed)
            np.random.seed(g.seed)
            with logs.capture_native():
                self.quantize(c.config(self.ptq), self.model_file, self.params_file, self.holdout.calib, out_dir,
                              calib)
                model, params = artifacts.inference_files(out_dir)
                predictor = paddle_predictor(model, params, g.inference_backend, g.device, g.cpu_threads,
                                             g.openvino_precision, g.openvino_streams)
                outputs = predict_all(predictor, self.holdout.images)
        except Exception as e:  # noqa: BLE001 - a candidate PaddleSlim cannot make is a row of the table
            line = (str(e).strip().splitlines() or [type(e).__name__])[-1][:200]
            log.warning("PTQ search candidate %s failed: %s: %s", c.name, type(e).__name__, line)
            log.debug("PTQ search candidate %s failed", c.name, exc_info=True)
            row = CandidateResult(index, c.name, c.stage, c.settings(), f"failed: {type(e).__name__}: {line}",
                                  seconds=round(time.perf_counter() - t0, 2))
            self.rows.append(row)
            return row
        self.backend = predictor.backend
        agreement = compare(self.reference, outputs)
        failures = shortfalls(agreement, outputs, g.verify_int8_min_cosine, g.verify_int8_min_top1_agreement)
        labels = self.holdout.labels
        top1 = nll = None
        if labels is not None:
            correct, losses = outputs.argmax(1) == labels, per_image_nll(outputs, labels)
            self.evidence[index] = (correct, losses)
            top1, nll = round(float(correct.mean()), 6), round(float(losses.mean()), 6)
        row = CandidateResult(index, c.name, c.stage, c.settings(), "refused: " + ", ".join(failures) if failures
                              else "ok", top1, nll, agreement.cosine, agreement.top1_agreement, calib.get("images"),
                              round(time.perf_counter() - t0, 2))
        self.rows.append(row)
        self.kept[index] = (c, out_dir, calib)
        log.info("PTQ search candidate %d: %s holdout top-1 %s, cosine %.4f, %.1f s: %s", index, c.name,
                 f"{top1:.4f}" if top1 is not None else "-", agreement.cosine, row.seconds, row.status)
        return row

    def best(self, verified_only: bool = True) -> Optional[CandidateResult]:
        """The best row so far: verified ones; with ``verified_only=False`` and none verified, the refused
        one closest to FP32 (a base for refinements and layer skipping that may rescue it)."""
        scored = [r for r in self.rows if r.status == "ok"]
        if not scored and not verified_only:
            scored = [r for r in self.rows if r.status.startswith("refused")]
            return min(scored, key=lambda r: (-r.cosine, r.index)) if scored else None
        return min(scored, key=self.key) if scored else None

    def key(self, row: CandidateResult) -> tuple:
        return _rank_key(row, self.search.score, self.search.tie_break)

    def better(self, row: CandidateResult, than: CandidateResult) -> bool:
        if row.status != "ok":
            return False
        if than.status != "ok":
            return True
        return self.key(row) < self.key(than)


def search(cfg: Config, ptq: PtqConfig, model_file: str, params_file: str, holdout: Holdout, workdir: str,
           quantize: Callable) -> Outcome:
    """Run the search on ``holdout`` (:func:`holdout_split`); candidates' models are written under
    ``workdir`` (the caller removes it).

    ``quantize(ptq, model_file, params_file, calib_set, out_dir, calib)`` is
    :func:`ppslim.stages.ptq.quantize` (PaddleSlim's quant_post_static on the calibration images).
    """
    from ..inference_model import model_outputs

    settings = ptq.search or PtqSearchConfig()
    reference = model_outputs(cfg, model_file, params_file, holdout.images, InferenceBackend.ONEDNN)
    run = _Search(cfg, ptq, settings, model_file, params_file, holdout, reference, workdir, quantize)
    for c in plan_algos(settings):
        run.run(_valid(c, ptq.onnx_format))
    base_row = run.best(verified_only=False)
    sensitivity: list[LayerError] = []
    if base_row is not None:
        base = run.kept[base_row.index][0]
        for key, value in refinements(settings):
            c = refine(base, key, value, ptq.onnx_format)
            if c == dataclasses.replace(base, stage="refine"):
                continue  # the move changes nothing (bias correction that already implied AdaRound)
            row = run.run(c)
            if run.better(row, base_row):
                base, base_row = c, row
        why = run.bound()
        if settings.skip_layers and why is None:
            sensitivity = layer_errors(model_file, params_file, run.kept[base_row.index][1],
                                       holdout.images[:settings.sensitivity_images], ptq.quantizable_op_type)
            log.info("PTQ search: quantization error each layer adds, on %d held-out images (worst first): %s",
                     min(len(holdout.images), settings.sensitivity_images),
                     ", ".join(f"{e.weight} {e.error:.3g}" for e in sensitivity[:SENSITIVITY_SHOWN]))
            for c in skip_candidates(settings, base, [e.weight for e in sensitivity if e.op in SKIPPABLE_OPS]):
                run.run(c)
        elif settings.skip_layers:  # no time or count left to measure layers: listed, not tried
            for k in settings.skip_layers:
                run.skip(dataclasses.replace(base, stage="skip"), why, name=f"{base.name}/skip{k}")
    ranked = sorted((r for r in run.rows if r.status == "ok"), key=run.key)
    verdict = None
    baseline = run.rows[0]
    if settings.score == SearchScore.TOP1 and ranked and ranked[0] is not baseline and baseline.status == "ok":
        verdict = gate(baseline.name, run.evidence[baseline.index], ranked[0].name, run.evidence[ranked[0].index],
                       settings.alpha)
        log.info("PTQ search: %s", verdict.text())
        if not verdict.replaced:
            ranked.remove(baseline)
            ranked.insert(0, baseline)
    log.info("PTQ search table (%s on %d held-out images of %s, %s):\n%s", settings.score.value,
             len(holdout.images), holdout.source, run.backend or "no backend", table(run.rows))
    fp32_top1 = (round(float((reference.argmax(1) == holdout.labels).mean()), 6)
                 if holdout.labels is not None else None)
    if memorized_note(fp32_top1, len(holdout.images)):
        log.warning("PTQ search: %s", memorized_note(fp32_top1, len(holdout.images)))
    return Outcome(tuple((r, *run.kept[r.index]) for r in ranked), tuple(run.rows), holdout, tuple(sensitivity),
                   run.backend, round(time.perf_counter() - run.t0, 2), fp32_top1, verdict)


def keep_best(outcome: Outcome, save: Callable[[str, str], object]) -> tuple[object, CandidateResult, Candidate, dict, str]:
    """``save(candidate_dir, name)`` (the stage's verified save) on the best candidate; if the stage's own
    verification refuses it, on the next one. Returns (saved, row, candidate, calib, note)."""
    if not outcome.ranked:
        reasons = "; ".join(f"{r.name}: {r.status}" for r in outcome.rows)
        raise ArtifactError(f"PTQ search: no candidate passed verification on {len(outcome.holdout.images)} "
                            f"held-out images ({reasons})")
    notes = []
    for row, candidate, folder, calib in outcome.ranked:
        try:
            return save(folder, row.name), row, candidate, calib, "; ".join(notes)
        except ArtifactError as e:
            reason = refusal_reason(e)
            log.warning("PTQ search: %s passed on the holdout but was refused: %s", row.name, reason)
            notes.append(f"{row.name} refused on the verification images ({reason})")
    raise ArtifactError("PTQ search: every candidate verified on the holdout was refused on the verification "
                        "images: " + "; ".join(notes))


def record(outcome: Outcome, row: CandidateResult, score: SearchScore, note: str) -> SearchRecord:
    tried = sum(1 for r in outcome.rows if not r.status.startswith("skipped"))
    refused = sum(1 for r in outcome.rows if r.status.startswith(("refused", "failed")))
    value = f"top1 {row.holdout_top1:.4f}, nll {row.holdout_nll:.4f}" if score == SearchScore.TOP1 \
        else f"cosine {row.cosine:.4f}"
    summary = (f"{row.name} ({value} on {len(outcome.holdout.images)} held-out images; "
               f"{tried} tried, {refused} refused, {outcome.wall_s:.1f} s)")
    note = "; ".join(n for n in (note, memorized_note(outcome.fp32_holdout_top1, len(outcome.holdout.images)),
                                 outcome.gate.text() if outcome.gate else "") if n)
    return SearchRecord(row.name, row.index, score.value, len(outcome.holdout.images), outcome.holdout.source,
                        len(outcome.holdout.calib.files), outcome.backend, outcome.rows, tried, refused,
                        outcome.sensitivity[:SENSITIVITY_SHOWN], outcome.wall_s, summary, note,
                        outcome.fp32_holdout_top1, outcome.gate)
