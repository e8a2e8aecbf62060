"""The machine plan (resources.machine): runs at once, stage slots and threads follow
cores, memory and GPUs; environment overrides win; the run coordinator and the model
cache of warm workers (tiktok_assets.workers) use it."""

from __future__ import annotations

import shutil

import pytest

from analyzers.core.models import ModelCache, Models
from resources import machine
from resources.machine import machine_plan
from tests.conftest import REPO

PLAN_VARS = ("TIKTOK_MAX_RUNS", "TIKTOK_GPU_SLOTS", "TIKTOK_RUN_THREADS", "TIKTOK_RUN_MEMORY_GB")


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    for var in PLAN_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("cores", "mem", "slots", "runs", "stage_slots", "threads"),
    [
        (2, 24.0, 0, 2, 2, 1),  # this machine: one run per core, stages as CPU work
        (16, 8.0, 0, 3, 3, 5),  # memory-bound: 8 GB holds 3 runs of 2.5 GB
        (32, 256.0, 2, 4, 2, 8),  # two GPUs: two runs per GPU, one stage slot each
        (4, 64.0, 8, 4, 8, 1),  # 8 leases on 4 cores: no more runs than cores
        (1, 1.0, 0, 1, 1, 1),  # never below one
    ],
)
def test_plan_follows_cores_memory_and_gpus(cores, mem, slots, runs, stage_slots, threads):
    plan = machine_plan(cores=cores, mem_gb=mem, gpu_slots=slots)
    assert (plan.runs, plan.stage_slots, plan.threads) == (runs, stage_slots, threads)
    assert plan.source == ()
    assert f"{runs} run(s) at once" in plan.describe()


def test_environment_overrides_win(monkeypatch):
    monkeypatch.setenv("TIKTOK_MAX_RUNS", "3")
    monkeypatch.setenv("TIKTOK_GPU_SLOTS", "1")
    plan = machine_plan(cores=8, mem_gb=64.0, gpu_slots=0)
    assert (plan.runs, plan.stage_slots, plan.threads) == (3, 1, 2)
    assert plan.source == ("TIKTOK_MAX_RUNS", "TIKTOK_GPU_SLOTS")
    monkeypatch.setenv("TIKTOK_RUN_MEMORY_GB", "10")
    monkeypatch.delenv("TIKTOK_MAX_RUNS")
    assert machine_plan(cores=8, mem_gb=25.0, gpu_slots=0).runs == 2  # 25 GB / 10 GB


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "CGROUP", tmp_path)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    unlimited = machine.cpu_cores()
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # one CPU's worth
    assert machine.cpu_cores() == 1 <= unlimited
    (tmp_path / "memory.max").write_text(str(3 * 10**9))
    assert machine.memory_gb() == pytest.approx(3.0)


def test_the_run_coordinator_takes_its_limit_from_the_plan(tmp_path, monkeypatch):
    from dagster import DagsterInstance

    from tiktok_assets.workers import MachineRunCoordinator, WarmRunLauncher

    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, MachineRunCoordinator)
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == machine_plan().runs
    monkeypatch.setenv("TIKTOK_MAX_RUNS", "5")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 5


def test_a_model_cache_keeps_models_across_scopes():
    cache = ModelCache(max_items=2)
    made = []

    def factory(name):
        return lambda: made.append(name) or object()

    with Models(None, "cpu", cache=cache) as a:
        first = a.get("whisper", factory("whisper"))
    with Models(None, "cpu", cache=cache) as b:
        assert b.get("whisper", factory("whisper")) is first  # no second load
        b.get("yamnet", factory("yamnet"))
        b.get("silero", factory("silero"))  # evicts the least recently used: whisper
    assert made == ["whisper", "yamnet", "silero"]
    assert (cache.hits, cache.misses, len(cache)) == (1, 3, 2)
    with Models(None, "cuda:0", cache=cache) as c:  # another device: another model
        assert c.get("yamnet", factory("yamnet")) is not None
    assert made[-1] == "yamnet"
    with Models(None, "cpu") as own:  # no cache: the scope owns its models
        own.get("whisper", factory("whisper"))
    assert own.loaded == [] and made[-1] == "whisper"


def test_a_warm_worker_keeps_models_where_they_fit(monkeypatch):
    from tiktok_assets import workers

    assert workers.model_cache("cpu") is None  # this process is no warm worker
    monkeypatch.setitem(workers._WARM, "cache", ModelCache())
    assert workers.model_cache("cpu") is workers._WARM["cache"]
    # auto on a GPU: keep when the card holds every stage's models for each lease
    monkeypatch.setattr(workers, "device_gb", lambda device: 16.0)
    assert workers.model_cache("cuda:0") is None  # a 16 GB card: the stages free memory
    monkeypatch.setattr(workers, "device_gb", lambda device: 80.0)
    monkeypatch.setenv("TIKTOK_LEASES_PER_DEVICE", "2")
    assert workers.model_cache("cuda:0") is workers._WARM["cache"]  # 40 GB a lease
    monkeypatch.setenv("TIKTOK_LEASES_PER_DEVICE", "8")
    assert workers.model_cache("cuda:0") is None  # 10 GB a lease
    monkeypatch.setenv("TIKTOK_LEASES_PER_DEVICE", "")
    monkeypatch.setenv("TIKTOK_KEEP_MODELS", "on")
    assert workers.model_cache("cuda:0") is workers._WARM["cache"]
    monkeypatch.setenv("TIKTOK_KEEP_MODELS", "off")
    assert workers.model_cache("cpu") is None


def test_a_worker_sees_its_code_change_on_disk(tmp_path):
    """An edit under `make dev` makes code_stamp newer than the worker's start, so the
    worker hands its next run to a fresh one instead of running stale code."""
    import os
    import time

    import tiktok_assets.report as module
    from tiktok_assets.workers import code_stamp

    started = time.time()
    path = module.__file__
    st = os.stat(path)
    try:
        assert code_stamp() <= started
        os.utime(path, (st.st_atime, started + 5))
        assert code_stamp() > started
    finally:
        os.utime(path, (st.st_atime, st.st_mtime))
