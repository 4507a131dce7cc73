"""Turn plain YAML data into frozen dataclasses, rejecting unknown keys and wrong types.

One small generic converter instead of hand-written checks per section: every config dataclass
declares its fields with type hints, and :func:`build` walks them. Errors name the key path the
user wrote (``DataLoader.Train.sampler.batch_size``) and what was expected.
"""
from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from typing import Any, Union

from .errors import ConfigError

_MISSING = dataclasses.MISSING


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _type_name(tp) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of [" + ", ".join(str(m.value) for m in tp) + "]"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin is typing.Literal:
        return "one of " + str(list(typing.get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def convert(tp, value: Any, path: str):
    """Check ``value`` against type hint ``tp`` and return it converted (dataclass, enum, tuple)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, path)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(path, f"expected {_type_name(tp)}, got {_describe(value)}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(path, f"{value!r} not in {list(typing.get_args(tp))}"
                              + did_you_mean(value, typing.get_args(tp)))
        return value
    if dataclasses.is_dataclass(tp):
        hook = getattr(tp, "from_config", None)  # a section with its own shape (Arch's free keyword arguments)
        return hook(value, path) if hook is not None else build(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        valid = [m.value for m in tp]
        for member in tp:
            if str(value).lower() == str(member.value).lower():
                return member
        raise ConfigError(path, f"{value!r} not in [{', '.join(map(str, valid))}]" + did_you_mean(value, valid))
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list, got {_describe(value)}")
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        return tuple(convert(item_tp, v, f"{path}.{i}") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {_describe(value)}")
        key_tp, val_tp = typing.get_args(tp) or (Any, Any)
        return {convert(key_tp, k, path): convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number, got {_describe(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {_describe(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true/false, got {_describe(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"schema error: unsupported type {tp!r} at {path}")  # a bug in ppslim, not input


def build(cls, data: Any, path: str):
    """Build dataclass ``cls`` from mapping ``data``; unknown, missing and mistyped keys raise."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    # YAML keys may differ from Python names (``import`` is a keyword): metadata["key"] says so.
    by_key = {f.metadata.get("key", f.name): f for f in fields.values()}
    kwargs = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in by_key:
            raise ConfigError(sub, "unknown key" + did_you_mean(key, by_key))
        field = by_key[key]
        kwargs[field.name] = convert(hints[field.name], value, sub)
    for key, field in by_key.items():
        if field.name not in kwargs and field.default is _MISSING and field.default_factory is _MISSING:
            raise ConfigError(f"{path}.{key}" if path else key, "required key is missing")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(path)
    return obj


def single_key(entry: Any, path: str, registry) -> tuple[str, dict]:
    """Parse a PaddleClas list item ``{OpName: {params}}`` and check the name against ``registry``."""
    if isinstance(entry, str):
        entry = {entry: None}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(path, f"expected a one-key mapping like {{Name: {{...}}}}, got {_describe(entry)}")
    (name, params), = entry.items()
    if name not in registry:
        raise ConfigError(path, f"{name!r} not in [{', '.join(sorted(registry))}]" + did_you_mean(name, registry))
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}.{name}", f"expected a mapping of parameters, got {_describe(params)}")
    return name, dict(params)
