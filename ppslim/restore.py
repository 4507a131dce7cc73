"""Rebuild a trained network from a checkpoint, including what was done to it after ``Arch``.

A checkpoint's ``.pdstates`` records the compression applied while it was trained (a pruning plan,
QAT wrapping). Loading re-applies those first, so the weights fit exactly and ``eval``/``export``/
``qat`` work on pruned and quantized checkpoints alike.
"""
from __future__ import annotations

import logging
import os

from . import artifacts, models
from .config import Config
from .errors import ConfigError

log = logging.getLogger(__name__)


def default_weights(cfg: Config) -> tuple[str, str]:
    """(checkpoint prefix, config key it came from): ``Global.pretrained_model``, else ``Arch.pretrained``
    (PaddleClas's export and eval load it when ``Global.pretrained_model`` is unset: ``True`` means its
    published weights), else the run's best model."""
    if cfg.Global.pretrained_model:
        return artifacts.strip_suffix(cfg.Global.pretrained_model), "Global.pretrained_model"
    arch = cfg.require("Arch")
    best = artifacts.checkpoint_prefix(cfg.Global.output_dir, arch.name, "best_model")
    if arch.pretrained:
        from .weights import pretrained_file

        if os.path.isfile(best + ".pdparams"):
            log.warning("using Arch.pretrained, not the trained %s (PaddleClas's rule); pass "
                        "-o Global.pretrained_model=%s for that one", best, best)
        return artifacts.strip_suffix(pretrained_file(arch.name, arch.pretrained, arch.kwargs, "Arch.pretrained")), \
            "Arch.pretrained"
    return best, "Global.output_dir"


def check_weights(prefix: str, key: str) -> None:
    if not os.path.isfile(prefix + ".pdparams"):
        raise ConfigError(key, f"weights file not found: {prefix + '.pdparams'!r} (train first, or set "
                          f"Global.pretrained_model)")


def read_states(prefix: str) -> dict:
    """The ``.pdstates`` beside a checkpoint, or ``{}`` for plain weights (e.g. from PaddleClas)."""
    path = prefix + ".pdstates"
    return artifacts.read_json(path) if os.path.isfile(path) else {}


def load_trained_model(cfg: Config, prefix: str, key: str):
    """Build ``Arch``, re-apply the checkpoint's recorded compression, and load its weights strictly.

    :returns: ``(model, states)`` where ``states`` is the checkpoint's ``.pdstates`` content.
    """
    check_weights(prefix, key)
    states = read_states(prefix)
    model = models.build_model(cfg.require("Arch"))
    if states.get("prune_plan"):
        from .compress.pruning import apply_plan

        apply_plan(model, states["prune_plan"], cfg.Global.image_shape)
    quant = states.get("quant") or slim_quant_settings(cfg, prefix)
    if quant:
        from .compress.quant import wrap_for_qat

        # PaddleClas keeps the quantizer on the model too; export needs it to write the INT8 program.
        # A distillation model quantizes its student.
        model.quanter = wrap_for_qat(models.inference_network(model), quant)
    models.load_weights(model, prefix, key)
    return model, states


def slim_quant_settings(cfg: Config, prefix: str):
    """QAT settings for a checkpoint without ppslim's ``.pdstates`` (trained by PaddleClas with a
    ``Slim.quant`` config): the config's ``Slim.quant`` when the weights hold QAT scale tensors."""
    if cfg.Slim.quant is None:
        return None
    import paddle

    from .compress.quant import QAT_STATE_SUFFIXES, quant_settings

    state = paddle.load(prefix + ".pdparams")
    if isinstance(state, dict) and any(k.endswith(QAT_STATE_SUFFIXES) for k in state):
        return quant_settings(cfg.Slim.quant)
    return None
