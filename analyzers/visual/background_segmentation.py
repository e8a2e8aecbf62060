"""What is behind the creator, per second: how much of the frame is person, which scene
classes fill the rest, and what kind of background that is.

- Person mask: MediaPipe selfie segmentation (shipped inside the mediapipe wheel: real
  weights, offline; ``selfie_model`` 1, the 144x256 "landscape" model, by default: on a
  head-and-shoulders picture cut off at the chest the general model (0) extends the body
  into the empty frame below, 0.40 of the frame marked person where the picture covers
  0.27; the landscape model marks 0.19, all of it inside the picture); ``person_fraction`` is the share of pixels
  whose person probability is at least ``mask_threshold``.
- Scene classes: SegFormer fine-tuned on ADE20k (150 classes; ``variant`` b0..b5, default
  b0; ``segformer-<variant>-ade`` in the model home as a Hugging Face folder, ``models pull
  segformer-b0-ade``; NVIDIA's SegFormer license: research and non-commercial use only).
  Without weights the real architecture runs with random weights (plumbing and cost; the
  classes are noise, and ``weights_mode`` says so). The last sampled frame of each second,
  all of a video's in batches, resized to ``input_size`` px square as SegFormer's own
  image processor does.
- ``top_classes``: the ``top_k`` ADE20k classes by area outside the person mask, with their
  share of the background; ``background_kind``: ``screen`` when a screen / monitor /
  television class covers at least ``kind_share`` of the background, ``outdoor`` or
  ``indoor`` when classes of that kind do (with real SegFormer weights only: random ones
  give noise classes), and ``studio`` when the background is plain (the grey-level
  standard deviation of the pixels outside the person under ``studio_std``; judged from
  pixels, so it holds with random weights too);
  null when none applies; ``background_std`` that standard deviation (grey levels).

``person_fraction`` is the mean over the second's sampled frames; classes, kind and
``background_std`` come from its last sampled frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, WeightSpec, register
from analyzers.core.runner import run_batched

ADE20K = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea",
    "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp",
    "bathtub", "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers",
    "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book",
    "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman",
    "bottle", "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt",
    "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan",
    "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",
)  # fmt: skip
SCREEN = {"screen", "crt screen", "monitor", "television receiver", "computer"}
OUTDOOR = {
    "building", "sky", "tree", "road", "grass", "sidewalk", "earth", "mountain", "car",
    "water", "house", "sea", "field", "fence", "rock", "sand", "skyscraper", "path",
    "runway", "river", "bridge", "hill", "palm", "boat", "bus", "truck", "tower", "awning",
    "streetlight", "airplane", "dirt track", "pole", "land", "van", "ship", "fountain",
    "canopy", "swimming pool", "waterfall", "tent", "minibike", "bicycle", "lake",
    "traffic light", "pier", "flag",
}  # fmt: skip
INDOOR = {
    "wall", "floor", "ceiling", "bed", "windowpane", "cabinet", "door", "table", "curtain",
    "chair", "painting", "sofa", "shelf", "mirror", "rug", "armchair", "seat", "desk",
    "wardrobe", "lamp", "bathtub", "cushion", "chest of drawers", "counter", "sink",
    "fireplace", "refrigerator", "stairs", "pillow", "bookcase", "blind", "coffee table",
    "toilet", "book", "countertop", "stove", "kitchen island", "swivel chair", "towel",
    "chandelier", "ottoman", "stool", "oven", "microwave", "dishwasher", "blanket", "sconce",
    "vase", "tray", "shower", "radiator", "clock",
}  # fmt: skip
# (depths, hidden sizes, decoder size) of the MiT encoders, from the SegFormer paper
VARIANTS = {
    "b0": ([2, 2, 2, 2], [32, 64, 160, 256], 256, 15),
    "b1": ([2, 2, 2, 2], [64, 128, 320, 512], 256, 55),
    "b2": ([3, 4, 6, 3], [64, 128, 320, 512], 768, 110),
    "b3": ([3, 4, 18, 3], [64, 128, 320, 512], 768, 190),
    "b4": ([3, 8, 27, 3], [64, 128, 320, 512], 768, 260),
    "b5": ([3, 6, 40, 3], [64, 128, 320, 512], 768, 340),
}
SEGFORMER_WEIGHTS = {
    v: WeightSpec(
        name=f"segformer-{v}-ade",
        relpath=f"segformer/{v}-ade",
        hf_repo=f"nvidia/segformer-{v}-finetuned-ade-{640 if v in ('b4', 'b5') else 512}-"
        f"{640 if v in ('b4', 'b5') else 512}",
        license="NVIDIA SegFormer license (research and non-commercial use only)",
        size_mb=size,
    )
    for v, (_, _, _, size) in VARIANTS.items()
}
MASK_TYPE = pa.struct([("cls", pa.string()), ("share", pa.float32())])


@dataclass(frozen=True)
class SegmentationConfig(BaseConfig):
    """``variant``: SegFormer size; ``selfie_model``: MediaPipe's 0 (general) or 1
    (landscape); ``input_size``: px of its square input;
    ``mask_threshold``: person probability that counts (0-1); ``top_k``: classes kept;
    ``kind_share``: background share (0-1) that decides a kind; ``studio_std``: grey
    levels of standard deviation under which a background is plain."""

    variant: str = "b0"
    selfie_model: int = 1
    input_size: int = 512
    mask_threshold: float = 0.5
    top_k: int = 3
    kind_share: float = 0.25
    studio_std: float = 12.0
    batch_size: int = 8


def segformer(path: str | None, variant: str, device: str) -> Any:
    """SegFormer for ADE20k from the folder ``path``, or its real architecture (random
    weights) when ``path`` is None; eval mode on ``device``."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    if path:
        model = SegformerForSemanticSegmentation.from_pretrained(path)
    else:
        depths, hidden, decoder, _ = VARIANTS[variant]
        config = SegformerConfig(
            depths=depths, hidden_sizes=hidden, decoder_hidden_size=decoder,
            num_labels=len(ADE20K), id2label=dict(enumerate(ADE20K)),
            label2id={c: i for i, c in enumerate(ADE20K)},
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):  # the same random weights in every process
            torch.manual_seed(0)
            model = SegformerForSemanticSegmentation(config)
    model.eval().to(device)
    if device.startswith("cuda"):
        model.half()
    return model


