"""PaddleClas's own backbone zoo (``paddleclas.ppcls.arch.backbone``) by the names its configs use.

``Arch: {name: ResNet50_vd, class_num: 1000, drop_path_rate: 0.1}`` builds PaddleClas's class with
those keyword arguments, so a state dict saved by PaddleClas loads strictly into it. The allow-list
of names is the package's own ``__all__``; nothing else on config text is looked up. Keyword
arguments are checked against the builder's signature and, when the builder forwards ``**kwargs``,
against the network class it constructs. ``pretrained`` is never passed on: PaddleClas's loader
skips tensors that do not fit, so ppslim builds with ``pretrained=False`` and loads weights itself
(:mod:`ppslim.weights`).

``paddleclas`` is imported lazily: it takes about a second and pulls in OpenCV.
"""
from __future__ import annotations

import functools
import inspect
import re
from typing import Optional

# Builder arguments that choose which published weights ``pretrained: True`` downloads.
URL_FLAGS = ("use_ssld", "use_ssld_stage1_pretrained", "use_imagenet22k_pretrained", "use_imagenet22kto1k_pretrained")


def _backbone():
    import paddleclas.ppcls.arch.backbone as backbone

    return backbone


@functools.lru_cache(maxsize=1)
def names() -> frozenset:
    """Every network ``paddleclas.ppcls.arch.backbone`` exports (its ``__all__``)."""
    return frozenset(_backbone().__all__)


def builder(name: str):
    """The builder PaddleClas's ``build_model`` calls for ``Arch.name``; ``name`` must be in :func:`names`."""
    if name not in names():
        raise KeyError(name)
    return getattr(_backbone(), name)  # allow-listed above


def _layer_classes(fn, depth: int = 2) -> list:
    """``paddle.nn.Layer`` classes a builder function constructs (also through helper functions of its module)."""
    import paddle.nn as nn

    found, seen = [], set()

    def walk(f, d):
        code = getattr(f, "__code__", None)
        if code is None or f in seen:
            return
        seen.add(f)
        for ref in code.co_names:
            obj = f.__globals__.get(ref)
            if inspect.isclass(obj) and issubclass(obj, nn.Layer) and obj not in found:
                found.append(obj)
            elif (inspect.isfunction(obj) and d > 0 and ref != "_load_pretrained"
                  and obj.__module__.startswith("paddleclas.ppcls.arch.backbone")):
                walk(obj, d - 1)
    walk(fn, depth)
    return found


def _named_params(fn) -> tuple[dict, bool]:
    sig = inspect.signature(fn)
    named = {n: p for n, p in sig.parameters.items() if n != "self"
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return named, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def _class_params(cls) -> list:
    """Named ``__init__`` parameters of ``cls``, and of its bases when it forwards ``**kwargs`` to them
    (DeiT's ``DistilledVisionTransformer`` takes ``drop_path_rate`` through ``VisionTransformer``)."""
    import paddle.nn as nn

    out = []
    for klass in cls.__mro__:
        if klass is nn.Layer or not (isinstance(klass, type) and issubclass(klass, nn.Layer)):
            break
        if "__init__" not in vars(klass):
            continue
        named, forwards = _named_params(klass.__init__)
        out += [n for n in named if n not in out]
        if forwards and "init_net" in vars(klass):  # TheseusLayer hands them to init_net (return_patterns ...)
            out += [n for n in _named_params(klass.init_net)[0] if n not in out]
        if not forwards:
            break
    return out


@functools.lru_cache(maxsize=None)
def accepted(name: str) -> Optional[tuple[str, ...]]:
    """Keyword arguments ``Arch`` may pass to ``name``, or ``None`` when they cannot be known in advance.

    A builder taking ``**kwargs`` hands them to the network class it constructs; that class's named
    parameters are accepted too. A class that swallows extra ``**kwargs`` unused is not a licence: the
    key would do nothing, so it is refused.
    """
    fn = builder(name)
    if inspect.isclass(fn):
        return tuple(p for p in _class_params(fn) if p != "pretrained")
    own, forwards = _named_params(fn)
    keys = dict.fromkeys(own)
    if forwards:
        classes = _layer_classes(fn)
        if not classes:
            return None
        for cls in classes:
            keys.update(dict.fromkeys(_class_params(cls)))
    keys.pop("pretrained", None)
    return tuple(keys)


@functools.lru_cache(maxsize=None)
def swallows(name: str) -> bool:
    """Whether ``name``'s network takes ``**kwargs`` beyond its named parameters, which PaddleClas then
    drops unused. Its configs lean on that: ``use_fused_attn: False`` for a Swin that has no fused
    attention in this version, ``drop_rate: 0`` for StarNet, which has no dropout."""
    import paddle.nn as nn

    fn = builder(name)
    classes = [fn] if inspect.isclass(fn) else (_layer_classes(fn) if _named_params(fn)[1] else [])
    for cls in classes:
        for klass in cls.__mro__:
            if klass is nn.Layer or not issubclass(klass, nn.Layer):
                break
            for method in ("__init__", "init_net"):
                if method in vars(klass) and _named_params(vars(klass)[method])[1]:
                    return True
    return False


def pretrained_url(name: str, kwargs: dict) -> Optional[str]:
    """The URL PaddleClas's builder downloads for ``pretrained: True`` with these arguments, or ``None``.

    Mirrors ``ppcls.utils.save_load.load_dygraph_pretrain``: ``use_ssld`` picks ``*_ssld_pretrained``,
    ``use_ssld_stage1_pretrained`` its stage-1 file, ``use_imagenet22k[to1k]_pretrained`` the 22k files.
    """
    import sys

    fn = builder(name)
    module = sys.modules[fn.__module__]
    urls = getattr(module, "MODEL_URLS", None) or {}
    key = name
    if name == "ResNet18" and kwargs.get("layer_type") == "DiverseBranchBlock":
        key = "ResNet18_dbb"
    if key not in urls:  # variants (ResNet50_last_stage_stride1, PPLCNetV2_base_ShiTu) use their base's weights
        try:
            refs = set(re.findall(r"MODEL_URLS\[\s*[\"'](\w+)[\"']", inspect.getsource(fn)))
        except (OSError, TypeError):
            refs = set()
        if len(refs) != 1 or next(iter(refs)) not in urls:
            return None
        key = next(iter(refs))
    url = urls[key]
    # PP-HGNetV2's builders always ask for the stage-1 SSLD file (pp_hgnet_v2._load_pretrained).
    stage1 = kwargs.get("use_ssld_stage1_pretrained", module.__name__.endswith("pp_hgnet_v2"))
    if kwargs.get("use_ssld") and "ssld" not in url:
        url = url.replace("_pretrained", "_ssld_pretrained")
    if stage1 and "ssld" in url:
        url = url.replace("ssld_pretrained", "ssld_stage1_pretrained")
    if kwargs.get("use_imagenet22k_pretrained"):
        url = url.replace("_pretrained", "_22k_pretrained")
    if kwargs.get("use_imagenet22kto1k_pretrained"):
        url = url.replace("_pretrained", "_22kto1k_pretrained")
    return url
