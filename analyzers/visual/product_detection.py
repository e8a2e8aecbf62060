"""Products and brands per second, fused from three sources:

- ``yolo``: the ``objects`` signal's detections of product-like COCO classes
  (``product_classes``: bottles, cups, phones, laptops, bags, food, ...), with their boxes;
- ``clip``: CLIP zero-shot over ``vocabulary`` (prompted as "a photo of {label}") against
  ``scene_prompts`` (a person, a room, a street, ...) on the ``clip`` signal's frame
  embeddings: a label counts when it beats every other prompt with a probability of at
  least ``min_clip_score``; whole-frame, so no box;
- ``ocr``: the ``ocr`` signal's lines matched against ``brands`` (case, spacing and
  punctuation aside; a brand of several words matches as a phrase, a single word as a whole
  word or, from 5 letters on, at ``brand_similarity`` similar), with the line's box.

Per second, from its last sampled frame: ``products`` [{label, score 0-1, source, box
normalized xyxy or null}], best first, one entry per label and source; ``brands`` (the
brand names on screen), ``product_screen_share`` (share of the frame the boxes of products
and brand text cover, 0-1), ``n_products``. With random CLIP weights (no checkpoint) the
``clip`` entries are noise; ``weights_mode`` says so.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.core.clip import prompt_probs
from analyzers.core.tracking import union_area
from analyzers.signals.clip import ClipEmbeddings
from analyzers.signals.objects import ObjectTracks
from analyzers.signals.ocr import Box, OcrReadings

# COCO classes a creator shows as a product (not people, vehicles, animals, furniture).
PRODUCT_CLASSES = (
    "backpack", "umbrella", "handbag", "tie", "suitcase", "sports ball", "skateboard",
    "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave",
    "oven", "toaster", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
VOCABULARY = (
    "a smartphone", "headphones", "a laptop", "a camera", "a smartwatch", "a game console",
    "sneakers", "a handbag", "sunglasses", "a t-shirt", "a dress", "a hoodie", "a cap",
    "lipstick", "a perfume bottle", "skincare cream", "a makeup palette", "a hair dryer",
    "a soda can", "a coffee cup", "an energy drink", "a bottle of water", "a snack bag",
    "a protein shake", "a kitchen blender", "a frying pan", "a book", "a toy", "a car",
)  # fmt: skip
SCENE_PROMPTS = (
    "a person talking", "a face", "a room", "a street", "a landscape", "a screen with text",
    "an empty background",
)  # fmt: skip
BRANDS = (
    "Nike", "Adidas", "Puma", "Apple", "iPhone", "Samsung", "Sony", "Coca-Cola", "Pepsi",
    "Red Bull", "Monster", "Starbucks", "McDonald's", "KFC", "Nutella", "Oreo", "Lay's",
    "L'Oreal", "Maybelline", "Sephora", "Fenty", "Dior", "Chanel", "Gucci", "Zara", "H&M",
    "Shein", "Amazon", "IKEA", "Lego", "Nintendo", "PlayStation", "Xbox", "Dyson", "GoPro",
    "Stanley", "Gymshark", "CeraVe", "The Ordinary", "Glossier",
)  # fmt: skip
PRODUCT_TYPE = pa.struct(
    [
        ("label", pa.string()),
        ("score", pa.float32()),
        ("source", pa.string()),
        ("box", pa.list_(pa.float32())),
    ]
)


@dataclass(frozen=True)
class ProductConfig(BaseConfig):
    """``product_classes``: COCO classes that count as products; ``min_detection``:
    their least score (0-1); ``vocabulary`` / ``scene_prompts``: CLIP's product labels and
    the non-product prompts they must beat; ``min_clip_score``: least winning probability
    (0-1); ``brands``: names matched in on-screen text; ``brand_similarity``: 0-1."""

    product_classes: tuple[str, ...] = PRODUCT_CLASSES
    min_detection: float = 0.35
    vocabulary: tuple[str, ...] = VOCABULARY
    scene_prompts: tuple[str, ...] = SCENE_PROMPTS
    min_clip_score: float = 0.3
    brands: tuple[str, ...] = BRANDS
    brand_similarity: float = 0.85


def product_label(phrase: str) -> str:
    """A vocabulary phrase as a product label, its article dropped ("an energy drink" ->
    "energy drink", "sneakers" as is)."""
    return phrase.removeprefix("a ").removeprefix("an ")


def _norm(text: str) -> str:
    """Lower case letters and digits, single spaces ("L'Oréal!" -> "l oréal")."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def match_brands(text: str, brands: tuple[str, ...], similarity: float) -> list[tuple[str, float]]:
    """The brands named in ``text`` with a score (1.0 exact, else the similarity)."""
    words = _norm(text).split()
    padded = f" {' '.join(words)} "
    found = []
    for brand in brands:
        b = _norm(brand)
        if not b:
            continue
        if f" {b} " in padded or b.replace(" ", "") in words:
            found.append((brand, 1.0))
            continue
        if " " in b or len(b) < 5:
            continue
        best = max((difflib.SequenceMatcher(None, b, w).ratio() for w in words), default=0.0)
        if best >= similarity:
            found.append((brand, round(best, 3)))
    return found


