"""Keeps the `gpu` pool healthy; run by a sensor in the daemon and by the CLI and API
before they start a run.

- ``ensure_pool`` creates the pool's row once, before any run claims a slot. Dagster
  creates it lazily on the first claim with an insert-then-catch that aborts the
  transaction on PostgreSQL, so two runs claiming at once on a fresh database crash one of
  them (dagster-io/dagster#33552, still open in 1.13.27); without this, the PostgreSQL
  case of tests/dagster/test_pool.py failed one run in three here.
- ``reap_dead_runs`` frees the slots of runs whose worker process died (SIGKILL, the OOM
  killer, power loss). Dagster's default run launcher cannot check a worker's health, so
  such a run stays STARTED and keeps its slot forever; the stage ops tag their run with the
  worker's host, pid and process start time, and runs of this host with a dead worker are
  marked failed and their slots freed at once.
"""

import fcntl
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from resources.lease import pool_limit as lease_pool_limit

POOL = "gpu"
_LOCK_KEY = 0x7469_6B74_6F6B  # pg advisory lock id for the pool set-up ("tiktok")
HOST, PID, STARTED = "tiktok/worker_host", "tiktok/worker_pid", "tiktok/worker_started"
LIVE = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]


@contextmanager
def _exclusive(instance: DagsterInstance) -> Iterator[None]:
    """One holder at a time across processes: a PostgreSQL advisory lock (every machine on
    that database), or a file lock in the instance folder (SQLite, one machine)."""
    storage = instance.event_log_storage
    if type(storage).__module__.startswith("dagster_postgres"):
        from sqlalchemy import text

        with storage.index_connection() as conn:
            conn.execute(text("select pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
        return
    with open(Path(instance.root_directory) / ".gpu_pool.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_pool(instance: DagsterInstance, pool: str = POOL) -> None:
    """Create ``pool`` at the instance's default limit if it has no row yet, under a lock:
    two racing creators would each allocate slots and leave the pool with more slots than
    its limit. A pool whose slot count already drifted from its limit is repaired. On a
    host with GPUs (or ``TIKTOK_GPU_SLOTS``) the limit follows resources.lease.pool_limit:
    one slot per device lease, so no device lease is ever waited on inside the pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    if instance.global_op_concurrency_default_limit is None:
        return
    want = lease_pool_limit()  # one slot per device lease on a GPU host
    with _exclusive(instance):
        if pool not in {p.name for p in storage.get_pool_limits()}:
            storage.initialize_concurrency_limit_to_default(pool)
        info = storage.get_concurrency_info(pool)
        if want is not None and info.limit != want:
            storage.set_concurrency_slots(pool, want)
        elif info.limit is not None and info.slot_count != info.limit:
            storage.set_concurrency_slots(pool, info.limit)


def worker_tags() -> dict[str, str]:
    """Tags naming this process, to put on a run before it works inside the pool."""
    me = psutil.Process()
    return {HOST: socket.gethostname(), PID: str(me.pid), STARTED: f"{me.create_time():.3f}"}


def _alive(pid: int, started: str) -> bool:
    try:
        return f"{psutil.Process(pid).create_time():.3f}" == started  # pid not reused
    except psutil.Error:
        return False


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Fail the live runs of this host whose tagged worker is gone and free their pool
    slots. Returns their run ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return []
    reaped = []
    host = socket.gethostname()
    for rec in instance.get_run_records(RunsFilter(run_ids=list(holders), statuses=LIVE)):
        run = rec.dagster_run
        tags = run.tags
        if tags.get(HOST) != host or PID not in tags:
            continue
        if _alive(int(tags[PID]), tags.get(STARTED, "")):
            continue
        instance.report_run_failed(
            run, f"worker process {tags[PID]} on {host} died while the run held the gpu pool"
        )
        storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


@sensor(
    name="gpu_pool_guard",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Creates the gpu pool before runs claim it, fails runs whose worker process "
    "died and frees their gpu pool slots.",
)
def gpu_pool_guard(context: SensorEvaluationContext) -> SkipReason:
    ensure_pool(context.instance)
    reaped = reap_dead_runs(context.instance)
    for run_id in reaped:
        context.log.warning(f"run {run_id}: worker died; marked failed, gpu slots freed")
    return SkipReason(f"reaped {len(reaped)} run(s)" if reaped else "no dead runs")
