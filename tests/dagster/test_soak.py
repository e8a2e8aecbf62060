"""Many videos through a running `dagster dev` (benchmarks/soak.py, small N): every
distinct clip analysed once, copies skipped, bad files quarantined, nothing lost, and a
SIGTERM leaves no process and no run behind; a stop in the middle puts unstarted work
back in the queue and a restart finishes it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import soak


def test_a_small_soak_loses_nothing_and_stops_clean(tmp_path):
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "soak.py"),
            *("--n", "2", "--dups", "1", "--bad", "2", "--min-s", "2", "--max-s", "3"),
            *("--size", "180x320", "--max-minutes", "8"),
            *("--json", str(out), "--work", str(tmp_path / "w")),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert proc.returncode == 0, res
    assert (res["runs_launched"], res["succeeded"], res["failed"]) == (2, 2, 0), res
    assert (res["lost"], res["duplicate_runs"], res["duplicates_skipped"]) == (0, 0, 1), res
    assert res["quarantined"] == 2, res
    assert res["processes_left_after_stop"] == [] and res["runs_left_started"] == 0, res
    assert res["stop_s"] < 60, res


def _runs(instance):
    from dagster import RunsFilter

    return instance.get_run_records(RunsFilter(job_name="analyze_video"))


def test_stop_mid_run_then_restart_finishes_everything(tmp_path):
    """One worker (TIKTOK_MAX_RUNS=1), two clips: SIGTERM while the first runs. Nothing
    is left running, no run is left STARTED; the restart runs what was queued, and a run
    the stop interrupted is failed with the reason (or finished within the grace)."""
    from dagster import DagsterInstance, DagsterRunStatus

    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    clips = soak.make_clips(tmp_path / "clips", 2, 2.0, 3.0, (180, 320), seed=7)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        TIKTOK_DATA=str(data),
        TIKTOK_MODEL_HOME=os.environ["TIKTOK_MODEL_HOME"],
        TIKTOK_WEIGHTS="real",
        TIKTOK_MAX_RUNS="1",
        PYTHONPATH=str(REPO),
    )
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            instance.get_runs(limit=1)
            dev = soak.start_dev(env, tmp_path / "dev1.log")
            tree = [psutil.Process(dev.pid)]
            try:
                soak.wait_daemon(instance, dev, tmp_path / "dev1.log")
                (data / "uploads").mkdir(parents=True, exist_ok=True)
                for c in clips:
                    shutil.copyfile(c, data / "uploads" / c.name)
                deadline = time.time() + 240
                while time.time() < deadline:  # the first run is working
                    started = [
                        r for r in _runs(instance)
                        if r.dagster_run.status == DagsterRunStatus.STARTED
                    ]  # fmt: skip
                    if started and len(_runs(instance)) == 2:
                        break
                    time.sleep(0.5)
                assert started, (tmp_path / "dev1.log").read_text()[-3000:]
                tree = soak.TreeSampler(dev.pid).tree()
            finally:
                dev.send_signal(signal.SIGTERM)
                _, alive = psutil.wait_procs(tree, timeout=90)
            assert [p for p in alive if p.is_running()] == [], "processes left after stop"
            states = {r.dagster_run.run_id: r.dagster_run.status for r in _runs(instance)}
            assert DagsterRunStatus.STARTED not in states.values(), states
            assert DagsterRunStatus.STARTING not in states.values(), states
            first = started[0].dagster_run.run_id
            assert states[first] in (DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS)
            if states[first] == DagsterRunStatus.FAILURE:
                text = " ".join(
                    e.message for e in instance.all_logs(first) if e.message
                )  # fmt: skip
                assert "interrupt" in text.lower() or "stopped with the daemon" in text
            queued = [k for k, s in states.items() if s == DagsterRunStatus.QUEUED]
            assert len(queued) >= 1, states

            dev = soak.start_dev(env, tmp_path / "dev2.log")  # the restart
            try:
                soak.wait_daemon(instance, dev, tmp_path / "dev2.log")
                deadline = time.time() + 300
                while time.time() < deadline:
                    recs = {r.dagster_run.run_id: r.dagster_run for r in _runs(instance)}
                    if all(recs[k].is_finished for k in queued):
                        break
                    time.sleep(1)
                assert all(recs[k].status == DagsterRunStatus.SUCCESS for k in queued), {
                    k: recs[k].status for k in queued
                }
                assert len(recs) == 2  # the restart made no new runs: no duplicates
            finally:
                tree = soak.TreeSampler(dev.pid).tree()
                dev.send_signal(signal.SIGTERM)
                psutil.wait_procs(tree, timeout=90)
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved


@pytest.fixture(autouse=True)
def _need_dagster_cli():
    if not (Path(sys.executable).parent / "dagster").exists():
        pytest.skip("the dagster CLI is not in this environment")
