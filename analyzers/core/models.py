"""Models with a lifetime: the one place a loaded model may live between two calls.

A ``Models`` scope resolves weights through the model store and keeps each model it loads
(keyed by whatever identifies it: name, size, device, weights path) until ``close()``.
The stage op opens one scope inside its GPU lease and closes it before the lease ends,
so a model never outlives the lease by accident. A long-lived worker that wants models to
stay across videos (tiktok_assets.workers) hands the scope a ``ModelCache`` it owns: the
scope then takes models from the cache and leaves them there on ``close()``. Nothing else
in the code base holds a model in a module-level variable (a test checks).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import OrderedDict
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


_CUDA_SET = threading.Lock()
_cudnn_attention: list[bool] = []  # the process's choice, once made


def cuda_attention_defaults(cudnn: bool | None = None) -> None:
    """Whether torch's scaled-dot-product attention may use its cuDNN backend in this
    process: ``cudnn`` sets it; None (what every CUDA ``Models`` scope calls) applies the
    default, off, unless a choice was made. cuDNN builds an execution graph for every new
    shape and caches it per thread (PyTorch's thread-local ``MHAGraphCache``, unbounded);
    a decoder with a KV cache meets a new key length at every token, so on a thread that
    has not seen those lengths every attention call pays a build: Whisper's decoder spent
    4.2 s in attention on a new thread against 0.08 s on a warm one (H200, 1672 calls).
    Flash and memory-efficient attention build nothing. Once every shape is cached on every
    stage thread cuDNN is a little faster (a warm H200 stage1 1.8 s against 2.1-2.7 s),
    hence the switch (``TIKTOK_CUDNN_ATTENTION``). No-op without CUDA."""
    torch = sys.modules.get("torch")
    with _CUDA_SET:
        if torch is None or not torch.cuda.is_available():
            return
        if cudnn is None:
            if _cudnn_attention:
                return
            cudnn = False
        if _cudnn_attention != [cudnn]:
            torch.backends.cuda.enable_cudnn_sdp(cudnn)
            _cudnn_attention[:] = [cudnn]


class WeightsProvider(Protocol):
    """What a scope asks of the model store (see resources.models.ModelStore)."""

    def resolve(self, spec: WeightSpec) -> tuple[str | None, WeightsMode]: ...

    def is_present(self, spec: WeightSpec) -> bool: ...


# Model factories run one at a time in a process: analyzers of a stage may run on threads
# (``Runner.run_all``), and a random-weight factory seeds torch's global generator, so two
# loads at once would interleave it and change the weights; loading gains little from
# overlap anyway (disk and host-to-device copies).
LOAD_LOCK = threading.RLock()


class ModelCache:
    """Models kept across scopes (and so across videos) by a long-lived worker, keyed by
    ``(device, key)``; the least recently used goes when more than ``max_items`` are held.
    ``hits``/``misses``/``load_s`` (seconds spent loading) say what keeping them saved."""

    def __init__(self, max_items: int = 32) -> None:
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.load_s = 0.0

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        with LOAD_LOCK:
            with self._lock:
                if key in self._items:  # loaded by another thread meanwhile
                    self.hits += 1
                    return self._items[key]
            t0 = time.perf_counter()
            model = factory()
        with self._lock:
            self.misses += 1
            self.load_s += time.perf_counter() - t0
            self._items[key] = model
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return model

    def __len__(self) -> int:
        return len(self._items)


class Models:
    """Loaded models of one scope on one ``device`` (``cpu``, ``cuda:N``).

    ``store`` resolves weights (None: random weights, for plumbing tests); ``cache``: a
    worker's ``ModelCache`` the scope borrows from and leaves its models in (None: the
    scope owns them and drops them on close). Use as a context manager or call
    ``close()``; ``loaded`` lists what the scope holds now."""

    def __init__(
        self,
        store: WeightsProvider | None = None,
        device: str = "cpu",
        cache: ModelCache | None = None,
    ) -> None:
        self.store = store
        self.device = device
        self.cache = cache
        if device.startswith("cuda"):
            cuda_attention_defaults()
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
            with LOAD_LOCK:
                if key not in self._held:
                    if self.cache is not None:
                        self._held[key] = self.cache.get((self.device, key), factory)
                    else:
                        self._held[key] = factory()
        return self._held[key]

    @property
    def loaded(self) -> list[Hashable]:
        return list(self._held)

    def close(self) -> None:
        """Drop this scope's references; without a cache the models go and their CUDA
        memory is given back (``release_cuda``), with one they stay in the cache."""
        self._held.clear()
        self.closed = True
        if self.cache is None:
            gc.collect()
            release_cuda()

    def __enter__(self) -> Models:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
