"""The scene-understanding analyzers on a 60 s vertical video: wall time per analyzer
(text_overlay and object_detection so far; segmentation, products and composition join
them as they land).

The frames are what the decode hands the analyzers for a 1080x1920 clip (2 sampled frames
a second at 360x640), made with numpy and OpenCV so no decoder is needed: a detailed still
background with a caption that changes every 3 s (20 captions, as an edited short does)
and a counter in the corner that changes every second. Runs through the pipeline's runner
in one ``Models`` scope; "cold" includes model loads, "warm" is the same analyzer again.

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
from analyzers.visual.object_detection import ObjectDetection
from analyzers.visual.text_overlay import TextOverlay

CAPTIONS = [f"TIP {i + 1}: TRY THIS TODAY" for i in range(20)]


def synthetic_media(seconds: int, fps: float = 2.0) -> Media:
    h, w = 640, 360
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (40, 23, 3), dtype=np.uint8), (w, h),
                      interpolation=cv2.INTER_CUBIC)  # fmt: skip
    n = int(seconds * fps)
    frames = np.empty((n, h, w, 3), np.uint8)
    pts = (np.arange(n) + 0.5) / fps
    for i in range(n):
        f = frames[i]
        f[:] = base
        cap = CAPTIONS[int(pts[i] // 3) % len(CAPTIONS)]
        cv2.putText(f, cap, (20, 320), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        cv2.putText(
            f, f"{int(pts[i])} s", (280, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2
        )
    stream = FrameStream(frames, np.floor(pts).astype(int), pts, fps)
    return Media(
        video_id="bench-scene-0000", duration_s=float(seconds), n_seconds=seconds,
        video_fps=30.0, width=1080, height=1920, frames=stream, lowres=stream,
        audio=np.zeros(seconds * 16000, np.float32), sample_rate=16000, has_audio=False,
        frames_id=f"bench-scene-{seconds}",
    )  # fmt: skip


RUNS = [  # (label, analyzer, overrides)
    ("text_overlay[easyocr]", TextOverlay, {"ocr": {"backend": "easyocr"}}),
    ("text_overlay[rapidocr]", TextOverlay, {"ocr": {"backend": "rapidocr"}}),
    ("object_detection[yolov8m]", ObjectDetection, {"objects": {"size": "m"}}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", help="JSON lines file")
    args = ap.parse_args()
    media = synthetic_media(args.seconds)
    lines = []
    with Models(None, args.device) as models:
        for label, cls, overrides in RUNS:
            for attempt in ("cold", "warm"):  # warm: the models loaded, the signals made anew
                t0 = time.perf_counter()
                out = Runner(media, models, overrides).run(cls)
                wall = time.perf_counter() - t0
                lines.append({
                    "step": f"{label} {attempt}", "wall_s": round(wall, 3),
                    "weights": out.meta["weights_mode"], "calls": out.meta.get("ocr_calls", ""),
                    "x_realtime": round(media.duration_s / wall, 1),
                    "device": args.device, "host": platform.node(),
                })  # fmt: skip
    for line in lines:
        print(json.dumps(line))
    if args.out:
        Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"\n{'step':<30}{'wall s':>9}{'x realtime':>12}{'OCR calls':>11}")
    for x in lines:
        print(f"{x['step']:<30}{x['wall_s']:>9.2f}{x['x_realtime']:>12}{x['calls']:>11}")


if __name__ == "__main__":
    main()
