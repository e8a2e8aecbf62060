"""What ``GET /health`` and ``make up`` check: the instance's storage answers, the Dagster
daemon's heartbeat is recent, the webserver listens, the data disk has room, and the GPUs'
memory (NVML, where there is a GPU)."""

from __future__ import annotations

import shutil
import socket
import time
from typing import Any

from resources.media_store import MediaStore
from resources.settings import env_settings


def min_free_gb() -> float:
    """Free space the data folder needs to count as healthy (``TIKTOK_MIN_FREE_GB``)."""
    return env_settings().min_free_gb


def gpu_memory() -> list[dict[str, Any]]:
    """Per GPU: name, memory used/total (MiB) and utilization (%), through NVML; empty
    where there is no NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            util = pynvml.nvmlDeviceGetUtilizationRates(h)
            name = pynvml.nvmlDeviceGetName(h)
            out.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_used_mib": round(mem.used / 2**20),
                    "memory_total_mib": round(mem.total / 2**20),
                    "utilization_pct": util.gpu,
                }
            )
        return out
    finally:
        pynvml.nvmlShutdown()


def health_checks(
    instance: Any, store: MediaStore, webserver: tuple[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """Each check with ``ok`` and what it saw. ``daemon`` is ok when a daemon heartbeat
    is under 2 minutes old."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        instance.get_runs(limit=1)
        checks["instance"] = {"ok": True, "storage": type(instance.run_storage).__name__}
    except Exception as exc:
        checks["instance"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        beats = instance.get_daemon_heartbeats()
        newest = max((b.timestamp for b in beats.values()), default=None)
        age = None if newest is None else round(time.time() - newest, 1)
        checks["daemon"] = {
            "ok": age is not None and age < 120,
            "last_heartbeat_s_ago": age,
            "daemons": sorted(beats),
        }
    except Exception as exc:
        checks["daemon"] = {"ok": False, "error": f"{type(exc).__name__}"}
    if webserver is not None:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            up = sock.connect_ex(webserver) == 0
        checks["webserver"] = {"ok": up, "address": f"{webserver[0]}:{webserver[1]}"}
    root = store.path()
    root.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(root)
    free_gb = usage.free / 1e9
    checks["disk"] = {
        "ok": free_gb >= min_free_gb(),
        "free_gb": round(free_gb, 1),
        "total_gb": round(usage.total / 1e9, 1),
        "min_free_gb": min_free_gb(),
    }
    checks["gpu"] = {"ok": True, "devices": gpu_memory()}
    from resources.machine import machine_plan

    queue = instance.get_concurrency_config().run_queue_config
    checks["capacity"] = {
        "ok": True,
        **machine_plan().as_dict(),
        "max_concurrent_runs": queue.max_concurrent_runs if queue else None,
        "run_launcher": type(instance.run_launcher).__name__,
    }
    return checks
