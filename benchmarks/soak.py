"""Soak: N generated clips dropped at once into ``uploads/`` of a running ``dagster dev``.

What a user does with a video archive: start the services (`make dev`), copy a folder of
clips into the watched folder, wait. This starts ``dagster dev`` exactly as `make dev`
does, on a fresh instance (SQLite, or a fresh PostgreSQL database), drops ``--n``
distinct speaking clips of ``--min-s``..``--max-s`` seconds plus ``--dups`` byte copies
under other names and ``--bad`` bad files (zero bytes, not a video) in one go, follows the
runs until the queue is drained, stops ``dagster dev`` with SIGTERM, and prints:

  videos per hour, time to drain, runs launched / succeeded / failed, duplicates skipped
  (copies that made no run), quarantined, lost (distinct clips with no successful run:
  must be 0), duplicate runs (must be 0), peak memory of the whole process tree, the
  stop (seconds until every process was gone; processes left; runs left STARTED).

``--baseline`` runs the instance settings of before (Dagster's process-per-run
launcher, 4 runs at once on SQLite / 8 on PostgreSQL, one stage slot) for comparison;
``--max-minutes`` stops early and reports the rate so far.

    .venv/bin/python benchmarks/soak.py --n 24                     # SQLite
    .venv/bin/python benchmarks/soak.py --n 24 --instance postgres # 127.0.0.1:5432
    .venv/bin/python benchmarks/soak.py --n 24 --baseline --max-minutes 12

Weights policy ``real`` (what a sensor-fed run uses): analyzers without real weights in the
model home are skipped, not run on random weights.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzers.core.synth import Segment, make_clip, speech_track, write_wav  # noqa: E402

SENTENCES = [
    "Here is the one trick that changed my morning routine.",
    "Watch what happens when I add the second ingredient.",
    "Nobody tells you this about travelling with a camera.",
    "Three things I wish I knew before starting this channel.",
    "This is how the whole thing looks after one week.",
    "Stay until the end because the last step is the best.",
]
SOURCES = ["testsrc2", "mandelbrot", "life=mold=10:ratio=0.1:death_color=#C83232", "cellauto"]


def make_clips(folder: Path, n: int, lo: float, hi: float, size: tuple[int, int], seed: int):
    """``n`` distinct clips: a moving pattern with a cut, a spoken sentence over a tone."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        seconds = round(rng.uniform(lo, hi), 2)
        cut = round(seconds * rng.uniform(0.35, 0.65), 2)
        speech = speech_track([SENTENCES[i % len(SENTENCES)]], lead=0.3, seconds=seconds)
        tone = 0.05 * np.sin(2 * np.pi * (220 + 20 * i) * np.arange(len(speech.audio)) / speech.sr)
        wav = write_wav(folder / f".a{i}.wav", (speech.audio + tone).astype(np.float32), speech.sr)
        a, b = SOURCES[i % len(SOURCES)], SOURCES[(i + 1) % len(SOURCES)]
        clip = make_clip(
            folder / f"clip_{i:03d}.mp4",
            [Segment(a, cut), Segment(b, round(seconds - cut, 2))],
            size=size,
            audio=wav,
        )
        wav.unlink()
        out.append(clip)
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def baseline_yaml(instance: str) -> dict:
    """The instance settings before the machine plan: Dagster's default launcher and a
    fixed run limit, one stage slot."""
    cfg: dict = {
        "concurrency": {
            "pools": {"default_limit": 1, "granularity": "op"},
            "runs": {"max_concurrent_runs": 8 if instance == "postgres" else 4},
        },
        "run_monitoring": {
            "enabled": True,
            "poll_interval_seconds": 30,
            "free_slots_after_run_end_seconds": 30,
        },
        "telemetry": {"enabled": False},
    }
    if instance == "postgres":
        cur = yaml.safe_load((REPO / "dagster_home" / "dagster.postgres.yaml").read_text())
        cfg["storage"] = cur["storage"]
    return cfg


