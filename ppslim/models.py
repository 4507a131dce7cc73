"""Networks by ``Arch.name``: ``paddle.vision.models`` builders, PaddleClas aliases, and DigitsNet.

``Arch.import: "package.module:callable"`` builds a user's own network instead. Weights load
strictly: a checkpoint that does not match the network is an error, never a silent skip.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import os

from .artifacts import strip_suffix
from .config import ArchConfig
from .errors import ConfigError
from .registry import Registry

log = logging.getLogger(__name__)

ARCHS = Registry("architecture")


def _vision(builder_name: str, takes_scale: bool = False, scale: float | None = None):
    """A builder for ``paddle.vision.models.<builder_name>``; ``scale`` fixes a PaddleClas alias's width."""
    def build(class_num: int, arch_scale: float | None = None, **params):
        import paddle.vision.models as models

        builder = {
            "resnet18": models.resnet18, "resnet34": models.resnet34, "resnet50": models.resnet50,
            "resnet101": models.resnet101, "resnet152": models.resnet152,
            "mobilenet_v1": models.mobilenet_v1, "mobilenet_v2": models.mobilenet_v2,
            "mobilenet_v3_small": models.mobilenet_v3_small, "mobilenet_v3_large": models.mobilenet_v3_large,
            "vgg16": models.vgg16, "shufflenet_v2_x1_0": models.shufflenet_v2_x1_0,
        }[builder_name]
        if takes_scale:
            params["scale"] = scale if arch_scale is None else arch_scale
        elif arch_scale is not None:
            raise ConfigError("Arch.scale", f"{builder_name} has no width scale; remove the key")
        return builder(pretrained=False, num_classes=class_num, **params)
    build.takes_scale = takes_scale
    return build


for _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16", "shufflenet_v2_x1_0"):
    ARCHS.register(_name)(_vision(_name))
for _name in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"):
    ARCHS.register(_name)(_vision(_name, takes_scale=True, scale=1.0))
# PaddleClas spellings users already have in their configs.
for _alias, _name in (("ResNet18", "resnet18"), ("ResNet34", "resnet34"), ("ResNet50", "resnet50"),
                      ("ResNet101", "resnet101"), ("VGG16", "vgg16")):
    ARCHS.register(_alias)(_vision(_name))
for _alias, _name, _scale in (("MobileNetV1", "mobilenet_v1", 1.0), ("MobileNetV2", "mobilenet_v2", 1.0),
                              ("MobileNetV3_small_x1_0", "mobilenet_v3_small", 1.0),
                              ("MobileNetV3_large_x1_0", "mobilenet_v3_large", 1.0),
                              ("MobileNetV3_large_x0_5", "mobilenet_v3_large", 0.5)):
    ARCHS.register(_alias)(_vision(_name, takes_scale=True, scale=_scale))


@ARCHS.register("DigitsNet")
def digits_net(class_num: int, arch_scale: float | None = None, width: int = 16):
    """Three conv blocks for 32x32 inputs (the digits default): ~25k params, trains in a minute on CPU.

    The head uses ``reshape`` not ``paddle.flatten``: flatten's op crashes Paddle Lite's x86 opt.
    """
    import paddle
    import paddle.nn as nn

    if arch_scale is not None:
        width = max(4, int(round(width * arch_scale)))

    def block(cin, cout, pool):
        layers = [nn.Conv2D(cin, cout, 3, padding=1, bias_attr=False), nn.BatchNorm2D(cout), nn.ReLU()]
        return layers + ([nn.MaxPool2D(2)] if pool else [])

    class DigitsNet(nn.Layer):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*block(3, width, True), *block(width, 2 * width, True),
                                          *block(2 * width, 4 * width, False), nn.AdaptiveAvgPool2D(1))
            self.fc = nn.Linear(4 * width, class_num)

        def forward(self, x):
            return self.fc(paddle.reshape(self.features(x), [0, -1]))

    return DigitsNet()


def build_model(arch: ArchConfig):
    """Build the network ``arch`` names (random init); weights come from :func:`load_weights`."""
    if arch.import_path:
        builder = _import_callable(arch.import_path)
        params = dict(arch.params)
        _check_kwargs(builder, params, "Arch.params")  # each error names the key the user wrote
        arch_kwargs = {"class_num": arch.class_num, **({"scale": arch.scale} if arch.scale is not None else {})}
        _check_kwargs(builder, arch_kwargs, "Arch")
        return builder(**arch_kwargs, **params)
    builder = ARCHS.get_or_raise(arch.name, "Arch.name")
    _check_kwargs(builder, arch.params, "Arch.params")
    return builder(arch.class_num, arch.scale, **arch.params)


def _check_kwargs(builder, kwargs: dict, path: str) -> None:
    sig = inspect.signature(builder)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    for key in kwargs:
        if key not in sig.parameters:
            raise ConfigError(f"{path}.{key}", f"not a parameter of {getattr(builder, '__name__', builder)}; "
                              f"accepted: {[n for n in sig.parameters if n != 'arch_scale']}")


def _import_callable(spec: str):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError("Arch.import", f"expected 'package.module:callable', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError("Arch.import", f"cannot import {module_name!r}: {e}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError("Arch.import", f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError("Arch.import", f"{spec!r} is not callable")
    return obj


def load_weights(model, path: str, key: str = "Global.pretrained_model") -> int:
    """Load ``path`` (with or without ``.pdparams``) into ``model``; every tensor must match.

    PaddleClas logs "loaded" and keeps random weights when names differ (e.g. under QAT). Here a
    missing, unexpected or mis-shaped tensor is an error naming the first few offenders.

    :returns: the number of tensors loaded.
    """
    import paddle

    file = strip_suffix(path) + ".pdparams"
    if not os.path.isfile(file):
        raise ConfigError(key, f"weights file not found: {file!r}")
    try:
        state = paddle.load(file)
    except Exception as e:  # paddle raises bare Exceptions for non-checkpoint files
        raise ConfigError(key, f"{file!r} is not a Paddle checkpoint: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise ConfigError(key, f"{file!r} holds a {type(state).__name__}, expected a state dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mis_shaped = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in own
                  if k in state and list(state[k].shape) != list(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[:3]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
    if mis_shaped:
        problems.append(f"{len(mis_shaped)} with other shapes (e.g. {mis_shaped[:2]})")
    if problems:
        raise ConfigError(key, f"{file!r} does not match the network: " + "; ".join(problems))
    model.set_state_dict(state)
    log.info("loaded %d tensors from %s", len(own), file)
    return len(own)


def count_params(model) -> int:
    return int(sum(int(p.numel()) for p in model.parameters()))


def count_flops(model, image_shape) -> int:
    """Multiply-accumulate FLOPs of one image, as PaddleSlim counts them (conv, linear, BN, pools)."""
    from paddleslim.analysis import dygraph_flops

    was_training = model.training
    model.eval()
    try:
        return int(dygraph_flops(model, [1, *image_shape]))
    finally:
        if was_training:
            model.train()
