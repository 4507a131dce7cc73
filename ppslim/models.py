"""Networks by ``Arch.name``: PaddleClas's backbone zoo, ``DistillationModel``, the lowercase
``paddle.vision.models`` builders, and DigitsNet.

PaddleClas's names (``ResNet50_vd``, ``PPLCNet_x1_0`` ...) build PaddleClas's own classes
(:mod:`ppslim.zoo`), so PaddleClas checkpoints load into them; the lowercase names (``resnet50``)
build ``paddle.vision`` networks, whose parameter names differ. ``Arch.import:
"package.module:callable"`` builds a user's own network instead. Weights load strictly: a
checkpoint that does not match the network is an error, never a silent skip.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import os

from .artifacts import strip_suffix
from .config import ArchConfig
from .errors import ConfigError
from .registry import Registry
from .schema import did_you_mean

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


DISTILLATION = "DistillationModel"
# PaddleClas model wrappers ppslim does not build, and why.
REFUSED = {
    "RecModel": "retrieval models (backbone + neck + metric-learning head) are not supported by ppslim; "
                "ppslim compresses classifiers",
    "AttentionModel": "AFD attention distillation (chained models) is not supported; use DistillationModel",
}
# A keyword PaddleClas's network would drop unused is accepted only switched off (it asks for nothing).
OFF_VALUES = (None, False, 0, 0.0)
_DISTILL_ONLY = ("models", "freeze_params_list", "pretrained_list", "infer_model_name")


def check_arch(arch: ArchConfig, path: str = "Arch") -> None:
    """Check ``Arch`` against the builder it names, without building: the name, and every keyword
    argument against the builder's signature (PaddleClas's zoo: also the class the builder makes)."""
    if arch.use_ml_decoder:
        raise ConfigError(f"{path}.use_ml_decoder", "PaddleClas's ML-Decoder head is not supported by ppslim; "
                          "set it to false")
    if arch.name == DISTILLATION and not arch.import_path:
        from .distill import check_distillation

        check_distillation(arch, path)
        return
    for key in _DISTILL_ONLY:
        if getattr(arch, key) not in (None, ()):
            raise ConfigError(f"{path}.{key}", f"only DistillationModel takes {key}; {arch.name} does not")
    if arch.import_path:
        return  # the user's module is imported when the network is built
    if arch.name in REFUSED:
        raise ConfigError(f"{path}.name", f"{arch.name}: {REFUSED[arch.name]}")
    if arch.name in ARCHS:
        if arch.pretrained is True:
            raise ConfigError(f"{path}.pretrained", f"no published weights for ppslim's {arch.name!r}; set "
                              "Global.pretrained_model or Arch.pretrained to a .pdparams file")
        builder = ARCHS[arch.name]
        _check_kwargs(builder, arch.kwargs, path)
        _check_kwargs(builder, arch.params, f"{path}.params")
        return
    from . import zoo

    if arch.name not in zoo.names():
        known = [*ARCHS, *sorted(zoo.names()), DISTILLATION]
        raise ConfigError(f"{path}.name", f"{arch.name!r} is not a PaddleClas backbone (paddleclas "
                          f"{_paddleclas_version()}) nor one of [{', '.join(ARCHS)}, {DISTILLATION}]"
                          + did_you_mean(arch.name, known))
    accepted = zoo.accepted(arch.name)
    if accepted is None:
        return
    given = [(path, k) for k in arch.kwargs] + [(f"{path}.params", k) for k in arch.params]
    given += [(path, k) for k in ("class_num", "scale") if getattr(arch, k) is not None]
    values = {**arch.kwargs, **arch.params}
    for where, key in given:
        if key in accepted:
            continue
        if key in values and values[key] in OFF_VALUES and zoo.swallows(arch.name):
            # PaddleClas hands it to **kwargs and drops it; switched off, it asks for what the network does.
            log.info("%s.%s=%r: PaddleClas's %s has no such parameter and ignores it", where, key, values[key],
                     arch.name)
            continue
        raise ConfigError(f"{where}.{key}", f"not a parameter of PaddleClas's {arch.name}"
                          + did_you_mean(key, accepted) + f"; accepted: [{', '.join(accepted)}]"
                          + (" (PaddleClas would drop it unused)" if zoo.swallows(arch.name) else ""))


def _paddleclas_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paddleclas")
    except PackageNotFoundError:
        return "?"


def build_model(arch: ArchConfig, pretrained: bool = False):
    """Build the network ``arch`` names (random init); weights come from :func:`load_weights`.

    :param pretrained: also load what ``Arch.pretrained`` (and a distillation model's
        ``pretrained_list``) names, strictly; stages that restore a checkpoint leave it off.
    """
    check_arch(arch)
    if arch.import_path:
        builder = _import_callable(arch.import_path)
        params = dict(arch.params)
        _check_kwargs(builder, params, "Arch.params")  # each error names the key the user wrote
        _check_kwargs(builder, arch.kwargs, "Arch")
        arch_kwargs = {"class_num": arch.class_num or 1000,
                       **({"scale": arch.scale} if arch.scale is not None else {})}
        _check_kwargs(builder, arch_kwargs, "Arch")
        model = builder(**arch_kwargs, **arch.kwargs, **params)
    elif arch.name == DISTILLATION:
        from .distill import DistillationModel

        return DistillationModel(arch, pretrained)
    elif arch.name in ARCHS:
        model = ARCHS[arch.name](arch.class_num or 1000, arch.scale, **arch.kwargs, **arch.params)
    else:
        model = _build_zoo(arch)
    if arch.use_sync_bn:  # Config.validate allows it only with Global.device: gpu
        import paddle.nn as nn

        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if pretrained:
        from .weights import load_pretrained

        load_pretrained(model, arch.name, arch.pretrained, arch.kwargs, "Arch.pretrained")
    return model


def _build_zoo(arch: ArchConfig):
    """PaddleClas's builder with the config's keyword arguments and ``pretrained=False`` (ppslim loads)."""
    from . import zoo

    builder = zoo.builder(arch.name)
    kwargs = {**arch.kwargs, **arch.params}
    for key in ("class_num", "scale"):
        if getattr(arch, key) is not None:
            kwargs[key] = getattr(arch, key)
    if "pretrained" in inspect.signature(builder).parameters:
        kwargs["pretrained"] = False
    try:
        with _own_parameter_names():
            return builder(**kwargs)
    except TypeError as e:  # a keyword the builder sets itself (MobileNetV3_large_x1_0 fixes scale)
        if "keyword argument" not in str(e):
            raise
        raise ConfigError("Arch", f"PaddleClas's {arch.name} refused the keyword arguments: {e}") from None


@contextlib.contextmanager
def _own_parameter_names():
    """Many of PaddleClas's older networks name their parameters (``conv1_weights``), and dygraph Paddle
    refuses a name it has seen before in the process, so the second DPN68 a process builds (pipeline,
    bench, a teacher and a student) would fail. Each build gets its own name checker; automatic names
    still come from the process-wide generator, so they stay unique."""
    from paddle.base import unique_name

    old_generator, old_checker = unique_name.switch(unique_name.generator, unique_name.DygraphParameterNameChecker())
    try:
        yield
    finally:
        unique_name.switch(old_generator, old_checker)


def inference_network(model):
    """The network that is deployed: a distillation model's ``infer_model_name`` member; of PaddleClas's
    networks the logits only, as PaddleClas's export does (GoogLeNet's main head, not its two auxiliary
    ones; ``{"logits": ...}`` of a network built with ``return_patterns``); else ``model``."""
    from .distill import DistillationModel

    if isinstance(model, DistillationModel):
        model = model.inference_network()
    if type(model).__module__.startswith("paddleclas."):
        return _MainOutput(model)
    return model


@functools.lru_cache(maxsize=1)
def _main_output_class():
    import paddle.nn as nn

    class MainOutput(nn.Layer):
        """The logits of ``model(x)``; shares ``model``'s layers, so in-place QAT wrapping reaches them."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            out = self.inner(x)
            if isinstance(out, (list, tuple)):
                out = out[0]
            if isinstance(out, dict):
                out = out["logits"]
            return out
    return MainOutput


def _MainOutput(model):  # noqa: N802 - a class built lazily (paddle import)
    return _main_output_class()(model)


def _check_kwargs(builder, kwargs: dict, path: str) -> None:
    sig = inspect.signature(builder)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    for key in kwargs:
        if key not in sig.parameters:
            accepted = [n for n in sig.parameters if n != "arch_scale"]
            raise ConfigError(f"{path}.{key}", f"not a parameter of {getattr(builder, '__name__', builder)}"
                              + did_you_mean(key, accepted) + f"; accepted: {accepted}")


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
