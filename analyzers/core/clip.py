"""One way to load and call an OpenCLIP model, shared by the ``clip`` signal (image
embeddings of every sampled frame) and the analyzers that score text prompts against them
(product_detection, composition_analysis), so both sides use the same weights.

Checkpoints (OpenAI's CLIP, MIT) are ``clip/<arch>-openai.bin`` in the model home
(``models pull clip-vit-b-32``); without one the real architecture runs with random
weights (plumbing and cost only: its scores mean nothing). The tokenizer's BPE vocabulary
ships inside ``open_clip_torch``, so nothing is fetched.

Frames are letterboxed, not centre-cropped: a 9:16 frame keeps its top and bottom (where
products and captions often sit) at the price of grey bars, which CLIP tolerates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analyzers.core.weights import WeightSpec

_HF = "https://huggingface.co/timm"
CLIP_WEIGHTS = {
    arch: WeightSpec(
        name=f"clip-{arch.lower()}",
        relpath=f"clip/{arch}-openai.bin",
        url=f"{_HF}/{timm_name}.openai/resolve/main/open_clip_pytorch_model.bin",
        license="MIT (OpenAI CLIP)",
        size_mb=size_mb,
    )
    for arch, timm_name, size_mb in (
        ("ViT-B-32", "vit_base_patch32_clip_224", 605),
        ("ViT-B-16", "vit_base_patch16_clip_224", 599),
        ("ViT-L-14", "vit_large_patch14_clip_224", 1710),
    )
}


def clip_spec(arch: str) -> WeightSpec:
    """The checkpoint of ``arch`` (one of ``CLIP_WEIGHTS``), or a clear error."""
    if arch not in CLIP_WEIGHTS:
        raise ValueError(f"clip: arch must be one of {sorted(CLIP_WEIGHTS)}, got {arch!r}")
    return CLIP_WEIGHTS[arch]


class Clip:
    """An OpenCLIP model from the checkpoint ``path`` (None: random weights of ``arch``),
    in eval mode on ``device`` (half precision on a GPU)."""

    def __init__(self, arch: str, path: str | None, device: str) -> None:
        import logging

        import open_clip
        import torch

        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
        # random weights are the same in every process (a stored value agrees with a new one)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = open_clip.create_model(arch, pretrained=path or None, device=device)
        self.model.eval()
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model.to(dtype=self.dtype)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.device = device
        self.size = int(self.model.visual.image_size[0])
        self.mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(open_clip.OPENAI_DATASET_STD, device=device).view(1, 3, 1, 1)

    def _batch(self, frames: Sequence[np.ndarray]) -> Any:
        """Letterboxed, normalized ``size`` x ``size`` tensors of RGB uint8 ``frames``."""
        import torch
        import torch.nn.functional as F

        out = torch.zeros((len(frames), 3, self.size, self.size), device=self.device)
        for k, f in enumerate(frames):
            t = torch.from_numpy(np.ascontiguousarray(f)).to(self.device).permute(2, 0, 1)
            h, w = t.shape[1:]
            scale = self.size / max(h, w)
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            t = F.interpolate(t[None].float() / 255, (nh, nw), mode="bilinear",
                              antialias=True, align_corners=False)[0]  # fmt: skip
            y, x = (self.size - nh) // 2, (self.size - nw) // 2
            out[k] = self.mean[0]  # grey bars: the mean colour, zero after normalizing
            out[k, :, y : y + nh, x : x + nw] = t
        return ((out - self.mean) / self.std).to(self.dtype)

    def images(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Unit-length image embeddings (len(frames), dim), float32."""
        import torch

        with torch.inference_mode():
            emb = self.model.encode_image(self._batch(frames)).float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return emb.cpu().numpy()

    def texts(self, prompts: Sequence[str]) -> np.ndarray:
        """Unit-length text embeddings (len(prompts), dim), float32."""
        import torch

        with torch.inference_mode():
            emb = self.model.encode_text(self.tokenizer(list(prompts)).to(self.device)).float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return emb.cpu().numpy()

    def logit_scale(self) -> float:
        """CLIP's learned temperature (100 for OpenAI's weights)."""
        return float(self.model.logit_scale.exp().item())


def zero_shot(images: np.ndarray, texts: np.ndarray, scale: float) -> np.ndarray:
    """Softmax over prompts of ``scale`` * cosine similarity: (n_images, n_prompts), rows
    sum to 1."""
    logits = scale * images @ texts.T
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def clip_mode(models: Any, arch: str) -> str:
    """The weights mode CLIP ``arch`` loads with in this scope (real or random), without
    loading it."""
    return models.resolve(clip_spec(arch))[1]


def prompt_probs(models: Any, arch: str, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """Zero-shot probabilities of ``prompts`` for unit image embeddings ``images`` made by
    CLIP ``arch`` (the ``clip`` signal's): (n_images, n_prompts), rows sum to 1."""
    clip, _ = load_clip(models, arch)
    return zero_shot(images.astype(np.float32), clip.texts(prompts), clip.logit_scale())


def load_clip(models: Any, arch: str) -> tuple[Clip, str]:
    """The runner scope's CLIP of ``arch`` (loaded once per scope) and its weights mode."""
    path, mode = models.resolve(clip_spec(arch))
    clip = models.get(("clip", arch, path, models.device), lambda: Clip(arch, path, models.device))
    return clip, mode