def _add(
    found: dict[tuple[str, str], dict[str, Any]],
    label: str,
    score: float,
    source: str,
    box: Box | None,
) -> None:
    """Keep the best-scoring entry per (label, source)."""
    k = (label, source)
    if k not in found or score > found[k]["score"]:
        found[k] = {"label": label, "score": round(float(score), 4), "source": source,
                    "box": None if box is None else [round(v, 4) for v in box]}  # fmt: skip


@register
class ProductDetection(FrameAnalyzer):
    """Products and brands per second (see module doc): ``products`` [{label, score,
    source (yolo, clip, ocr), box}], ``brands``, ``product_screen_share`` 0-1,
    ``n_products``."""

    name = "product_detection"
    version = "1"
    stage = "stage2_medium"
    Config = ProductConfig
    requires = ("objects", "ocr", "clip")
    model = "yolov8 classes + openclip zero-shot + ocr brand list"
    output_schema = pa.schema(
        [
            ("products", pa.list_(PRODUCT_TYPE)),
            ("brands", pa.list_(pa.string())),
            ("product_screen_share", pa.float32()),
            ("n_products", pa.int32()),
        ]
    )
    ranges = {"product_screen_share": (0, 1), "n_products": (0, None)}

    def analyze(  # type: ignore[override]
        self, media: Media, config: ProductConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        assert self.models is not None
        objects: ObjectTracks = signals["objects"]
        ocr: OcrReadings = signals["ocr"]
        emb: ClipEmbeddings = signals["clip"]
        labels = list(config.vocabulary)
        prompts = [f"a photo of {v}" for v in [*labels, *config.scene_prompts]]
        probs = prompt_probs(self.models, emb.arch, emb.images, prompts)
        classes = set(config.product_classes)
        rows = []
        for s in media.seconds():
            idx = media.frames.indices_in(s)
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            last = int(idx[-1])
            found: dict[tuple[str, str], dict[str, Any]] = {}

            for d in objects.frames[last]:
                if d.name in classes and d.conf >= config.min_detection:
                    _add(found, d.name, d.conf, "yolo", d.box)
            p = probs[last]
            top = int(p.argmax())
            if top < len(labels) and p[top] >= config.min_clip_score:
                _add(
                    found,
                    product_label(labels[top]),
                    float(p[top]),
                    "clip",
                    None,
                )
            for i in ocr.in_second(idx)[-1:]:  # the second's last frame read
                for box, text, conf in ocr.frames[i]:
                    for brand, sim in match_brands(text, config.brands, config.brand_similarity):
                        _add(found, brand, conf * sim, "ocr", box)
            products = sorted(found.values(), key=lambda x: -x["score"])
            boxes = [tuple(x["box"]) for x in products if x["box"] is not None]
            rows.append({
                "second": s,
                "products": products,
                "brands": sorted({x["label"] for x in products if x["source"] == "ocr"}),
                "product_screen_share": union_area(boxes),  # type: ignore[arg-type]
                "n_products": len(products),
            })  # fmt: skip
        return self.table(media, rows)
