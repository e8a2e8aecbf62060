"""Device handling without Dagster: device choice, half precision on CUDA, peak memory per
stage and teardown. The halve-the-batch retry on CUDA out-of-memory belongs to the
analyzer runner (``analyzers.core.runner``: ``is_oom``, ``run_batched``), re-exported here.
GpuResource (gpu.py) is the Dagster face of this module."""

from __future__ import annotations

import contextlib
import gc
import resource as _rusage
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from analyzers.core.runner import is_oom, run_batched

__all__ = ["StageDevice", "is_oom", "pick_device", "run_batched", "stage_device"]

T = TypeVar("T")
R = TypeVar("R")


def _torch() -> Any | None:
    """torch if it is already importable, without forcing its import for CPU-only stages."""
    if "torch" in sys.modules:
        return sys.modules["torch"]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the lock
        return None
    return torch


@dataclass
class StageDevice:
    """What a stage op runs on. ``peak_memory_mb``: CUDA max allocated, or the process's
    peak resident set on CPU, in MiB."""

    device: str
    dtype: str
    peak_memory_mb: float = 0.0
    memory_kind: str = "cpu_rss_peak"
    lease: str | None = None

    def current_peak_mb(self) -> float:
        """Peak memory since the stage began (CUDA) or of the process so far (CPU), MiB."""
        torch = sys.modules.get("torch")
        if torch is not None and self.device.startswith("cuda"):
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return _rusage.getrusage(_rusage.RUSAGE_SELF).ru_maxrss / 1024

    def empty_cache(self) -> None:
        torch = sys.modules.get("torch")
        gc.collect()
        if torch is not None and self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def pick_device(requested: str = "auto") -> str:
    """``auto``: ``cuda`` when PyTorch sees a GPU, else ``cpu``; anything else as given."""
    if requested != "auto":
        return requested
    torch = _torch()
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def stage_device(requested: str = "auto", half: bool = True) -> Iterator[StageDevice]:
    """Holds the device for one stage; on exit records peak memory and frees caches."""
    device = pick_device(requested)
    torch = sys.modules.get("torch") if device == "cpu" else _torch()
    cuda = device.startswith("cuda") and torch is not None
    dtype = "float32"
    if cuda and half:
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    kind = "cuda_max_allocated" if cuda else "cpu_rss_peak"
    sd = StageDevice(device=device, dtype=dtype, memory_kind=kind)
    try:
        yield sd
    finally:
        sd.peak_memory_mb = sd.current_peak_mb()
        sd.empty_cache()
