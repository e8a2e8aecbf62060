"""The per-second output contract every analyzer table obeys, and its one validator.

Every table has the key columns ``video_id`` (string) and ``second`` (int32): one row per
second ``0 .. n_seconds-1``, row ``s`` covering the segment ``[s, s+1)`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

KEY_FIELDS: tuple[pa.Field, ...] = (
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("second", pa.int32(), nullable=False),
)
KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in KEY_FIELDS)


class ContractError(ValueError):
    """An analyzer returned a table that breaks the per-second contract."""


def n_seconds_for(duration_s: float) -> int:
    """Number of per-second rows for a video of ``duration_s`` seconds: ``ceil(duration)``.

    A millisecond of slack absorbs container rounding (6.0004 s gives 6 rows), and every
    video has at least one row.
    """
    if not math.isfinite(duration_s) or duration_s <= 0:
        return 1
    return max(1, math.ceil(duration_s - 1e-3))


def full_schema(output_schema: pa.Schema) -> pa.Schema:
    """Key fields followed by the analyzer's own columns."""
    own = [f for f in output_schema if f.name not in KEY_COLUMNS]
    return pa.schema([*KEY_FIELDS, *own], metadata=output_schema.metadata)


def rows_to_table(
    rows: Iterable[Mapping[str, Any]], video_id: str, output_schema: pa.Schema
) -> pa.Table:
    """Build a contract table from per-second dicts, which must each carry ``second``."""
    schema = full_schema(output_schema)
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    for row in rows:
        for f in schema:
            cols[f.name].append(video_id if f.name == "video_id" else row.get(f.name))
    return pa.Table.from_pydict(cols, schema=schema)


def validate(
    table: pa.Table | pd.DataFrame,
    *,
    analyzer: str,
    output_schema: pa.Schema,
    video_id: str,
    n_seconds: int,
) -> pa.Table:
    """Check ``table`` against the contract and return it cast to the full schema.

    Raises ContractError naming the analyzer and what is wrong: missing or extra columns,
    a row count other than ``n_seconds``, seconds not exactly ``0..n_seconds-1`` in
    order, a null key, or another video's id.
    """
    schema = full_schema(output_schema)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if not isinstance(table, pa.Table):
        raise ContractError(f"{analyzer}: analyze() returned {type(table).__name__}, not a table")
    missing = [n for n in schema.names if n not in table.column_names]
    extra = [n for n in table.column_names if n not in schema.names]
    if missing or extra:
        raise ContractError(f"{analyzer}: columns missing {missing}, unexpected {extra}")
    table = table.select(schema.names)
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ContractError(f"{analyzer}: columns do not match output_schema: {exc}") from exc
    if table.num_rows != n_seconds:
        raise ContractError(
            f"{analyzer}: {table.num_rows} rows for a {n_seconds}-second video "
            "(exactly one row per second is required)"
        )
    seconds = table.column("second").to_pylist()
    if seconds != list(range(n_seconds)):
        raise ContractError(f"{analyzer}: seconds must be 0..{n_seconds - 1} in order")
    ids = set(table.column("video_id").to_pylist())
    if ids != {video_id}:
        raise ContractError(f"{analyzer}: video_id column holds {sorted(map(str, ids))}")
    return table


def check_table(
    table: pa.Table,
    *,
    n_seconds: int,
    ranges: Mapping[str, tuple[float | None, float | None]] = {},
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """The stored table against its declared contract (the ``contract`` asset check):
    one row per second ``0..n_seconds-1``; ``video_id``, ``second`` and ``required``
    columns never null; every non-null value of a ``ranges`` column finite and inside its
    inclusive (low, high). Returns ``{"passed": bool, "problems": [str], "checked": {..}}``
    where ``checked`` gives each ranged column's observed min/max (None when all null)."""
    import numpy as np

    problems: list[str] = []
    if table.num_rows != n_seconds:
        problems.append(f"{table.num_rows} rows for a {n_seconds}-second video")
    seconds = table.column("second").to_pylist() if "second" in table.column_names else []
    if seconds and seconds != list(range(table.num_rows)):
        problems.append("seconds are not 0..n-1 in order")
    for name in (*KEY_COLUMNS, *required):
        if name not in table.column_names:
            problems.append(f"column {name} is missing")
        elif (nulls := table.column(name).null_count) > 0:
            problems.append(f"{name}: {nulls} null value(s) in a column that is never null")
    checked: dict[str, Any] = {}
    for name, (lo, hi) in ranges.items():
        if name not in table.column_names:
            problems.append(f"column {name} is missing")
            continue
        values = table.column(name).drop_null().to_numpy(zero_copy_only=False).astype(float)
        if values.size == 0:
            checked[name] = None
            continue
        checked[name] = [round(float(values.min()), 4), round(float(values.max()), 4)]
        bad = ~np.isfinite(values)
        if lo is not None:
            bad |= values < lo
        if hi is not None:
            bad |= values > hi
        if bad.any():
            shown = ", ".join(f"{v:g}" for v in values[bad][:3])
            problems.append(
                f"{name}: {int(bad.sum())} value(s) outside [{lo}, {hi}] (e.g. {shown})"
            )
    return {"passed": not problems, "problems": problems, "checked": checked}
