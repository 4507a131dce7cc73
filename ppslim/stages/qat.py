"""``ppslim qat``: quantization-aware fine-tuning (PaddleSlim dygraph QAT, PACT optional) -> INT8 model."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Optional

from .. import artifacts, data, models, provenance
from ..train import engine
from ..config import Config, LrConfig
from ..inference_model import input_spec, save_verified, verification_images
from ..predict import Agreement, dygraph_predictor, predict_all, read_program_ops, QUANT_OPS
from ..compress import distill as kd
from ..compress.quant import quant_settings, save_quantized, sync_qat_state, wrap_for_qat
from ..errors import PpslimError
from ..restore import load_trained_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QatResult:
    run_dir: str
    model_dir: str
    method: str
    quantized_layers: int
    epochs_run: int
    learning_rate: float
    best_top1: float
    params_bytes: int
    quant_ops: int
    backend: str
    agreement: Agreement
    seconds: float
    distill: Optional[kd.DistillSummary] = None  # Slim.quant.distill: weight, temperature, the teacher


def derived_schedule(cfg: Config) -> tuple[int, LrConfig]:
    """QAT tuning advice applied to the FP32 recipe in the same config: LR / 10, epochs / 3, warmup."""
    lr = cfg.Optimizer.lr
    epochs = max(1, round(cfg.Global.epochs / 3))
    derived = replace(lr, learning_rate=lr.learning_rate / 10, warmup_epoch=min(1, epochs - 1) if epochs > 1 else 0,
                      warmup_start_lr=lr.learning_rate / 100, eta_min=0.0)
    log.info("QAT schedule derived from the FP32 recipe: %d epochs (was %d), LR %.3g (was %.3g), %d warmup epoch(s)",
             epochs, cfg.Global.epochs, derived.learning_rate, lr.learning_rate, derived.warmup_epoch)
    return epochs, derived


def _has_pretrained(arch) -> bool:
    return bool(arch.pretrained or arch.pretrained_list and any(arch.pretrained_list)
                or any(m.arch.pretrained for m in arch.models))


def distillation(cfg: Config, model, source: Optional[kd.TeacherSource]) -> Optional[kd.LogitDistillation]:
    """The QAT-time teachers of ``model``: a ``DistillationModel``'s frozen members (``freeze_params_list``,
    and the ``Slim.quant.distill`` teacher) are held fixed (eval mode, no gradients), so the config's
    Distillation* losses read stable FP32 outputs. Returns the ``Slim.quant.distill`` term, or ``None``."""
    from ..distill import DistillationModel

    distill = cfg.Slim.quant.distill
    if isinstance(model, DistillationModel):
        arch = cfg.Arch
        fixed = [key for key, frozen in zip(model.model_name_list, arch.freeze_params_list or ()) if frozen]
        if source is not None and source.member not in fixed:
            fixed.append(source.member)
            log.info("Slim.quant.distill: Arch.models %s is the teacher, held fixed during QAT although "
                     "Arch.freeze_params_list trains it", source.member)
        for key in fixed:
            if key != model.inference_key():
                model.hold_fixed(key)
        if fixed:
            log.info("QAT holds %s fixed: FP32, eval mode, no gradients", fixed)
    if source is None:
        return None
    term = kd.LogitDistillation(distill, kd.build_teacher(cfg, source),
                                pair=(model.inference_key(), source.member) if source.member else
                                (kd.STUDENT, kd.TEACHER))
    log.info("QAT distills from %s (%s): Loss.Train + %g * T^2 * KL(teacher || student) at T=%g", source.weights,
             source.key, distill.weight, distill.temperature)
    return term


def run(cfg: Config) -> QatResult:
    g = cfg.Global
    arch, quant = cfg.require("Arch"), cfg.require("Slim.quant")
    teacher_source = kd.teacher_source(cfg) if quant.distill is not None else None
    data.check_dataset(cfg, "Train")
    images = verification_images(cfg)
    runtime = engine.setup_runtime(cfg)
    if g.pretrained_model:
        model, states = load_trained_model(cfg, artifacts.strip_suffix(g.pretrained_model), "Global.pretrained_model")
        if states.get("quant"):
            raise PpslimError("Global.pretrained_model is already a QAT checkpoint; resume it with "
                              "Global.checkpoints instead")
    else:
        model, states = models.build_model(arch, pretrained=True), {}  # Arch.pretrained: PaddleClas's weights
        if not _has_pretrained(arch):
            log.warning("QAT without Global.pretrained_model or Arch.pretrained trains from random weights; "
                        "QAT is meant to fine-tune a trained FP32 model")
    run_dir = artifacts.model_dir(g.output_dir, arch.name)
    record = provenance.Record(cfg, "qat", g.pretrained_model)
    fresh = not engine.resolve_resume(g.checkpoints, run_dir)
    if fresh and runtime.is_main:
        record.guard(run_dir, "Global.output_dir", whole_folder=False)
        record.guard(g.save_inference_dir, "Global.save_inference_dir")
        provenance.clear_run(run_dir)
    settings = quant_settings(quant)
    # A DistillationModel trains teacher and student with its distillation losses; only the student
    # (Arch.infer_model_name) is quantized and exported.
    deployed = models.inference_network(model)
    quanter = wrap_for_qat(deployed, settings)
    term = distillation(cfg, model, teacher_source)
    summary = kd.summary(quant.distill, teacher_source) if term is not None else None
    epochs, lr = derived_schedule(cfg) if quant.derive_from_train else (g.epochs, cfg.Optimizer.lr)
    fitted = engine.fit(model, cfg, runtime, run_dir, epochs=epochs, lr=lr, resume=g.checkpoints,
                        before_save=sync_qat_state, extra_loss=term,
                        extra_state={"quant": settings, "prune_plan": states.get("prune_plan")})
    models.load_weights(model, fitted.best_model, "best_model")
    if not runtime.is_main:
        return QatResult(run_dir, "", settings["name"], quanter.wrapped_layers, fitted.epochs_run,
                         lr.learning_rate, fitted.best_top1, 0, 0, "", Agreement(0.0, 0.0, 0), fitted.seconds,
                         summary)
    reference = predict_all(dygraph_predictor(deployed), images)
    saved = save_verified(cfg, g.save_inference_dir,
                          lambda tmp: save_quantized(quanter, deployed, os.path.join(tmp, "inference"),
                                                     input_spec(cfg)),
                          reference, "QAT export", images=images, min_cosine=g.verify_int8_min_cosine,
                          min_agreement=g.verify_int8_min_top1_agreement)
    quant_ops = sum(op in QUANT_OPS for op in read_program_ops(saved.model_file))
    result = QatResult(run_dir, saved.model_dir, settings["name"], quanter.wrapped_layers, fitted.epochs_run,
                       lr.learning_rate, fitted.best_top1, saved.params_bytes, quant_ops, saved.backend,
                       saved.agreement, fitted.seconds, summary)
    record.write_result(saved.model_dir, result, saved.model_dir)
    record.write_result(run_dir, result, fitted.best_model)
    return result
