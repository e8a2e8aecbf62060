"""Boxes tracked across frames: each detection gets the id of the track it continues.

Association is one Hungarian assignment per frame (scipy's ``linear_sum_assignment``)
between the live tracks and the frame's boxes, on a cost that mixes overlap and centre
distance. Overlap alone loses a face between two samples half a second apart when it
moves by more than its own width; the centre distance, measured in box sizes, keeps it.
A track not seen for ``max_gap`` frames ends; a box no track claims starts a new one.
Boxes are ``(x0, y0, x1, y1)`` in any one unit (normalized coordinates here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def union_area(boxes: list[Box] | list[list[float]], grid: int = 200) -> float:
    """Share of the unit square the union of normalized ``boxes`` covers (0-1), on a
    ``grid`` x ``grid`` raster."""
    if not boxes:
        return 0.0
    mask = np.zeros((grid, grid), bool)
    for x0, y0, x1, y1 in boxes:
        mask[int(y0 * grid) : int(np.ceil(y1 * grid)), int(x0 * grid) : int(np.ceil(x1 * grid))] = (
            True
        )
    return float(mask.mean())


def centre_shift(a: Box, b: Box) -> float:
    """Distance between the boxes' centres in units of their mean size (sqrt of area)."""
    ca = np.array([(a[0] + a[2]) / 2, (a[1] + a[3]) / 2])
    cb = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    size = 0.5 * (np.sqrt(max(1e-12, (a[2] - a[0]) * (a[3] - a[1])))
                  + np.sqrt(max(1e-12, (b[2] - b[0]) * (b[3] - b[1]))))  # fmt: skip
    return float(np.linalg.norm(ca - cb) / size)


@dataclass
class _Track:
    track_id: int
    box: Box
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    last_seen: int = 0


@dataclass
class BoxTracker:
    """Assigns track ids frame by frame (``update``). ``min_iou``: overlap that makes a
    match on its own; ``max_shift``: the largest centre move, in box sizes, between two
    frames a match may have; ``max_gap``: frames a track may go unseen and continue.
    A track's box moves on by its last velocity while unseen, so a face that walks on
    behind a hand is met where it comes out."""

    min_iou: float = 0.1
    max_shift: float = 1.0
    max_gap: int = 4
    _tracks: list[_Track] = field(default_factory=list)
    _next: int = 0
    _frame: int = -1

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """The track id of each box of the next frame (in ``boxes`` order)."""
        from scipy.optimize import linear_sum_assignment

        self._frame += 1
        live = [t for t in self._tracks if self._frame - t.last_seen <= self.max_gap]
        ids = [-1] * len(boxes)
        if live and boxes:
            cost = np.full((len(live), len(boxes)), 1e6)
            for i, t in enumerate(live):
                gap = self._frame - t.last_seen
                guess = tuple(np.asarray(t.box) + t.velocity * gap)
                for j, b in enumerate(boxes):
                    o, d = iou(guess, b), centre_shift(guess, b)  # type: ignore[arg-type]
                    if o >= self.min_iou or d <= self.max_shift:
                        cost[i, j] = (1 - o) + d
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols, strict=True):
                if cost[i, j] < 1e6:
                    t = live[i]
                    gap = self._frame - t.last_seen
                    t.velocity = (np.asarray(boxes[j]) - np.asarray(t.box)) / gap
                    t.box, t.last_seen = tuple(boxes[j]), self._frame  # type: ignore[assignment]
                    ids[j] = t.track_id
        for j, b in enumerate(boxes):
            if ids[j] < 0:
                t = _Track(self._next, tuple(b), last_seen=self._frame)  # type: ignore[arg-type]
                self._next += 1
                live.append(t)
                ids[j] = t.track_id
        self._tracks = live
        return ids
