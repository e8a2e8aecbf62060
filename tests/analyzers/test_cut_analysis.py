"""cut_analysis: hard cuts at known times found within one frame, none in fades, motion
or flashes."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.core import validate
from analyzers.core.synth import Segment, make_clip
from analyzers.visual.cut_analysis import CutAnalysis, CutConfig, detect_cuts
from tests.conftest import SMALL

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
    media = decode(clip)
    an = CutAnalysis()
    table = validate(
        an.analyze(media, CutAnalysis.make_config()),
        analyzer=an.name,
        output_schema=an.output_schema,
        video_id=media.video_id,
        n_seconds=media.n_seconds,
    )
    return table.to_pylist()


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
    assert detect_cuts(frames, FPS, CutConfig()) == []
    frames[30:] = np.roll(frames[30:], 8, axis=2)  # a real change stays a cut
    frames[30:, :, :, 2] = 180
    assert detect_cuts(frames, FPS, CutConfig()) == [30]
