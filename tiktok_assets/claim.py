"""Analyse a video exactly once however many workers are handed it.

Several machines share one instance (PostgreSQL: ``dagster_home/dagster.postgres.yaml``)
and one bucket. When two of them are given the same video (the same upload synced to
both, a backfill and a sensor racing), only one may analyse it. The claim is the run
record itself: a video's analysis run has a deterministic id, ``uuid5(video key,
attempt)``, and creating a run whose id exists fails in the run storage (a primary-key
constraint, atomic in PostgreSQL and SQLite alike). The worker whose run record was
created does the work; the other is told who has it. A failed or cancelled attempt lets
the next claim take attempt + 1, so a video is retried, never run twice at once, and
never analysed again once it succeeded.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    define_asset_job,
)
from dagster._core.errors import DagsterRunAlreadyExists

NAMESPACE = uuid.UUID("6f1e3a52-6c1e-4a8e-9b43-7d6d0c1f6a10")
MAX_ATTEMPTS = 5
RETRYABLE = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
CLAIM_JOB = "__claimed_analysis"


def analysis_run_id(key: str, attempt: int = 0) -> str:
    """The run id of attempt ``attempt`` at analysing video ``key``."""
    return str(uuid.uuid5(NAMESPACE, f"{key}/{attempt}"))


@dataclass(frozen=True)
class Claimed:
    """What a worker's claim came to: ``ran`` (this worker ran ``run_id``) and its
    ``success``, or the run another worker holds (``ran`` False)."""

    key: str
    run_id: str
    ran: bool
    success: bool | None
    status: str
    result: Any = None  # this worker's ExecuteInProcessResult when it ran

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "result"}


def analyse_once(
    instance: DagsterInstance,
    key: str,
    assets: Sequence[Any],
    resources: Mapping[str, Any],
    *,
    selection: Any = None,
    tags: Mapping[str, str] | None = None,
    run_config: Any = None,
    done_asset: str = "video_report",
) -> Claimed:
    """Materialize ``assets`` for partition ``key`` under the video's next free run id,
    unless ``done_asset`` is already materialized for it (by any run, claimed or not) or
    another worker's attempt is queued, running or has succeeded."""
    done = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(done_asset), asset_partitions=[key]), limit=1
    ).records
    if done:
        return Claimed(key, done[0].run_id, False, None, DagsterRunStatus.SUCCESS.value)
    for attempt in range(MAX_ATTEMPTS):
        run_id = analysis_run_id(key, attempt)
        existing = instance.get_run_by_id(run_id)
        if existing is not None:
            if existing.status in RETRYABLE:
                continue
            return Claimed(key, run_id, False, None, existing.status.value)
        defs = Definitions(
            jobs=[define_asset_job(name=CLAIM_JOB, selection=selection)],
            assets=list(assets),
            resources=dict(resources),
        )
        job = defs.resolve_job_def(CLAIM_JOB)
        try:
            result = job.execute_in_process(
                instance=instance,
                partition_key=key,
                run_id=run_id,
                raise_on_error=False,
                tags={**(tags or {}), "tiktok/attempt": str(attempt)},
                run_config=run_config,
            )
        except DagsterRunAlreadyExists:  # another worker created it first: theirs
            held = instance.get_run_by_id(run_id)
            return Claimed(key, run_id, False, None, held.status.value if held else "UNKNOWN")
        return Claimed(key, run_id, True, result.success, result.dagster_run.status.value, result)
    raise RuntimeError(f"{key}: {MAX_ATTEMPTS} attempts failed; see their runs in the UI")
