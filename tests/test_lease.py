"""Device leases (resources.lease): with two devices and two slots in the pool, ops that
start together get different devices and never share one; a killed op's lease is freed at
once; the pool limit follows the devices."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resources.lease import (
    auto_gpu_leases,
    devices,
    holders,
    lease,
    leases_per_device,
    pool_limit,
)
from resources.machine import machine_plan
from tests.conftest import REPO

HOLDER = """
import json, os, sys, time
from resources.lease import lease
out, hold = sys.argv[1], float(sys.argv[2])
go = os.path.join(os.path.dirname(out), "go")
while not os.path.exists(go):
    time.sleep(0.01)
with lease(["cpu:0", "cpu:1"], per_device=1, lock_dir=sys.argv[3]) as held:
    t0 = time.time()
    time.sleep(hold)
    with open(out, "w") as f:
        json.dump({"device": held.name, "start": t0, "end": time.time(), "waited": held.waited_s}, f)
"""


def _start(tmp: Path, n: int, hold: float) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(tmp / f"p{i}.json"), str(hold), str(tmp / "locks")],
            env=env,
        )
        for i in range(n)
    ]
    time.sleep(1.5)  # every process imported and waiting at the start line
    (tmp / "go").touch()
    return procs


def _records(tmp: Path, n: int) -> list[dict]:
    return [json.loads((tmp / f"p{i}.json").read_text()) for i in range(n)]


def test_two_ops_started_together_get_different_devices(tmp_path):
    procs = _start(tmp_path, 2, hold=1.0)
    assert all(p.wait(30) == 0 for p in procs)
    a, b = _records(tmp_path, 2)
    assert {a["device"], b["device"]} == {"cpu:0", "cpu:1"}
    assert a["start"] < b["end"] and b["start"] < a["end"]  # and they ran at the same time


def test_four_ops_on_two_devices_never_share_one(tmp_path):
    procs = _start(tmp_path, 4, hold=0.6)
    assert all(p.wait(60) == 0 for p in procs)
    recs = _records(tmp_path, 4)
    for dev in ("cpu:0", "cpu:1"):
        spans = sorted((r["start"], r["end"]) for r in recs if r["device"] == dev)
        assert len(spans) == 2
        assert spans[0][1] <= spans[1][0], f"{dev} was held twice at once: {spans}"
    assert sorted(r["waited"] > 0.4 for r in recs) == [False, False, True, True]


def test_a_killed_holder_frees_its_device_at_once(tmp_path):
    locks = tmp_path / "locks"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = (
        "import sys, time\nfrom resources.lease import lease\n"
        "with lease(['cpu:0'], per_device=1, lock_dir=sys.argv[1], owner='doomed'):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(locks)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    assert [h["owner"] for h in holders(locks).values()] == ["doomed"]
    with (
        pytest.raises(TimeoutError, match="doomed"),
        lease(["cpu:0"], per_device=1, lock_dir=locks, timeout_s=0.3),
    ):
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    t0 = time.monotonic()
    with lease(["cpu:0"], per_device=1, lock_dir=locks, timeout_s=5) as held:
        assert held.name == "cpu:0" and held.device == "cpu"
        assert time.monotonic() - t0 < 1.0
    assert holders(locks) == {}


def test_two_leases_per_device_share_one_card_when_configured(tmp_path):
    with (
        lease(["cuda:0"], per_device=2, lock_dir=tmp_path) as a,
        lease(["cuda:0"], per_device=2, lock_dir=tmp_path) as b,
    ):
        assert (a.device, b.device) == ("cuda:0", "cuda:0") and {a.slot, b.slot} == {0, 1}
        with (
            pytest.raises(TimeoutError),
            lease(["cuda:0"], per_device=2, lock_dir=tmp_path, timeout_s=0.2),
        ):
            pass


def test_devices_and_pool_limit_follow_the_host(monkeypatch):
    monkeypatch.delenv("TIKTOK_GPU_SLOTS", raising=False)
    monkeypatch.delenv("TIKTOK_LEASES_PER_DEVICE", raising=False)
    monkeypatch.setenv("TIKTOK_DEVICES", "cuda:0,cuda:1")
    assert devices() == ["cuda:0", "cuda:1"] and leases_per_device() == 1 and pool_limit() == 2
    monkeypatch.setenv("TIKTOK_LEASES_PER_DEVICE", "2")
    assert pool_limit() == 4
    monkeypatch.setenv("TIKTOK_GPU_SLOTS", "3")
    assert pool_limit() == 3
    monkeypatch.delenv("TIKTOK_DEVICES")
    monkeypatch.delenv("TIKTOK_GPU_SLOTS")
    monkeypatch.delenv("TIKTOK_LEASES_PER_DEVICE")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("TIKTOK_MAX_RUNS", raising=False)
    # a CPU host: one stage slot per concurrent run (resources.machine), never None
    assert devices() == ["cpu"] and pool_limit() == machine_plan().runs >= 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert devices() == ["cuda:0", "cuda:1", "cuda:2"]


def test_stages_per_gpu_follow_its_memory_and_the_cores():
    # 32 GB a lease (two warm workers' models + a stage), 4 cores a lease, at most 4
    assert auto_gpu_leases([143.8], 16) == 4  # an H200 on a 16-core host
    assert auto_gpu_leases([143.8], 8) == 2  # the same card, fewer cores to feed it
    assert auto_gpu_leases([85.0], 32) == 2  # an H100
    assert auto_gpu_leases([48.0], 16) == 1 and auto_gpu_leases([24.0], 16) == 1
    assert auto_gpu_leases([143.8, 24.0], 64) == 1  # the smallest card decides
    assert auto_gpu_leases([400.0], 128) == 4  # capped
    assert auto_gpu_leases([], 16) == 1  # memory unknown: the staged execution
    assert auto_gpu_leases([16.0], 1) == 1  # never 0


def test_named_devices_get_one_lease_each_unless_configured(monkeypatch):
    monkeypatch.delenv("TIKTOK_LEASES_PER_DEVICE", raising=False)
    monkeypatch.setenv("TIKTOK_DEVICES", "cuda:0")
    assert leases_per_device() == 1
    monkeypatch.setenv("TIKTOK_LEASES_PER_DEVICE", "3")
    assert leases_per_device() == 3 and pool_limit() == 3
