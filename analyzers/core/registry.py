"""The analyzer registry: ``@register`` on a class, looked up by name or stage."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from analyzers.core.base import STAGES, Analyzer

_REGISTRY: dict[str, type[Analyzer]] = {}
_DISCOVERED = False
A = TypeVar("A", bound=type[Analyzer])
_PACKAGES = ("analyzers.visual", "analyzers.audio", "analyzers.multimodal")


def register(cls: A) -> A:
    """Class decorator adding an analyzer; a second class with the same name is refused."""
    name = getattr(cls, "name", None)
    if not name or not name.isidentifier():
        raise ValueError(f"{cls.__qualname__}: `name` must be a python identifier, got {name!r}")
    if getattr(cls, "stage", None) not in STAGES:
        raise ValueError(f"{name}: stage must be one of {STAGES}")
    if not hasattr(cls, "output_schema"):
        raise ValueError(f"{name}: output_schema is required")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"analyzer {name!r} is already registered by {existing.__module__}.{existing.__qualname__}"
        )
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove an analyzer (tests register throw-away analyzers)."""
    _REGISTRY.pop(name, None)


def discover() -> None:
    """Import every module under analyzers.visual/audio/multimodal so they register.

    Adding an analyzer is one new module: nothing else lists it.
    """
    global _DISCOVERED
    if _DISCOVERED:
        return
    for pkg_name in _PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{pkg_name}.{mod.name}")
    _DISCOVERED = True


def all_analyzers() -> dict[str, type[Analyzer]]:
    """Every registered analyzer by name, in stage, then ``order``, then name order (the
    order a stage runs them in: producers of shared signals, such as the transcript,
    declare a low ``order`` and run first)."""
    discover()
    rank = {s: i for i, s in enumerate(STAGES)}
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (rank[kv[1].stage], kv[1].order, kv[0])))


def get(name: str) -> type[Analyzer]:
    """The analyzer class called ``name``."""
    analyzers = all_analyzers()
    if name not in analyzers:
        raise KeyError(f"no analyzer {name!r}; registered: {sorted(analyzers)}")
    return analyzers[name]


def by_stage() -> dict[str, list[type[Analyzer]]]:
    """Registered analyzers grouped by stage; stages with none are absent."""
    out: dict[str, list[type[Analyzer]]] = {}
    for cls in all_analyzers().values():
        out.setdefault(cls.stage, []).append(cls)
    return {s: out[s] for s in STAGES if s in out}
