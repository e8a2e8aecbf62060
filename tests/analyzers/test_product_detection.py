"""product_detection: a brand name on screen from 1 s to 3 s (read by real OCR weights)
becomes a product row with its box in exactly those seconds; brand matching on known
strings; CLIP's real architecture (random weights here) scores its prompts through the
zero-shot path (an image embedding equal to a prompt's picks that prompt), and a
checkpoint in a model home loads as real."""

from pathlib import Path

import numpy as np
import pytest
import torch

from analyzers.core import Models
from analyzers.core.clip import CLIP_WEIGHTS, load_clip, zero_shot
from analyzers.core.runner import run_analyzer
from analyzers.core.synth import Segment, make_clip
from analyzers.visual.composition_analysis import CompositionAnalysis
from analyzers.visual.product_detection import (
    BRANDS,
    VOCABULARY,
    ProductDetection,
    match_brands,
    product_label,
)
from resources.models import ModelStore

FONT = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf")
FAST = {"ocr": {"backend": "rapidocr"}, "objects": {"size": "n"}}


@pytest.fixture(scope="module")
def brand_clip(media_dir):
    """5 s, 360 x 640, dark blue; "NIKE AIR" in large white letters, centred at 40% of the
    height, from 1 s to 3 s."""
    text = (
        f"drawtext=fontfile={FONT}:text='NIKE AIR':fontsize=44:fontcolor=white"
        ":x=(w-text_w)/2:y=h*0.4-text_h/2:enable='between(t,1,3)'"
    )
    return make_clip(media_dir / "brand.mp4", [Segment("color=c=0x203060", 5.0, vf=text)],
                     size=(360, 640))  # fmt: skip


def test_brand_on_screen_is_a_product_while_it_is_there(brand_clip, decode):
    out = run_analyzer(ProductDetection, decode(brand_clip, "brand-0"), None, FAST)
    rows = out.table.to_pylist()
    assert len(rows) == 5
    for r in rows:
        ocr = [p for p in r["products"] if p["source"] == "ocr"]
        if r["second"] in (1, 2):
            assert [p["label"] for p in ocr] == ["Nike"] and r["brands"] == ["Nike"]
            x0, y0, x1, y1 = ocr[0]["box"]
            assert x0 < 0.5 < x1 and y0 < 0.4 < y1  # where the words were drawn
            assert 0.5 < ocr[0]["score"] <= 1
            assert r["product_screen_share"] >= (x1 - x0) * (y1 - y0) * 0.9
        else:
            assert ocr == [] and r["brands"] == []
        assert r["n_products"] == len(r["products"])
        assert {p["source"] for p in r["products"]} <= {"yolo", "clip", "ocr"}
        for p in r["products"]:
            if p["source"] == "clip":
                assert p["box"] is None and p["label"] in {product_label(v) for v in VOCABULARY}


def test_brands_matched_in_text():
    def names(text):
        return [b for b, _ in match_brands(text, BRANDS, 0.85)]

    assert names("Just do it - NIKE") == ["Nike"]
    assert names("ice cold coca cola") == ["Coca-Cola"]  # hyphen, case
    assert names("new SAMSUNC galaxy") == ["Samsung"]  # an OCR misread of one letter
    assert names("pineapple juice") == []  # a brand inside a word is not the brand
    assert names("the ordinary serum") == ["The Ordinary"]
    assert names("ordinary day") == []  # a phrase brand needs all its words
    assert names("H&M haul") == ["H&M"]


def test_clip_zero_shot_plumbing_on_the_real_architecture():
    with Models(None, "cpu") as models:
        clip, mode = load_clip(models, "ViT-B-32")
        assert mode == "random"
        prompts = ["a photo of sneakers", "a photo of a laptop", "a photo of a room"]
        texts = clip.texts(prompts)
        assert texts.shape == (3, 512) and np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
        p = zero_shot(texts[[1]], texts, 100.0)  # an image embedding equal to prompt 1's
        assert p.shape == (1, 3) and abs(p.sum() - 1) < 1e-5 and p.argmax() == 1
        frames = [np.full((640, 360, 3), c, np.uint8) for c in (0, 128)]
        images = clip.images(frames)
        assert images.shape == (2, 512) and np.allclose(
            np.linalg.norm(images, axis=1), 1, atol=1e-5
        )


def test_clip_checkpoint_in_the_model_home_loads_as_real(tmp_path, brand_clip, decode):
    import open_clip

    spec = CLIP_WEIGHTS["ViT-B-32"]
    assert spec.name == "clip-vit-b-32" and spec.license.startswith("MIT")
    torch.manual_seed(1)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    (tmp_path / spec.relpath).parent.mkdir(parents=True)
    torch.save(model.state_dict(), tmp_path / spec.relpath)
    store = ModelStore(model_home=str(tmp_path), weights="auto")
    media = decode(brand_clip, "brand-0")
    out = run_analyzer(ProductDetection, media, store, FAST)
    assert out.meta["weights_mode"] == "random"  # YOLO is still random here
    with Models(store, "cpu") as models:
        clip, mode = load_clip(models, "ViT-B-32")
        assert mode == "real"
        sd = clip.model.state_dict()
        assert all(torch.equal(sd[k], v) for k, v in model.state_dict().items())
    # with real CLIP weights composition takes its shot type from CLIP's prompts
    comp = run_analyzer(CompositionAnalysis, media, store, FAST).table.to_pylist()
    assert {r["shot_type_source"] for r in comp} == {"clip"}
    assert {r["shot_type"] for r in comp} <= {"close_up", "medium", "wide"}
