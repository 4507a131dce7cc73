"""Explicit name -> builder registries (no ``eval``/``getattr(module, name)`` on config text)."""
from __future__ import annotations

import inspect

from .errors import ConfigError
from .schema import did_you_mean, single_key


class Registry(dict):
    """A dict of named builders filled by ``@REGISTRY.register("Name")``."""

    def __init__(self, kind: str, build_on_check: bool = False):
        super().__init__()
        self.kind = kind
        # Builders cheap enough (no paddle import) to be built once while the config is validated,
        # so bad parameter values fail at load time too, not only unknown names.
        self.build_on_check = build_on_check
        # PaddleClas names ppslim knows but does not do: name -> why (a one-line refusal).
        self.refused: dict[str, str] = {}

    def refuse(self, name: str, reason: str) -> None:
        self.refused[name] = reason

    def check(self, entry, path: str) -> tuple[str, dict]:
        """Validate one config list item ``{Name: {params}}``: refused names, unknown names and
        parameters, missing required ones, and (``build_on_check``) the values, by building it."""
        name = entry if isinstance(entry, str) else next(iter(entry)) if isinstance(entry, dict) and entry else None
        if isinstance(name, str) and name in self.refused:
            raise ConfigError(path, f"{self.kind} {name!r} is not supported: {self.refused[name]}")
        name, params = single_key(entry, path, self)
        check_params(self[name], params, f"{path}.{name}")
        if self.build_on_check:
            try:
                self[name](**params)
            except ConfigError as e:
                raise ConfigError(f"{path}.{e.key_path}", e.msg) from None
        return name, params

    def register(self, name: str):
        def deco(obj):
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self[name] = obj
            return obj
        return deco

    def build_list(self, specs, path: str) -> list:
        """Construct each ``OpSpec`` of a config list; errors from a builder get the item's key path."""
        built = []
        for i, spec in enumerate(specs):
            cls = self.get_or_raise(spec.name, f"{path}.{i}")
            try:
                built.append(cls(**spec.params))
            except ConfigError as e:
                raise ConfigError(f"{path}.{i}.{e.key_path}", e.msg) from None
        return built

    def get_or_raise(self, name: str, path: str):
        if name not in self:
            raise ConfigError(path, f"{name!r} not in [{', '.join(sorted(self))}]" + did_you_mean(name, self))
        return self[name]


def check_params(builder, params: dict, path: str) -> None:
    """Reject parameter names ``builder`` does not take, and required ones that are missing."""
    sig = inspect.signature(builder)
    accepted = {n: p for n, p in sig.parameters.items() if n != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    for key in params:
        if key not in accepted:
            raise ConfigError(f"{path}.{key}", "unknown parameter" + did_you_mean(key, accepted)
                              + f"; accepted: [{', '.join(accepted)}]")
    for name, p in accepted.items():
        if p.default is p.empty and name not in params:
            raise ConfigError(f"{path}.{name}", "required parameter is missing")
