"""``ppslim lite``: inference model (FP32, QAT or PTQ) -> Paddle Lite ``.nb`` per target.

x86 (and host) ``.nb`` files are run here on real images and refused when their outputs differ
from Paddle Inference's. Other targets (arm, opencl, ...) are converted and their op coverage is
recorded, but reported as not verified: this host cannot run them.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .. import artifacts, provenance
from ..compress import lite
from ..config import Config, InferenceBackend, LiteConfig
from ..errors import ArtifactError
from ..inference_model import verification_images
from ..predict import QUANT_OPS, Agreement, paddle_predictor, predict_all, read_program_ops, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiteTargetResult:
    target: str
    nb_path: str
    nb_bytes: int
    verified: bool
    note: str
    agreement: Agreement | None
    unsupported_ops: tuple
    optimized_ops: dict


@dataclass(frozen=True)
class LiteResult:
    source_dir: str
    out_dir: str
    quantized: bool
    targets: tuple

    def report(self) -> str:
        lines = [f"Lite .nb files from {self.source_dir} ({'INT8' if self.quantized else 'FP32'}):"]
        for t in self.targets:
            status = (f"verified (cosine {t.agreement.cosine:.4f}, top-1 agreement {t.agreement.top1_agreement:.3f})"
                      if t.verified else f"NOT verified: {t.note}")
            lines.append(f"  {t.target:8s} {t.nb_path} {t.nb_bytes} bytes, {status}")
        return "\n".join(lines)


def source_dir(cfg: Config) -> tuple[str, str]:
    lite_cfg = cfg.Slim.lite
    if lite_cfg is not None and lite_cfg.model_dir:
        return lite_cfg.model_dir, "Slim.lite.model_dir"
    if cfg.Global.inference_model_dir:
        return cfg.Global.inference_model_dir, "Global.inference_model_dir"
    return cfg.Global.save_inference_dir, "Global.save_inference_dir"


def run(cfg: Config) -> LiteResult:
    g, lite_cfg = cfg.Global, cfg.Slim.lite
    if lite_cfg is None:  # a plain PaddleClas model config: Paddle Lite's opt defaults
        lite_cfg = LiteConfig()
        log.info("no Slim.lite section: converting for %s (Slim.lite.valid_targets default)",
                 ", ".join(lite_cfg.valid_targets))
    src, key = source_dir(cfg)
    model_file, params_file = artifacts.inference_files(src, key=key)
    ops = read_program_ops(model_file)
    quantized = any(op in QUANT_OPS for op in ops)
    lite.opt_binary()
    runnable = [t for t in lite_cfg.valid_targets if t.split(",")[0] in lite.HOST_RUNNABLE]
    images = reference = None
    if runnable:
        images = verification_images(cfg)
        reference = predict_all(paddle_predictor(model_file, params_file, InferenceBackend.PLAIN), images)
    src = os.path.dirname(model_file)
    out_dir = lite_cfg.optimize_out or os.path.join(src, "lite")
    record = provenance.Record(cfg, "lite", model_file)
    record.guard(out_dir, "Slim.lite.optimize_out")
    results = []
    with artifacts.atomic_dir(out_dir) as tmp:
        for target in lite_cfg.valid_targets:
            name = target.replace(",", "_")
            nb = lite.convert(model_file, params_file, target, os.path.join(tmp, name), ops)
            table = lite.model_ops(model_file, params_file, target)
            unsupported = tuple(op for op, ok in table.items() if not ok and op not in QUANT_OPS)
            agreement, verified = None, target in runnable
            if verified:
                tolerance = ({"min_cosine": g.verify_int8_min_cosine,
                              "min_agreement": g.verify_int8_min_top1_agreement} if quantized else {})
                try:
                    agreement = verify(reference, lite.run_nb(nb, images), cfg, f"Lite {target} .nb of {src}",
                                       **tolerance)
                except ArtifactError as e:
                    if quantized:  # measured: 2.13rc0's x86 INT8 kernels give chance-level output
                        raise ArtifactError(f"{e}. Paddle Lite 2.13's x86 INT8 kernels are known to be wrong: "
                                            "convert INT8 models for arm, and FP32 models for x86") from None
                    raise
                note = "ran on this host"
            else:
                note = f"no {target} device on this host: converted, not run"
                log.warning("%s .nb converted but not verified (%s)", target, note)
            results.append(LiteTargetResult(target, os.path.join(out_dir, name + ".nb"), os.path.getsize(nb), verified,
                                            note, agreement, unsupported, lite.optimized_ops(nb)))
    result = LiteResult(src, out_dir, quantized, tuple(results))
    record.write_result(out_dir, result, None)
    return result
