"""Wall time, peak memory and progress lines shared by every asset."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dagster import AssetExecutionContext


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def progress(context: AssetExecutionContext | None, message: str) -> None:
    """Log ``message`` to Dagster and, under the CLI (TIKTOK_PROGRESS=1), to stderr."""
    if context is not None:
        context.log.info(message)
    if os.environ.get("TIKTOK_PROGRESS") == "1":
        print(f"  {message}", file=sys.stderr, flush=True)


@dataclass
class Timer:
    start: float
    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    t = Timer(start=time.perf_counter())
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - t.start
