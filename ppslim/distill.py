"""``Arch.name: DistillationModel``: PaddleClas's teacher/student container, as its configs write it.

``Arch.models`` is a list of ``{Key: {name: ..., <Arch keys>}}``; each member is built like a top-level
``Arch`` and added as a sub-layer under its key, so the state dict reads ``Teacher.*``/``Student.*`` as
PaddleClas's. The forward pass returns ``{key: logits}`` for the Distillation* losses and
``DistillationTopkAcc``. ``freeze_params_list`` freezes members' parameters (``trainable = False``,
as PaddleClas: BatchNorm statistics still move in train mode), ``pretrained_list`` loads a file into
each member strictly, and ``infer_model_name`` names the member that is evaluated, quantized and
exported. A top-level ``class_num`` (PaddleClas's configs carry a YAML anchor there) is the default
for members that set none.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import paddle
import paddle.nn as nn

from .config import ArchConfig
from .errors import ConfigError


def check_distillation(arch: ArchConfig, path: str) -> None:
    """The container's own keys; each member was checked as an ``Arch`` when it was parsed."""
    if not arch.models:
        raise ConfigError(f"{path}.models", "DistillationModel needs a list like [{Teacher: {name: ...}}, "
                          "{Student: {name: ...}}]")
    keys = [m.key for m in arch.models]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ConfigError(f"{path}.models", f"member names must be unique, {dup} repeat")
    for key in ("freeze_params_list", "pretrained_list"):
        value = getattr(arch, key)
        if value is not None and len(value) != len(keys):
            raise ConfigError(f"{path}.{key}", f"expected {len(keys)} entries (one per model {keys}), got {len(value)}")
    if arch.infer_model_name is not None and arch.infer_model_name not in keys:
        raise ConfigError(f"{path}.infer_model_name", f"{arch.infer_model_name!r} not in {keys}")
    for key in ("import_path", "scale"):
        if getattr(arch, key) is not None:
            raise ConfigError(f"{path}.{key}", "set it on a member of Arch.models, not on DistillationModel")
    if arch.pretrained is not False:
        raise ConfigError(f"{path}.pretrained", "set pretrained on a member of Arch.models, or use "
                          "Arch.pretrained_list")
    for key, value in (("params", arch.params), ("", arch.kwargs)):
        if value:
            where = f"{path}.{key}." if key else f"{path}."
            raise ConfigError(where + next(iter(value)), "DistillationModel takes models, freeze_params_list, "
                              "pretrained_list, infer_model_name and class_num; put network arguments on a member")
    if arch.use_sync_bn:
        raise ConfigError(f"{path}.use_sync_bn", "set use_sync_bn on a member of Arch.models")


def deployed_key(arch: ArchConfig) -> Optional[str]:
    """``infer_model_name``; when unset, ``Student`` (what PaddleClas's evaluation reads), else ``None``."""
    return arch.infer_model_name or ("Student" if any(m.key == "Student" for m in arch.models) else None)


def teacher_key(arch: ArchConfig, path: str = "Slim.quant.distill") -> str:
    """The member ``Slim.quant.distill`` teaches the deployed member from: the only other one."""
    student = deployed_key(arch)
    if student is None:
        raise ConfigError("Arch.infer_model_name", f"name the member to quantize and export, one of "
                          f"{[m.key for m in arch.models]}")
    others = [m.key for m in arch.models if m.key != student]
    if len(others) != 1:
        raise ConfigError(path, f"needs exactly one teacher besides {student!r} in Arch.models, found {others}; "
                          "remove Slim.quant.distill to train with Loss.Train alone")
    return others[0]


def hold_eval(layer) -> None:
    """Eval mode for ``layer`` and its sublayers without touching the tracer's global mode (as
    ``Layer.eval()`` does): BatchNorm uses, and keeps, its trained statistics."""
    layer.training = False
    for sub in layer.sublayers():
        sub.training = False


class DistillationModel(nn.Layer):
    """Members by key, called in order; ``forward`` returns ``{key: output}``."""

    def __init__(self, arch: ArchConfig, pretrained: bool = False):
        from . import models

        super().__init__()
        self.model_name_list = [m.key for m in arch.models]
        self.infer_model_name = arch.infer_model_name
        self.deployed_key = deployed_key(arch)
        self.fixed_members: list[str] = []  # see hold_fixed
        freeze = arch.freeze_params_list or [False] * len(arch.models)
        for i, member in enumerate(arch.models):
            sub = member.arch
            if sub.class_num is None and arch.class_num is not None:
                sub = replace(sub, class_num=arch.class_num)
            key = f"Arch.models.{i}.{member.key}"
            try:
                model = models.build_model(sub, pretrained=pretrained)
            except ConfigError as e:
                raise ConfigError(e.key_path.replace("Arch", key, 1), e.msg) from None
            if freeze[i]:
                for param in model.parameters():
                    param.trainable = False
            self.add_sublayer(member.key, model)
        if pretrained and arch.pretrained_list:
            for i, path in enumerate(arch.pretrained_list):
                if path:
                    models.load_weights(self.member(self.model_name_list[i]), path, f"Arch.pretrained_list.{i}")

    def member(self, key: str):
        return self._sub_layers[key]

    def hold_fixed(self, key: str) -> None:
        """Make member ``key`` a fixed FP32 teacher (QAT): its parameters stop training, and it runs in
        eval mode under ``no_grad`` whatever mode the container (or a ``DataParallel`` around it) is
        set to, so its BatchNorm statistics stay those it was trained with."""
        for param in self.member(key).parameters():
            param.trainable = False
        if key not in self.fixed_members:
            self.fixed_members.append(key)

    def forward(self, x):
        out = {}
        for key in self.model_name_list:
            if key in self.fixed_members:
                hold_eval(self.member(key))
                with paddle.no_grad():
                    out[key] = self.member(key)(x)
            else:
                out[key] = self.member(key)(x)
        return out

    def inference_key(self) -> str:
        """``infer_model_name``; when unset, ``Student`` (what PaddleClas's evaluation reads)."""
        key = self.deployed_key
        if key is None:
            raise ConfigError("Arch.infer_model_name", f"name the member to evaluate and export, one of "
                              f"{self.model_name_list}")
        return key

    def inference_network(self):
        """The member that is evaluated, quantized and exported."""
        return self.member(self.inference_key())
