"""Device leases: each stage op holds one specific device (a GPU, or a CPU slot) for its
duration, so that on a host with several GPUs runs spread over them and no two ops share a
card they did not both lease. Framework-free (no Dagster, no torch import).

A lease is an exclusive ``flock`` on ``<lock_dir>/<device>#<k>.lock``: the kernel drops it
when the process ends however it ends (crash, SIGKILL, OOM kill), so a dead op never keeps
its device. ``per_device`` leases per card (``TIKTOK_LEASES_PER_DEVICE``) lets stages share
a large card: by default as many as its memory and the host's cores carry
(``auto_gpu_leases``: 1 on a 24-48 GB card, 4 on a 141 GB H200 with 16 cores).

Devices: ``TIKTOK_DEVICES`` (comma separated: ``cuda:0,cuda:1``; tests use fakes such as
``cpu:0,cpu:1``), else the GPUs the host reports (``CUDA_VISIBLE_DEVICES`` if set, else
the NVIDIA driver's list), else ``cpu`` with one lease per core: on a CPU host the pool,
not the lease, limits concurrency.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from resources.env import env_value

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def host_gpus() -> int:
    """How many GPUs this process may use, without importing torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len(list(NVIDIA_GPUS.iterdir()))
    except OSError:
        return 0


def devices() -> list[str]:
    """The devices stage ops may lease (see module doc)."""
    env = env_value("devices").strip()
    if env:
        return [d.strip() for d in env.split(",") if d.strip()]
    n = host_gpus()
    return [f"cuda:{i}" for i in range(n)] if n else ["cpu"]


# GPU memory one lease needs, GB: the two warm workers a lease feeds keep every stage's
# models on the card (about 10 GB each) and the stage holding the lease adds its activations
# (peak 10.5 GB per stage; three workers peaked at 38.9 GB on an H200: benchmarks/RESULTS.md)
GB_PER_LEASE = 32.0
# CPU cores one lease needs: its two workers decode (frames scaled on up to 4 threads) and
# run the CPU analyzers of their stage on threads
CORES_PER_LEASE = 4
MAX_AUTO_LEASES = 4


def gpu_memory_gb() -> list[float]:
    """Total memory of each GPU the NVIDIA driver lists, GB (empty without NVML)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        return [
            pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).total / 1e9
            for i in range(pynvml.nvmlDeviceGetCount())
        ]
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def auto_gpu_leases(card_gb: list[float], cores: int) -> int:
    """Stage leases per GPU when not configured: as many as the smallest card's memory holds
    at ``GB_PER_LEASE`` each and the cores feed at ``CORES_PER_LEASE`` each, at most
    ``MAX_AUTO_LEASES``, at least 1 (a card whose memory is unknown: 1). One lease per card
    is the staged execution that keeps a 24-48 GB card from running out of memory; an
    80 GB H100 takes 2 and a 141 GB H200 with 16 cores 4, whose stages then overlap."""
    if not card_gb:
        return 1
    by_memory = int(min(card_gb) // GB_PER_LEASE)
    by_cores = cores // CORES_PER_LEASE
    return max(1, min(MAX_AUTO_LEASES, by_memory, by_cores))


def leases_per_device(device_list: list[str] | None = None) -> int:
    """``TIKTOK_LEASES_PER_DEVICE``; by default on a GPU host what ``auto_gpu_leases``
    finds for the cards the driver lists (1 for devices named in ``TIKTOK_DEVICES`` that
    it does not list), and one per core on a CPU host."""
    env = env_value("leases_per_device")
    if env:
        return max(1, env)
    device_list = device_list if device_list is not None else devices()
    if not any(d.startswith("cuda") for d in device_list):
        return os.cpu_count() or 1
    if env_value("devices").strip() or not host_gpus():
        return 1  # named devices (tests, fakes): one lease each unless configured
    from resources.machine import cpu_cores

    return auto_gpu_leases(gpu_memory_gb(), cpu_cores())


def device_slots() -> int:
    """Device leases on a host with GPUs (or fake devices): devices x leases per device;
    0 on a plain CPU host."""
    d = devices()
    if d == ["cpu"]:
        return 0
    return len(d) * leases_per_device(d)


def pool_limit() -> int:
    """The stage pool limit this host asks for (resources.machine): ``TIKTOK_GPU_SLOTS``
    when set, else one slot per device lease on a GPU host, else one per concurrent run
    on a CPU host (the stages are CPU work there)."""
    from resources.machine import machine_plan

    return machine_plan().stage_slots


@dataclass(frozen=True)
class Lease:
    """``device``: what to compute on (``cuda:1``, ``cpu``); ``name``: the leased device as
    listed (``cuda:1``, ``cpu:0``); ``slot``: which of its leases (0-based); ``waited_s``."""

    device: str
    name: str
    slot: int
    waited_s: float

    @property
    def label(self) -> str:
        return f"{self.name}#{self.slot}"


def lock_dir_default() -> Path:
    root = env_value("lease_dir") or os.path.join(env_value("data_root"), "leases")
    return Path(root)


@contextlib.contextmanager
def lease(
    device_list: list[str] | None = None,
    per_device: int | None = None,
    lock_dir: str | os.PathLike[str] | None = None,
    timeout_s: float = 3600.0,
    poll_s: float = 0.1,
    owner: str = "",
) -> Iterator[Lease]:
    """Hold one free device slot until the block ends. Devices are tried least-used first
    (slot 0 of every device before slot 1 of any), so leases spread over the cards; when
    all are taken it waits (``timeout_s``, then TimeoutError naming the holders)."""
    device_list = device_list if device_list is not None else devices()
    per_device = per_device or leases_per_device(device_list)
    folder = Path(lock_dir) if lock_dir is not None else lock_dir_default()
    folder.mkdir(parents=True, exist_ok=True)
    order = [(d, k) for k in range(per_device) for d in device_list]
    t0 = time.monotonic()
    while True:
        for name, k in order:
            path = folder / f"{name.replace('/', '_')}#{k}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    continue
                raise
            try:
                info = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "owner": owner,
                    "since": time.time(),
                }
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps(info).encode())
                device = "cpu" if name.startswith("cpu") else name
                yield Lease(device=device, name=name, slot=k, waited_s=time.monotonic() - t0)
                return
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(
                f"no free device among {device_list} x{per_device} after {timeout_s:.0f} s; holders: {holders(folder)}"
            )
        time.sleep(poll_s)


def holders(lock_dir: str | os.PathLike[str] | None = None) -> dict[str, dict]:
    """Which slots are held now and by whom (for messages and the CLI)."""
    folder = Path(lock_dir) if lock_dir is not None else lock_dir_default()
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("*.lock")):
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)  # could lock it: nobody holds it
                continue
            except OSError:
                pass
            try:
                out[path.stem] = json.loads(path.read_text() or "{}")
            except (OSError, ValueError):
                out[path.stem] = {}
        finally:
            os.close(fd)
    return out
