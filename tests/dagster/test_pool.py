"""Two runs started together never overlap inside the `gpu` pool: each is its own process
on one instance (SQLite, and PostgreSQL as several machines would share), and a test-only
analyzer records when it holds the stage."""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from analyzers.core.synth import Segment, make_clip
from tests.conftest import REPO, SMALL


@contextmanager
def _instance(home: Path, extra_env: dict[str, str]) -> Iterator[DagsterInstance]:
    """The instance in ``home``, with ``extra_env`` (DAGSTER_PG_*) set while it is open."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in extra_env.items():
            mp.setenv(k, v)
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance


def _run_pair(
    tmp: Path,
    clips: list[Path],
    pool_limit: int,
    instance_yaml: str = "dagster.yaml",
    extra_env: dict[str, str] | None = None,
) -> list[dict]:
    home = tmp / f"home{pool_limit}"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster_home" / instance_yaml).read_text())
    config["concurrency"]["pools"]["default_limit"] = pool_limit
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "TIKTOK_GPU_SLOTS": str(pool_limit),  # the pool guard sets the pool from the plan
        **(extra_env or {}),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }
    with _instance(home, extra_env or {}) as instance:  # create the schema once
        instance.get_runs(limit=1)
    log = tmp / f"probe{pool_limit}.jsonl"
    go = tmp / f"go{pool_limit}"
    procs, ready = [], []
    for i, clip in enumerate(clips):
        flag = tmp / f"ready{pool_limit}-{i}"
        ready.append(flag)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.dagster.pool_probe_run",
                    str(clip),
                    str(tmp / f"data{pool_limit}"),
                    str(log),
                    str(flag),
                    str(go),
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.time() + 120
    while not all(f.exists() for f in ready) and time.time() < deadline:
        time.sleep(0.05)
    go.write_text("go")
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def two_clips(media_dir):
    return [
        make_clip(media_dir / f"pool{i}.mp4", [Segment(f"color=c={c}", 2.0)], size=SMALL)
        for i, c in enumerate(("red", "green"))
    ]


def _overlap(records: list[dict]) -> float:
    a, b = sorted(records, key=lambda r: r["enter"])
    return min(a["exit"], b["exit"]) - b["enter"]


def test_runs_started_together_take_turns_in_the_gpu_pool(tmp_path, two_clips):
    records = _run_pair(tmp_path, two_clips, pool_limit=1)
    assert len(records) == 2 and len({r["video"] for r in records}) == 2
    assert _overlap(records) <= 0, records  # one after the other


@pytest.mark.postgres
def test_runs_take_turns_on_postgres_storage(tmp_path, two_clips, pg_env):
    records = _run_pair(tmp_path, two_clips, 1, "dagster.postgres.yaml", pg_env)
    assert len(records) == 2 and _overlap(records) <= 0, records


def test_with_two_slots_the_same_runs_do_overlap(tmp_path, two_clips):
    """The control: the probe does see overlap when the pool allows it, so the test above
    would catch a pool that does not hold."""
    records = _run_pair(tmp_path, two_clips, pool_limit=2)
    assert _overlap(records) > 0.5, records


def test_a_killed_run_gives_its_gpu_slot_back(tmp_path, two_clips):
    """SIGKILL a run while its stage holds the pool: the slot stays taken (Dagster cannot
    see the dead worker) until the reaper fails the run and frees it."""
    from tiktok_assets.pool_guard import PID, reap_dead_runs

    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
    log, go = tmp_path / "probe.jsonl", tmp_path / "go"
    go.write_text("go")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO), "PROBE_SLEEP": "120"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.dagster.pool_probe_run",
            str(two_clips[0]),
            str(tmp_path / "data"),
            str(log),
            str(tmp_path / "ready"),
            str(go),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        deadline = time.time() + 120
        while not storage.get_concurrency_run_ids() and time.time() < deadline:
            time.sleep(0.2)
        (run_id,) = storage.get_concurrency_run_ids()
        while PID not in instance.get_run_by_id(run_id).tags and time.time() < deadline:
            time.sleep(0.2)  # the stage op tags its run as it starts
        assert reap_dead_runs(instance) == []  # alive: left alone
        proc.kill()
        proc.wait()
        assert storage.get_concurrency_info("gpu").active_slot_count == 1  # leaked
        assert reap_dead_runs(instance) == [run_id]
        assert storage.get_concurrency_info("gpu").active_slot_count == 0
        assert instance.get_run_by_id(run_id).status.value == "FAILURE"


_ENSURE = """
import sys, time
from pathlib import Path
from dagster import DagsterInstance
from tiktok_assets.pool_guard import ensure_pool
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
with DagsterInstance.get() as instance:
    ensure_pool(instance)
