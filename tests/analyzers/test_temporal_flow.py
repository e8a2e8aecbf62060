"""temporal_flow: a clip that is still, then cuts every half second over a loud tone, then
still again peaks in its middle; a clip that opens on the fast part has the stronger hook."""

from pathlib import Path

import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.multimodal.temporal_flow import TemporalFlow
from tests.conftest import SMALL, analyze_rows

FAST = [
    "testsrc2",
    "smptebars",
    "color=c=red",
    "rgbtestsrc",
    "mandelbrot",
    "color=c=blue",
    "testsrc",
    "smptehdbars",
]


def still(tx, seed: int, seconds: float) -> Segment:
    return Segment(tx(seed, 1), seconds)


def burst() -> list[Segment]:
    return [Segment(src, 0.5) for src in FAST]  # 8 shots in 4 s: cuts every 0.5 s


def tone(start: float, end: float) -> str:
    # quiet (-46 dBFS) except a loud (-9 dBFS) stretch from start to end
    return f"aevalsrc='if(between(t,{start},{end}),0.5,0.007)*sin(2*PI*440*t)':s=44100:d=12"


@pytest.fixture(scope="module")
def middle(media_dir: Path, decode, texture):
    segs = [still(texture, 61, 4.0), *burst(), still(texture, 62, 4.0)]
    clip = make_clip(media_dir / "flow-middle.mp4", segs, size=SMALL, audio_lavfi=tone(4, 8))
    return analyze_rows(TemporalFlow, decode(clip))


@pytest.fixture(scope="module")
def opening(media_dir: Path, decode, texture):
    segs = [*burst(), still(texture, 63, 8.0)]
    clip = make_clip(media_dir / "flow-opening.mp4", segs, size=SMALL, audio_lavfi=tone(0, 4))
    return analyze_rows(TemporalFlow, decode(clip))


def test_pace_follows_the_cuts_and_the_loudness(middle):
    pace = [r["pace"] for r in middle]
    assert min(pace[4:8]) > max(pace[:3] + pace[9:])
    assert [r["cut_density"] for r in middle][5:7] == pytest.approx([2.0, 2.0])
    assert middle[0]["cut_density"] == 0
    energy = [r["audio_energy"] for r in middle]
    assert energy[5] == pytest.approx((-9.03 + 60) / 60, abs=0.02)
    assert energy[0] == pytest.approx((-46.1 + 60) / 60, abs=0.02)


def test_story_beats(middle):
    beats = [r["story_beat"] for r in middle]
    assert beats[0] == "intro" and beats[-1] == "outro"
    peak = [s for s, b in enumerate(beats) if b == "peak"]
    assert peak and set(peak) <= set(range(3, 9)) and {5, 6} <= set(peak)
    order = ["intro", "build", "peak", "outro"]
    assert [order.index(b) for b in beats] == sorted(order.index(b) for b in beats)


def test_hook_window_and_strength(middle, opening):
    assert [r["hook_window"] for r in middle] == [True] * 3 + [False] * 9
    assert [r["hook_strength"] is None for r in middle] == [False] * 3 + [True] * 9
    assert opening[0]["hook_strength"] > 80
    assert middle[0]["hook_strength"] < 20
