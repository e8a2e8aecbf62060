"""Models with a lifetime: the one place a loaded model may live between two calls.

A ``Models`` scope resolves weights through the model store and keeps each model it loads
(keyed by whatever identifies it: name, size, device, weights path) until ``close()``.
The stage op opens one scope inside its GPU lease and closes it before the lease ends,
so a model never outlives the lease by accident; a long-lived worker that wants models
to stay across videos keeps one scope open on purpose. Nothing else in the code base
holds a model in a module-level variable (a test checks).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

from analyzers.core.weights import WeightsMode, WeightSpec

T = TypeVar("T")


def release_cuda() -> None:
    """Give CUDA memory no tensor holds back to the driver: the caching allocator's free
    blocks and cuBLAS's per-handle workspaces (32 MiB on Hopper, allocated through the
    caching allocator and so counted by ``memory_allocated``). No-op without CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    torch.cuda.synchronize()
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear is not None:
        clear()
    torch.cuda.empty_cache()


class WeightsProvider(Protocol):
    """What a scope asks of the model store (see resources.models.ModelStore)."""

    def resolve(self, spec: WeightSpec) -> tuple[str | None, WeightsMode]: ...

    def is_present(self, spec: WeightSpec) -> bool: ...


class Models:
    """Loaded models of one scope on one ``device`` (``cpu``, ``cuda:N``).

    ``store`` resolves weights (None: random weights, for plumbing tests). Use as a
    context manager or call ``close()``; ``loaded`` lists what is held now."""

    def __init__(self, store: WeightsProvider | None = None, device: str = "cpu") -> None:
        self.store = store
        self.device = device
        self._held: dict[Hashable, Any] = {}
        self.closed = False

    def resolve(self, spec: WeightSpec) -> tuple[str | None, WeightsMode]:
        """``(path, mode)`` of ``spec``'s weights under the store's policy."""
        return self.store.resolve(spec) if self.store is not None else (None, "random")

    def is_present(self, spec: WeightSpec) -> bool:
        """Whether real weights for ``spec`` are in the model home."""
        return self.store is not None and self.store.is_present(spec)

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        """The model under ``key``, made by ``factory()`` the first time in this scope."""
        if self.closed:
            raise RuntimeError("this Models scope is closed; open a new one")
        if key not in self._held:
            self._held[key] = factory()
        return self._held[key]

    @property
    def loaded(self) -> list[Hashable]:
        return list(self._held)

    def close(self) -> None:
        """Drop every model and give their CUDA memory back (``release_cuda``)."""
        self._held.clear()
        self.closed = True
        gc.collect()
        release_cuda()

    def __enter__(self) -> Models:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
