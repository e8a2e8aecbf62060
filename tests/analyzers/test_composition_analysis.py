"""composition_analysis: the astronaut's face placed on a rule-of-thirds point scores high,
the same face centred scores low (faces from MediaPipe's real detector; YOLO and CLIP are
random here, so the subject is the face and the shot type comes from its size); the
geometry on known inputs: thirds points, mirror-symmetric and one-sided pictures."""

import numpy as np
import pytest

from analyzers.core.runner import run_analyzer
from analyzers.core.synth import moving_pictures_clip
from analyzers.signals.faces import Face
from analyzers.signals.objects import Detection
from analyzers.visual.composition_analysis import (
    CompositionAnalysis,
    CompositionConfig,
    geometric_shot,
    main_subject,
    symmetry,
    thirds_score,
)
from tests.conftest import astronaut_portrait

W, H = 360, 640
FAST = {"ocr": {"backend": "rapidocr"}, "objects": {"size": "n"}}


def _placed(media_dir, name: str, width: int, centre: tuple[float, float]):
    """A 3 s clip of the portrait whose face centre (at 50% across, 38% down the portrait,
    measured) sits at ``centre`` (normalized) of a flat grey frame."""
    pic = astronaut_portrait(width)
    x = round(centre[0] * W - 0.50 * pic.shape[1])
    y = round(centre[1] * H - 0.38 * pic.shape[0])
    return moving_pictures_clip(media_dir / f"comp-{name}.mp4", [(pic, (x, y), (x, y))], 3.0)


@pytest.mark.parametrize(
    "name, centre, lo, hi",
    [("thirds", (1 / 3, 1 / 3), 0.75, 1.0), ("centre", (0.5, 0.5), 0.0, 0.25)],
)
def test_face_on_a_third_scores_high_and_centred_low(media_dir, decode, name, centre, lo, hi):
    clip = _placed(media_dir, name, 120, centre)
    out = run_analyzer(CompositionAnalysis, decode(clip, f"comp-{name}"), None, FAST)
    rows = out.table.to_pylist()
    assert len(rows) == 3
    for r in rows:
        assert r["subject_kind"] == "face"
        x0, y0, x1, y1 = r["subject_box"]
        assert abs((x0 + x1) / 2 - centre[0]) < 0.05 and abs((y0 + y1) / 2 - centre[1]) < 0.05
        assert lo <= r["thirds_score"] <= hi, r
        assert abs(r["subject_area"] - (x1 - x0) * (y1 - y0)) < 1e-3
        assert abs(r["headroom"] - y0) < 1e-3
        # a face a tenth of the frame high: a medium shot, from geometry (CLIP is random)
        assert (r["shot_type"], r["shot_type_source"]) == ("medium", "geometry")


def test_a_big_face_is_a_close_up_and_an_empty_frame_has_no_subject(media_dir, decode):
    big = _placed(media_dir, "close", 330, (0.5, 0.4))
    rows = run_analyzer(
        CompositionAnalysis, decode(big, "comp-close"), None, FAST
    ).table.to_pylist()
    assert {r["shot_type"] for r in rows} == {"close_up"}
    empty = moving_pictures_clip(media_dir / "comp-empty.mp4", [], 2.0)
    rows = run_analyzer(
        CompositionAnalysis, decode(empty, "comp-empty"), None, FAST
    ).table.to_pylist()
    for r in rows:
        assert r["subject_kind"] is None and r["thirds_score"] is None and r["headroom"] is None
        assert r["shot_type"] == "wide" and r["symmetry"] == 1.0  # a flat frame is symmetric


def test_thirds_score_geometry():
    for tx in (1 / 3, 2 / 3):
        for ty in (1 / 3, 2 / 3):
            assert thirds_score(tx, ty) == pytest.approx(1.0)
    assert thirds_score(0.5, 0.5) == pytest.approx(0.0)
    assert thirds_score(0.0, 0.0) == 0.0  # a corner is farther than the centre
    half = (1 / 3 + 1 / 12, 1 / 3 + 1 / 12)  # halfway from a third point to the centre
    assert thirds_score(*half) == pytest.approx(0.5)


def test_symmetry_of_known_pictures():
    rng = np.random.default_rng(3)
    left = (rng.random((640, 180, 3)) * 255).astype(np.uint8)
    mirrored = np.concatenate([left, left[:, ::-1]], axis=1)
    assert symmetry(mirrored) > 0.98
    one_sided = np.full((640, 360, 3), 40, np.uint8)
    one_sided[:, :120] = 230  # a bright band down the left edge only
    assert symmetry(one_sided) < 0.1
    noise = (rng.random((640, 360, 3)) * 255).astype(np.uint8)
    assert symmetry(noise) < 0.3


def test_main_subject_prefers_a_person_and_frames_them_by_the_face():
    face = Face(1, (0.30, 0.20, 0.40, 0.26), 0.9, ())
    person = Detection((0.2, 0.15, 0.6, 0.95), 0.8, 0, "person")
    cup = Detection((0.6, 0.6, 0.9, 0.9), 0.9, 41, "cup")
    kind, box, point = main_subject([cup, person], [face], 0.4)
    assert kind == "person" and box == person.box and point == pytest.approx((0.35, 0.23))
    assert main_subject([cup], [], 0.4)[0] == "object"
    assert main_subject([Detection(person.box, 0.2, 0, "person")], [], 0.4) is None
    config = CompositionConfig()
    assert geometric_shot([Face(1, (0.3, 0.2, 0.7, 0.45), 0.9, ())], config) == "close_up"
    assert geometric_shot([], config) == "wide"
