"""Keeps the `gpu` pool healthy; run by a sensor in the daemon and by the CLI and API
before they start a run.

- ``ensure_pool`` creates the pool's row once, before any run claims a slot. Dagster
  creates it lazily on the first claim with an insert-then-catch that aborts the
  transaction on PostgreSQL, so two runs claiming at once on a fresh database crash one of
  them (dagster-io/dagster#33552, still open in 1.13.27); without this, the PostgreSQL
  case of tests/dagster/test_pool.py failed one run in three here.
- ``reap_dead_runs`` fails the runs whose worker process died (SIGKILL, the OOM killer,
  power loss) and frees their pool slots. Dagster's default run launcher cannot check a
  worker's health, so such a run stays STARTED forever, keeps any slot it holds, and
  counts against ``max_concurrent_runs`` (four of them stop the queue). Every op tags its
  run with the worker's host, pid and process start time (``mark_worker``), and runs of
  this host with a dead worker are marked failed at once, wherever they died.
- ``slot_claim.install()`` (on import of this module, which the code location, the run
  launcher and the CLI/API all import) makes a slot claim a compare-and-set, so two runs
  claiming at once cannot both hold one slot (Dagster 1.13 lets them; see slot_claim.py).
- ``sweep_temp`` removes the temp files and folders a killed step leaves in the data
  folder (a decode's half-written frames: tens of MB), once no live run works on that
  video.
"""

import fcntl
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
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
from resources.media_store import MediaStore
from tiktok_assets import slot_claim

slot_claim.install()

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


_MARKED: set[tuple[str, int]] = set()


def mark_worker(instance: DagsterInstance, run_id: str) -> None:
    """Tag ``run_id`` with this worker process (once per process and run), so that the
    reaper can tell when the process is gone. Every op calls it first."""
    me = (run_id, os.getpid())
    if me not in _MARKED:
        instance.add_run_tags(run_id, worker_tags())
        _MARKED.add(me)


def _alive(pid: int, started: str) -> bool:
    try:
        return f"{psutil.Process(pid).create_time():.3f}" == started  # pid not reused
    except psutil.Error:
        return False


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Fail the live runs of this host whose tagged worker is gone (in any step) and free
    the pool slots they hold. Returns their run ids."""
    storage = instance.event_log_storage
    host = socket.gethostname()
    holders = (
        storage.get_concurrency_run_ids() if storage.supports_global_concurrency_limits else set()
    )
    reaped = []
    for rec in instance.get_run_records(RunsFilter(statuses=LIVE, tags={HOST: host})):
        run = rec.dagster_run
        tags = run.tags
        if PID not in tags or _alive(int(tags[PID]), tags.get(STARTED, "")):
            continue
        where = " while it held the gpu pool" if run.run_id in holders else ""
        fail_run(
            instance,
            run.run_id,
            f"worker process {tags[PID]} on {host} died{where} (killed, or out of memory)",
        )
        reaped.append(run.run_id)
    return reaped


def fail_run(instance: DagsterInstance, run_id: str, why: str) -> bool:
    """Mark ``run_id`` failed (unless it finished) and free its pool slots. True if it was
    still unfinished."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return False
    if run.status == DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, f"terminated: {why}")
    else:
        instance.report_run_failed(
            run, f"{why}; materialize the video again (or re-execute the run) to finish it"
        )
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run_id)
    return True


TEMP_SUFFIXES = (".tmp", ".old", ".tmp.npy")


SWEPT = ("incoming", "videos", "frames", "audio", "parquet", "signals", "reports")  # never uploads/


def _temp_entries(root: Path) -> list[Path]:
    """Hidden temp files and folders the pipeline's atomic writes make (``.<name>.tmp``,
    ``.<name>.old``) in the folders it owns (not uploads/, where a user's upload tool may
    be writing its own ``.tmp`` file), not looking inside a temp folder."""
    out: list[Path] = []
    walks = (os.walk(root / sub) for sub in SWEPT)
    for dirpath, dirnames, filenames in (w for walk in walks for w in walk):
        for name in [*dirnames, *filenames]:
            if name.startswith(".") and name.endswith(TEMP_SUFFIXES):
                out.append(Path(dirpath) / name)
        dirnames[:] = [d for d in dirnames if not (d.startswith(".") and d.endswith(TEMP_SUFFIXES))]
    return out


