"""color_analysis on solid-colour seconds whose colour is known."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.core.runner import run_analyzer
from analyzers.core.synth import Segment, make_clip
from analyzers.visual.color_analysis import ColorAnalysis, colorfulness
from tests.conftest import SMALL, rgb_close

SEGMENTS = [  # (lavfi colour, expected RGB, seconds)
    ("0xE03C31", (0xE0, 0x3C, 0x31), 2),
    ("0x2E7D32", (0x2E, 0x7D, 0x32), 2),
    ("0x1565C0", (0x15, 0x65, 0xC0), 2),
    ("0x808080", (0x80, 0x80, 0x80), 2),
]


@pytest.fixture(scope="module")
def table(media_dir: Path, decode):
    clip = make_clip(
        media_dir / "colors.mp4",
        [Segment(f"color=c={c}", float(n)) for c, _, n in SEGMENTS],
        size=SMALL,
    )
    media = decode(clip)
    return run_analyzer(ColorAnalysis, media).table.to_pylist()


def test_solid_seconds_report_their_colour(table):
    expected = [rgb for _, rgb, n in SEGMENTS for _ in range(n)]
    assert len(table) == len(expected) == 8
    for row, rgb in zip(table, expected, strict=True):
        assert rgb_close(row["dominant_rgb"], rgb), (row["second"], row["dominant_rgb"], rgb)
        assert row["palette"][0]["share"] > 0.95  # one colour fills the frame
        assert row["dominant_hex"].startswith("#") and len(row["dominant_hex"]) == 7


def test_brightness_saturation_warmth_follow_the_colour(table):
    red, green, blue, grey = table[0], table[2], table[4], table[6]
    # HSV of 0xE03C31: V = 224/255, S = 1 - 49/224
    assert red["brightness"] == pytest.approx(224 / 255, abs=0.04)
    assert red["saturation"] == pytest.approx(1 - 49 / 224, abs=0.05)
    assert grey["saturation"] < 0.05 and grey["colorfulness"] < 3
    assert red["warmth"] > 0.4 and blue["warmth"] < -0.3
    assert red["mood"].endswith("warm") and blue["mood"].endswith("cool")
    for row, (_, (r, g, b), _) in zip((red, green, blue), SEGMENTS, strict=False):
        # a flat colour has no spread: 0.3 * hypot(R - G, (R + G) / 2 - B)
        want = 0.3 * float(np.hypot(r - g, (r + g) / 2 - b))
        assert row["colorfulness"] == pytest.approx(want, abs=3.0)


def test_colorfulness_reference_values():
    grey = np.full((8, 8, 3), 128, np.uint8)
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert colorfulness(grey) == 0
    # pure red: rg = 255, yb = 127.5, no spread: 0.3 * hypot(255, 127.5)
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5), rel=1e-4)
