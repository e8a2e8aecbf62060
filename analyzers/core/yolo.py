"""One way to load and call an ultralytics YOLO model (detection, pose), shared by the
analyzers that use one, so both get the same offline set-up and GPU settings."""

from __future__ import annotations

from typing import Any

import numpy as np


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
