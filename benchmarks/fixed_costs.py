"""Per-video fixed costs: what a fresh run process pays before and around the analysis,
and what a warm worker pays instead.

1. start-up and imports: a fresh interpreter importing the pipeline and its libraries
   (what Dagster's default launcher paid per video), in a subprocess, median of 3;
2. model loads: every analyzer of the pipeline run twice on one clip in one process
   through a worker's ``ModelCache``: seconds spent loading models on the first video and
   on the second (a warm worker's);
3. the report: rendering a video's plots in a fresh process (matplotlib imported) and
   again in the same process.

    .venv/bin/python benchmarks/fixed_costs.py [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

IMPORTS = (
    "import time; t=time.perf_counter(); from tiktok_assets.workers import _preload; "
    "_preload(1); print(time.perf_counter()-t)"
)


def startup_s(repeat: int = 3) -> dict:
    walls, imports = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", IMPORTS], cwd=REPO, capture_output=True, text=True, check=True
        )
        walls.append(time.perf_counter() - t0)
        imports.append(float(out.stdout.strip().splitlines()[-1]))
    return {
        "process_start_and_imports_s": round(statistics.median(walls), 2),
        "imports_s": round(statistics.median(imports), 2),
    }


def model_loads(clip: Path, data: Path) -> dict:
    from analyzers.core.models import ModelCache, Models
    from analyzers.core.registry import all_analyzers
    from analyzers.core.runner import Runner
    from resources.media_store import MediaStore
    from resources.models import ModelStore
    from resources.settings import Settings
    from tiktok_assets.ingest import decode_config

    settings = Settings()
    store = MediaStore(root=str(data))
    key, _ = store.stage(clip)
    store.keep(key)
    store.write_metadata(key)
    store.decode_frames(key, decode_config(settings))
    store.decode_audio_track(key)
    cache = ModelCache()
    out = {}
    for label in ("first_video", "second_video"):
        before, t0 = cache.load_s, time.perf_counter()
        with Models(ModelStore(model_home=settings.model_home, weights="auto"), "cpu", cache) as m:
            runner = Runner(store.load_media(key), m, settings.overrides(), None)
            for cls in all_analyzers().values():
                runner.run(cls)
        out[label] = {
            "all_analyzers_s": round(time.perf_counter() - t0, 2),
            "model_loads_s": round(cache.load_s - before, 2),
        }
    out["models_cached"] = len(cache)
    return out


REPORT = """
import sys, time
t0 = time.perf_counter()
import pyarrow.parquet as pq
from pathlib import Path
from tiktok_assets.report import _plot
matrix = pq.read_table(sys.argv[1], partitioning=None)
out = Path(sys.argv[2])
t1 = time.perf_counter(); _plot(matrix, out); t2 = time.perf_counter(); _plot(matrix, out)
t3 = time.perf_counter()
print(t2 - t1, t3 - t2, len(list(out.glob('*.png'))))
"""


def report_s(matrix_parquet: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", REPORT, str(matrix_parquet), tmp],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return {
        "report_fresh_process_s": round(float(out[0]), 2),
        "report_warm_s": round(float(out[1]), 2),
        "plots": int(out[2]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    from analyzers.core.synth import Segment, make_clip, speech_track, write_wav
    from tiktok_assets.intelligence import join_tables

    res: dict = {"startup": startup_s()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sp = speech_track(["Three things I wish I knew before starting."], seconds=args.seconds)
        wav = write_wav(tmp / "a.wav", sp.audio, sp.sr)
        half = args.seconds / 2
        clip = make_clip(
            tmp / "clip.mp4",
            [Segment("testsrc2", half), Segment("mandelbrot", half)],
            size=(720, 1280),
            audio=wav,
        )
        res["models"] = model_loads(clip, tmp / "data")
        from analyzers.core.models import Models
        from analyzers.core.registry import all_analyzers
        from analyzers.core.runner import Runner
        from resources.media_store import MediaStore
        from resources.settings import Settings

        store = MediaStore(root=str(tmp / "data"))
        key = next(p.stem for p in (tmp / "data" / "videos").glob("*.mp4"))
        with Models(None, "cpu") as m:
            runner = Runner(store.load_media(key), m, Settings().overrides(), None)
            tables = {n: runner.run(c).table for n, c in all_analyzers().items()}
        import pyarrow.parquet as pq

        pq.write_table(join_tables(tables), tmp / "matrix.parquet")
        res["report"] = report_s(tmp / "matrix.parquet")
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