"""


def _race_ensure(tmp: Path, instance_yaml: str, extra_env: dict[str, str]) -> None:
    home = tmp / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / instance_yaml, home / "dagster.yaml")
    env = {
        **os.environ,
        **extra_env,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
        "TIKTOK_GPU_SLOTS": "1",
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from dagster import DagsterInstance as D; D.get().get_runs(limit=1)",
        ],
        env=env,
        check=True,
    )  # schema first
    go = tmp / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ENSURE, str(go)],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(4)  # all four are waiting on the barrier
    go.write_text("go")
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outs)
    with _instance(home, extra_env) as instance:
        info = instance.event_log_storage.get_concurrency_info("gpu")
    assert (info.limit, info.slot_count) == (1, 1)


def test_racing_pool_setup_leaves_one_slot_sqlite(tmp_path):
    _race_ensure(tmp_path, "dagster.yaml", {})


@pytest.mark.postgres
def test_racing_pool_setup_leaves_one_slot_postgres(tmp_path, pg_env):
    _race_ensure(tmp_path, "dagster.postgres.yaml", pg_env)


def test_two_runs_together_lease_different_devices(tmp_path, two_clips):
    """Two fake devices, one lease each: the pool limit follows them (2, though the
    instance default is 1), both runs work at once, each on its own device."""
    from tiktok_assets.intelligence import latest_metadata

    env = {"TIKTOK_DEVICES": "cpu:0,cpu:1", "TIKTOK_LEASES_PER_DEVICE": "1", "TIKTOK_GPU_SLOTS": ""}
    records = _run_pair(tmp_path, two_clips, 1, extra_env=env)
    assert _overlap(records) > 0.5, records
    with _instance(tmp_path / "home1", env) as instance:
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 2
        leases = [
            latest_metadata(instance, "pool_probe", r["video"])["device_lease"] for r in records
        ]
    assert sorted(leases) == ["cpu:0#0", "cpu:1#0"], leases


_DECODE_ONLY = """
import sys
from pathlib import Path
from dagster import AssetKey, DagsterInstance
from tests.dagster.helpers import run_video
keys = ("video_file", "video_metadata", "segment_frames")
run_video(Path(sys.argv[1]), DagsterInstance.get(), Path(sys.argv[2]),
          selection=[AssetKey(k) for k in keys])
