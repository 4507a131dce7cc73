"""PaddleSlim dygraph QAT: wrap a network, keep its state consistent across ranks, export INT8.

Wrapping is checked, not assumed: when no layer of the requested types gets a fake-quant
wrapper (an architecture PaddleSlim cannot handle) the stage fails instead of training an
unquantized model and calling it INT8.
"""
from __future__ import annotations

import logging

from ..config import QuantConfig, QuantMethod, to_dict
from ..errors import PpslimError

log = logging.getLogger(__name__)

# QAT state that training updates outside the optimizer: moving-average activation scales.
QAT_STATE_SUFFIXES = ("._scale", "._accum", "._state")


def quant_settings(quant: QuantConfig) -> dict:
    """The plain-data record of a QAT config, stored in checkpoints so they can be rebuilt (how it was
    trained, the schedule and distillation, does not shape the network)."""
    return {k: v for k, v in to_dict(quant).items() if k not in ("derive_from_train", "distill")}


def paddleslim_config(settings: dict) -> dict:
    cfg = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in settings.items() if k != "name"}
    cfg["activation_preprocess_type"] = "PACT" if settings["name"] == QuantMethod.PACT.value else None
    cfg["weight_preprocess_type"] = None
    cfg["dtype"] = "int8"
    cfg["window_size"] = 10000
    cfg["moving_rate"] = 0.9
    return cfg


def count_layers(model, type_names) -> int:
    return sum(1 for layer in model.sublayers() if type(layer).__name__ in type_names)


def wrap_for_qat(model, settings: dict):
    """Insert fake-quant wrappers in place; returns the PaddleSlim ``QAT`` object (needed to export).

    :raises PpslimError: when none of ``quantizable_layer_type`` could be wrapped.
    """
    from paddleslim.dygraph.quant import QAT

    types = tuple(settings["quantizable_layer_type"])
    candidates = count_layers(model, types)
    quanter = QAT(config=paddleslim_config(settings))
    quanter.quantize(model)
    wrapped = count_layers(model, ("QuantizedConv2D", "QuantizedLinear", "QuantizedConv2DTranspose"))
    if candidates == 0 or wrapped == 0:
        raise PpslimError(f"QAT quantized no layers: the network has {candidates} layer(s) of type "
                          f"{list(types)} and PaddleSlim wrapped {wrapped}; this architecture is not supported "
                          "by dygraph QAT")
    if wrapped < candidates:
        log.warning("QAT wrapped %d of %d %s layers", wrapped, candidates, "/".join(types))
    log.info("QAT wrapped %d layers (%s, %s activations%s)", wrapped, settings["weight_quantize_type"],
             settings["activation_quantize_type"], ", PACT" if settings["name"] == "pact" else "")
    quanter.wrapped_layers = wrapped
    return quanter


def qat_state(model) -> dict:
    """The rank-local QAT tensors (moving-average scales), by structured name."""
    return {name: t for name, t in model.state_dict().items() if name.endswith(QAT_STATE_SUFFIXES)}


def sync_qat_state(model) -> int:
    """Average QAT scale state across ranks so every rank saves/exports the same INT8 model.

    Data parallelism all-reduces gradients, not these moving averages, so each rank's scales
    drift with its own data shard. Returns the number of tensors averaged (0 when not distributed).
    """
    import paddle
    import paddle.distributed as dist

    if dist.get_world_size() < 2:
        return 0
    state = qat_state(model)
    world = float(dist.get_world_size())
    with paddle.no_grad():
        for tensor in state.values():
            dist.all_reduce(tensor)
            tensor.set_value(tensor / world)
    return len(state)


def save_quantized(quanter, model, path_prefix: str, input_spec) -> None:
    """``save_quantized_model`` switches Paddle to static mode; switch back so the caller can go on."""
    import paddle

    model.eval()
    try:
        quanter.save_quantized_model(model, path_prefix, input_spec=input_spec)
    finally:
        paddle.disable_static()
