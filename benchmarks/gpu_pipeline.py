"""The whole pipeline on one GPU (issue 17): every registered analyzer on a generated 60 s
1080x1920 30 fps clip with speech under music, once and for N videos, with the models of
the pipeline's defaults plus the quality models (Whisper large-v3-turbo, Qwen2-VL-2B).

What one video costs is what a pipeline run pays: decode once (``decode_media``: frames
sampled and scaled, audio resampled), then every analyzer through the pipeline's runner in
stage order, each signal made once by its first reader. Random weights of the real
architectures stand in where real ones are absent (the GPU machine can fetch none) and
generation lengths are fixed so they cost what real ones do (Qwen2-VL: 32 new tokens a
window; Whisper: ``random_tokens`` a 30 s window, end of text suppressed).

Modes (one JSON line per video and one summary line each):

- ``run CLIP --n N --workers W``: W **warm workers** (processes), each keeping its models
  in a ``ModelCache`` across the videos it takes from a shared queue and decoding its next
  video on a thread while the current one is analysed: the pipeline's warm run workers
  (``tiktok_assets/workers.py``, ``TIKTOK_KEEP_MODELS``) without Dagster around them.
- ``per-process CLIP --n N --workers W``: **one process per video** (imports, model loads,
  decode, analysis, exit), W at a time: what a run launcher that starts a process per run
  pays.
- ``make-clip OUT``: writes the clip (needs ffmpeg and espeak-ng: run it here, carry the
  file to the GPU machine, which has neither).

    python benchmarks/gpu_pipeline.py make-clip benchmarks/out/clip60.mp4
    python3 benchmarks/gpu_pipeline.py run CLIP --device cuda --model-home /tmp/mh --n 1
    python3 benchmarks/gpu_pipeline.py run CLIP --device cuda --model-home /tmp/mh --n 20 --workers 2
    python3 benchmarks/gpu_pipeline.py per-process CLIP --device cuda --model-home /tmp/mh --n 4 --workers 2

Set-up on the GPU machine: ``scripts/gpu_bench_setup.sh`` (wheels carried, see there); the
standard set of runs in one call: ``scripts/gpu_bench_run.sh CLIP $OUT``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# the quality models and fixed generation lengths (the rest: the shipped defaults)
OVERRIDES: dict[str, dict[str, Any]] = {
    "transcript": {"model_size": "large-v3-turbo", "random_tokens": 100},
    "qwen2_vl_temporal": {"max_new_tokens": 32, "min_new_tokens": 32},
    "sound_events": {"backend": "ast"},  # AST on the GPU (YAMNet's ONNX runs on the CPU)
    # what `auto` picks on a GPU once yolov8m-pose is in the model home (MediaPipe otherwise)
    "body_pose": {"backend": "yolo"},
}
SENTENCES = [
    "Here are three kitchen hacks you need to try today.",
    "First, freeze your herbs in olive oil so they never go bad.",
    "Second, use a spoon to peel ginger in seconds.",
    "Third, put a wooden spoon over the pot so it never boils over.",
    "Which one will you try first? Tell me in the comments.",
    "Follow for part two, where I show you the best one yet.",
]


# ---------------------------------------------------------------------------------------
# the clip


def make_clip(out: Path, seconds: int = 60) -> Path:
    """60 s, 1080x1920, 30 fps H.264: 20 shots of 3 s (test patterns, fractals, a textured
    still with a caption, the astronaut portrait), spoken sentences over a 120 BPM click
    track with a tone, as an edited short."""
    import numpy as np

    from analyzers.core.synth import Segment, click_track, speech_track, texture_image, write_wav
    from analyzers.core.synth import make_clip as encode

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clip-"))
    tex = texture_image(work / "tex.png", (1080, 1920))
    portrait = work / "astronaut.png"
    try:
        import cv2
        from skimage import data

        cv2.imwrite(str(portrait), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    except ImportError:
        portrait = tex
    font = "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"
    caption = (
        f"drawtext=fontfile={font}:text='TIP %d':fontsize=96:fontcolor=white:"
        "borderw=6:x=(w-tw)/2:y=h*0.7"
    )
    shots = []
    for i in range(seconds // 3):
        kind = i % 5
        if kind == 0:
            shots.append(Segment(f"image={portrait}", 3.0, vf="scale=1080:1920,setsar=1"))
        elif kind == 1:
            shots.append(Segment(f"image={tex}", 3.0, vf=caption % (i // 5 + 1)))
        elif kind == 2:
            shots.append(Segment("testsrc2", 3.0))
        elif kind == 3:
            shots.append(Segment("mandelbrot", 3.0))
        else:
            shots.append(Segment("smptebars", 3.0))
    sr = 44_100
    speech = speech_track(SENTENCES * 2, gap=1.2, seconds=seconds, sr=sr)
    t = np.arange(seconds * sr) / sr
    music = 0.25 * click_track(120, seconds, sr) + 0.05 * np.sin(2 * np.pi * 220 * t)
    wav = write_wav(work / "audio.wav", (0.8 * speech.audio + music).astype(np.float32), sr)
    # crf 28: about the 2.5 Mbit/s of an uploaded short (PERFORMANCE.md)
    return encode(out, shots, size=(1080, 1920), fps=30, audio=wav, crf=28)


# ---------------------------------------------------------------------------------------
# one worker


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def analyse(
    media: Any,
    models: Any,
    device: str,
    overrides: dict,
    threads: int = 1,
    leases: tuple[int, str] | None = None,
    signals_mode: str = "first",
) -> dict[str, Any]:
    """Every analyzer on ``media`` in stage order, a stage's analyzers on ``threads``
    threads at once after its visible signals (``run_all``, as the stage ops do); per stage wall time and peak GPU
    memory of this process, per analyzer wall time (from its start, so overlapping ones
    add up to more than the stage), per signal wall time. ``leases`` = (leases per
    device, lock folder): each stage holds one of the device's leases as the pipeline's
    stage ops do (``resources.lease``), and ``lease_wait_s`` says how long it waited."""
    import contextlib

    from analyzers.core.registry import by_stage, stage_signals
    from analyzers.core.runner import Runner, run_all
    from resources.lease import lease

    cuda = device.startswith("cuda")
    if cuda:
        import torch
    runner = Runner(media, models, overrides)
    stages: dict[str, Any] = {}
    analyzers: dict[str, float] = {}
    weights: dict[str, str] = {}
    t_all = time.perf_counter()
    for stage, classes in by_stage().items():
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t_wait = time.perf_counter()
        held = (
            lease([device], per_device=leases[0], lock_dir=leases[1])
            if leases
            else contextlib.nullcontext()
        )
        with held:
            t0 = time.perf_counter()
            # the stage's visible signals: started first, as the stage op does ("first"),
            # made before the analyzers start ("alone"), or when a reader asks ("lazy")
            first = stage_signals(stage) if signals_mode != "lazy" else []
            alone = signals_mode == "alone"
            for cls, out in run_all(runner, classes, threads, first, alone):
                if isinstance(out, Exception):
                    raise out
                analyzers[cls.name] = out.meta["wall_time_s"]
                weights[cls.name] = out.meta["weights_mode"]
            _sync(device)
        stages[stage] = {
            "wall_s": round(time.perf_counter() - t0, 3),
            "lease_wait_s": round(t0 - t_wait, 3),
            "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
        }
    return {
        "analyze_s": round(time.perf_counter() - t_all, 3),
        "stages": stages,
        "analyzers": analyzers,
        "signals": {n: i["wall_time_s"] for n, i in runner.signal_info.items()},
        "weights": weights,
    }


def _variant(args: dict) -> Any:
    """What ``--stream-per-thread`` and ``--switch-ms`` ask for around one video's stages
    (benchmarks/gpu_stage_profile.py)."""
    import contextlib

    from benchmarks.gpu_stage_profile import stream_per_thread, switch_interval

    stack = contextlib.ExitStack()
    if args.get("stream_per_thread"):
        stack.enter_context(stream_per_thread())
    if args.get("switch_ms"):
        stack.enter_context(switch_interval(args["switch_ms"] / 1000))
    return stack


def worker(wid: int, args: dict, jobs: Any, results: Any) -> None:
    """Take videos from ``jobs`` until None; decode the next one on a thread while the
    current one is analysed; keep every model loaded (one ModelCache) throughout."""
    from analyzers.core.decode import decode_media
    from analyzers.core.models import ModelCache, Models, cuda_attention_defaults
    from analyzers.core.registry import discover
    from benchmarks.home_store import HomeStore

    t_start = time.perf_counter()
    discover()
    device, clip = args["device"], args["clip"]
    if device.startswith("cuda"):
        import torch  # noqa: F401  (cuda_attention_defaults acts once torch is imported)

        cuda_attention_defaults(bool(args.get("cudnn_attention")))
    store = HomeStore(args.get("model_home"))
    cache = ModelCache()
    work = Path(tempfile.mkdtemp(prefix=f"gpu-bench-{wid}-"))

    def fetch() -> tuple[str, Any, float] | None:
        vid = jobs.get()
        if vid is None:
            return None
        t0 = time.perf_counter()
        media = decode_media(clip, work / vid, video_id=vid)
        return vid, media, time.perf_counter() - t0

    imports_s = time.perf_counter() - t_start
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        nxt = pool.submit(fetch)
        first = True
        cycle = args.get("cycle") or ["first"]
        for k in itertools.count():
            variant = cycle[k % len(cycle)]  # signals mode, "/noprefetch" to decode after
            prefetch = args.get("prefetch", True) and not variant.endswith("/noprefetch")
            t_wait = time.perf_counter()
            got = nxt.result()
            waited = time.perf_counter() - t_wait
            if got is None:
                break
            vid, media, decode_s = got
            if prefetch:
                nxt = pool.submit(fetch)  # the next decode overlaps this analysis
            loads_before = cache.load_s
            t0 = time.perf_counter()
            try:
                with Models(store, device, cache) as models, _variant(args):
                    line = analyse(media, models, device, args["overrides"], args["threads"],
                                   (args["leases"], args["lease_dir"]),
                                   variant.split("/")[0])  # fmt: skip
            except Exception as exc:  # reported, and the next video still runs
                import traceback

                results.put({"video": vid, "error": repr(exc)[:300],
                             "trace": traceback.format_exc()[-1500:]})  # fmt: skip
                if not prefetch:
                    nxt = pool.submit(fetch)
                continue
            line.update(
                video=vid,
                worker=wid,
                pid=os.getpid(),
                decode_s=round(decode_s, 3),
                waited_for_decode_s=round(waited, 3),
                wall_s=round(time.perf_counter() - t0, 3),
                model_load_s=round(cache.load_s - loads_before, 3),
                imports_s=round(imports_s, 3) if first else 0.0,
                duration_s=media.duration_s,
                done_at=time.time(),
                variant=variant,
            )
            first = False
            results.put(line)
            if not prefetch:
                nxt = pool.submit(fetch)
            import shutil

            shutil.rmtree(work / vid, ignore_errors=True)
    results.put({"worker_done": wid, "model_load_s": round(cache.load_s, 3),
                 "models": cache.misses})  # fmt: skip


# ---------------------------------------------------------------------------------------
# GPU sampling


class NvmlSampler:
    """GPU utilization (%) and memory used (GB) of device 0, sampled every ``period`` s."""

    def __init__(self, period: float = 0.1) -> None:
        self.period = period
        self.util: list[int] = []
        self.mem: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            h = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:
            return
        while not self._stop.is_set():
            self.util.append(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
            self.mem.append(pynvml.nvmlDeviceGetMemoryInfo(h).used / 1e9)
            time.sleep(self.period)

    def __enter__(self) -> NvmlSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def summary(self) -> dict[str, Any]:
        if not self.util:
            return {"gpu_util_mean_pct": None, "gpu_mem_peak_gb": None}
        return {
            "gpu_util_mean_pct": round(sum(self.util) / len(self.util), 1),
            "gpu_util_busy_share": round(sum(u > 0 for u in self.util) / len(self.util), 3),
            "gpu_mem_peak_gb": round(max(self.mem), 2),
            "gpu_samples": len(self.util),
        }


# ---------------------------------------------------------------------------------------
# modes


def _emit(line: dict, out: Path | None) -> None:
    print(json.dumps(line), flush=True)
    if out is not None:
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")


def run_warm(args: argparse.Namespace) -> dict[str, Any]:
    """N videos through W warm worker processes (spawned: a clean CUDA context each)."""
    _plan(args)
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    for i in range(args.n):
        jobs.put(f"bench-{i:03d}")
    for _ in range(args.workers):
        jobs.put(None)
    conf = {
        "device": args.device,
        "clip": str(args.clip),
        "model_home": args.model_home,
        "overrides": OVERRIDES,
        "prefetch": not args.no_prefetch,
        "cycle": args.cycle.split(",") if args.cycle else None,
        "threads": args.threads
        or (min(4, os.cpu_count() or 1) if args.device.startswith("cuda") else 1),
        "leases": args.leases,
        "stream_per_thread": args.stream_per_thread,
        "switch_ms": args.switch_ms,
        "cudnn_attention": args.cudnn_attention,
        "lease_dir": args.lease_dir or tempfile.mkdtemp(prefix="gpu-bench-leases-"),
    }
    out = Path(args.out) if args.out else None
    t0 = time.perf_counter()
    start = time.time()
    with NvmlSampler() as sampler:
        procs = [
            ctx.Process(target=worker, args=(w, conf, jobs, results)) for w in range(args.workers)
        ]
        for p in procs:
            p.start()
        lines, done = [], []
        while len(done) < args.workers:
            try:
                line = results.get(timeout=5)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:  # a worker crashed: report what finished, do not wait forever
                    done += [{"worker_done": -1, "model_load_s": 0.0, "crashed": p.exitcode}
                             for p in dead]  # fmt: skip
                    procs = [p for p in procs if p not in dead]
                continue
            if "worker_done" in line:
                done.append(line)
                continue
            line["mode"] = "warm"
            line["since_start_s"] = round(line.pop("done_at", time.time()) - start, 3)
            lines.append(line)
            _emit(line, out)
        for p in procs:
            p.join()
    total = time.perf_counter() - t0
    return _summary("warm workers", args, lines, total, sampler, done)


def _plan(args: argparse.Namespace) -> None:
    """``--leases 0`` / ``--workers 0``: what the pipeline plans for this host
    (``resources.lease.leases_per_device``: stages at once per GPU; ``machine_plan().runs``:
    warm workers, two per lease)."""
    from resources.lease import leases_per_device
    from resources.machine import machine_plan

    if not args.leases:
        args.leases = leases_per_device([args.device]) if args.device.startswith("cuda") else 1
    if not args.workers:
        args.workers = machine_plan(gpu_slots=args.leases).runs


def run_per_process(args: argparse.Namespace) -> dict[str, Any]:
    """N videos, one fresh process each (this script's ``run --n 1``), W at a time, each
    stage holding one of ``--leases`` leases of the GPU (shared lock folder)."""
    _plan(args)
    out = Path(args.out) if args.out else None
    lease_dir = tempfile.mkdtemp(prefix="gpu-bench-leases-")
    base = [sys.executable, __file__, "run", str(args.clip), "--device", args.device,
            "--n", "1", "--workers", "1", "--quiet", "--whisper", args.whisper,
            "--threads", str(args.threads), "--leases", str(args.leases),
            "--lease-dir", lease_dir]  # fmt: skip
    if args.model_home:
        base += ["--model-home", args.model_home]
    if args.cudnn_attention:
        base.append("--cudnn-attention")
    lines: list[dict] = []
    t0 = time.perf_counter()
    start = time.time()
    with NvmlSampler() as sampler:
        pending = list(range(args.n))
        running: list[tuple[subprocess.Popen, float]] = []
        while pending or running:
            while pending and len(running) < args.workers:
                pending.pop(0)
                running.append((subprocess.Popen(base, stdout=subprocess.PIPE, text=True),
                                time.perf_counter()))  # fmt: skip
            for p, t_started in list(running):
                if p.poll() is None:
                    continue
                running.remove((p, t_started))
                got = [json.loads(x) for x in p.stdout.read().splitlines() if x.startswith("{")]
                video = next((x for x in got if "video" in x), {"error": p.returncode})
                video.update(mode="per-process", process_wall_s=round(time.perf_counter() - t_started, 3),
                             since_start_s=round(time.time() - start, 3))  # fmt: skip
                video.pop("done_at", None)
                lines.append(video)
                _emit(video, out)
            time.sleep(0.05)
    total = time.perf_counter() - t0
    return _summary("one process per video", args, lines, total, sampler, [])


def _summary(mode: str, args: argparse.Namespace, lines: list[dict], total: float,
             sampler: NvmlSampler, done: list[dict]) -> dict[str, Any]:  # fmt: skip
    ok = [x for x in lines if "analyze_s" in x]
    dur = ok[0]["duration_s"] if ok else 60.0
    steady = _past_first(ok) or ok  # past each worker's first (cold) video
    held = [sum(st["wall_s"] for st in x["stages"].values()) for x in steady]
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None  # noqa: E731
    info: dict[str, Any] = {
        "summary": mode,
        "n": args.n,
        "workers": args.workers,
        "leases": args.leases,
        "ok": len(ok),
        "total_wall_s": round(total, 2),
        "videos_per_hour": round(len(ok) / total * 3600, 1) if total else None,
        "warm_videos_per_hour": _warm_rate(ok) if mode == "warm workers" else None,
        "after_first_round_videos_per_hour": _after_first_round(ok)
        if mode == "warm workers" else None,
        "steady_lease_held_s": mean(held),
        "lease_bound_videos_per_hour": round(max(args.leases, 1) * 3600 / mean(held), 1)
        if held else None,
        "video_s": dur,
        "first_video_wall_s": ok[0].get("process_wall_s", ok[0]["wall_s"]) if ok else None,
        "steady_analyze_s": mean([x["analyze_s"] for x in steady]),
        "steady_x_realtime": round(dur / mean([x["analyze_s"] for x in steady]), 1) if steady else None,
        "decode_s_mean": mean([x["decode_s"] for x in ok]),
        "waited_for_decode_s_mean": mean([x.get("waited_for_decode_s", 0) for x in ok]),
        "model_load_s_total": round(sum(d["model_load_s"] for d in done), 2) if done
        else round(sum(x.get("model_load_s", 0) for x in ok), 2),
        "stage_peak_gpu_gb": {s: max(x["stages"][s]["peak_gpu_gb"] or 0 for x in ok)
                              for s in (ok[0]["stages"] if ok else {})},
        "steady_stage_wall_s": {s: mean([x["stages"][s]["wall_s"] for x in steady])
                                for s in (ok[0]["stages"] if ok else {})},
        "steady_lease_wait_s": {s: mean([x["stages"][s].get("lease_wait_s", 0) for x in steady])
                                for s in (ok[0]["stages"] if ok else {})},
        "steady_slowest_analyzers_s": dict(sorted(
            ((a, mean([x["analyzers"][a] for x in steady])) for a in (steady[0]["analyzers"] if steady else {})),
            key=lambda kv: -kv[1])[:8]),
        "device": args.device,
        "gpu": _gpu_name(args.device),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    info.update(sampler.summary())
    return info


def _who(line: dict) -> Any:
    """The warm worker (or, one process per video, the process) that analysed a video."""
    return line.get("worker", line.get("pid"))


def _past_first(ok: list[dict]) -> list[dict]:
    """The videos that were not their worker's (or process's) first, in finishing order."""
    seen: set[Any] = set()
    out = []
    for x in sorted(ok, key=lambda x: x["since_start_s"]):
        who = _who(x)
        if who in seen:
            out.append(x)
        seen.add(who)
    return out


def _after_first_round(ok: list[dict]) -> float | None:
    """Videos per hour after as many videos as there were workers had finished: every
    later video over the time from that one to the last. Unlike ``_warm_rate`` it does not
    wait for the slowest worker's first video (flock leases are not fair: a worker that
    loses the first round can wait minutes for its cold first stage), but it still counts
    that cold video when it comes."""
    times = sorted(x["since_start_s"] for x in ok)
    workers = len({_who(x) for x in ok})
    if len(times) <= workers or times[-1] <= times[workers - 1]:
        return None
    return round((len(times) - workers) / (times[-1] - times[workers - 1]) * 3600, 1)


def _warm_rate(ok: list[dict]) -> float | None:
    """Videos per hour once every worker is warm: the videos finished after the last
    worker's first (cold) video, over the time from that video to the last one."""
    firsts: dict[Any, float] = {}
    for x in ok:
        firsts.setdefault(_who(x), x["since_start_s"])
    if not firsts:
        return None
    t_warm = max(firsts.values())
    later = [x["since_start_s"] for x in ok if x["since_start_s"] > t_warm]
    if not later or max(later) <= t_warm:
        return None
    return round(len(later) / (max(later) - t_warm) * 3600, 1)