def sweep_temp(
    instance: DagsterInstance, data_root: str | os.PathLike[str], min_age_s: float = 3600.0
) -> list[Path]:
    """Remove the temp entries under ``data_root`` of videos no live run works on (a temp
    entry names its video: ``.<key>.tmp``, ``video_id=<key>/.part-0...tmp``,
    ``signals/<key>/...``). One that
    names no known video goes once it is ``min_age_s`` old. Returns what was removed."""
    entries = _temp_entries(Path(data_root))
    if not entries:
        return []
    keys = instance.get_dynamic_partitions("videos")
    busy = {
        r.dagster_run.tags.get("dagster/partition")
        for r in instance.get_run_records(RunsFilter(statuses=LIVE))
    }
    removed = []
    now = time.time()
    for path in entries:
        where = str(path.relative_to(data_root))  # signals/<key>/<signal>/.<hash>...tmp
        key = next((k for k in keys if k in where), None)
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue
        if key in busy or (key is None and age < min_age_s):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def pool_wait_message(instance: DagsterInstance, pid: int, pool: str = POOL) -> str | None:
    """When a run worked by process ``pid`` has a step waiting for a ``pool`` slot: who
    holds the slots (run, video, step, for how long) and how many runs wait. Else None."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return None
    info = storage.get_concurrency_info(pool)
    waiting = {p.run_id for p in info.pending_steps if p.assigned_timestamp is None}
    if not waiting or not info.claimed_slots:
        return None
    mine = [
        r.dagster_run
        for r in instance.get_run_records(RunsFilter(run_ids=list(waiting)))
        if r.dagster_run.tags.get(PID) == str(pid)
    ]
    if not mine:
        return None
    holders = []
    for slot in info.claimed_slots:
        rec = instance.get_run_record_by_id(slot.run_id)
        video = rec.dagster_run.tags.get("dagster/partition", "?") if rec else "?"
        since = rec.start_time if rec and rec.start_time else None
        took = f", running {time.time() - since:.0f} s" if since else ""
        holders.append(f"run {slot.run_id[:8]} (video {video}, {slot.step_key}{took})")
    others = len(waiting) - len(mine)
    return (
        f"waiting for the {pool} pool ({info.limit or len(info.claimed_slots)} slot(s)): "
        f"held by {'; '.join(holders)}"
        + (f"; {others} other run(s) waiting too" if others > 0 else "")
        + ". It starts when a slot is free (`dagster instance concurrency` shows the pool)."
    )


@contextmanager
def report_pool_waits(
    say: Callable[[str], None], interval_s: float = 2.0, repeat_s: float = 30.0
) -> Iterator[None]:
    """While the block runs, say who holds the gpu pool whenever a run of this process
    waits for it (again every ``repeat_s`` seconds of waiting). Uses its own instance
    (``DagsterInstance.get()``) in a daemon thread."""
    stop = threading.Event()

    def watch() -> None:
        last, said_at = None, 0.0
        with DagsterInstance.get() as instance:
            while not stop.wait(interval_s):
                try:
                    msg = pool_wait_message(instance, os.getpid())
                except Exception:  # a busy SQLite file: try again next time
                    continue
                now = time.monotonic()
                if msg and (msg != last or now - said_at >= repeat_s):
                    say(msg)
                    said_at = now
                last = msg

    thread = threading.Thread(target=watch, name="pool-wait-reporter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@sensor(
    name="gpu_pool_guard",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Creates the gpu pool before runs claim it, fails runs whose worker process "
    "died and frees their gpu pool slots, removes temp files that killed steps left.",
)
def gpu_pool_guard(context: SensorEvaluationContext, media_store: MediaStore) -> SkipReason:
    ensure_pool(context.instance)
    reaped = reap_dead_runs(context.instance)
    for run_id in reaped:
        context.log.warning(f"run {run_id}: worker died; marked failed, gpu slots freed")
    swept = sweep_temp(context.instance, media_store.path())
    for path in swept:
        context.log.info(f"removed {path} (left by a step that did not finish)")
    return SkipReason(
        f"reaped {len(reaped)} run(s), removed {len(swept)} temp entries"
        if reaped or swept
        else "no dead runs"
    )
