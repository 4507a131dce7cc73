"""Distillation-aided QAT (``Slim.quant.distill``): a frozen FP32 teacher and the logit distillation term.

The quantized student trains on ``Loss.Train`` plus ``weight * T^2 * KL(softmax(teacher / T) ||
softmax(student / T))`` per image, the term of PaddleClas's ``DistillationKLDivLoss`` (reused from
:mod:`ppslim.train.losses`). The teacher is the FP32 network QAT starts from, restored strictly through
:func:`ppslim.restore.load_trained_model` (a pruned checkpoint's plan replayed) and built once per rank:
eval mode (its BatchNorm statistics stay as trained), no trainable parameters, forward under ``no_grad``.
A ``DistillationModel`` already computes its teacher member in its forward pass (held fixed by
:meth:`ppslim.distill.DistillationModel.hold_fixed`); the term then reads both members' outputs.

(``ppslim.distill`` is the ``DistillationModel`` container itself; this module is the QAT side.)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from .. import artifacts, models
from ..config import Config, DistillConfig
from ..errors import ConfigError
from ..train.losses import DistillationKLDivLoss

log = logging.getLogger(__name__)

STUDENT, TEACHER = "Student", "Teacher"


@dataclass(frozen=True)
class TeacherSource:
    """Where the teacher's FP32 weights come from: ``weights`` (a checkpoint prefix, or ``Arch.pretrained``'s
    file/flag) named by config ``key``; ``member`` is the teacher's name in a ``DistillationModel``."""
    weights: str
    key: str
    member: Optional[str] = None


@dataclass(frozen=True)
class DistillSummary:
    """What ``QatResult`` and ``result.json`` record of the distillation."""
    weight: float
    temperature: float
    teacher: str
    teacher_key: str


def _is_distillation_model(cfg: Config) -> bool:
    return cfg.Arch.name == models.DISTILLATION and not cfg.Arch.import_path


def teacher_source(cfg: Config) -> TeacherSource:
    """The FP32 weights ``Slim.quant.distill`` teaches from; checked (file present) without loading anything.

    :raises ConfigError: naming the key when there are none (nothing to distil from) or the file is missing.
    """
    from ..distill import teacher_key
    from ..restore import check_weights, read_states

    distill, g, arch = cfg.Slim.quant.distill, cfg.Global, cfg.require("Arch")
    if _is_distillation_model(cfg):
        member = teacher_key(arch)
        index = [m.key for m in arch.models].index(member)
        if g.pretrained_model:
            return TeacherSource(artifacts.strip_suffix(g.pretrained_model), "Global.pretrained_model", member)
        if arch.pretrained_list and arch.pretrained_list[index]:
            return TeacherSource(arch.pretrained_list[index], f"Arch.pretrained_list.{index}", member)
        if arch.models[index].arch.pretrained:
            return TeacherSource(str(arch.models[index].arch.pretrained),
                                 f"Arch.models.{index}.{member}.pretrained", member)
        raise ConfigError("Slim.quant.distill", f"the teacher {member!r} has no FP32 weights to teach from: set "
                          f"Global.pretrained_model (a DistillationModel checkpoint) or Arch.pretrained_list.{index}")
    if distill.teacher:
        prefix = artifacts.strip_suffix(distill.teacher)
        check_weights(prefix, "Slim.quant.distill.teacher")
        if read_states(prefix).get("quant"):
            raise ConfigError("Slim.quant.distill.teacher", f"{prefix!r} is a QAT checkpoint; the teacher must be an "
                              "FP32 one (the FP32 or pruned checkpoint QAT started from)")
        return TeacherSource(prefix, "Slim.quant.distill.teacher")
    if g.pretrained_model:
        return TeacherSource(artifacts.strip_suffix(g.pretrained_model), "Global.pretrained_model")
    if arch.pretrained:
        return TeacherSource(str(arch.pretrained), "Arch.pretrained")
    raise ConfigError("Slim.quant.distill", "no FP32 weights to teach from: set Global.pretrained_model (the FP32 "
                      "checkpoint QAT fine-tunes) or Slim.quant.distill.teacher")


def build_teacher(cfg: Config, source: TeacherSource):
    """The frozen FP32 teacher network (its logits only), built once; ``None`` for a ``DistillationModel``,
    whose teacher member the stage holds fixed instead.

    Built with the random-number state put back afterwards, so the student trains on the same random
    draws as without distillation (at one seed the two runs differ by the loss only).
    """
    import paddle

    from ..distill import hold_eval
    from ..restore import load_trained_model

    if source.member is not None:
        return None
    rng = paddle.get_rng_state()
    try:
        if source.key == "Arch.pretrained":
            model = models.build_model(cfg.Arch, pretrained=True)
        else:
            try:
                model, _ = load_trained_model(cfg, source.weights, source.key)
            except ConfigError as e:
                if "does not match the network" not in e.msg:
                    raise
                raise ConfigError(e.key_path, f"{e.msg}; the teacher must be a checkpoint of Arch "
                                  f"({cfg.Arch.name}), pruned or not; for another architecture use "
                                  "Arch.name: DistillationModel") from None
    finally:
        paddle.set_rng_state(rng)
    if getattr(model, "quanter", None) is not None:  # a PaddleClas QAT checkpoint (scale tensors, no .pdstates)
        raise ConfigError(source.key, f"{source.weights!r} holds QAT weights; the teacher must be an FP32 checkpoint")
    teacher = models.inference_network(model)
    for param in teacher.parameters():
        param.trainable = False
    hold_eval(teacher)
    log.info("distillation teacher: %s (%s), frozen FP32, eval mode", source.weights, source.key)
    return teacher


def logits(outputs):
    """The logits of a network's output, as :func:`ppslim.models.inference_network` exports them."""
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    if isinstance(outputs, dict):
        outputs = outputs["logits"]
    return outputs


class LogitDistillation:
    """The term added to ``Loss.Train``: ``weight * DistillationKLDivLoss(student, teacher)``.

    ``teacher`` is a frozen network run on the batch's images; ``None`` reads the teacher's output from
    ``outputs`` (a ``DistillationModel``'s ``{member: logits}``) under ``pair = (student, teacher)``.
    Called as ``term(images, outputs)`` by :func:`ppslim.train.engine.fit`, which logs it as
    ``train_loss_distill``.
    """
    name = "distill"

    def __init__(self, settings: DistillConfig, teacher=None, pair: tuple[str, str] = (STUDENT, TEACHER)):
        self.teacher, self.pair = teacher, pair
        self.kd = DistillationKLDivLoss(settings.weight, model_name_pairs=[list(pair)],
                                        temperature=settings.temperature)

    def __call__(self, images, outputs):
        import paddle

        student, teacher = self.pair
        if self.teacher is not None:
            with paddle.no_grad():
                taught = logits(self.teacher(images))
            pair = {student: logits(outputs), teacher: taught}
        else:
            pair = {key: logits(outputs[key]) for key in self.pair}
        return self.kd.weight * self.kd(pair, None)


def summary(settings: DistillConfig, source: TeacherSource) -> DistillSummary:
    teacher = f"Arch.models {source.member} ({source.weights})" if source.member else source.weights
    return DistillSummary(settings.weight, settings.temperature, teacher, source.key)