class _Selfie:
    def __init__(self, model: int) -> None:
        import mediapipe as mp

        self.seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability per pixel, the frame's size."""
        return self.seg.process(np.ascontiguousarray(rgb)).segmentation_mask


def scene_classes(model: Any, frames: list[np.ndarray], size: int) -> list[np.ndarray]:
    """ADE20k class index per cell of each RGB frame: SegFormer's own output grid, a
    quarter of ``size`` on each side (128 x 128 for 512), spanning the whole frame. Area
    shares on it equal the frame's (the frame is scaled, not cropped), and upsampling 150
    logit maps to the frame first would cost more than the network on a CPU."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    batch = torch.stack([
        F.interpolate(torch.from_numpy(np.ascontiguousarray(f)).to(device).permute(2, 0, 1)[None]
                      .float() / 255, (size, size), mode="bilinear", align_corners=False)[0]
        for f in frames
    ])  # fmt: skip
    with torch.inference_mode():
        logits = model(pixel_values=((batch - mean) / std).to(dtype)).logits  # (B, 150, s/4, s/4)
    return list(logits.argmax(1).cpu().numpy().astype(np.int16))


def background_kind(
    shares: dict[str, float], grey_std: float | None, config: SegmentationConfig
) -> str | None:
    """screen / outdoor / indoor / studio from the background's class shares and the grey
    standard deviation of its pixels (see module doc)."""
    if sum(v for c, v in shares.items() if c in SCREEN) >= config.kind_share:
        return "screen"
    outdoor = sum(v for c, v in shares.items() if c in OUTDOOR)
    indoor = sum(v for c, v in shares.items() if c in INDOOR)
    if max(outdoor, indoor) >= config.kind_share:
        return "outdoor" if outdoor > indoor else "indoor"
    if grey_std is not None and grey_std < config.studio_std:
        return "studio"
    return None


@register
class BackgroundSegmentation(FrameAnalyzer):
    """Person and background per second (see module doc): ``person_fraction`` 0-1,
    ``top_classes`` [{cls, share 0-1}], ``background_kind``, ``background_std`` (grey
    levels: standard deviation of the background pixels)."""

    name = "background_segmentation"
    version = "1"
    stage = "stage2_medium"
    Config = SegmentationConfig
    weights = tuple(SEGFORMER_WEIGHTS.values())
    model = "segformer (ade20k) + mediapipe selfie segmentation"
    output_schema = pa.schema(
        [
            ("person_fraction", pa.float32()),
            ("top_classes", pa.list_(MASK_TYPE)),
            ("background_kind", pa.string()),
            ("background_std", pa.float32()),
        ]
    )
    ranges = {"person_fraction": (0, 1), "background_std": (0, 128)}

    @classmethod
    def required_weights(cls, config: SegmentationConfig) -> tuple[WeightSpec, ...]:  # type: ignore[override]
        if config.variant not in VARIANTS:
            raise ValueError(
                f"background_segmentation: variant must be one of {sorted(VARIANTS)}, "
                f"got {config.variant!r}"
            )
        return (SEGFORMER_WEIGHTS[config.variant],)

    def analyze(  # type: ignore[override]
        self, media: Media, config: SegmentationConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        assert self.models is not None
        (spec,) = self.required_weights(config)
        path, self.weights_mode = self.models.resolve(spec)
        model = self.models.get(("segformer", config.variant, path, self.device),
                                lambda: segformer(path, config.variant, self.device))  # fmt: skip
        selfie = self.models.get(
            ("mediapipe-selfie", config.selfie_model), lambda: _Selfie(config.selfie_model)
        )
        stream = media.frames
        picks = {s: stream.sample(s, config.sample_fps) for s in media.seconds()}
        last = sorted({int(idx[-1]) for idx in picks.values() if len(idx)})
        classes = dict(zip(last, run_batched(
            lambda b: scene_classes(model, [np.asarray(stream.frames[i]) for i in b],
                                    config.input_size),
            last, config.batch_size,
        ), strict=True))  # fmt: skip
        rows = []
        for s, idx in picks.items():
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            masks = [
                selfie(np.asarray(stream.frames[int(i)])) >= config.mask_threshold for i in idx
            ]
            i = int(idx[-1])
            frame = np.asarray(stream.frames[i])
            back = ~masks[-1]
            grid = classes[i]
            cls = grid[cv2.resize(back.astype(np.uint8), grid.shape[::-1],
                                  interpolation=cv2.INTER_NEAREST) > 0]  # fmt: skip
            grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[back]
            shares: dict[str, float] = {}
            if cls.size:
                counts = np.bincount(cls.ravel(), minlength=len(ADE20K)) / cls.size
                shares = {ADE20K[k]: float(counts[k]) for k in np.flatnonzero(counts)}
            top = sorted(shares.items(), key=lambda kv: -kv[1])[: config.top_k]
            std = float(grey.std()) if grey.size else None
            rows.append({
                "second": s,
                "person_fraction": round(float(np.mean([m.mean() for m in masks])), 4),
                "top_classes": [{"cls": c, "share": round(v, 4)} for c, v in top],
                # random SegFormer weights: its classes are noise, only the pixels decide
                "background_kind": background_kind(
                    shares if self.weights_mode == "real" else {}, std, config
                ),
                "background_std": None if std is None else round(std, 2),
            })  # fmt: skip
        return self.table(media, rows)
