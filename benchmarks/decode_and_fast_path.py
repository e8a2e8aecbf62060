"""Decode and CPU fast-path benchmark: one JSON line per run.

Makes (once) a synthetic 1080x1920 30 fps clip with audio, then times in one process:
``ffmpeg -i CLIP -f null -`` (decode of video and audio, no output), our single decode
(segment_frames: sampled + full-rate low-res streams) and audio decode, and each
registered CPU analyzer on the decoded media. Usage:

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

from analyzers.core import all_analyzers, validate
from analyzers.core.decode import DecodeConfig, build_media, decode_audio, decode_video, probe
from analyzers.core.synth import Segment, make_clip

OUT = Path(__file__).resolve().parent / "out"


def clip_for(seconds: int) -> Path:
    path = OUT / f"bench_{seconds}s_1080x1920.mp4"
    if not path.exists():
        sources = ["testsrc2", "mandelbrot", "smptebars", "color=c=0x3366cc", "rgbtestsrc"]
        n = max(1, seconds // 4)
        segs = [Segment(sources[i % len(sources)], seconds / n) for i in range(n)]
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
    media = build_media("bench", work, audio, True, info.width, info.height)
    analyzers = {}
    for name, cls in all_analyzers().items():
        an = cls()
        an.load("cpu", None)
        cfg = cls.make_config()
        an.analyze(media, cfg)  # warm (imports, numba)
        t, table = timed(lambda an=an, cfg=cfg: an.analyze(media, cfg), args.repeat)
        validate(
            table,
            analyzer=name,
            output_schema=cls.output_schema,
            video_id="bench",
            n_seconds=media.n_seconds,
        )
        analyzers[name] = {"wall_s": round(t, 3), "x_realtime": round(info.duration_s / t, 1)}
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
                "analyzers_total_s": round(total, 3),
                "analyzers_x_realtime": round(info.duration_s / total, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