"""


def test_a_run_killed_outside_the_pool_is_failed_and_its_temp_removed(tmp_path):
    """SIGKILL a run in the middle of its decode (no pool slot held): the run would stay
    STARTED forever and count against max_concurrent_runs; the reaper fails it, and the
    sweep removes the half-written frames folder once no live run works on that video."""
    from tiktok_assets.pool_guard import PID, reap_dead_runs, sweep_temp

    clip = make_clip(tmp_path / "long.mp4", [Segment("testsrc2", 20.0)], size=(720, 1280), fps=30)
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _DECODE_ONLY, str(clip), str(data)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    tmp_frames: list[Path] = []
    while not tmp_frames and time.time() < deadline and proc.poll() is None:
        tmp_frames = list((data / "frames").glob(".*.tmp")) if (data / "frames").is_dir() else []
        time.sleep(0.02)
    assert tmp_frames, "the decode never started (or finished before it could be killed)"
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert PID in run.tags and run.tags[PID] == str(proc.pid)
        assert reap_dead_runs(instance) == []  # alive: left alone
        assert sweep_temp(instance, data) == []  # its video is being worked on
        proc.kill()
        proc.wait()
        assert instance.get_run_by_id(run.run_id).status.value == "STARTED"  # stuck
        assert reap_dead_runs(instance) == [run.run_id]
        failed = instance.get_run_by_id(run.run_id)
        assert failed.status.value == "FAILURE"
        assert tmp_frames[0].exists()
        assert sweep_temp(instance, data) == tmp_frames
        assert not tmp_frames[0].exists()
        assert reap_dead_runs(instance) == []


def test_a_run_waiting_for_the_pool_is_told_who_holds_it(tmp_path, monkeypatch):
    """A run of this process whose stage waits for the gpu slot gets a message naming the
    run, video and step that hold the slot; nothing while it does not wait."""
    from dagster._core.test_utils import create_run_for_test

    from tiktok_assets.pool_guard import PID, ensure_pool, pool_wait_message

    monkeypatch.setenv("TIKTOK_GPU_SLOTS", "1")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_pool(instance)
        holder = create_run_for_test(
            instance, job_name="analyze_video", tags={"dagster/partition": "other-0123456789"}
        )
        mine = create_run_for_test(instance, job_name="analyze_video", tags={PID: str(os.getpid())})
        storage = instance.event_log_storage
        assert storage.claim_concurrency_slot("gpu", holder.run_id, "stage1_heavy").is_claimed
        assert pool_wait_message(instance, os.getpid()) is None  # nobody of ours waits
        assert not storage.claim_concurrency_slot("gpu", mine.run_id, "stage1_heavy").is_claimed
        msg = pool_wait_message(instance, os.getpid())
        assert msg is not None
        assert f"run {holder.run_id[:8]} (video other-0123456789, stage1_heavy" in msg
        assert pool_wait_message(instance, os.getpid() + 1) is None  # another process's run
        storage.free_concurrency_slots_for_run(holder.run_id)
        storage.free_concurrency_slots_for_run(mine.run_id)
        assert pool_wait_message(instance, os.getpid()) is None


def _claim_with_a_rival_between(home: Path, extra_env: dict[str, str]) -> tuple[str, str, set]:
    """Run A's claim of the one `gpu` slot, and at the worst moment (A has selected the
    free row and is about to update it) let B claim the slot on its own connection. B's step is
    one that was assigned too (the pending-step bookkeeping can assign two steps to one
    slot when they register at once), so it goes straight to the slot rows. Returns A's
    and B's claim results and the (run, step) pairs that then hold a slot row."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from tiktok_assets.pool_guard import ensure_pool

    with _instance(home, extra_env) as a, _instance(home, extra_env) as b:
        ensure_pool(a)
        rival: dict[str, object] = {}

        def before(conn, cursor, statement, params, context, executemany):
            a_takes_a_row = statement.lstrip().upper().startswith("UPDATE CONCURRENCY_SLOTS")
            if a_takes_a_row and "A" in rival and "B" not in rival:
                rival["B"] = None  # B's own update comes through here too
                rival["B"] = b.event_log_storage._claim_concurrency_slot("gpu", "run-b", "stage")

        event.listen(Engine, "before_cursor_execute", before)
        try:
            rival["A"] = True
            got_a = a.event_log_storage.claim_concurrency_slot("gpu", "run-a", "stage")
        finally:
            event.remove(Engine, "before_cursor_execute", before)
        holders = {
            (s.run_id, s.step_key)
            for s in a.event_log_storage.get_concurrency_info("gpu").claimed_slots
        }
        return got_a.slot_status.name, rival["B"].name, holders


@pytest.mark.parametrize("fixed", [True, False], ids=["compare_and_set", "dagster_own"])
def test_a_slot_taken_between_select_and_update_is_not_taken_again(tmp_path, fixed):
    """The race behind two runs in a pool of one (tiktok_assets/slot_claim.py), made
    deterministic: the rival claims between A's select and A's update. With the fix A is
    BLOCKED and B holds the slot; Dagster's own claim gives both CLAIMED (if this part
    starts failing after a Dagster upgrade, upstream fixed it and slot_claim can go)."""
    from tiktok_assets import slot_claim

    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    if not fixed:
        slot_claim.uninstall()
    try:
        a, b, holders = _claim_with_a_rival_between(home, {"TIKTOK_GPU_SLOTS": "1"})
    finally:
        slot_claim.install()
    if fixed:
        assert (a, b) == ("BLOCKED", "CLAIMED") and holders == {("run-b", "stage")}
    else:
        assert (a, b) == ("CLAIMED", "CLAIMED") and len(holders) == 1  # two holders, one row


@pytest.mark.postgres
def test_a_slot_taken_between_select_and_update_postgres(tmp_path, pg_env):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.postgres.yaml", home / "dagster.yaml")
    a, b, holders = _claim_with_a_rival_between(home, {**pg_env, "TIKTOK_GPU_SLOTS": "1"})
    assert (a, b) == ("BLOCKED", "CLAIMED") and holders == {("run-b", "stage")}
