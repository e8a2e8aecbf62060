"""camera_analysis: static (with a subject moving inside the frame), pan, tilt, zoom and
shake, each cropped out of a detailed still picture at a known speed."""

from pathlib import Path

import numpy as np
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


def thin_lines(seconds: float = 4.0, fps: int = 30) -> np.ndarray:
    """A still camera on flat colour areas (sky, wall, floor) with a still horizon and a few
    thin things moving each their own way: a wire, a pole, a line, a dot."""
    import cv2

    frames = []
    for i in range(round(seconds * fps)):
        t = i / fps
        f = np.zeros((H, W, 3), np.uint8)
        f[:140], f[140:230], f[230:] = (70, 110, 160), (120, 120, 110), (60, 90, 50)
        cv2.line(f, (0, 140), (W, 138), (200, 200, 200), 1)
        cv2.line(f, (int(20 + 25 * t), 40), (int(60 + 25 * t), 44), (240, 240, 240), 1)
        cv2.line(f, (int(150 - 12 * t), 180), (int(150 - 12 * t), 220), (30, 30, 30), 2)
        cv2.line(f, (90, int(260 + 10 * t)), (140, int(262 + 10 * t)), (230, 230, 200), 1)
        cv2.circle(f, (int(40 + 15 * t), int(100 - 8 * t)), 2, (255, 255, 255), -1)
        frames.append(f)
    return np.stack(frames)


def test_flat_colour_with_thin_moving_lines_is_static(media_dir, decode):
    """Straight edges pin motion in one direction only and a few moving things outvote a
    flat still background: weak evidence gives ``static`` with low confidence."""
    from analyzers.core.synth import encode_frames

    media = decode(encode_frames(media_dir / "thin_lines.mp4", thin_lines()))
    rows = analyze_rows(CameraAnalysis, media)
    assert [r["motion"] for r in rows] == ["static"] * 4
    assert all(r["flow_confidence"] is None or r["flow_confidence"] < 0.5 for r in rows)


def test_fades_do_not_move_the_camera(media_dir, decode, texture):
    """A slow pan that fades in: the fade's frames are no measure of motion (no shake)."""
    segs = [Segment(texture(51), 3.0, vf=f"crop={W}:{H}:x='{W}+t*40':y={H},fade=t=in:st=0:d=0.8")]
    rows = analyze_rows(
        CameraAnalysis, decode(make_clip(media_dir / "fadepan.mp4", segs, size=SMALL))
    )
    assert [r["motion"] for r in rows][1:] == ["pan_right", "pan_right"]
    assert "shake" not in [r["motion"] for r in rows]
