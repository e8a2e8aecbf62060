"""content_quality: blurred, noisy, dark and starved-bitrate versions of one clip all rank
below the clean one, each on the component it damaged."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.core.synth import Segment, make_clip
from analyzers.visual.content_quality import ContentQuality, blur_effect
from tests.conftest import SMALL, analyze_rows

W, H = SMALL
PAN = f"crop={W}:{H}:x='t*40':y={H}"  # slow pan over a detailed picture
VARIANTS = {
    "clean": ("", 18),
    "blurred": (",gblur=sigma=3", 18),
    "noisy": (",noise=alls=40:allf=t", 18),
    "dark": (",eq=brightness=-0.45", 18),
    "starved": ("", 51),  # the encoder's coarsest quantizer: blocks and few bits
}


@pytest.fixture(scope="module")
def results(media_dir: Path, decode, texture):
    out = {}
    for name, (vf, crf) in VARIANTS.items():
        clip = make_clip(
            media_dir / f"quality-{name}.mp4",
            [Segment(texture(31), 3.0, vf=PAN + vf)],
            size=SMALL,
            crf=crf,
        )
        rows = analyze_rows(ContentQuality, decode(clip))
        out[name] = {
            k: float(np.mean([r[k] for r in rows]))
            for k in rows[0]
            if k not in ("video_id", "second")
        }
    return out


def test_every_damaged_variant_ranks_below_the_clean_one(results):
    clean = results["clean"]["quality_score"]
    for name in ("blurred", "noisy", "dark", "starved"):
        assert results[name]["quality_score"] < clean - 5, (
            name,
            results[name]["quality_score"],
            clean,
        )


@pytest.mark.parametrize(
    ("variant", "component"),
    [
        ("blurred", "sharpness"),
        ("noisy", "noise"),
        ("dark", "exposure"),
        ("starved", "bitrate"),
        ("starved", "blockiness"),
    ],
)
def test_the_damage_shows_in_its_component(results, variant, component):
    others = [results[v][component] for v in VARIANTS if v != variant]
    assert results[variant][component] < min(others), (variant, component, results)


def test_blur_matches_scikit_image():
    from skimage.measure import blur_effect as reference

    rng = np.random.default_rng(0)
    import cv2

    img = cv2.resize(rng.random((40, 30)).astype(np.float32), (180, 320)) * 255
    for sigma in (0, 1, 3):
        g = cv2.GaussianBlur(img, (0, 0), sigma) if sigma else img
        g = g.astype(np.uint8)
        assert blur_effect(g) == pytest.approx(reference(g / 255.0), abs=0.03)
