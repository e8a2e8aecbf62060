"""cut_analysis: hard cuts at known times found within one frame, none in fades, motion
or flashes."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.signals.shots import ShotsConfig, detect_cuts
from analyzers.visual.cut_analysis import CutAnalysis
from tests.conftest import SMALL, analyze_rows

FPS = 30
# shots: moving test pattern | mandelbrot | bars that fade to black | fade in from black
# (no cut: black meets black) | hard cut to a moving pattern | hard cut to solid red
SEGMENTS = [
    Segment("testsrc2", 2.0),
    Segment("mandelbrot", 1.5),
    Segment("smptebars", 2.0, vf="fade=t=out:st=1.2:d=0.8"),
    Segment("testsrc", 2.0, vf="fade=t=in:st=0:d=0.8"),
    Segment("rgbtestsrc", 1.0),
    Segment("color=c=red", 1.5),
]
TRUE_CUTS = [2.0, 3.5, 7.5, 8.5]


@pytest.fixture(scope="module")
def rows(media_dir: Path, decode):
    clip = make_clip(media_dir / "cuts.mp4", SEGMENTS, size=SMALL, fps=FPS)
    return analyze_rows(CutAnalysis, decode(clip))


def test_every_cut_found_within_one_frame_and_none_extra(rows):
    found = [t for r in rows for t in r["cut_at"]]
    assert len(found) == len(TRUE_CUTS), found
    for got, want in zip(found, TRUE_CUTS, strict=True):
        assert abs(got - want) <= 1 / FPS + 1e-6, (got, want)


def test_rows_count_cuts_and_shots(rows):
    assert len(rows) == 10
    assert [r["cuts"] for r in rows] == [0, 0, 1, 1, 0, 0, 0, 1, 1, 0]
    # shot at the start of each second: cuts at 2.0, 3.5, 7.5, 8.5
    assert [r["shot_id"] for r in rows] == [0, 0, 1, 1, 2, 2, 2, 2, 3, 4]
    assert rows[0]["shot_length"] == pytest.approx(2.0, abs=1 / FPS)
    assert rows[9]["shot_length"] == pytest.approx(1.5, abs=1 / FPS)


def test_a_single_flash_frame_is_not_a_cut():
    frames = np.full((40, 18, 32, 3), 60, np.uint8)
    frames[:, :, :16, 0] = 200  # some structure
    frames[20] = 255  # one white frame
    assert detect_cuts(frames, FPS, ShotsConfig()) == []
    frames[30:] = np.roll(frames[30:], 8, axis=2)  # a real change stays a cut
    frames[30:, :, :, 2] = 180
    assert detect_cuts(frames, FPS, ShotsConfig()) == [30]


def test_transitions_are_reported_apart_from_cuts(media_dir: Path, decode, texture):
    """Fade out 4.7-5.5 s, fade in 5.5-6.3 s (black meets black: no cut), a 1 s dissolve
    10-11 s, a hard cut at 12 s between two panning shots of detailed pictures (each
    frame differs a lot from the last, so the content ratio alone would not fire)."""
    w, h = SMALL
    segments = [
        Segment("testsrc2", 2.0),
        Segment("mandelbrot", 1.5),
        Segment("smptebars", 2.0, vf="fade=t=out:st=1.2:d=0.8"),
        Segment("testsrc", 2.0, vf="fade=t=in:st=0:d=0.8"),
        Segment("rgbtestsrc", 2.0),
        Segment("color=c=red", 1.5),
        Segment("testsrc2", 2.0, dissolve=1.0),
        Segment(texture(21), 2.0, vf=f"crop={w}:{h}:x='t*100':y={h}"),
        Segment(texture(22), 2.0, vf=f"crop={w}:{h}:x={w}:y='{2 * h}-t*100'"),
    ]
    media = decode(make_clip(media_dir / "transitions.mp4", segments, size=SMALL, fps=FPS))
    rows = analyze_rows(CutAnalysis, media)
    cuts = [t for r in rows for t in r["cut_at"]]
    assert cuts == pytest.approx([2.0, 3.5, 7.5, 9.5, 12.0, 14.0], abs=1 / FPS + 1e-6)
    found = [(t["kind"], t["start"], t["end"]) for r in rows for t in r["transitions"]]
    want = [("fade_out", 4.7, 5.5), ("fade_in", 5.5, 6.3), ("dissolve", 10.0, 11.0)]
    assert [k for k, _, _ in found] == [k for k, _, _ in want], found
    for (_, s0, e0), (_, s1, e1) in zip(found, want, strict=True):
        # a fade's black end is where luma drops under black_luma, a few frames early
        assert abs(s0 - s1) <= 3 / FPS + 1e-6 and abs(e0 - e1) <= 4 / FPS + 1e-6, found
    assert [r["second"] for r in rows if r["in_transition"]] == [4, 5, 6, 10]


def test_fade_edges_sit_on_the_luma_ramp(media_dir: Path, decode, texture):
    """Fades next to a zoom, into a slow pan, out of a shot that darkens slowly on its own
    and into one that brightens slowly: each edge within 0.25 s of the ramp (the shots'
    own drift in brightness is no part of the fade)."""
    w, h = SMALL
    zoom = f"d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={w}x{h}:fps=30"
    segments = [
        Segment(texture(31), 3.0, vf=f"zoompan=z='1+0.2*in/30':{zoom},fade=t=out:st=2.2:d=0.8"),
        Segment(texture(32), 3.0, vf=f"crop={w}:{h}:x='{w}+t*15':y={h},fade=t=in:st=0:d=0.8"),
        Segment("testsrc2", 3.0, vf="eq=brightness='-0.06*t':eval=frame,fade=t=out:st=2.2:d=0.8"),
        Segment("testsrc2", 3.0, vf="eq=brightness='-0.3+0.06*t':eval=frame,fade=t=in:d=0.8"),
    ]
    media = decode(make_clip(media_dir / "fade_edges.mp4", segments, size=SMALL, fps=FPS))
    rows = analyze_rows(CutAnalysis, media)
    found = [(t["kind"], t["start"], t["end"]) for r in rows for t in r["transitions"]]
    want = [("fade_out", 2.2, 3.0), ("fade_in", 3.0, 3.8), ("fade_out", 8.2, 9.0)]
    want += [("fade_in", 9.0, 9.8)]
    assert [k for k, _, _ in found] == [k for k, _, _ in want], found
    for (_, s0, e0), (_, s1, e1) in zip(found, want, strict=True):
        assert abs(s0 - s1) <= 0.25 and abs(e0 - e1) <= 0.25, found
