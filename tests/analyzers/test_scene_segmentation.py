"""scene_segmentation: shots grouped by look. A-B-A-C-A returns to scene A each time,
and two different angles of one place (two crops of one picture) stay one scene."""

from pathlib import Path

import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.visual.scene_segmentation import SceneSegmentation
from tests.conftest import SMALL, analyze_rows

W, H = SMALL


@pytest.fixture(scope="module")
def rows(media_dir: Path, decode, texture):
    place = texture(51)  # one "location", shot from two angles
    segments = [
        Segment(place, 2.0, vf=f"crop={W}:{H}:x=0:y=0"),  # A, angle 1
        Segment(place, 2.0, vf=f"crop={W}:{H}:x={2 * W}:y={2 * H}"),  # A, angle 2
        Segment("smptebars", 2.0),  # B
        Segment(place, 2.0, vf=f"crop={W}:{H}:x={W}:y={H}"),  # A again
        Segment(
            "color=c=0x2050C0", 2.0, vf="drawbox=x=40:y=80:w=100:h=100:color=yellow:t=fill"
        ),  # C
        Segment(place, 2.0, vf=f"crop={W}:{H}:x='t*40':y=0"),  # A, panning
    ]
    return analyze_rows(
        SceneSegmentation, decode(make_clip(media_dir / "scenes.mp4", segments, size=SMALL))
    )


def test_a_b_a_returns_to_scene_a(rows):
    assert [r["scene_id"] for r in rows] == [0, 0, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0]
    assert [r["shot_id"] for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert {r["n_scenes"] for r in rows} == {3}


def test_scene_change_only_where_the_scene_changes(rows):
    # the cut at 2 s is another angle of the same place: no scene change there
    assert [r["second"] for r in rows if r["scene_change"]] == [4, 6, 8, 10]
    assert [r["second"] for r in rows if r["returns_to_scene"]] == [6, 7, 10, 11]
