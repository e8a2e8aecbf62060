"""How much this machine can run at once: one plan from cores, memory and GPUs, read by the
run coordinator (runs at once), the run launcher (warm workers and their threads) and the
pool guard (stage slots). Framework-free: no Dagster, no torch import.

The rules (each number has a ``TIKTOK_*`` override, see resources.env):

- ``cores`` honour the CPU affinity mask and a cgroup CPU quota (a container limited to
  2 CPUs on a 64-core host plans for 2); ``memory_gb`` the cgroup memory limit, else the
  host's total.
- ``runs`` (``TIKTOK_MAX_RUNS``): runs executing at once, one warm worker process each.
  CPU host: one per core (analysis is CPU-bound there: a second run per core only adds
  contention and memory). GPU host: two per stage slot (one on the GPU while the other
  decodes, joins and renders on the CPU), at most one per core. Either way no more than
  the memory holds at ``TIKTOK_RUN_MEMORY_GB`` (2.5 GB measured: torch, Whisper, YAMNet,
  Silero and one decoded clip) per run, and at least one.
- ``stage_slots`` (``TIKTOK_GPU_SLOTS``): the stage pool's limit. GPU host: one per device
  lease (resources.lease). CPU host: ``runs``, because the stages are CPU work there and
  serialising them behind one "GPU" slot leaves cores idle (the measured cause of 21
  videos/hour on 2 cores).
- ``threads`` (``TIKTOK_RUN_THREADS``): torch/BLAS threads per worker, ``cores // runs``,
  so concurrent runs do not oversubscribe the cores.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from resources.env import env_value

CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def cpu_cores() -> int:
    """Cores this process may use: affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _read(CGROUP / "cpu.max").split()
    if len(quota) == 2 and quota[0] != "max":
        cores = min(cores, max(1, int(int(quota[0]) / int(quota[1]))))
    v1q, v1p = _read(CGROUP / "cpu/cpu.cfs_quota_us"), _read(CGROUP / "cpu/cpu.cfs_period_us")
    if v1q.lstrip("-").isdigit() and int(v1q) > 0 and v1p.isdigit() and int(v1p) > 0:
        cores = min(cores, max(1, int(v1q) // int(v1p)))
    return max(1, cores)


def memory_gb() -> float:
    """Memory this process may use, GB: the cgroup limit when set, else the host's total."""
    import psutil

    total = psutil.virtual_memory().total
    for f in (CGROUP / "memory.max", CGROUP / "memory/memory.limit_in_bytes"):
        raw = _read(f)
        if raw.isdigit() and int(raw) < total:
            total = int(raw)
    return total / 1e9


@dataclass(frozen=True)
class MachinePlan:
    """``cores``, ``memory_gb`` (GB), ``gpus``: what the host has; ``runs``: runs at once
    (= warm workers); ``stage_slots``: the stage pool's limit; ``threads``: torch threads
    per worker; ``source``: which numbers came from the environment."""

    cores: int
    memory_gb: float
    gpus: int
    runs: int
    stage_slots: int
    threads: int
    source: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        where = f"; set by {', '.join(self.source)}" if self.source else ""
        kind = f"{self.gpus} GPU(s)" if self.gpus else "no GPU"
        return (
            f"{self.cores} cores, {self.memory_gb:.0f} GB, {kind}: {self.runs} run(s) at once "
            f"(one warm worker each, {self.threads} thread(s)), {self.stage_slots} stage slot(s)"
            f"{where}"
        )


def machine_plan(
    cores: int | None = None, mem_gb: float | None = None, gpu_slots: int | None = None
) -> MachinePlan:
    """The plan for this host; ``cores``, ``mem_gb`` and ``gpu_slots`` (device leases; 0:
    CPU host) stand in for the probes in tests. Environment overrides win."""
    from resources.lease import device_slots, host_gpus  # lease asks this module back

    cores = cores if cores is not None else cpu_cores()
    mem = mem_gb if mem_gb is not None else memory_gb()
    leases = gpu_slots if gpu_slots is not None else device_slots()
    fits = max(1, int(mem // max(0.5, float(env_value("run_memory_gb")))))
    runs = max(1, min(min(2 * leases, cores) if leases else cores, fits))
    source = []
    if env_value("max_runs"):
        runs = max(1, env_value("max_runs"))
        source.append("TIKTOK_MAX_RUNS")
    slots = leases or runs
    if env_value("gpu_slots"):
        slots = max(1, env_value("gpu_slots"))
        source.append("TIKTOK_GPU_SLOTS")
    threads = max(1, cores // runs)
    if env_value("run_threads"):
        threads = max(1, env_value("run_threads"))
        source.append("TIKTOK_RUN_THREADS")
    return MachinePlan(
        cores=cores,
        memory_gb=round(mem, 1),
        gpus=host_gpus() if gpu_slots is None else (1 if leases else 0),
        runs=runs,
        stage_slots=slots,
        threads=threads,
        source=tuple(source),
    )
