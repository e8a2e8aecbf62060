"""The scene-understanding analyzers on a 60 s vertical video: wall time per analyzer
(text_overlay, object_detection, background_segmentation, product_detection,
composition_analysis) and per signal they read (ocr, objects, clip, faces).

The frames are what the decode hands the analyzers for a 1080x1920 clip (2 sampled frames
a second at 360x640), made with numpy and OpenCV so no decoder is needed: a detailed still
background with a caption that changes every 3 s (20 captions, as an edited short does),
a counter in the corner that changes every second and, where scikit-image is installed,
the astronaut portrait (a face for the faces signal). Runs through the pipeline's runner
in one ``Models`` scope. "alone cold": a fresh runner, models loaded, the analyzer's
signals made; "alone warm": the same with the models already loaded; "shared": every
analyzer in stage order on one runner, as a pipeline run pays (a signal made once, by its
first reader).

    python benchmarks/scene_analyzers.py                  # CPU, here
    python benchmarks/scene_analyzers.py --device cuda    # the GPU machine
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.core.media import FrameStream, Media
from analyzers.core.models import Models
from analyzers.core.runner import Runner
from analyzers.visual.background_segmentation import BackgroundSegmentation
from analyzers.visual.composition_analysis import CompositionAnalysis
from analyzers.visual.object_detection import ObjectDetection
from analyzers.visual.product_detection import ProductDetection
from analyzers.visual.text_overlay import TextOverlay
from benchmarks.home_store import HomeStore

CAPTIONS = [f"TIP {i + 1}: TRY THIS TODAY" for i in range(20)]


def _portrait() -> np.ndarray | None:
    """The astronaut's head and shoulders, 160 px wide (None without scikit-image)."""
    try:
        from skimage import data
    except ImportError:
        return None
    return cv2.resize(data.astronaut()[20:260, 130:320], (160, 202), interpolation=cv2.INTER_AREA)


def synthetic_media(seconds: int, fps: float = 2.0) -> Media:
    h, w = 640, 360
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (40, 23, 3), dtype=np.uint8), (w, h),
                      interpolation=cv2.INTER_CUBIC)  # fmt: skip
    n = int(seconds * fps)
    frames = np.empty((n, h, w, 3), np.uint8)
    face = _portrait()
    pts = (np.arange(n) + 0.5) / fps
    for i in range(n):
        f = frames[i]
        f[:] = base
        cap = CAPTIONS[int(pts[i] // 3) % len(CAPTIONS)]
        cv2.putText(f, cap, (20, 320), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        cv2.putText(
            f, f"{int(pts[i])} s", (280, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2
        )
        if face is not None:
            f[380 : 380 + face.shape[0], 100 : 100 + face.shape[1]] = face
    stream = FrameStream(frames, np.floor(pts).astype(int), pts, fps)
    return Media(
        video_id="bench-scene-0000", duration_s=float(seconds), n_seconds=seconds,
        video_fps=30.0, width=1080, height=1920, frames=stream, lowres=stream,
        audio=np.zeros(seconds * 16000, np.float32), sample_rate=16000, has_audio=False,
        frames_id=f"bench-scene-{seconds}",
    )  # fmt: skip


DEFAULTS = {"ocr": {"backend": "easyocr"}, "objects": {"size": "m"}}  # the shipped defaults
RUNS = [  # (label, analyzer, overrides)
    ("text_overlay[easyocr]", TextOverlay, DEFAULTS),
    ("text_overlay[rapidocr]", TextOverlay, {"ocr": {"backend": "rapidocr"}}),
    ("object_detection[yolov8m]", ObjectDetection, DEFAULTS),
    ("background_segmentation[segformer-b0]", BackgroundSegmentation, DEFAULTS),
    ("product_detection", ProductDetection, DEFAULTS),
    ("composition_analysis", CompositionAnalysis, DEFAULTS),
]
SHARED = [
    BackgroundSegmentation,
    ObjectDetection,
    ProductDetection,
    TextOverlay,
    CompositionAnalysis,
]  # fmt: skip  (stage2 in the registry's order, then stage3)


def _line(step: str, out, wall: float, media: Media, device: str) -> dict:
    return {
        "step": step, "wall_s": round(wall, 3),
        "signals_s": out.meta.get("signals_time_s", 0.0),
        "signals": {k: v.split(" ")[0] for k, v in out.meta.get("signals", {}).items()},
        "weights": out.meta["weights_mode"], "calls": out.meta.get("ocr_calls", ""),
        "x_realtime": round(media.duration_s / wall, 1), "device": device,
        "host": platform.node(),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--model-home", help="real weights where this model home has them")
    ap.add_argument("--skip", nargs="*", default=[], help="labels to leave out")
    ap.add_argument("--no-shared", action="store_true", help="leave out the shared run")
    ap.add_argument("--out", help="JSON lines file")
    args = ap.parse_args()
    media = synthetic_media(args.seconds)
    lines = []
    store = HomeStore(args.model_home) if args.model_home else None
    with Models(store, args.device) as models:
        for label, cls, overrides in RUNS:
            if label in args.skip:
                continue
            for attempt in ("cold", "warm"):  # warm: the models loaded, the signals made anew
                t0 = time.perf_counter()
                out = Runner(media, models, overrides).run(cls)
                lines.append(_line(f"{label} alone {attempt}", out, time.perf_counter() - t0,
                                   media, args.device))  # fmt: skip
                print(json.dumps(lines[-1]), flush=True)
        runner = Runner(media, models, DEFAULTS)
        for cls in [] if args.no_shared else SHARED:
            t0 = time.perf_counter()
            out = runner.run(cls)
            lines.append(_line(f"{cls.name} shared", out, time.perf_counter() - t0, media,
                               args.device))  # fmt: skip
            print(json.dumps(lines[-1]), flush=True)
        signal_s = {n: i["wall_time_s"] for n, i in runner.signal_info.items()}
        lines.append({"step": "signals (shared run)", "wall_s": signal_s, "device": args.device})
    if args.out:
        Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"\n{'step':<46}{'wall s':>9}{'signals s':>11}{'x realtime':>12}  signals")
    for x in lines[:-1]:
        print(f"{x['step']:<46}{x['wall_s']:>9.2f}{x['signals_s']:>11.2f}{x['x_realtime']:>12}"
              f"  {x['signals']}")  # fmt: skip
    print("signal wall s in the shared run:", lines[-1]["wall_s"])


if __name__ == "__main__":
    main()
