"""A `gpu` pool slot is held by one step at a time, also when two runs claim it at once.

Dagster 1.13's SQL event log storage (SQLite and PostgreSQL alike) claims a pool slot in
two statements: it selects a free slot row, then ``UPDATE ... WHERE id = <row>``. The
update does not check that the row is still free, and ``SELECT ... FOR UPDATE`` neither
locks on SQLite nor outlives the statement on an autocommit PostgreSQL connection. Two
runs whose steps were both assigned (a second race, in the pending-step bookkeeping) can
select the same free row, and both updates succeed: both steps run "inside" a pool of one
slot. Measured here with two processes claiming at once on a fresh instance: 2 of 20
trials on SQLite and 7 of 30 on PostgreSQL gave both claims CLAIMED, and the full suite's
two-runs-take-turns test failed once in three runs. For this pipeline that is two videos'
GPU stages on one device at once, the out-of-memory the pool exists to prevent.

``install()`` replaces the storage's ``_claim_concurrency_slot`` with a compare-and-set:
the update also requires the row to be free, so of two claimers of one row exactly one
gets it; the other looks for another free row and is otherwise BLOCKED, and Dagster's
executor keeps polling its claim until a slot is freed (as it does for any blocked step).
It is installed on import of ``tiktok_assets.pool_guard``, which every process that
claims slots imports (the code location a run executes, the warm run launcher, the CLI and
API), and changes nothing else in Dagster.
"""

from __future__ import annotations

from typing import Any

from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_select
from dagster._utils.concurrency import ConcurrencySlotStatus

_ORIGINAL = SqlEventLogStorage._claim_concurrency_slot


def claim_free_slot(
    storage: SqlEventLogStorage, concurrency_key: str, run_id: str, step_key: str
) -> ConcurrencySlotStatus:
    """Claim one free, live slot row of ``concurrency_key`` for ``run_id``/``step_key``:
    CLAIMED when an update that requires the row to be free took it, BLOCKED when no free
    row is left. A row taken between the select and the update is skipped, not stolen."""
    slots = ConcurrencySlotsTable.c
    tried: set[Any] = set()
    with storage.index_connection() as conn:
        while True:
            query = (
                db_select([slots.id])
                .select_from(ConcurrencySlotsTable)
                .where(
                    slots.concurrency_key == concurrency_key,
                    slots.step_key == None,  # noqa: E711
                    slots.deleted == False,  # noqa: E712
                )
                .order_by(slots.id)
            )
            if tried:
                query = query.where(slots.id.not_in(tried))
            row = conn.execute(query.limit(1)).fetchone()
            if not row or not row[0]:
                return ConcurrencySlotStatus.BLOCKED
            taken = conn.execute(
                ConcurrencySlotsTable.update()
                .values(run_id=run_id, step_key=step_key)
                .where(
                    slots.id == row[0],
                    slots.step_key == None,  # noqa: E711  the compare in compare-and-set
                    slots.deleted == False,  # noqa: E712
                )
            ).rowcount
            if taken:
                return ConcurrencySlotStatus.CLAIMED
            tried.add(row[0])  # another claimer got it first


def install() -> None:
    """Make every SQL event log storage in this process claim slots by compare-and-set.
    Idempotent."""
    SqlEventLogStorage._claim_concurrency_slot = claim_free_slot  # type: ignore[method-assign]


def uninstall() -> None:
    """Back to Dagster's own claim (tests use it to show the race the fix closes)."""
    SqlEventLogStorage._claim_concurrency_slot = _ORIGINAL  # type: ignore[method-assign]
