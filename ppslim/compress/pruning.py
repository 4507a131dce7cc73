"""Filter pruning (FPGM / L1-norm) with PaddleSlim, recorded as a replayable plan.

A pruned checkpoint only loads into a network of the pruned shapes. The plan (method, per-weight
ratios by structured name, resulting shapes) is stored in the checkpoint's ``.pdstates`` and
:func:`apply_plan` replays it on a freshly built network before the weights are loaded.
"""
from __future__ import annotations

import logging
from typing import Union

from .. import logs
from ..config import PruneMethod
from ..errors import ConfigError, PpslimError

log = logging.getLogger(__name__)


def conv_weights(model) -> dict[str, object]:
    """Structured name -> parameter, for every Conv2D weight (the prunable filters)."""
    import paddle.nn as nn

    found = {}
    for layer_name, layer in model.named_sublayers():
        if isinstance(layer, nn.Conv2D) and layer._groups == 1:
            found[f"{layer_name}.weight"] = layer.weight
    return found


def ratios_for(model, pruned_ratio: Union[float, dict]) -> dict[str, float]:
    """Expand ``Slim.prune.pruned_ratio`` (one number, or a per-layer map) to every weight it covers."""
    weights = conv_weights(model)
    if not weights:
        raise PpslimError("pruning found no Conv2D (groups=1) weights in this network; nothing to prune")
    if isinstance(pruned_ratio, dict):
        unknown = [k for k in pruned_ratio if k not in weights]
        if unknown:
            raise ConfigError(f"Slim.prune.pruned_ratio.{unknown[0]}",
                              f"not a Conv2D weight of this network; valid: {sorted(weights)[:8]} ...")
        return dict(pruned_ratio)
    return {name: float(pruned_ratio) for name in weights}


def prune(model, method: PruneMethod, ratios: dict[str, float], image_shape) -> dict:
    """Prune ``model`` in place; returns the plan to store with its checkpoints."""
    from paddleslim.dygraph import FPGMFilterPruner, L1NormFilterPruner

    pruner_cls = FPGMFilterPruner if PruneMethod(method) == PruneMethod.FPGM else L1NormFilterPruner
    weights = conv_weights(model)
    before = {name: list(p.shape) for name, p in weights.items()}
    was_training = model.training
    model.eval()
    with logs.capture_native():  # PaddleSlim logs every pruned variable and its relatives
        pruner = pruner_cls(model, [1, *image_shape])
        pruner.prune_vars({weights[name].name: ratio for name, ratio in ratios.items()}, [0])
    drop_backups(model)
    if was_training:
        model.train()
    shapes = {name: list(p.shape) for name, p in model.named_parameters()}
    changed = [n for n, s in before.items() if shapes.get(n) != s]
    if not changed:
        raise PpslimError(f"{method} pruning changed no filter count (ratios {sorted(set(ratios.values()))} "
                          "may be too small for these layers)")
    log.info("pruned %d of %d conv weights with %s", len(changed), len(before), method)
    return {"method": PruneMethod(method).value, "ratios": ratios, "shapes": shapes}


def drop_backups(model) -> None:
    """PaddleSlim keeps the unpruned tensors as ``<param>_backup`` buffers (for ``restore()``).
    They would double the checkpoint and their names follow a process-wide counter, so a pruned
    checkpoint could not be reloaded in another process; pruning here is never undone."""
    for layer in model.sublayers(include_self=True):
        for name in [n for n in layer._buffers if n.endswith("_backup")]:
            del layer._buffers[name]


def apply_plan(model, plan: dict, image_shape) -> None:
    """Replay a recorded plan so a fresh network has the pruned shapes; verify they match."""
    prune(model, PruneMethod(plan["method"]), plan["ratios"], image_shape)
    now = {name: list(p.shape) for name, p in model.named_parameters()}
    wrong = [n for n, s in plan["shapes"].items() if now.get(n) != s]
    if wrong:
        raise PpslimError(f"replaying the pruning plan gave other shapes than recorded for {wrong[:3]}: "
                          "was the checkpoint made from a different Arch?")