def pg_database(name: str, drop: bool = False) -> dict[str, str]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not drop:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": name,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dev(env: dict[str, str], log: Path) -> subprocess.Popen:
    """``dagster dev`` as `make dev` runs it (through scripts/run_service.py), on a free
    port, in its own session."""
    return subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "run_service.py"),
            str(Path(sys.executable).parent / "dagster"),
            *("dev", "-w", "workspace.yaml", "-p", str(free_port()), "-h", "127.0.0.1"),
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_daemon(instance, dev: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    """Until the daemon's sensor and run-queue loops beat (RuntimeError if it never does)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if dev.poll() is not None:
            raise RuntimeError(f"dagster dev exited; see {log}")
        if {"SENSOR", "QUEUED_RUN_COORDINATOR"} <= set(instance.get_daemon_heartbeats()):
            return
        time.sleep(1)
    raise RuntimeError(f"the daemon never started; see {log}")


class TreeSampler(threading.Thread):
    """Peak summed RSS (MB) and process count of a process tree, sampled every second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_mb = 0.0
        self.peak_procs = 0
        self.load: list[float] = []
        self.stop = threading.Event()

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def run(self) -> None:
        while not self.stop.wait(1.0):
            rss = 0
            procs = self.tree()
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak_mb = max(self.peak_mb, rss / 1e6)
            self.peak_procs = max(self.peak_procs, len(procs))
            self.load.append(os.getloadavg()[0])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24, help="distinct clips")
    ap.add_argument("--dups", type=int, default=2, help="byte copies under other names")
    ap.add_argument("--bad", type=int, default=2, help="bad files (zero bytes, not a video)")
    ap.add_argument("--min-s", type=float, default=5.0)
    ap.add_argument("--max-s", type=float, default=8.0)
    ap.add_argument("--size", default="720x1280", help="width x height")
    ap.add_argument("--instance", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--baseline", action="store_true", help="the settings before issue 19")
    ap.add_argument("--max-minutes", type=float, default=90.0, help="stop early, report so far")
    ap.add_argument("--weights", default="real")
    ap.add_argument("--work", help="working folder (default: a temp folder, removed)")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the services (TIKTOK_MAX_RUNS=3)"
    )
    args = ap.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="tiktok-soak-"))
    home, data, clips_dir = work / "home", work / "data", work / "clips"
    home.mkdir(parents=True, exist_ok=True)
    size = tuple(int(x) for x in args.size.split("x"))
    t_gen = time.time()
    clips = make_clips(clips_dir, args.n, args.min_s, args.max_s, size, args.seed)
    print(f"generated {len(clips)} clips in {time.time() - t_gen:.0f} s", flush=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        TIKTOK_DATA=str(data),
        TIKTOK_WEIGHTS=args.weights,
        PYTHONPATH=str(REPO),
    )
    for k in ("TIKTOK_MODEL_HOME",):  # keep the model home (tests point it at theirs)
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(kv.split("=", 1) for kv in args.env)
    pg_name = None
    if args.instance == "postgres":
        pg_name = f"tiktok_soak_{os.getpid()}"
        env.update(pg_database(pg_name))
    if args.baseline:
        (home / "dagster.yaml").write_text(yaml.safe_dump(baseline_yaml(args.instance)))
        env["TIKTOK_GPU_SLOTS"] = "1"  # the pool guard kept the instance default on a CPU host
    else:
        name = "dagster.postgres.yaml" if args.instance == "postgres" else "dagster.yaml"
        shutil.copyfile(REPO / "dagster_home" / name, home / "dagster.yaml")
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DAGSTER_", "TIKTOK_"))})
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    instance = DagsterInstance.get()
    instance.get_runs(limit=1)  # storage created before dagster dev opens it
    dev = start_dev(env, work / "dev.log")
    sampler = TreeSampler(dev.pid)
    sampler.start()
    result: dict = {
        "n": args.n,
        "instance": args.instance,
        "settings": ("baseline" if args.baseline else "machine plan + warm workers")
        + "".join(f" {kv}" for kv in args.env),
        "cores": os.cpu_count(),
    }
    try:
        wait_daemon(instance, dev, work / "dev.log")
        uploads = data / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        staging = work / "staging"
        staging.mkdir(exist_ok=True)
        drops = [(c, c.name) for c in clips]
        drops += [(clips[i % len(clips)], f"copy_{i}_{clips[i % len(clips)].name}")
                  for i in range(args.dups)]  # fmt: skip
        bad = []
        for i in range(args.bad):
            p = staging / (f"empty_{i}.mp4" if i % 2 == 0 else f"notes_{i}.mp4")
            p.write_bytes(b"" if i % 2 == 0 else b"this is a text file, not a video\n" * 40)
            bad.append(p)
            drops.append((p, p.name))
        for src, name in drops:  # same filesystem: each appears whole, all at once
            shutil.copyfile(src, staging / f".{name}")
        t0 = time.time()
        for _, name in drops:
            os.replace(staging / f".{name}", uploads / name)
        print(f"dropped {len(drops)} files at {time.strftime('%H:%M:%S')}", flush=True)
        stop_at = t0 + args.max_minutes * 60
        timed_out = False
        last = ""
        while True:
            recs = instance.get_run_records(RunsFilter(job_name="analyze_video"))
            done = [r for r in recs if r.dagster_run.is_finished]
            ok = [r for r in done if r.dagster_run.status == DagsterRunStatus.SUCCESS]
            line = (
                f"{time.time() - t0:5.0f} s: {len(recs)} runs, {len(ok)} ok, {len(done)} finished"
            )
            if line.split(":")[1] != last:
                print(line, flush=True)
                last = line.split(":")[1]
            pending = [p for p in uploads.iterdir() if not p.name.startswith(".")]
            if len(recs) >= args.n and len(done) == len(recs) and not pending:
                break
            if time.time() > stop_at:
                timed_out = True
                break
            time.sleep(2)
        end = time.time()
        ends = [r.end_time for r in done if r.end_time]
        drain_s = (max(ends) - t0) if ends and not timed_out else end - t0
        durations = [r.end_time - r.start_time for r in done if r.end_time and r.start_time]
        by_key: dict[str, int] = {}
        for r in recs:
            key = r.dagster_run.tags.get("dagster/partition", "?")
            by_key[key] = by_key.get(key, 0) + 1
        ok_hashes = {r.dagster_run.tags.get("dagster/partition", "").rsplit("-", 1)[-1] for r in ok}
        quarantined = sorted(
            p.name for p in (data / "quarantine").glob("*") if not p.name.endswith(".txt")
        ) if (data / "quarantine").is_dir() else []  # fmt: skip
        lost = [c.name for c in clips if sha(c)[:10] not in ok_hashes]
        result.update(
            videos_per_hour=round(len(ok) / drain_s * 3600, 1),
            drain_s=round(drain_s, 1),
            timed_out=timed_out,
            runs_launched=len(recs),
            succeeded=len(ok),
            failed=len(done) - len(ok),
            unfinished=len(recs) - len(done),
            duplicate_files=args.dups,
            duplicates_skipped=args.dups - (len(recs) - len(by_key)) if recs else 0,
            duplicate_runs=sum(v - 1 for v in by_key.values()),
            quarantined=len(quarantined),
            bad_files=args.bad,
            lost=len(lost) if not timed_out else None,
            run_s_median=round(statistics.median(durations), 1) if durations else None,
            peak_memory_mb=round(sampler.peak_mb),
            peak_processes=sampler.peak_procs,
            load_avg_max=round(max(sampler.load), 1) if sampler.load else None,
        )
    finally:
        result.update(stop(dev, sampler, instance))
        sampler.stop.set()
        instance.dispose()
        if pg_name:
            pg_database(pg_name, drop=True)
        if not args.work and not result.get("failed"):
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


def stop(dev: subprocess.Popen, sampler: TreeSampler, instance) -> dict:
    """SIGTERM to `dagster dev` (what `kill` or a service manager sends); how long until
    every process of its tree is gone, what is left, and the runs left STARTED."""
    from dagster import DagsterRunStatus, RunsFilter

    tree = sampler.tree()
    t0 = time.time()
    dev.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=90)
    stop_s = time.time() - t0
    left = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive if p.is_running()]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    stuck = instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])
    )
    queued = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
    return {
        "stop_s": round(stop_s, 1),
        "processes_left_after_stop": left,
        "runs_left_started": len(stuck),
        "runs_left_queued": len(queued),
    }


if __name__ == "__main__":
    res = main()
    sys.exit(0 if res.get("lost") == 0 and res.get("duplicate_runs") == 0 else 1)