def _gpu_name(device: str) -> str | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_name(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-clip")
    p.add_argument("out")
    p.add_argument("--seconds", type=int, default=60)
    for name in ("run", "per-process"):
        p = sub.add_parser(name)
        p.add_argument("clip")
        p.add_argument("--device", default="cuda")
        p.add_argument("--model-home")
        p.add_argument("--n", type=int, default=1)
        p.add_argument("--workers", type=int, default=0,
                       help="videos at once (0: the pipeline's plan for this host)")  # fmt: skip
        p.add_argument("--leases", type=int, default=0,
                       help="stages at once on the GPU (0: the pipeline's plan)")  # fmt: skip
        p.add_argument("--lease-dir", help=argparse.SUPPRESS)
        p.add_argument("--stream-per-thread", action="store_true",
                       help="each analyzer thread on its own CUDA stream")  # fmt: skip
        p.add_argument("--switch-ms", type=float, default=0.0,
                       help="the GIL switch interval during a video, ms (0: Python's 5)")  # fmt: skip
        p.add_argument("--cudnn-attention", action="store_true",
                       help="let attention use cuDNN (TIKTOK_CUDNN_ATTENTION; off by default)")  # fmt: skip
        p.add_argument("--no-prefetch", action="store_true")
        p.add_argument(
            "--cycle",
            help="variants taken in turn, video by video (the first "
            "video is cold): first | alone | lazy (the stage's visible signals), "
            "each optionally /noprefetch (no decode of the next video meanwhile)",
        )
        p.add_argument("--threads", type=int, default=0,
                       help="analyzers of a stage at once (0: as the pipeline, 4 on a GPU)")  # fmt: skip
        p.add_argument("--whisper", default=OVERRIDES["transcript"]["model_size"])
        p.add_argument("--quiet", action="store_true", help="no summary line")
        p.add_argument("--out", help="append the JSON lines to this file too")
    args = ap.parse_args()
    if args.cmd == "make-clip":
        print(make_clip(Path(args.out), args.seconds))
        return
    OVERRIDES["transcript"]["model_size"] = args.whisper
    summary = run_warm(args) if args.cmd == "run" else run_per_process(args)
    if not args.quiet:
        _emit(summary, Path(args.out) if args.out else None)


if __name__ == "__main__":
    main()
