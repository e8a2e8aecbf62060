"""Audience retention joined to what happened on screen: why viewers left when they did.

A creator exports per-second retention (the share of viewers still watching at each
second) from the platform's analytics. ``read_retention_csv`` reads such a file;
``attribute`` lines it up with the per-second matrix of ``cross_analyzer_intelligence``
and names, for each second where retention falls clearly faster than it usually does,
the changes in that second or the one before it (viewers react within about a second).

Units: retention is a fraction 0-1 (percent columns are divided by 100); a drop is the
loss of viewers over a second, in percentage points of the starting audience
(``drop_pp[s] = 100 * (retention[s] - retention[s + 1])``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SEP = "__"
TIME_NAMES = ("second", "seconds", "time", "time_s", "t", "sec", "timestamp", "position")
VALUE_NAMES = ("retention", "audience_retention", "retained", "viewers", "audience", "watching")


def _seconds(text: str) -> float:
    """``12``, ``12.5``, ``0:12`` or ``1:02:03`` -> seconds."""
    text = text.strip().rstrip("s")
    if ":" in text:
        total = 0.0
        for part in text.split(":"):
            total = total * 60 + float(part)
        return total
    return float(text)


def read_retention_csv(path: str | Path) -> list[float]:
    """Per-second retention (fractions 0-1, index = second) from a CSV with a header.

    The time column is the first whose name is one of ``TIME_NAMES`` (else the first
    column), in seconds or ``m:ss``; the value column the first named in ``VALUE_NAMES``
    or containing "retention" (else the second column), as a fraction or a percentage
    (``%`` signs allowed; values above 1.5 mean percent). Rows at fractional times are
    resampled to whole seconds (the last value at or before each second). Raises
    ValueError naming the problem for a file that has no usable rows."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    if len(rows) < 3:
        raise ValueError(f"{path}: needs a header and at least two rows of retention")
    header = [h.strip().lower().replace(" ", "_").replace("(%)", "").strip("_") for h in rows[0]]
    t_col = next((i for i, h in enumerate(header) if h in TIME_NAMES), 0)
    v_col = next(
        (i for i, h in enumerate(header) if i != t_col and (h in VALUE_NAMES or "retention" in h)),
        1 if t_col == 0 else 0,
    )
    points: list[tuple[float, float]] = []
    for n, row in enumerate(rows[1:], start=2):
        try:
            t = _seconds(row[t_col])
            v = float(row[v_col].strip().rstrip("%"))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}: line {n}: cannot read time/retention from {row}") from exc
        points.append((t, v))
    points.sort()
    percent = max(v for _, v in points) > 1.5
    last = math.floor(points[-1][0])
    out: list[float] = []
    k = 0
    for s in range(last + 1):
        while k + 1 < len(points) and points[k + 1][0] <= s + 1e-9:
            k += 1
        out.append(points[k][1] / 100 if percent else points[k][1])
    return out


def changes_in(rows: Sequence[Mapping[str, Any]], s: int) -> list[str]:
    """What changed in second ``s`` of the matrix, most specific first: cuts (with their
    time), scene changes, new on-screen text, speech starting or stopping, a loudness
    drop of 10 dB or more, faces leaving, and the pace falling by a third or more."""
    row, prev = rows[s], rows[s - 1] if s > 0 else None
    found: list[str] = []
    for t in row.get(f"cut_analysis{SEP}cut_at") or []:
        found.append(f"cut at {t:.2f} s")
    if row.get(f"scene_segmentation{SEP}scene_change") and s > 0:
        found.append("new scene")
    if row.get(f"text_overlay{SEP}new_text"):
        texts = [t.get("text") for t in row.get(f"text_overlay{SEP}texts") or []]
        found.append(f"new on-screen text {texts[0]!r}" if texts else "new on-screen text")
    if prev is not None:
        said, said_before = (
            bool((r.get(f"speech_transcription{SEP}text") or "").strip()) for r in (row, prev)
        )
        if said_before and not said:
            found.append("speech stopped")
        elif said and not said_before:
            found.append("speech started")
        db, db_before = (
            row.get(f"audio_analysis{SEP}rms_db"),
            prev.get(f"audio_analysis{SEP}rms_db"),
        )
        if db is not None and db_before is not None and db_before - db >= 10:
            found.append(f"loudness fell {db_before - db:.0f} dB")
        faces, faces_before = (r.get(f"face_emotion{SEP}n_faces") for r in (row, prev))
        if faces is not None and faces_before and faces < faces_before:
            found.append("face left" if faces == 0 else "fewer faces")
        pace, pace_before = (r.get(f"temporal_flow{SEP}pace") for r in (row, prev))
        if pace is not None and pace_before and pace <= pace_before * 2 / 3:
            found.append("pace fell")
    return found


def attribute(
    rows: Sequence[Mapping[str, Any]],
    retention: Sequence[float],
    *,
    min_drop_pp: float = 2.0,
    sigma: float = 3.0,
) -> list[dict[str, Any]]:
    """One dict per second of the overlap of ``rows`` (the matrix, one per second) and
    ``retention``: ``second``, ``retention`` (0-1), ``drop_pp`` (points lost over the
    second; null for the last), ``is_drop`` and, for drops, ``changes`` (in this second,
    else the one before, with ``lag_s`` 0 or 1) and ``cause`` (the first of them, or
    "no change found").

    A drop is a loss of at least ``min_drop_pp`` points that also stands ``sigma`` robust
    deviations (1.4826 x MAD, at least a quarter of the median and 0.3 points) above the
    median loss per second: the steady decay every video has is not a drop; the cliff
    after a bad cut is."""
    n = min(len(rows), len(retention))
    drops = [100 * (retention[s] - retention[s + 1]) for s in range(n - 1)]
    ordered = sorted(drops)
    median = ordered[len(ordered) // 2] if ordered else 0.0
    mad = sorted(abs(d - median) for d in drops)[len(drops) // 2] if drops else 0.0
    scale = max(1.4826 * mad, 0.25 * abs(median), 0.3)  # an even decay has MAD ~ 0
    threshold = max(min_drop_pp, median + sigma * scale)
    out: list[dict[str, Any]] = []
    for s in range(n):
        drop = drops[s] if s < n - 1 else None
        item: dict[str, Any] = {
            "second": s,
            "retention": round(float(retention[s]), 4),
            "drop_pp": None if drop is None else round(drop, 2),
            "is_drop": drop is not None and drop >= threshold,
            "changes": [],
            "lag_s": None,
            "cause": None,
        }
        if item["is_drop"]:
            for lag in (0, 1):
                if s - lag >= 0 and (found := changes_in(rows, s - lag)):
                    item.update(changes=found, lag_s=lag, cause=found[0])
                    break
            else:
                item["cause"] = "no change found"
        out.append(item)
    return out
