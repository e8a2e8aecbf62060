"""The pipeline on Celery (dagster-celery) with Redis and with RabbitMQ as the broker, both
on loopback: two workers, one on the `gpu` queue and one on `cpu`, run one video's steps;
each GPU stage step runs in the gpu worker, every other step in the cpu worker, and the
tables equal an in-process run's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analyzers.core import all_analyzers
from tests.conftest import REPO
from tests.dagster.helpers import instance_at, run_video

pytestmark = pytest.mark.slow
BROKERS = {
    "redis": ("redis://127.0.0.1:6379/0", 6379),
    "rabbitmq": ("pyamqp://guest:guest@127.0.0.1:5672//", 5672),
}


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def reference(small_clip, tmp_path_factory):
    """One in-process run of the clip: the tables the Celery runs must equal."""
    tmp = tmp_path_factory.mktemp("inproc")
    with instance_at(tmp / "home") as instance:
        key, result = run_video(small_clip, instance, tmp / "data")
    assert result.success
    return key, tmp / "data" / "parquet"


def _worker(queue: str, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tiktok_assets.celery_app", "worker",
         "-Q", queue, "--pool", "solo", "-c", "1", "-n", f"{queue}@%h", "-l", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_a_video_through_celery_workers(broker, reference, small_clip, tmp_path, monkeypatch):
    from dagster import DagsterEventType, execute_job

    from resources.media_store import MediaStore
    from tiktok_assets.videos import add_video

    url, port = BROKERS[broker]
    if not _listening(port):
        pytest.skip(f"no {broker} server on 127.0.0.1:{port}")
    home, data = tmp_path / "home", tmp_path / "data"
    backend = url.replace("/0", "/1") if broker == "redis" else "rpc://"
    env = {"DAGSTER_HOME": str(home), "TIKTOK_DATA": str(data), "TIKTOK_CELERY_BROKER": url,
           "TIKTOK_CELERY_BACKEND": backend, "TIKTOK_WEIGHTS": "auto"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    worker_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    with instance_at(home) as instance:
        store = MediaStore(root=str(data))
        store.ensure_layout()
        key = add_video(instance, store, small_clip).key
        logs = {q: tmp_path / f"{q}.log" for q in ("gpu", "cpu")}
        workers = {q: _worker(q, worker_env, logs[q]) for q in logs}
        try:
            deadline = time.time() + 120
            while not all("ready." in logs[q].read_text() for q in logs):
                assert time.time() < deadline, {q: logs[q].read_text()[-2000:] for q in logs}
                assert all(w.poll() is None for w in workers.values()), logs["gpu"].read_text()
                time.sleep(0.5)
            from tiktok_assets.celery_app import reconstructable_job

            # the broker is read from the environment when the run starts (set above)
            result = execute_job(reconstructable_job(), instance=instance,
                                 tags={"dagster/partition": key})  # fmt: skip
            assert result.success, {q: logs[q].read_text()[-3000:] for q in logs}
            starts = instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_START)
        finally:
            for w in workers.values():
                w.terminate()
            for w in workers.values():
                w.wait(timeout=60)
    # each step ran in the worker of its queue: GPU stages in `gpu`, the rest in `cpu`
    ran_in = {e.step_key: e.dagster_event.pid for e in starts}
    pids = {q: w.pid for q, w in workers.items()}
    stages = {s for s in ran_in if s.startswith("stage")}
    assert len(stages) == 4 and len(ran_in) > len(stages)
    for step, pid in ran_in.items():
        assert pid == pids["gpu" if step in stages else "cpu"], (step, pid, pids)
    ref_key, ref_root = reference
    assert ref_key == key  # same bytes, same video id
    for name in [*all_analyzers(), "cross_analyzer_intelligence"]:
        part = f"{name}/video_id={key}/part-0.parquet"
        got = pq.read_table(data / "parquet" / part, partitioning=None)
        assert got.equals(pq.read_table(ref_root / part, partitioning=None)), name
    assert (data / "reports" / key / "index.html").exists()
