"""camera_analysis: static (with a subject moving inside the frame), pan, tilt, zoom and
shake, each cropped out of a detailed still picture at a known speed."""

from pathlib import Path

import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.visual.camera_analysis import CameraAnalysis
from tests.conftest import SMALL, analyze_rows

W, H = SMALL
ZOOM = f"d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={W}x{H}:fps=30"
# a red 50x50 box crossing a still picture at 50 px/s: the subject moves, not the camera
BOX = "between(X,10+T*50,60+T*50)*between(Y,100,150)"
MOVING_SUBJECT = (
    f"format=rgb24,geq=r='if({BOX},255,r(X,Y))':g='if({BOX},0,g(X,Y))'"
    f":b='if({BOX},0,b(X,Y))',format=yuv420p"
)
# (segment, expected motion in both its seconds)
CASES = [
    (lambda tx: Segment(tx(1, 1), 2.0, vf=MOVING_SUBJECT), "static"),
    # the crop window moves right at 100 px/s: the camera pans right, content moves left
    (lambda tx: Segment(tx(2), 2.0, vf=f"crop={W}:{H}:x='t*100':y={H}"), "pan_right"),
    (lambda tx: Segment(tx(3), 2.0, vf=f"crop={W}:{H}:x='{2 * W}-t*100':y={H}"), "pan_left"),
    (lambda tx: Segment(tx(4), 2.0, vf=f"crop={W}:{H}:x={W}:y='{2 * H}-t*100'"), "tilt_up"),
    (lambda tx: Segment(tx(5), 2.0, vf=f"crop={W}:{H}:x={W}:y='{H}+t*100'"), "tilt_down"),
    (lambda tx: Segment(tx(6), 2.0, vf=f"zoompan=z='1+0.3*in/30':{ZOOM}"), "zoom_in"),
    (lambda tx: Segment(tx(7), 2.0, vf=f"zoompan=z='1.6-0.3*in/30':{ZOOM}"), "zoom_out"),
    (
        lambda tx: Segment(tx(8), 2.0, vf=f"crop={W}:{H}:x='{W}+8*sin(t*50)':y='{H}+8*sin(t*37)'"),
        "shake",
    ),
]


@pytest.fixture(scope="module")
def rows(media_dir: Path, decode, texture):
    clip = make_clip(media_dir / "camera.mp4", [c(texture) for c, _ in CASES], size=SMALL)
    return analyze_rows(CameraAnalysis, decode(clip))


def test_each_move_is_named_in_both_its_seconds(rows):
    assert [r["motion"] for r in rows] == [m for _, m in CASES for _ in range(2)]


def test_speeds_match_the_crop(rows):
    # 100 px/s over a 180 px wide frame = 0.556 widths/s; over 320 px high = 0.3125
    for r in rows[2:4]:
        assert r["pan_speed"] == pytest.approx(-100 / W, rel=0.05)
        assert r["magnitude"] == pytest.approx(100 / W, rel=0.05)
    for r in rows[6:8]:
        assert r["tilt_speed"] == pytest.approx(100 / H, rel=0.05)
    # zoom 1.0 -> 1.6 linearly over 2 s: log-rate 0.3/z per second, 0.26 then 0.21
    assert [r["zoom_rate"] for r in rows[10:12]] == pytest.approx([0.262, 0.211], abs=0.03)


def test_a_subject_moving_in_a_still_frame_is_not_camera_motion(rows):
    for r in rows[:2]:
        assert r["magnitude"] < 0.01 and r["shake_score"] < 0.1
        assert r["flow_confidence"] > 0.8  # the box's corners are RANSAC outliers


def test_shake_scores_high_only_when_shaking(rows):
    shake = [r["shake_score"] for r in rows]
    assert min(shake[-2:]) >= 0.9
    assert max(shake[:-2]) < 0.5
