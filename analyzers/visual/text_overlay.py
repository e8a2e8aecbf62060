"""On-screen text per second: what is written, where, whether a short-video app's buttons
and caption band would hide it, and whether it stays up long enough to be read.

The text comes from the ``ocr`` signal (EasyOCR by default, RapidOCR selectable; backend,
frames read and confidence are the signal's settings, ``[ocr]`` in the settings file: see
``analyzers.signals.ocr``), which product_detection reads too.

Per second: ``texts`` [{text, conf 0-1, box normalized xyxy, in_ui_zone (the zone's name
when the box overlaps one of ``ui_zones`` by more than ``ui_overlap`` of its area),
on_screen_s (how long this line stays on screen, in whole sampled seconds of its run),
reading_s (its words at ``reading_wps`` words per second), readable}], ``text_area``
(share of the frame text boxes cover), ``new_text`` (a line not on screen the second
before), ``in_ui_safe_zone`` (every line clear of the UI zones; null with no text),
``n_texts``, ``backend``. Lines are matched across frames and seconds by their text (case
and spacing aside, ``same_text`` similar), so OCR's small misreads of one caption do not
split it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.core.tracking import union_area
from analyzers.signals.ocr import Box, OcrReadings

# A short-video app's chrome over a 9:16 video, in normalized coordinates (x0, y0, x1, y1):
# the like / comment / share / profile buttons down the right edge, the caption, sound and
# account name band at the bottom, the tabs across the top.
UI_ZONES: tuple[tuple[str, float, float, float, float], ...] = (
    ("right_buttons", 0.83, 0.35, 1.0, 0.87),
    ("bottom_caption", 0.0, 0.82, 1.0, 1.0),
    ("top_tabs", 0.0, 0.0, 1.0, 0.07),
)
TEXT_TYPE = pa.struct(
    [
        ("text", pa.string()),
        ("conf", pa.float32()),
        ("box", pa.list_(pa.float32())),
        ("in_ui_zone", pa.string()),
        ("on_screen_s", pa.float32()),
        ("reading_s", pa.float32()),
        ("readable", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class TextConfig(BaseConfig):
    """``reading_wps``: words a viewer reads per second; ``ui_zones``: (name, x0, y0, x1,
    y1) normalized; ``ui_overlap``: share of a line's box inside a zone that counts as
    hidden; ``same_text``: similarity (0-1) at which two readings are one line."""

    reading_wps: float = 3.0
    ui_zones: tuple[tuple[str, float, float, float, float], ...] = UI_ZONES
    ui_overlap: float = 0.3
    same_text: float = 0.8


def normalize(text: str) -> str:
    """A line's text for matching: upper case, single spaces, no edge punctuation."""
    return " ".join(text.upper().split()).strip(" .,:;!?'\"-")


def ui_zone(box: Box, zones: tuple, overlap: float) -> str | None:
    """The name of the first zone covering more than ``overlap`` of ``box``, else None."""
    area = max(1e-9, (box[2] - box[0]) * (box[3] - box[1]))
    for name, x0, y0, x1, y1 in zones:
        ix = max(0.0, min(box[2], x1) - max(box[0], x0))
        iy = max(0.0, min(box[3], y1) - max(box[1], y0))
        if ix * iy / area > overlap:
            return name
    return None


def reading_time_s(text: str, wps: float) -> float:
    """Seconds a viewer needs to read ``text`` at ``wps`` words per second."""
    return len(text.split()) / wps


