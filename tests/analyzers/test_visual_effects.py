"""visual_effects: one clip with every effect at a known time (ffmpeg filters), each found
in its seconds and nowhere else."""

from pathlib import Path

import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.visual.visual_effects import VisualEffects
from tests.conftest import SMALL, analyze_rows

W, H = SMALL
ZOOM = f"d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={W}x{H}:fps=30"


def pan(speed: str) -> str:
    return f"crop={W}:{H}:x='{speed}':y={H}"


def segments(tx) -> list[Segment]:
    return [
        Segment(tx(41), 2.0, vf=pan("t*60") + ",fade=t=in:st=0:d=0.8"),  # fade in 0-0.8
        # one white frame at 3.0 s
        Segment(
            "testsrc2", 2.0, vf="drawbox=w=iw:h=ih:color=white:t=fill:enable='between(t,1.0,1.02)'"
        ),
        Segment(tx(42), 2.0, vf=pan("min(t,1)*60")),  # the pan stops dead: freeze 5-6
        Segment(tx(43), 2.0, vf=pan("t*20") + ",gblur=sigma=4:enable='gte(t,1)'"),  # blur 7-8
        Segment(tx(44), 1.0, vf=f"zoompan=z='1+in/30':{ZOOM}"),  # punch-in 8-9
        Segment(tx(45), 1.0, vf=pan("t*30")),
        Segment(tx(46), 2.0, vf=pan("if(lt(t,1),40*t,40+160*(t-1))")),  # 4x faster at 11
        Segment(tx(47), 2.0, vf=pan("t*30") + ",hue=s=0"),  # black and white 12-14
        Segment("testsrc2", 2.0, vf="fade=t=out:st=1.2:d=0.8"),  # fade out 15.2-16
    ]


EXPECTED = [
    ["fade_in"], [], [], ["flash"], [], ["freeze"], [], ["blur"], ["zoom_ramp"], [], [],
    ["speed_ramp"], ["color_filter"], ["color_filter"], [], ["fade_out"],
]  # fmt: skip


@pytest.fixture(scope="module")
def rows(media_dir: Path, decode, texture):
    clip = make_clip(media_dir / "effects.mp4", segments(texture), size=SMALL)
    return analyze_rows(VisualEffects, decode(clip))


def test_each_effect_in_its_seconds_and_nowhere_else(rows):
    assert [r["kinds"] for r in rows] == EXPECTED


def test_effect_times_and_intensity(rows):
    found = {e["kind"]: e for r in rows for e in r["effects"]}
    frame = 1 / 30
    assert found["flash"]["start"] == pytest.approx(3.0, abs=frame)
    assert found["flash"]["end"] - found["flash"]["start"] <= 2 * frame + 1e-6
    assert found["freeze"]["start"] == pytest.approx(5.0, abs=2 * frame)
    assert found["blur"]["start"] == pytest.approx(7.0, abs=frame)
    assert found["speed_ramp"]["end"] == pytest.approx(11.0, abs=3 * frame)
    assert (found["color_filter"]["start"], found["color_filter"]["end"]) == pytest.approx(
        (12.0, 14.0), abs=frame
    )
    assert found["fade_in"]["end"] == pytest.approx(0.8, abs=3 * frame)
    assert all(0 < e["intensity"] <= 1 for e in found.values())
