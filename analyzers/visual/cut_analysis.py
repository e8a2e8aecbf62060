"""Hard cuts and gradual transitions per second, from the ``shots`` signal (see
``analyzers.signals.shots`` for how they are found and the thresholds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register


@register
class CutAnalysis(FrameAnalyzer):
    """Hard cuts and gradual transitions per second. ``cut_at``: times (seconds, the pts of
    the first frame of the new shot) inside the row's second; ``shot_id``: shot at the start
    of the second, counted from 0; ``shot_length``: that shot's length in seconds;
    ``transitions``: gradual transitions starting in this second, {kind: fade_in | fade_out
    | dissolve, start, end} in seconds; ``in_transition``: a transition covers part of
    this second."""

    name = "cut_analysis"
    version = "2"
    stage = "stage4_fast"
    requires = ("shots",)
    output_schema = pa.schema(
        [
            ("cut_at", pa.list_(pa.float64())),
            ("cuts", pa.int32()),
            ("shot_id", pa.int32()),
            ("shot_length", pa.float32()),
            ("content_score_max", pa.float32()),
            (
                "transitions",
                pa.list_(
                    pa.struct(
                        [("kind", pa.string()), ("start", pa.float64()), ("end", pa.float64())]
                    )
                ),
            ),
            ("in_transition", pa.bool_()),
        ]
    )
    ranges = {
        "cuts": (0, None),
        "shot_id": (0, None),
        "shot_length": (0, None),
        "content_score_max": (0, 255),
    }
    required = (
        "cuts",
        "shot_id",
    )

    def analyze(self, media: Media, config: BaseConfig, signals: Mapping[str, Any]) -> pa.Table:
        stream = media.lowres
        found = signals["shots"]
        scores = found.scores
        times = [float(stream.pts[i]) for i in found.cuts]
        spans = [
            {"kind": t.kind, "start": float(stream.pts[t.first]), "end": float(stream.pts[t.last])}
            for t in found.transitions
        ]
        bounds = [0.0, *times, float(media.duration_s)]
        rows = []
        for s in media.seconds():
            inside = [t for t in times if s <= t < s + 1]
            shot = int(np.searchsorted(times, s + 1e-6, side="right"))
            in_sec = stream.indices_in(s)
            rows.append(
                {
                    "second": s,
                    "cut_at": inside,
                    "cuts": len(inside),
                    "shot_id": shot,
                    "shot_length": bounds[shot + 1] - bounds[shot],
                    "content_score_max": float(scores[in_sec].max()) if len(in_sec) else None,
                    "transitions": [t for t in spans if s <= t["start"] < s + 1],
                    "in_transition": any(t["start"] < s + 1 and t["end"] > s for t in spans),
                }
            )
        return self.table(media, rows)
