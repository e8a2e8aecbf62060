"""Why a stage takes longer on threads than its parts alone (issue 17): one warm process,
the clip decoded once, every model loaded, then the transcript signal (Whisper, a
launch-bound decoder) and the VLM timed

- alone on the main thread,
- alone on a new worker thread (with torch's cuDNN attention backend off, as the pipeline
  sets it, and on), and on one thread kept across runs,
- inside its stage with the stage's analyzers on 4 threads (``run_all``, as the pipeline:
  the process's kept pool of analyzer threads),
- the same with cuDNN attention on (``--variants``: also each analyzer thread on its own
  CUDA stream, the GIL switch interval at 0.5 ms, torch's CPU pool at 4 threads).

    python3 benchmarks/gpu_stage_profile.py CLIP --model-home /tmp/mh --out OUT.json

One JSON object: seconds per case (repeated ``--repeat`` times) with the time spent in each
of openai-whisper's phases (mel, language detection, decoding, word alignment), and a
cProfile (top 30, cumulative) of the transcript on the main thread and on a new thread.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.gpu_pipeline import OVERRIDES  # noqa: E402


@contextlib.contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def cudnn_sdpa(on: bool) -> Iterator[None]:
    import torch

    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(on)
    try:
        yield
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


@contextlib.contextmanager
def stream_per_thread() -> Iterator[None]:
    """``Runner.run`` on a CUDA stream of its own in every thread that calls it."""
    import torch

    from analyzers.core import runner as runner_mod

    original = runner_mod.Runner.run

    def run(self: Any, cls: Any, overrides: Any = None) -> Any:
        if not torch.cuda.is_available():  # a dry run on a CPU host
            return original(self, cls, overrides)
        with torch.cuda.stream(torch.cuda.Stream()):
            out = original(self, cls, overrides)
            torch.cuda.current_stream().synchronize()
            return out

    runner_mod.Runner.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        runner_mod.Runner.run = original  # type: ignore[method-assign]


@contextlib.contextmanager
def whisper_phases() -> Iterator[dict[str, float]]:
    """Seconds spent in openai-whisper's phases (any thread) while the block runs: mel
    spectrogram, language detection, decoding, word alignment (its model pass, median
    filter and DTW inside it)."""
    import whisper.decoding
    import whisper.model
    import whisper.timing
    import whisper.transcribe

    transcribe_mod = sys.modules[
        "whisper.transcribe"
    ]  # the package exports a function of that name
    spent: dict[str, float] = {}
    lock = threading.Lock()
    patched: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                with lock:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
                    spent[label + "_calls"] = spent.get(label + "_calls", 0) + 1

        patched.append((owner, attr, fn))
        setattr(owner, attr, timed)

    wrap(transcribe_mod, "log_mel_spectrogram", "mel")
    wrap(whisper.model.Whisper, "detect_language", "detect_language")
    wrap(whisper.decoding.DecodingTask, "run", "decode")
    wrap(transcribe_mod, "add_word_timestamps", "word_alignment")
    wrap(whisper.timing, "median_filter", "median_filter")
    wrap(whisper.timing, "dtw", "dtw")
    try:
        yield spent
    finally:
        for owner, attr, fn in reversed(patched):
            setattr(owner, attr, fn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("--model-home")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--stages", default="stage4_fast,stage1_heavy")
    ap.add_argument("--whisper", default=OVERRIDES["transcript"]["model_size"])
    ap.add_argument("--variants", default="as_pipeline,cudnn_sdpa")
    ap.add_argument(
        "--beside",
        action="store_true",
        help="only: the transcript alone, beside stage4's CPU analyzers, beside its "
        "GPU analyzers, and stage1 with one VLM round against two",
    )
    ap.add_argument("--out")
    args = ap.parse_args()
    OVERRIDES["transcript"]["model_size"] = args.whisper
    names = args.stages.split(",")

    import torch

    if not args.device.startswith("cuda"):  # a dry run of the script on a CPU host
        torch.cuda.synchronize = lambda *a: None  # type: ignore[assignment]

    from analyzers.core.decode import decode_media
    from analyzers.core.models import ModelCache, Models
    from analyzers.core.registry import by_stage, discover, stage_signals
    from analyzers.core.runner import Runner, run_all
    from benchmarks.home_store import HomeStore

    discover()
    media = decode_media(args.clip, Path(tempfile.mkdtemp()) / "v", video_id="profile")
    store, cache, dev = HomeStore(args.model_home), ModelCache(), args.device
    stages = by_stage()
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads()}

    def fresh() -> Runner:
        return Runner(media, Models(store, dev, cache), OVERRIDES)

    def stage(name: str) -> tuple[float, dict[str, float]]:
        r = fresh()
        t0 = time.perf_counter()
        for _cls, out in run_all(r, stages[name], 4, signals=stage_signals(name)):
            if isinstance(out, Exception):
                raise out
        torch.cuda.synchronize()
        return time.perf_counter() - t0, {
            n: round(i["wall_time_s"], 3) for n, i in r.signal_info.items()
        }

    # warm: every model of stages 1 and 4 loaded, first-call costs paid
    for name in names:
        stage(name)
        stage(name)

    if args.beside:
        result["cases"] = beside(fresh, args.repeat)
        _emit(result, args.out)
        return

    profiles: dict[str, str] = {}

    def transcript_alone(on_thread: bool, profile: str = "") -> dict[str, float]:
        """The transcript signal alone (its voice input made first), on the main thread or
        a new one; ``profile``: keep a cProfile of it (of the thread that ran it) under that
        name."""
        r = fresh()
        r.signal("voice")
        torch.cuda.synchronize()
        box: dict[str, float] = {}

        def go() -> None:
            prof = cProfile.Profile() if profile else None
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            r.signal("transcript")
            torch.cuda.synchronize()
            if prof:
                prof.disable()
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
                profiles[profile] = buf.getvalue()[-7000:]
            box["s"] = time.perf_counter() - t0

        with whisper_phases() as spent:
            if on_thread:
                t = threading.Thread(target=go)
                t.start()
                t.join()
            else:
                go()
        return {"s": round(box["s"], 3), **{k: round(v, 3) for k, v in spent.items()}}

    cases: dict[str, Any] = {}
    cases["transcript_main_thread"] = [transcript_alone(False) for _ in range(args.repeat)]
    cases["transcript_worker_thread"] = [transcript_alone(True) for _ in range(args.repeat)]
    with cudnn_sdpa(True):
        cases["transcript_worker_thread_cudnn_sdpa"] = [
            transcript_alone(True) for _ in range(args.repeat)
        ]
    with ThreadPoolExecutor(1) as one:  # the same thread each time: per-thread set-up once
        cases["transcript_persistent_thread"] = [
            one.submit(transcript_alone, False).result() for _ in range(args.repeat + 1)
        ]
    cases["transcript_profiled"] = [
        transcript_alone(False, "main_thread"),
        transcript_alone(True, "worker_thread"),
    ]
    result["transcript_profiles"] = profiles
    for cname, runs in cases.items():
        print(cname, [x["s"] for x in runs], flush=True)

    every: dict[str, Any] = {
        "as_pipeline": contextlib.nullcontext,
        "cudnn_sdpa": lambda: cudnn_sdpa(True),
        "stream_per_thread": stream_per_thread,
        "switch_0.5ms": lambda: switch_interval(0.0005),
        "torch_threads_4": lambda: torch_threads(4),
    }
    variants = {v: every[v] for v in args.variants.split(",")}
    for vname, ctx in variants.items():
        for sname in names:
            runs = []
            for _ in range(args.repeat):
                with ctx(), whisper_phases() as spent:
                    wall, sig = stage(sname)
                runs.append({"wall_s": round(wall, 3), "signals": sig,
                             "whisper": {k: round(v, 3) for k, v in spent.items()}})  # fmt: skip
            cases[f"{sname}:{vname}"] = runs
            print(vname, sname, [x["wall_s"] for x in runs], flush=True)
    result["cases"] = cases
    _emit(result, args.out)


def _emit(result: dict[str, Any], out: str | None) -> None:
    """Print the result as JSON, and write it to ``out`` when given."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        Path(out).write_text(text)


