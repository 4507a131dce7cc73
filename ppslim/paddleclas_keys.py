"""The PaddleClas engine keys that ppslim accepts but that change nothing here, and the values it refuses.

Every key of ``Global``, ``Optimizer``, ``Optimizer.lr``, ``AMP`` and ``EMA`` that PaddleClas's engine
reads is a field of the config dataclasses, so unknown keys stay errors with "did you mean". A field is
either honored with PaddleClas's meaning (``HONORED`` says where), or listed in ``NO_EFFECT`` with the
reason (accepted, logged once at debug), or has values in ``REFUSED`` that fail in one line naming key
and value. ``tests/unit/test_paddleclas_keys.py`` checks that every field is in exactly one place.
"""
from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Any, Callable

from .errors import ConfigError

log = logging.getLogger(__name__)

HONORED: dict[str, str] = {
    "Global.use_visualdl": "VisualDL scalars (train_loss, lr, eval_acc, eval_acc_ema) under <run dir>/vdl",
    "Global.to_static": "the training forward runs through paddle.jit.to_static",
    "Global.update_freq": "gradient accumulation: one optimizer step every update_freq batches",
    "Global.eval_mode": "classification (top-k) evaluation",
    "Global.use_dali": "false: images are read by paddle.io.DataLoader",
    "Global.start_eval_epoch": "no evaluation before this epoch (the last epoch is always evaluated)",
    "Global.iter_per_epoch": "train on only the first iter_per_epoch batches of each epoch",
    "Global.use_multilabel": "false: single-label classification",
    "Global.uniform_output_enabled": "false: checkpoints only, no inference model per checkpoint",
    "Optimizer.name": "paddle.optimizer.<name>",
    "Optimizer.momentum": "Momentum/RMSProp momentum",
    "Optimizer.beta1": "Adam/AdamW beta1",
    "Optimizer.beta2": "Adam/AdamW beta2",
    "Optimizer.epsilon": "Adam/AdamW/RMSProp epsilon",
    "Optimizer.rho": "RMSProp rho",
    "Optimizer.use_nesterov": "Momentum use_nesterov",
    "Optimizer.lr": "the LR schedule",
    "Optimizer.regularizer": "paddle.regularizer.L1Decay/L2Decay",
    "Optimizer.weight_decay": "L2 coefficient (decoupled decay for AdamW)",
    "Optimizer.no_weight_decay_name": "parameters whose name contains one of these words get no decay",
    "Optimizer.one_dim_param_no_weight_decay": "1-D parameters (biases, norms) get no decay",
    "Optimizer.clip_norm": "paddle.nn.ClipGradByNorm (per parameter)",
    "Optimizer.clip_grad": "paddle.nn.ClipGradByGlobalNorm (PaddleClas 2.6's AdamW swallows it unused)",
    "Optimizer.multi_precision": "fp32 master weights for fp16 parameters (AMP O2)",
    "Optimizer.lr.by_epoch": "the schedule steps once per epoch instead of once per iteration",
    "AMP": "paddle.amp.auto_cast + GradScaler (fp16 on GPU); O2 decorates the model",
    "EMA": "EMA weights evaluated each epoch and saved as .pdparams, raw weights as .pdema",
}

NO_EFFECT: dict[str, str] = {
    "Global.image_channel": "PaddleClas's engine never reads it; configs use it as a YAML anchor and "
                            "Global.image_shape carries the channel count",
    "Global.print_mem_info": "it adds CUDA memory figures to PaddleClas's log lines; ppslim's lines have none",
    "Optimizer.lr.step_each_epoch": "PaddleClas overwrites it with the loader's batches per epoch "
                                    "(divided by update_freq); ppslim does the same",
}


def _not(value: Any, *allowed: Any) -> bool:
    return value not in allowed and str(value) not in map(str, allowed)


REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "Global.use_dali": (lambda v: v is True, "NVIDIA DALI data loading is not part of ppslim; set it to false"),
    "Global.eval_mode": (lambda v: _not(v, "classification"),
                         "only classification evaluation is supported (retrieval and adaface are not)"),
    "Global.use_multilabel": (lambda v: v is True, "multi-label training and evaluation are not supported"),
    "Global.uniform_output_enabled": (lambda v: v is True, "per-checkpoint inference models are not written; "
                                      "run `ppslim export` on the checkpoint you want"),
    "Global.class_num": (lambda v: v is not None, "deprecated in PaddleClas; set Arch.class_num instead"),
    "Global.train_mode": (lambda v: v is not None,
                          "only the standard training loop is supported (progressive, fixmatch ... are not)"),
}

_noted: set[str] = set()


def check_section(obj, path: str) -> None:
    """Refuse ``REFUSED`` values and note ``NO_EFFECT`` keys set in section ``obj`` at ``path``."""
    for f in dataclasses.fields(obj):
        key = f"{path}.{f.metadata.get('key', f.name)}"
        value = getattr(obj, f.name)
        rule = REFUSED.get(key)
        if rule is not None and rule[0](value):
            shown = value.value if isinstance(value, enum.Enum) else value
            raise ConfigError(key, f"{shown!r} not supported: {rule[1]}")
        if key in NO_EFFECT and value != f.default and key not in _noted:
            _noted.add(key)
            log.debug("%s=%r has no effect in ppslim: %s", key, value, NO_EFFECT[key])


def literal_none(data: Any) -> Any:
    """PaddleClas ``literal_eval``s every string value of a mapping, so ``clip_grad: None`` means null;
    do the same for the string ``None`` (lists are left alone, as PaddleClas does)."""
    if isinstance(data, dict):
        return {k: None if v == "None" else literal_none(v) for k, v in data.items()}
    return data
