"""One way to load and call an ultralytics YOLO model (detection, pose), shared by the
analyzers that use one, so both get the same offline set-up and GPU settings."""

from __future__ import annotations

from typing import Any

import numpy as np

from analyzers.core.weights import WeightSpec

SIZES = ("n", "s", "m", "l", "x")
_ASSETS = "https://github.com/ultralytics/assets/releases/download/v8.3.0"


def yolo_weights(suffix: str, size_mb: dict[str, float]) -> dict[str, WeightSpec]:
    """The YOLOv8 checkpoints of every size (``yolov8{size}{suffix}.pt``: ``""`` detect,
    ``"-pose"`` pose) as WeightSpecs ``models pull`` fetches from Ultralytics' releases."""
    return {
        size: WeightSpec(
            name=f"yolov8{size}{suffix}",
            relpath=f"yolo/yolov8{size}{suffix}.pt",
            url=f"{_ASSETS}/yolov8{size}{suffix}.pt",
            license="AGPL-3.0 (Ultralytics; commercial use needs their license)",
            size_mb=size_mb[size],
        )
        for size in SIZES
    }


class Yolo:
    """An ultralytics model from the checkpoint ``path``, or, with ``path`` None, its real
    architecture (``arch``, e.g. ``yolov8m.yaml``) with random weights; ``task`` detect or
    pose. Called with RGB frames, it returns ultralytics ``Results`` (half precision on a
    GPU)."""

    def __init__(self, path: str | None, arch: str, task: str, device: str) -> None:
        import os

        os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks, no font downloads
        from ultralytics import YOLO

        self.model = YOLO(path if path else arch, task=task)
        self.device = device

    def __call__(self, frames: list[np.ndarray], min_conf: float) -> list[Any]:
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]  # ultralytics wants BGR
        return self.model.predict(bgr, conf=min_conf, device=self.device, verbose=False,
                                  half=self.device.startswith("cuda"))  # fmt: skip
