"""qwen2_vl_temporal on one GPU: wall time and peak memory for a 60 s video, batched
windows vs one window at a time.

The model is the real architecture with random weights (none can be fetched on the
benchmark machine) and the generation length is fixed (``min_new_tokens ==
max_new_tokens``), so it costs what real weights cost. Frames are made with numpy: 60
one-second windows of 2 frames at the pipeline's working size (360x640, vertical), a
moving square on a gradient; decode is not what is measured here.

Runs the analyzer itself (window plan, prompts, the video processor, ``generate``,
per-second rows) through the pipeline's runner in one ``Models`` scope, so the model is
built once and every mode reuses it. One JSON line per mode; a table last.

    python benchmarks/vlm_gpu.py --out results.jsonl            # on the GPU machine
    python benchmarks/vlm_gpu.py --device cpu --model qwen2-vl-tiny --seconds 6   # smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.core.media import FrameStream, Media
from analyzers.core.models import Models
from analyzers.core.runner import Runner
from analyzers.multimodal.qwen2_vl_temporal import Qwen2VLTemporal

MODES = {
    # name: (context_rounds, batch_size)
    "batched": (1, 64),
    "batched_context2": (2, 64),
    "batch16": (1, 16),
    "one_at_a_time": (1, 1),
    "prefill_only": (1, 64),  # one new token: vision tower + prefill, no decode loop
}


def synthetic_media(seconds: int, fps: float = 2.0, size: tuple[int, int] = (640, 360)) -> Media:
    """``seconds`` of frames at ``fps``: a gradient with a square moving across."""
    h, w = size
    n = int(seconds * fps)
    pts = (np.arange(n) + 0.5) / fps
    y, x = np.mgrid[0:h, 0:w]
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        frames[i, ..., 0] = (x * 255 // w).astype(np.uint8)
        frames[i, ..., 1] = (y * 255 // h).astype(np.uint8)
        frames[i, ..., 2] = (i * 7) % 255
        cx, cy = int((i / max(1, n - 1)) * (w - 80)), h // 2
        frames[i, cy : cy + 80, cx : cx + 80] = 255
    stream = FrameStream(frames, np.floor(pts).astype(int), pts, fps)
    silence = np.zeros(seconds * 16000, np.float32)
    return Media(
        "bench-vlm-0123456789", float(seconds), seconds, 30.0, w, h, stream, stream,
        silence, 16000, False,
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="Qwen2-VL-2B-Instruct")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--tokens", type=int, default=32, help="new tokens per window (fixed)")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per mode (best kept)")
    ap.add_argument("--out", help="append JSON lines here")
    args = ap.parse_args()

    import torch

    cuda = args.device.startswith("cuda")
    media = synthetic_media(args.seconds)
    base = {"model": args.model, "max_new_tokens": args.tokens, "min_new_tokens": args.tokens}
    results = []
    with Models(None, args.device) as models:
        t0 = time.perf_counter()
        warm = Runner(media, models, {Qwen2VLTemporal.name: {**base, "context_rounds": 1}})
        warm.run(Qwen2VLTemporal)  # builds the model, first CUDA kernels
        first_s = time.perf_counter() - t0
        backend = models.get(next(k for k in models.loaded if k[0] == "vlm"), lambda: None)
        params_b = sum(p.numel() for p in backend.model.parameters()) / 1e9
        weights_gb = torch.cuda.memory_allocated() / 2**30 if cuda else None
        for mode in args.modes.split(","):
            rounds_, batch = MODES[mode]
            cfg = {**base, "context_rounds": rounds_, "batch_size": batch}
            if mode == "prefill_only":
                cfg.update(max_new_tokens=1, min_new_tokens=1)
            best = None
            for _ in range(1 if mode == "one_at_a_time" else args.repeat):  # 60 calls: ~50 s
                if cuda:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                out = Runner(media, models, {Qwen2VLTemporal.name: cfg}).run(Qwen2VLTemporal)
                if cuda:
                    torch.cuda.synchronize()
                wall = time.perf_counter() - t
                if best is None or wall < best["wall_s"]:
                    tokens = sum(out.table.column("tokens").to_pylist())
                    best = {
                        "mode": mode,
                        "model": args.model,
                        "weights": out.meta["weights_mode"],
                        "dtype": str(backend.dtype).replace("torch.", ""),
                        "windows": args.seconds,
                        "new_tokens_per_window": args.tokens,
                        "context_rounds": rounds_,
                        "batch_size": batch,
                        "generate_calls": backend.stats.calls,
                        "preprocess_s": round(backend.stats.preprocess_s, 3),
                        "generate_s": round(backend.stats.generate_s, 3),
                        "wall_s": round(wall, 3),
                        "x_realtime": round(args.seconds / wall, 1),
                        "tokens_generated": tokens,
                        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
                        if cuda
                        else None,
                    }
            results.append(best)
            print(json.dumps(best), flush=True)
    info = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "params_b": round(params_b, 3),
        "weights_gb": round(weights_gb, 2) if weights_gb is not None else None,
        "first_run_s (build + warm-up)": round(first_s, 2),
    }
    print(json.dumps(info))
    if args.out:
        with open(args.out, "a") as fh:
            for r in [*results, info]:
                fh.write(json.dumps(r) + "\n")
    print(f"\n{'mode':<18}{'calls':>6}{'wall s':>9}{'prep s':>8}{'gen s':>8}{'x rt':>7}{'GB':>7}")
    for r in results:
        print(
            f"{r['mode']:<18}{r['generate_calls']:>6}{r['wall_s']:>9.3f}{r['preprocess_s']:>8.3f}"
            f"{r['generate_s']:>8.3f}{r['x_realtime']:>7}"
            f"{r['peak_gpu_gb'] if r['peak_gpu_gb'] is not None else '-':>7}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
