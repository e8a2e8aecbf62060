"""visual_effects: one clip with every effect at a known time (ffmpeg filters), each found
in its seconds and nowhere else."""

from pathlib import Path

import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.visual.visual_effects import VisualEffects
from tests.conftest import SMALL, analyze_rows, signals_for

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


def no_effect_segments(tx) -> list[Segment]:
    """Shots with no editing effect that naive detectors take for one: saturated colour,
    a still tripod shot with sensor noise after a pan stops, black frames after a fade
    (the fade is the only effect), a handheld pan whose speed wanders."""
    wander = "60+40*t+25*sin(t*2.5)+6*sin(t*11)"
    return [
        Segment(tx(61), 2.0, vf=pan("t*30") + ",eq=saturation=2.5"),  # 0-2
        Segment("testsrc2", 2.0),  # 2-4
        Segment(tx(62), 3.0, vf=pan("min(t,1)*60") + ",noise=alls=6:allf=t"),  # 4-7 tripod
        Segment("smptebars", 2.0, vf="fade=t=out:st=1.0:d=0.5"),  # 7-9: fade out 8-8.5, black
        Segment(tx(63), 3.0, vf=f"crop={W}:{H}:x='{wander}':y='{H}+8*sin(t*3)'"),  # 9-12
    ]


def test_no_effect_where_there_is_none(media_dir: Path, decode, texture):
    clip = make_clip(media_dir / "no_effects.mp4", no_effect_segments(texture), size=SMALL)
    found = VisualEffects().detect(
        media := decode(clip), VisualEffects.make_config(), signals_for(VisualEffects, media)
    )
    assert [e["kind"] for e in found] == ["fade_out"], found
    assert found[0]["start"] == pytest.approx(8.0, abs=0.25)


def test_tints_and_a_noisy_freeze_are_found(media_dir: Path, decode, texture):
    """A warm grade, sepia and a teal grade are colour filters; a frame held for a second,
    its noise included, is a freeze."""
    segs = [
        Segment(tx := texture(64), 1.0, vf=pan("t*30") + ",colorbalance=rs=.3:bs=-.3:rm=.3:bm=-.3:rh=.2:bh=-.2"),
        Segment(tx, 1.0, vf=pan("t*30") + ",colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0"
                ":.272:.534:.131"),
        Segment(tx, 1.0, vf=pan("t*30") + ",colorbalance=rs=-.3:gs=.1:bs=.3:rm=-.3:bm=.3:rh=-.2:bh=.2"),
        Segment(texture(65), 2.0, vf=pan("t*60") + ",noise=alls=6:allf=t,loop=loop=30:size=1:"
                "start=15,setpts=N/30/TB"),  # moving 3-3.5, held 3.5-4.5
    ]  # fmt: skip
    rows = analyze_rows(VisualEffects, decode(make_clip(media_dir / "tints.mp4", segs, size=SMALL)))
    assert [r["kinds"] for r in rows] == [
        ["color_filter"],
        ["color_filter"],
        ["color_filter"],
        ["freeze"],
        ["freeze"],
    ]
    freeze = next(e for r in rows for e in r["effects"] if e["kind"] == "freeze")
    # the encoder spends a few frames refining a held picture (its blocks still change by
    # a fraction of a grey level), so the freeze is seen up to 0.3 s late, never early
    assert 3.5 - 0.05 <= freeze["start"] <= 3.5 + 0.3, freeze
    assert freeze["end"] == pytest.approx(4.5, abs=0.1), freeze
