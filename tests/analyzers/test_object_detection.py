"""object_detection: ultralytics' ByteTrack on synthetic detections whose identities are
known (two objects crossing each other), and YOLOv8's real architecture (random weights
here) loaded from a model home and run through the analyzer."""

import pytest

from analyzers.core import MissingWeightsError
from analyzers.core.runner import run_analyzer
from analyzers.signals.objects import YOLO_WEIGHTS, Detection, ObjectsConfig, ObjectsSignal, track
from analyzers.visual.object_detection import ObjectDetection
from resources.models import ModelStore


def test_two_objects_crossing_keep_their_track_ids():
    """A cup moves right and a phone moves left through each other (their boxes overlap
    for several frames): after the crossing each still has its own id."""
    frames = []
    for k in range(16):
        a = 0.05 + 0.05 * k
        b = 0.80 - 0.05 * k
        frames.append([
            Detection((a, 0.40, a + 0.15, 0.55), 0.9, 41, "cup"),
            Detection((b, 0.45, b + 0.15, 0.60), 0.8, 67, "cell phone"),
        ])  # fmt: skip
    ids = track(frames, 2.0, ObjectsConfig())
    assert ids[0] == [1, 2]  # the first frame confirms both
    assert all(i == [1, 2] for i in ids), ids


def test_an_object_gone_longer_than_the_buffer_gets_a_new_id():
    box = Detection((0.4, 0.4, 0.6, 0.6), 0.9, 0, "person")
    config = ObjectsConfig(track_buffer_s=1.0)  # 2 sampled frames at 2 fps
    ids = track([[box], [box], [], [box], [], [], [], [], [box], [box]], 2.0, config)
    assert ids[0] == ids[1] == ids[3] == [1]  # back within the buffer: the same object
    assert ids[8] == [None] and ids[9] == [2]  # a new track, confirmed on its second frame


def test_yolo_architecture_through_the_analyzer(tmp_path, small_clip, decode):
    media = decode(small_clip, "small-objects-0")
    config = {"objects": {"size": "n", "min_confidence": 0.0}}
    out = run_analyzer(ObjectDetection, media, None, config)
    assert out.meta["weights_mode"] == "random"
    rows = out.table.to_pylist()
    assert len(rows) == 6 and out.meta["detections"] > 0
    for r in rows:
        assert r["backend"] == "yolov8n" and r["n_objects"] == len(r["objects"])
        for o in r["objects"]:
            x0, y0, x1, y1 = o["box"]
            assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1 and 0 <= o["conf"] <= 1
        per_class = {c["cls"]: c["n"] for c in r["counts"]}
        for cls in {o["cls"] for o in r["objects"]}:
            assert per_class[cls] >= sum(o["cls"] == cls for o in r["objects"])

    # a checkpoint in the model home (the same architecture) loads as real weights
    from ultralytics import YOLO

    spec = YOLO_WEIGHTS["n"]
    (tmp_path / spec.relpath).parent.mkdir(parents=True)
    YOLO("yolov8n.yaml").save(str(tmp_path / spec.relpath))
    store = ModelStore(model_home=str(tmp_path), weights="real")
    assert run_analyzer(ObjectDetection, media, store, config).meta["weights_mode"] == "real"


def test_missing_weights_name_the_pull_command(tmp_path):
    store = ModelStore(model_home=str(tmp_path), weights="real")
    (spec,) = ObjectsSignal.required_weights(ObjectsSignal.make_config())
    assert spec.name == "yolov8m" and "AGPL-3.0" in spec.license
    with pytest.raises(MissingWeightsError, match="models pull yolov8m"):
        store.resolve(spec)
