"""``ppslim bench`` (``make bench``): measured proof of what compression buys, in one run.

1. Accuracy on the digits default: FP32, PTQ per ``Bench.ptq_algos``, QAT, pruned per
   ``Bench.prune_methods``, prune + QAT, Lite x86 FP32, each scored by ``eval``.
2. Latency of ``Bench.latency_models`` (random init) at ``Bench.image_size``: FP32, PTQ INT8 and,
   with ``pruned_ratio``, FPGM-pruned FP32 and INT8. Calibration and verification use real images
   resized to that size. Every INT8 model is checked against its FP32 source with the very predictor
   that is then timed; a model that fails is refused, not timed.
3. Toolchain overhead: ``ppslim ptq`` against ``paddleslim.quant.quant_post_static`` called directly.

All predictors are timed in one process, every variant once per round (:func:`ppslim.timing.interleaved`).
Writes ``<Bench.output_dir>/results.json``, ``results.md`` and ``accuracy_vs_latency.png``.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import artifacts, bench_report, data, logs, models, pruning, timing
from ..config import BenchConfig, Config, Device, InferenceBackend, LatencyModelConfig, PruneMethod, to_dict
from ..errors import ArtifactError, ConfigError
from ..inference_model import verification_images
from ..predict import PaddlePredictor, compare, inference_config, paddle_predictor, predict_all, verify
from . import eval as eval_stage
from . import export, lite, prune, ptq, qat, train
from .pipeline import REQUIRED_SECTIONS, derive, stage_config, suffixed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Artifact:
    """One thing that is scored and/or timed."""
    name: str                   # row label
    group: str                  # "digits" or the architecture name
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
                                note="refused by verification: " + str(e).split(": ", 1)[-1]))
            continue
        out.append(Artifact(name, "digits", variant, result.model_dir, "INT8", **base, reference=fp32_name,
                            note=f"{result.calib_images} calibration images"))
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
    """The digits config turned into one for ``arch`` at the bench input size, outputs in their own dirs."""
    g, size = cfg.Global, bench.image_size
    return derive(cfg, f"Arch={{name: {arch}, class_num: {bench.class_num}}}",
                  f"Global.image_shape=[3, {size}, {size}]",
                  f"Global.output_dir={os.path.join(suffixed(g.output_dir, 'bench'), name)}",
                  f"Global.save_inference_dir={os.path.join(suffixed(g.save_inference_dir, 'bench'), name)}",
                  "Global.inference_model_dir=null", "Global.pretrained_model=null",
                  f"Slim.ptq.batch_size={bench.calib_batch_size}", f"Slim.ptq.batch_nums={bench.calib_batch_nums}",
                  f"Global.verify_int8_min_top1_agreement={bench.latency_min_top1_agreement}",
                  *resize_overrides(cfg, size))


def random_checkpoint(cfg: Config, pruned_ratio: Optional[float] = None) -> tuple[str, Optional[float]]:
    """Seeded random-init weights (FPGM-pruned when ``pruned_ratio`` is set) saved as a checkpoint that
    ``export`` loads like a trained one; returns (prefix, FLOPs reduction)."""
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
            refused.append({"algo": algo.value, "reason": str(error).split(": ", 1)[-1]})
            continue
        return result, refused
    raise ArtifactError(f"{src}: every PTQ algorithm was refused: " + "; ".join(f"{r['algo']}: {r['reason']}"
                                                                                for r in refused))


def ptq_or_refusal(cfg: Config):
    """(result, None) or (None, the ArtifactError that refused the INT8 model)."""
    try:
        return ptq.run(cfg), None
    except ArtifactError as e:
        return None, e


def latency_artifacts(cfg: Config, bench: BenchConfig) -> tuple[list[Artifact], Optional[dict], dict]:
    """Export, prune and quantize each latency model; returns artifacts, overhead record, configs by group."""
    out, overhead, configs = [], None, {}
    for lm in bench.latency_models:
        configs[lm.arch] = latency_config(cfg, bench, lm.arch, lm.arch)
        rows = build_latency_model(cfg, bench, lm, lm.arch, pruned=False,
                                   overhead={} if lm.arch == bench.overhead_arch else None)
        out += rows
        if lm.arch == bench.overhead_arch:
            rec = rows[1].extra["overhead"]
            overhead = {"model": lm.arch, "algo": rows[1].extra["ptq_attempts"][0], **rec,
                        "ratio": round(rec["ppslim_s"] / rec["direct_s"], 3),
                        "calib_images": bench.calib_batch_size * bench.calib_batch_nums,
                        "verify_images": cfg.Global.verify_images}
        if lm.pruned_ratio is not None:
            out += build_latency_model(cfg, bench, lm, f"{lm.arch}_fpgm{lm.pruned_ratio}", pruned=True)
    return out, overhead, configs


def build_latency_model(cfg: Config, bench: BenchConfig, lm: LatencyModelConfig, name: str, pruned: bool,
                        overhead: Optional[dict] = None) -> list[Artifact]:
    lcfg = latency_config(cfg, bench, lm.arch, name)
    prefix, reduction = random_checkpoint(lcfg, lm.pruned_ratio if pruned else None)
    fp32 = export.run(derive(lcfg, f"Global.pretrained_model={prefix}"))
    int8, refused = verified_ptq(lcfg, fp32.model_dir, lm.ptq_algos, overhead, bench.overhead_pairs)
    tag = f"FPGM-{lm.pruned_ratio} " if pruned else ""
    fp32_name = f"{lm.arch} {tag}FP32"
    extra = {"flops_reduction": reduction} if pruned else {}
    return [Artifact(fp32_name, lm.arch, "pruned_fp32" if pruned else "fp32", fp32.model_dir, "FP32", fp32.params,
                     fp32.flops, extra=extra),
            Artifact(f"{lm.arch} {tag}PTQ INT8 ({int8.algo})", lm.arch, "pruned_int8" if pruned else "int8",
                     int8.model_dir, "INT8", fp32.params, fp32.flops, reference=fp32_name,
                     note=f"{int8.calib_images} calibration images",
                     extra={**extra, "ptq_algo": int8.algo, "refused": refused,
                            "ptq_attempts": [a.value for a in lm.ptq_algos],
                            **({"overhead": overhead} if overhead is not None else {})})]


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


def open_predictors(cfg: Config, arts: list[Artifact], images: dict, threads: int,
                    group_configs: Optional[dict] = None) -> tuple[dict, dict, dict]:
    """A predictor per timed artifact, each INT8 artifact's agreement with its FP32 source measured with
    the same predictors, and what opening and running them cost. An INT8 model outside
    ``Global.verify_int8_*`` (of the artifact's group config, else ``cfg``) raises: it is never timed."""
    g = cfg.Global
    group_configs = group_configs or {}
    predictors, agreements, outputs, seconds = {}, {}, {}, {}
    for art in arts:
        if not art.timed:
            continue
        model_file, params_file = artifacts.inference_files(art.path)
        t0 = time.perf_counter()
        predictors[art.name] = paddle_predictor(model_file, params_file, g.inference_backend, g.device, threads)
        t1 = time.perf_counter()
        outputs[art.name] = predict_all(predictors[art.name], images[art.group], batch_size=16)
        seconds[art.name] = {"create_predictor_s": round(t1 - t0, 2),
                             "predict_verify_images_s": round(time.perf_counter() - t1, 2)}
    for art in arts:
        if art.reference and art.name in outputs:
            ref, out = outputs[art.reference], outputs[art.name]
            gc = group_configs.get(art.group, cfg)
            a = verify(ref, out, gc, f"bench: {art.name} vs {art.reference}",
                       min_cosine=gc.Global.verify_int8_min_cosine,
                       min_agreement=gc.Global.verify_int8_min_top1_agreement)
            agreements[art.name] = {"cosine": a.cosine, "top1_agreement": a.top1_agreement, "images": a.images,
                                    "centered_cosine": centered_cosine(ref, out), "verified": True,
                                    "backend": predictors[art.name].backend}
    return predictors, agreements, seconds


def time_all(predictors: dict, arts: list[Artifact], images: dict, bench: BenchConfig) -> dict:
    """batch size -> TimingRun, every timed artifact in the same interleaved rounds."""
    runs = {}
    for bs in bench.batch_sizes:
        calls = {}
        for art in arts:
            if art.name in predictors:
                batch = np.ascontiguousarray(np.resize(images[art.group], (bs, *images[art.group].shape[1:])))
                calls[art.name] = (lambda p=predictors[art.name], x=batch: p(x))
        log.info("timing %d variants at batch %d: %d warm-up runs, %d interleaved rounds", len(calls), bs,
                 bench.warmup, bench.repeats)
        runs[bs] = timing.interleaved(calls, bs, bench.warmup, bench.repeats, bench.quiet_wait_s)
    return runs


def latency_of(name: str, runs: dict) -> dict:
    return {str(bs): run.latencies[name] for bs, run in runs.items() if name in run.latencies}


# ------------------------------------------------------------------------------- rows
def accuracy_rows(cfg: Config, arts: list[Artifact], runs: dict) -> list[dict]:
    rows, fp32 = [], None
    for art in arts:
        if art.group != "digits":
            continue
        row = {"artifact": art.name, "variant": art.variant, "precision": art.precision, "params": art.params,
               "flops": art.flops, "latency_ms": latency_of(art.name, runs), "note": art.note, "path": art.path,
               "backend": None, "top1": None, "top5": None, "delta_pt": None, "images": None, "size_bytes": None,
               "size_ratio": None}
        if art.exists:
            result = score(cfg, art)
            fp32 = fp32 or result
            row.update({"backend": result.backend, "top1": result.top1, "top5": result.top5,
                        "delta_pt": round(100 * (result.top1 - fp32.top1), 2), "images": result.images,
                        "size_bytes": result.size_bytes,
                        "size_ratio": round(result.size_bytes / fp32.size_bytes, 4)})
        rows.append(row)
    return rows


def latency_rows(arts: list[Artifact], runs: dict, agreements: dict, costs: dict, programs: dict) -> list[dict]:
    rows = []
    by_name = {a.name: a for a in arts}
    for art in arts:
        if art.group == "digits":
            continue
        base = next(a for a in arts if a.group == art.group and a.variant == "fp32")
        lat, base_lat = latency_of(art.name, runs), latency_of(base.name, runs)
        params_bytes = os.path.getsize(os.path.join(art.path, artifacts.PARAMS_FILE))
        base_bytes = os.path.getsize(os.path.join(base.path, artifacts.PARAMS_FILE))
        label = {"fp32": "FP32", "int8": f"PTQ INT8 ({art.extra.get('ptq_algo')})",
                 "pruned_fp32": art.name.split(" ", 1)[1],
                 "pruned_int8": art.name.split(" ", 1)[1]}[art.variant]
        rows.append({"model": art.group, "variant": art.variant, "label": label, "precision": art.precision,
                     "params": art.params, "flops": art.flops,
                     "flops_reduction": round(1 - art.flops / base.flops, 4),
                     "params_bytes": params_bytes, "size_ratio": round(params_bytes / base_bytes, 4),
                     "agreement": agreements.get(art.name), "reference": art.reference,
                     "latency_ms": lat,
                     "speedup": {bs: round(base_lat[bs].median_ms / lat[bs].median_ms, 3) for bs in lat},
                     "refused": art.extra.get("refused", []), "note": art.note, "path": art.path,
                     "costs": costs.get(art.name), "onednn_program": programs.get(art.name),
                     "source": by_name[art.reference].path if art.reference else None})
    return rows


# ------------------------------------------------------------------------------- stage
def run(cfg: Config) -> BenchResult:
    t0 = time.perf_counter()
    bench = cfg.require("Bench")
    for section in REQUIRED_SECTIONS:
        cfg.require(section)  # fail before training, not after
    data.check_dataset(cfg, "Train")
    data.check_dataset(cfg, "Eval")
    arts = digits_artifacts(cfg, bench)
    lat_arts, overhead, configs = latency_artifacts(cfg, bench)
    return measure_and_report(cfg, arts + lat_arts, configs, overhead, t0)


def measure_and_report(cfg: Config, arts: list[Artifact], group_configs: dict, overhead: Optional[dict],
                       t0: float) -> BenchResult:
    """Verify, time (interleaved), score and write the report for artifacts that exist on disk.

    :param group_configs: group -> config whose Eval images feed that group (``digits`` uses ``cfg``).
    """
    bench = cfg.require("Bench")
    threads = bench.threads or os.cpu_count() or 1
    images = {group: verification_images(c) for group, c in {"digits": cfg, **group_configs}.items()}
    predictors, agreements, costs = open_predictors(cfg, arts, images, threads, group_configs)
    runs = time_all(predictors, arts, images, bench)
    del predictors
    programs = {a.name: onednn_program(*artifacts.inference_files(a.path), images[a.group][:1], threads)
                for a in arts if a.group != "digits" and a.precision == "INT8"}
    report = {
        "machine": bench_report.machine_info(threads),
        "settings": {**to_dict(bench), "verify_int8_min_cosine": cfg.Global.verify_int8_min_cosine,
                     "verify_int8_min_top1_agreement": cfg.Global.verify_int8_min_top1_agreement,
                     "verify_images": cfg.Global.verify_images, "inference_backend": cfg.Global.inference_backend.value},
        "accuracy": accuracy_rows(cfg, arts, runs),
        "latency": latency_rows(arts, runs, agreements, costs, programs),
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
