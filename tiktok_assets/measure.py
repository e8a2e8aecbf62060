"""Wall time, peak memory, GPU sampling, progress lines and the JSON-lines run log shared
by every asset.

Every progress line and every analyzer's result also goes, as one JSON object per line,
to ``$TIKTOK_DATA/logs/runs/<run_id>.jsonl`` (fields: ``time``, ``level``, ``run_id``,
``video_id``, ``step``, ``event``, and the event's own), for ``jq`` or a log shipper.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resources.settings import env_settings

if TYPE_CHECKING:  # measure.py imports nothing heavy: the GPU check runs it bare
    from dagster import AssetExecutionContext


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def progress(context: AssetExecutionContext | None, message: str) -> None:
    """Log ``message`` to Dagster, to the run's JSON-lines log and, under the CLI
    (TIKTOK_PROGRESS=1), to stderr."""
    if context is not None:
        context.log.info(message)
        log_event(context, "progress", message=message)
    if env_settings().progress:
        print(f"  {message}", file=sys.stderr, flush=True)


def run_log_path(run_id: str, data_root: str | None = None) -> Path:
    """Where a run's JSON-lines log lives."""
    from resources.media_store import data_root_default

    return Path(data_root or data_root_default()) / "logs" / "runs" / f"{run_id}.jsonl"


_LOGGERS: dict[Path, logging.Logger] = {}
_LOGGERS_LOCK = threading.Lock()


def _json_logger(path: Path) -> logging.Logger:
    from pythonjsonlogger.json import JsonFormatter

    with _LOGGERS_LOCK:
        logger = _LOGGERS.get(path)
        if logger is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            logger = logging.getLogger(f"tiktok.runlog.{path.stem}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(
                JsonFormatter(
                    "{asctime}{levelname}{message}",
                    style="{",
                    rename_fields={"asctime": "time", "levelname": "level"},
                    timestamp=False,
                )
            )
            logger.addHandler(handler)
            while len(_LOGGERS) >= 16:  # runs of a long-lived process: keep a few open
                _, old = _LOGGERS.popitem()
                for h in old.handlers:
                    h.close()
                old.handlers.clear()
            _LOGGERS[path] = logger
    return logger


def log_event(
    context: AssetExecutionContext, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """One JSON line in the run's log: run, video, step, ``event`` and ``fields``. Never
    raises: a log that cannot be written must not fail the step."""
    try:
        run_id = context.run_id
        step = context.op_execution_context.op.name
        video = context.partition_key if context.has_partition_key else None
        _json_logger(run_log_path(run_id)).log(
            level,
            fields.pop("message", event),
            extra={"run_id": run_id, "video_id": video, "step": step, "event": event, **fields},
        )
    except Exception:
        pass


GpuReading = tuple[float, float]  # utilization %, memory used MiB


def cuda_allocated_mb(device: str) -> float | None:
    """``torch.cuda.memory_allocated`` of ``device`` in MiB (None off CUDA or before torch
    is imported): a stage ends where it started when its models were released."""
    torch = sys.modules.get("torch")
    if not device.startswith("cuda") or torch is None or not torch.cuda.is_initialized():
        return None
    return round(torch.cuda.memory_allocated(device) / 2**20, 1)


def nvml_reader(device: str) -> Callable[[], GpuReading] | None:
    """A function reading ``device``'s (``cuda:N``) utilization and memory through NVML,
    or None when there is no NVIDIA driver or the device is not a GPU."""
    if not device.startswith("cuda"):
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return None
    index = int(device.split(":")[1]) if ":" in device else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    if ids and index < len(ids) and ids[index].isdigit():
        index = int(ids[index])  # NVML counts physical devices
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)

    def read() -> GpuReading:
        util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        return float(util), float(mem)

    return read


@dataclass
class GpuSampler:
    """Samples a GPU every ``interval_s`` seconds on a thread while the block runs;
    ``summary()`` gives mean and max utilization (%) and max memory used (MiB). With no
    reader (no GPU) it samples nothing and the summary is empty."""

    read: Callable[[], GpuReading] | None
    interval_s: float = 0.2
    samples: list[GpuReading] = field(default_factory=list)

    def __enter__(self) -> GpuSampler:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.read is not None:
            self._take()
            self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def _take(self) -> None:
        assert self.read is not None
        with suppress(Exception):
            self.samples.append(self.read())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._take()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._take()

    def summary(self) -> dict[str, float | int]:
        if not self.samples:
            return {}
        util = [u for u, _ in self.samples]
        return {
            "gpu_util_mean_pct": round(sum(util) / len(util), 1),
            "gpu_util_max_pct": round(max(util), 1),
            "gpu_mem_max_mib": round(max(m for _, m in self.samples), 1),
            "gpu_samples": len(self.samples),
        }


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
