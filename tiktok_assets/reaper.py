"""Frees the `gpu` pool slots of runs whose worker process died (SIGKILL, OOM killer,
power loss). Dagster's default run launcher cannot check a worker's health, so such a run
stays STARTED and keeps its slot forever; the stage ops therefore tag their run with the
worker's host, pid and process start time, and this reaper (a sensor in the daemon, and the
CLI before each run) marks runs with a dead worker on this host as failed and frees their
slots at once."""

import socket

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

HOST, PID, STARTED = "tiktok/worker_host", "tiktok/worker_pid", "tiktok/worker_started"
LIVE = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]


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
    name="dead_run_reaper",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Fails runs whose worker process died and frees their gpu pool slots.",
)
def dead_run_reaper(context: SensorEvaluationContext) -> SkipReason:
    reaped = reap_dead_runs(context.instance)
    for run_id in reaped:
        context.log.warning(f"run {run_id}: worker died; marked failed, gpu slots freed")
    return SkipReason(f"reaped {len(reaped)} run(s)" if reaped else "no dead runs")
