"""``ppslim pipeline`` (what ``make demo`` runs): every stage on one config, one summary table.

train -> export -> PTQ -> QAT -> prune -> export -> prune+QAT -> Lite (x86 FP32 verified, arm INT8
converted) -> eval of every artifact. Stage outputs go to ``<Global.output_dir>_<stage>`` and
``<Global.save_inference_dir>_<stage>`` so nothing overwrites the FP32 baseline. Each row names the
sha256 of the artifact it scored (its first 12 hex digits in the table).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from .. import config as config_mod
from .. import artifacts, provenance, reporting
from ..config import Config
from . import eval as eval_stage
from . import export, lite, prune, ptq, qat, train

log = logging.getLogger(__name__)

COLUMNS = [("artifact", "artifact"), ("backend", "backend"), ("top1", "top-1"), ("delta_pt", "Δ top-1 (pt)", "+.2f"),
           ("size_bytes", "params file (bytes)"), ("size_ratio", "size vs FP32", ".3f"), ("params", "params"),
           ("flops", "FLOPs"), ("digest", "sha256"), ("note", "note")]


@dataclass(frozen=True)
class PipelineResult:
    rows: tuple
    markdown: str
    markdown_path: str
    json_path: str
    seconds: float

    def report(self) -> str:
        return self.markdown + f"\nwritten: {self.markdown_path} {self.json_path} ({self.seconds:.0f} s)"


def derive(cfg: Config, *overrides: str) -> Config:
    """The same config with extra ``Key=value`` overrides, validated again."""
    return config_mod.from_dict(config_mod.to_dict(cfg), list(overrides), source=cfg.source)


def suffixed(path: str, stage: str) -> str:
    return f"{os.path.normpath(path)}_{stage}"


def stage_config(cfg: Config, stage: str, *extra: str) -> Config:
    """``cfg`` writing to ``<Global.output_dir>_<stage>`` and ``<Global.save_inference_dir>_<stage>``."""
    g = cfg.Global
    return derive(cfg, f"Global.output_dir={suffixed(g.output_dir, stage)}",
                  f"Global.save_inference_dir={suffixed(g.save_inference_dir, stage)}", *extra)


# Sections a whole-pipeline run needs; checked before training, not after.
REQUIRED_SECTIONS = ("Arch", "Slim.ptq", "Slim.quant", "Slim.prune", "Slim.lite")


def run(cfg: Config) -> PipelineResult:
    t0 = time.perf_counter()
    g = cfg.Global
    for section in REQUIRED_SECTIONS:
        cfg.require(section)

    def evaluate(model_dir: str) -> eval_stage.EvalResult:
        return eval_stage.run(derive(cfg, f"Global.inference_model_dir={model_dir}"))

    trained = train.run(cfg)
    fp32_export = export.run(derive(cfg, f"Global.pretrained_model={trained.best_model}"))
    ptq_result = ptq.run(derive(cfg, f"Global.inference_model_dir={fp32_export.model_dir}"))
    qat_result = qat.run(stage_config(cfg, "qat", f"Global.pretrained_model={trained.best_model}"))
    pruned = prune.run(stage_config(cfg, "prune", f"Global.pretrained_model={trained.best_model}"))
    pruned_export = export.run(stage_config(cfg, "prune", f"Global.pretrained_model={pruned.best_model}"))
    prune_qat = qat.run(stage_config(cfg, "prune_qat", f"Global.pretrained_model={pruned.best_model}"))
    lite_fp32 = lite.run(derive(cfg, f"Global.inference_model_dir={fp32_export.model_dir}",
                                "Slim.lite.valid_targets=[x86]"))
    lite_int8 = lite.run(derive(cfg, f"Global.inference_model_dir={qat_result.model_dir}",
                                "Slim.lite.valid_targets=[arm]"))

    fp32 = evaluate(fp32_export.model_dir)
    base = {"params": fp32_export.params, "flops": fp32_export.flops}
    pruned_counts = {"params": pruned_export.params, "flops": pruned_export.flops}
    measured = [
        ("FP32 (trained, exported)", fp32, base, ""),
        (f"PTQ INT8 ({ptq_result.algo}, {ptq_result.calib_images} calib images)",
         evaluate(ptq_result.model_dir), base, ""),
        (f"QAT INT8 ({qat_result.epochs_run} epochs)", evaluate(qat_result.model_dir), base, ""),
        (f"FPGM {_ratio_label(cfg.Slim.prune)} pruned + fine-tuned", evaluate(pruned_export.model_dir),
         pruned_counts, ""),
        ("FPGM pruned + QAT INT8", evaluate(prune_qat.model_dir), pruned_counts, ""),
        ("Lite x86 FP32 .nb", evaluate(lite_fp32.targets[0].nb_path), base, "verified on this host"),
    ]
    rows = []
    for name, result, counts, note in measured:
        rows.append({"artifact": name, "backend": result.backend, "top1": result.top1,
                     "delta_pt": round(100 * (result.top1 - fp32.top1), 2), "size_bytes": result.size_bytes,
                     "size_ratio": round(result.size_bytes / fp32.size_bytes, 3), "note": note, **counts,
                     "path": result.artifact, "sha256": result.sha256, "digest": result.sha256[:12]})
    arm = lite_int8.targets[0]
    arm_digest = provenance.artifact_digest(arm.nb_path)
    rows.append({"artifact": "Lite arm INT8 .nb (from QAT)", "backend": "paddle-lite-arm", "top1": None,
                 "size_bytes": arm.nb_bytes, "note": arm.note, **base, "path": arm.nb_path,
                 "optimized_ops": arm.optimized_ops, "sha256": arm_digest, "digest": arm_digest[:12]})
    markdown = reporting.markdown_table(rows, COLUMNS)
    out_dir = artifacts.pipeline_dir(g.output_dir)
    md_path, json_path = reporting.write_report(out_dir, "summary", markdown, {
        "rows": rows, "fp32_top1": fp32.top1, "flops_reduction_pruned": pruned.flops_reduction,
        "train_seconds": trained.seconds})
    return PipelineResult(tuple(rows), markdown, md_path, json_path, round(time.perf_counter() - t0, 1))


def _ratio_label(prune_cfg) -> str:
    if prune_cfg.mode is None:
        return str(prune_cfg.pruned_ratio)
    return f"{prune_cfg.mode.value} (FLOPs -{prune_cfg.target_flops_reduction:.0%})"
