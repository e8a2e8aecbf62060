"""Decode and CPU fast-path benchmark: one JSON line per run.

Makes (once) a synthetic 1080x1920 30 fps clip with audio, then times in one process:
``ffmpeg -i CLIP -f null -`` (decode of video and audio, no output), our single decode
(segment_frames: sampled + full-rate low-res streams) and audio decode, and each
video-structure analyzer (frames, or frames and audio) on the decoded media through the
pipeline's runner, signals included (each pass starts with an empty signal store, so the
first analyzer that needs a signal pays for it, as in a run). Usage:

    .venv/bin/python benchmarks/decode_and_fast_path.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from analyzers.core import STAGES, Models, by_stage
from analyzers.core.decode import DecodeConfig, build_media, decode_audio, decode_video, probe
from analyzers.core.runner import Runner
from analyzers.core.synth import Segment, make_clip, texture_image

OUT = Path(__file__).resolve().parent / "out"


def clip_for(seconds: int) -> Path:
    """Shots of 4 s: lavfi patterns, and camera pans and zooms over a detailed picture
    (what optical flow has to work on), cut back to back."""
    path = OUT / f"bench_{seconds}s_1080x1920_v2.mp4"
    if not path.exists():
        tex = f"image={texture_image(OUT / 'bench_texture.png', (2160, 3840), seed=7)}"
        zoom = "d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s=1080x1920:fps=30"
        shots = [
            Segment("testsrc2", 4),
            Segment(tex, 4, vf="crop=1080:1920:x='t*150':y=960"),
            Segment("mandelbrot", 4),
            Segment(tex, 4, vf=f"zoompan=z='1+0.1*in/30':{zoom}"),
            Segment("smptebars", 4, vf="fade=t=out:st=3:d=1"),
            Segment("rgbtestsrc", 4, vf="fade=t=in:st=0:d=1"),
        ]
        n = max(1, seconds // 4)
        segs = [shots[i % len(shots)] for i in range(n)]
        make_clip(path, segs, size=(1080, 1920), fps=30, audio_lavfi=f"sine=f=440:d={seconds}")
    return path


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    clip = clip_for(args.seconds)
    info = probe(clip)
    ffmpeg = shutil.which("ffmpeg")
    t_ffmpeg, _ = timed(
        lambda: subprocess.run(
            [ffmpeg, "-v", "error", "-i", str(clip), "-f", "null", "-"], check=True
        ),
        args.repeat,
    )
    work = Path(tempfile.mkdtemp(dir=OUT))
    t_video, res = timed(lambda: decode_video(clip, work, DecodeConfig()), args.repeat)
    t_audio, audio = timed(lambda: decode_audio(clip), args.repeat)
    media = build_media("bench", work, audio, True, info.width, info.height, bit_rate=info.bit_rate)
    # as a run does it: stage by stage through the runner (load, signals, analyze,
    # validate); one warm-up pass first, then each pass with an empty signal store
    order = [(c.name, c) for st in STAGES for c in by_stage().get(st, []) if c.modality != "audio"]
    per: dict[str, list[float]] = {name: [] for name, _ in order}
    signals: dict[str, list[float]] = {}
    with Models(None, "cpu") as models:
        for rep in range(args.repeat + 1):
            runner = Runner(media, models)
            for name, cls in order:
                outcome = runner.run(cls)
                if rep:
                    per[name].append(outcome.meta["wall_time_s"])
            if rep:
                for sig, got in runner.signal_info.items():
                    signals.setdefault(sig, []).append(got["wall_time_s"])
    analyzers = {}
    for name, cls in order:
        t = statistics.median(per[name])
        analyzers[name] = {
            "stage": cls.stage,
            "wall_s": round(t, 3),
            "x_realtime": round(info.duration_s / t, 1),
        }
    total = sum(a["wall_s"] for a in analyzers.values())
    shutil.rmtree(work)
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.node()} ({platform.machine()}, {__import__('os').cpu_count()} cores)",
                "clip": f"{info.width}x{info.height} {info.fps:.0f} fps {info.duration_s:.1f} s",
                "ffmpeg_null_s": round(t_ffmpeg, 3),
                "decode_video_s": round(t_video, 3),
                "decode_audio_s": round(t_audio, 3),
                "decode_vs_ffmpeg": round((t_video + t_audio) / t_ffmpeg, 2),
                "decoded_frames": res.decoded_frames,
                "analyzers": analyzers,
                "signals_s": {k: round(statistics.median(v), 3) for k, v in signals.items()},
                "analyzers_total_s": round(total, 3),
                "analyzers_x_realtime": round(info.duration_s / total, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