def beside(fresh: Any, repeat: int) -> dict[str, Any]:
    """Where the transcript's extra seconds inside stage4 come from: the transcript signal
    (its voice input made first) started at the head of the kept pool, as the stage op
    starts it, with nothing beside it, beside stage4's CPU analyzers (librosa, cuts,
    scenes, flow: Python and NumPy that hold the GIL in parts), and beside its GPU
    analyzers (speech emotion, sound events); then stage1 with one VLM round against two.
    Warm: every case runs once before it is timed."""
    import torch

    from analyzers.core.registry import by_stage, get, stage_signals
    from analyzers.core.runner import run_all

    groups = {
        "alone": [],
        "beside_cpu": ["audio_analysis", "cut_analysis", "scene_segmentation", "temporal_flow"],
        "beside_gpu": ["speech_emotion", "audio_environment"],
    }
    out: dict[str, Any] = {}
    for label, names in groups.items():
        runs = []
        for i in range(repeat + 1):
            r = fresh()
            r.signal("voice")
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            done = list(run_all(r, [get(n) for n in names], 4, signals=["transcript"]))
            r.signal("transcript")
            torch.cuda.synchronize()
            if any(isinstance(o, Exception) for _, o in done):
                raise next(o for _, o in done if isinstance(o, Exception))
            if i:
                runs.append({"transcript_s": round(r.signal_info["transcript"]["wall_time_s"], 3),
                             "all_s": round(time.perf_counter() - t0, 3)})  # fmt: skip
        out[label] = runs
        print(label, runs, flush=True)
    vlm = get("qwen2_vl_temporal")
    for rounds in (2, 1):
        runs = []
        for i in range(repeat + 1):
            r = fresh()
            t0 = time.perf_counter()
            r.run(vlm, {**OVERRIDES["qwen2_vl_temporal"], "context_rounds": rounds})
            torch.cuda.synchronize()
            if i:
                runs.append(round(time.perf_counter() - t0, 3))
        out[f"vlm_rounds_{rounds}"] = runs
        print(f"vlm_rounds_{rounds}", runs, flush=True)
    # the VLM right after stages 2-4 of another video, as a warm worker runs it
    runs = []
    for i in range(repeat + 1):
        r = fresh()
        for name, classes in by_stage().items():
            if name != "stage1_heavy":
                list(run_all(r, classes, 4, signals=stage_signals(name)))
        torch.cuda.synchronize()
        r2 = fresh()
        t0 = time.perf_counter()
        r2.run(vlm)
        torch.cuda.synchronize()
        if i:
            runs.append(round(time.perf_counter() - t0, 3))
    out["vlm_after_stages_2_to_4"] = runs
    print("vlm_after_stages_2_to_4", runs, flush=True)
    return out


if __name__ == "__main__":
    main()
