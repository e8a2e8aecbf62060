"""The analyzer and signal registries: ``@register`` / ``@register_signal`` on a class,
looked up by name (or stage). Signals live in ``analyzers.signals``, analyzers in
``analyzers.visual/audio/multimodal``; an analyzer module never imports another's."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from analyzers.core.base import STAGES, Analyzer, Signal

_REGISTRY: dict[str, type[Analyzer]] = {}
_SIGNALS: dict[str, type[Signal]] = {}
_DISCOVERED = False
A = TypeVar("A", bound=type[Analyzer])
S = TypeVar("S", bound=type[Signal])
_PACKAGES = ("analyzers.signals", "analyzers.visual", "analyzers.audio", "analyzers.multimodal")


def register_signal(cls: S) -> S:
    """Class decorator adding a signal; names are shared with analyzers (one namespace,
    since both are configured by name)."""
    name = getattr(cls, "name", None)
    if not name or not name.isidentifier():
        raise ValueError(f"{cls.__qualname__}: `name` must be a python identifier, got {name!r}")
    existing = _SIGNALS.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"signal {name!r} is already registered by {existing.__module__}")
    if name in _REGISTRY:
        raise ValueError(f"signal {name!r}: an analyzer already has that name")
    _SIGNALS[name] = cls
    return cls


def all_signals() -> dict[str, type[Signal]]:
    """Every registered signal by name, producers before the signals that require them."""
    discover()
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"signal cycle: {' -> '.join((*path, name))}")
        if name not in _SIGNALS:
            raise KeyError(f"{path[-1] if path else '?'} requires unknown signal {name!r}")
        for dep in _SIGNALS[name].requires:
            visit(dep, (*path, name))
        order.append(name)

    for name in sorted(_SIGNALS):
        visit(name, ())
    return {n: _SIGNALS[n] for n in order}


def get_signal(name: str) -> type[Signal]:
    """The signal class called ``name``."""
    signals = all_signals()
    if name not in signals:
        raise KeyError(f"no signal {name!r}; registered: {sorted(signals)}")
    return signals[name]


def closure(names: tuple[str, ...] | list[str]) -> list[str]:
    """``names`` and every signal they require, producers first."""
    signals = all_signals()
    want: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n not in want:
            want.add(n)
            todo += list(get_signal(n).requires)
    return [n for n in signals if n in want]


def signal_owning(key: str) -> str | None:
    """The signal whose Config has a field ``key`` (for a helpful error), if one does."""
    import dataclasses

    for name, cls in _SIGNALS.items():
        if key in {f.name for f in dataclasses.fields(cls.Config)}:
            return name
    return None


def register(cls: A) -> A:
    """Class decorator adding an analyzer; a second class with the same name is refused."""
    name = getattr(cls, "name", None)
    if not name or not name.isidentifier():
        raise ValueError(f"{cls.__qualname__}: `name` must be a python identifier, got {name!r}")
    if getattr(cls, "stage", None) not in STAGES:
        raise ValueError(f"{name}: stage must be one of {STAGES}")
    if not hasattr(cls, "output_schema"):
        raise ValueError(f"{name}: output_schema is required")
    if name in _SIGNALS:
        raise ValueError(f"analyzer {name!r}: a signal already has that name")
    columns = set(cls.output_schema.names)
    undeclared = sorted((set(cls.ranges) | set(cls.required)) - columns)
    if undeclared:
        raise ValueError(f"{name}: ranges/required name columns not in output_schema: {undeclared}")
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
    """Import every module under analyzers.signals/visual/audio/multimodal so they register.

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


def signal_stages() -> dict[str, str]:
    """The stage that computes each asset-visible signal: that of its first reader (an
    analyzer requiring it, directly or through another signal)."""
    signals = all_signals()
    out: dict[str, str] = {}
    for stage, classes in by_stage().items():
        for cls in classes:
            for name in closure(list(cls.requires)):
                if signals[name].asset:
                    out.setdefault(name, stage)
    return out


def stage_signals(stage: str) -> list[str]:
    """The asset-visible signals ``stage`` computes (``signal_stages``), in registry order."""
    where = signal_stages()
    return [n for n in all_signals() if where.get(n) == stage]