@register
class TextOverlay(FrameAnalyzer):
    """On-screen text per second (see module doc): ``texts`` [{text, conf, box,
    in_ui_zone, on_screen_s, reading_s, readable}], ``text_area`` 0-1, ``new_text``,
    ``in_ui_safe_zone``, ``n_texts``, ``backend``."""

    name = "text_overlay"
    version = "2"
    stage = "stage2_medium"
    Config = TextConfig
    requires = ("ocr",)
    model = "easyocr (craft + english_g2) / rapidocr (pp-ocr)"
    output_schema = pa.schema(
        [
            ("texts", pa.list_(TEXT_TYPE)),
            ("n_texts", pa.int32()),
            ("text_area", pa.float32()),
            ("new_text", pa.bool_()),
            ("in_ui_safe_zone", pa.bool_()),
            ("backend", pa.string()),
        ]
    )
    ranges = {"n_texts": (0, None), "text_area": (0, 1)}

    def analyze(  # type: ignore[override]
        self, media: Media, config: TextConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        ocr: OcrReadings = signals["ocr"]
        stream = media.frames
        picks = {s: ocr.in_second(stream.indices_in(s)) for s in media.seconds()}
        readings = ocr.frames
        self.info["ocr_calls"] = ocr.calls
        # one line per distinct text: its readings by second
        lines: list[str] = []
        per_second: dict[int, dict[int, tuple[Box, str, float]]] = {}
        for s, idx in picks.items():
            best: dict[int, tuple[Box, str, float]] = {}
            for i in idx:
                for box, text, conf in readings[int(i)]:
                    if not normalize(text):
                        continue
                    k = self._line(lines, normalize(text), config.same_text)
                    if k not in best or conf > best[k][2]:
                        best[k] = (box, text, conf)
            per_second[s] = best
        seconds_on = {k: [s for s in per_second if k in per_second[s]] for k in range(len(lines))}
        rows = []
        for s, idx in picks.items():
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            texts = []
            for k, (box, text, conf) in reading_order(per_second[s]):
                run = _run_length(seconds_on[k], s)
                need = reading_time_s(text, config.reading_wps)
                texts.append({
                    "text": text, "conf": conf, "box": [round(v, 4) for v in box],
                    "in_ui_zone": ui_zone(box, config.ui_zones, config.ui_overlap),
                    "on_screen_s": float(run), "reading_s": need, "readable": run >= need,
                })  # fmt: skip
            area = union_area([t["box"] for t in texts])
            rows.append({
                "second": s,
                "texts": texts,
                "n_texts": len(texts),
                "text_area": area,
                "new_text": any(k not in per_second.get(s - 1, {}) for k in per_second[s]),
                "in_ui_safe_zone": all(t["in_ui_zone"] is None for t in texts) if texts else None,
                "backend": ocr.backend,
            })  # fmt: skip
        return self.table(media, rows)

    @staticmethod
    def _line(lines: list[str], text: str, same: float) -> int:
        """The index of the known line ``text`` is a reading of (added when new)."""
        for k, known in enumerate(lines):
            if known == text or difflib.SequenceMatcher(None, known, text).ratio() >= same:
                return k
        lines.append(text)
        return len(lines) - 1


def reading_order(found: dict[int, tuple[Box, str, float]]) -> list[tuple[int, tuple]]:
    """``found``'s items top to bottom, and left to right within a row (boxes whose
    centres are less than half a line's height apart share a row)."""
    items = sorted(found.items(), key=lambda kv: (kv[1][0][1] + kv[1][0][3]) / 2)
    rows: list[list[tuple[int, tuple]]] = []
    for item in items:
        box = item[1][0]
        cy, h = (box[1] + box[3]) / 2, box[3] - box[1]
        if rows:
            last = rows[-1][-1][1][0]
            if abs(cy - (last[1] + last[3]) / 2) < 0.5 * min(h, last[3] - last[1]):
                rows[-1].append(item)
                continue
        rows.append([item])
    return [it for row in rows for it in sorted(row, key=lambda kv: kv[1][0][0])]


def _run_length(seconds: list[int], s: int) -> int:
    """Length of the run of consecutive seconds in ``seconds`` that holds ``s``."""
    have = set(seconds)
    a = b = s
    while a - 1 in have:
        a -= 1
    while b + 1 in have:
        b += 1
    return b - a + 1
