"""background_segmentation: MediaPipe's selfie mask (real weights, in the wheel) finds the
person in a portrait clip and nothing in an empty frame; a plain background reads as a
studio and a busy one does not; SegFormer's real architecture (random weights here) runs
through the analyzer, loads from a model home as real, and is named when missing; the
background kinds follow from known class shares."""

import cv2
import numpy as np
import pytest

from analyzers.core import MissingWeightsError
from analyzers.core.runner import run_analyzer
from analyzers.core.synth import Segment, make_clip, moving_pictures_clip
from analyzers.visual.background_segmentation import (
    ADE20K,
    SEGFORMER_WEIGHTS,
    BackgroundSegmentation,
    SegmentationConfig,
    background_kind,
    segformer,
)
from resources.models import ModelStore
from tests.conftest import astronaut_portrait

PORTRAIT_W = 220  # the portrait is 220 x 278 px in a 360 x 640 frame: 26.5% of it


@pytest.fixture(scope="module")
def clips(media_dir, texture):
    portrait = moving_pictures_clip(
        media_dir / "bg-portrait.mp4", [(astronaut_portrait(PORTRAIT_W), (70, 200), (70, 200))],
        3.0, background=(200, 200, 200),
    )  # fmt: skip
    empty = moving_pictures_clip(media_dir / "bg-empty.mp4", [], 3.0, background=(90, 140, 90))
    busy = make_clip(media_dir / "bg-busy.mp4", [Segment(texture(11, 2), 3.0)], size=(360, 640))
    return portrait, empty, busy


def test_person_found_in_a_portrait_and_not_in_an_empty_frame(clips, decode, texture):
    portrait, empty, busy = clips
    config = {"background_segmentation": {"variant": "b0"}}
    person = run_analyzer(BackgroundSegmentation, decode(portrait, "bg-portrait"), None, config)
    rows = person.table.to_pylist()
    pic_share = PORTRAIT_W * round(PORTRAIT_W * 240 / 190) / (360 * 640)
    assert len(rows) == 3 and person.meta["weights_mode"] == "random"
    for r in rows:  # most of the picture is the astronaut, none of the grey around it
        assert 0.4 * pic_share < r["person_fraction"] < pic_share + 0.02, r
    nobody = run_analyzer(BackgroundSegmentation, decode(empty, "bg-empty"), None, config)
    for r in nobody.table.to_pylist():
        assert r["person_fraction"] < 0.01
        # a flat wall behind nobody: a studio backdrop, judged from its pixels
        assert r["background_std"] < 1 and r["background_kind"] == "studio"
        shares = [c["share"] for c in r["top_classes"]]
        assert len(shares) == 3 and shares == sorted(shares, reverse=True) and sum(shares) <= 1.0001
        assert {c["cls"] for c in r["top_classes"]} <= set(ADE20K)
    busy_rows = run_analyzer(BackgroundSegmentation, decode(busy, "bg-busy"), None, config)
    grey = cv2.cvtColor(cv2.imread(texture(11, 2).removeprefix("image=")), cv2.COLOR_BGR2GRAY)
    for r in busy_rows.table.to_pylist():  # the picture's own spread of grey levels
        assert r["background_std"] == pytest.approx(grey.std(), abs=2.0)
        assert r["background_std"] > SegmentationConfig().studio_std
        assert r["background_kind"] is None  # not plain, and random classes decide nothing


def test_background_kind_from_known_shares():
    c = SegmentationConfig()
    assert background_kind({"monitor": 0.2, "wall": 0.5, "screen": 0.1}, 40.0, c) == "screen"
    assert background_kind({"sky": 0.3, "tree": 0.2, "wall": 0.1}, 40.0, c) == "outdoor"
    assert background_kind({"wall": 0.6, "floor": 0.2, "sky": 0.1}, 40.0, c) == "indoor"
    assert background_kind({"wall": 0.1, "person": 0.05}, 5.0, c) == "studio"
    assert background_kind({"wall": 0.1}, 40.0, c) is None


def test_segformer_loads_from_a_model_home_and_is_named_when_missing(tmp_path, clips, decode):
    spec = SEGFORMER_WEIGHTS["b0"]
    with pytest.raises(MissingWeightsError, match="models pull segformer-b0-ade"):
        ModelStore(model_home=str(tmp_path), weights="real").resolve(spec)
    assert "non-commercial" in spec.license and spec.hf_repo.startswith("nvidia/segformer-b0")
    # a Hugging Face folder of the architecture (as `models pull` leaves it) loads as real
    segformer(None, "b0", "cpu").save_pretrained(tmp_path / spec.relpath)
    store = ModelStore(model_home=str(tmp_path), weights="real")
    out = run_analyzer(BackgroundSegmentation, decode(clips[1], "bg-empty"), store)
    assert out.meta["weights_mode"] == "real" and len(out.table) == 3
    model = segformer(str(tmp_path / spec.relpath), "b0", "cpu")
    assert model.config.num_labels == 150 and model.config.id2label[149] == "flag"
    n = sum(p.numel() for p in model.parameters())
    assert 3.5e6 < n < 4.0e6  # MiT-b0 + its all-MLP head: SegFormer-B0's 3.8 M parameters
    assert np.isfinite([p.detach().sum().item() for p in model.parameters()]).all()
