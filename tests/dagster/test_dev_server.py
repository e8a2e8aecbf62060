"""End to end against a real `dagster dev` (webserver, daemon, code server): a file
dropped into uploads/ is analysed with no other action, and the REST API launches a run
through the webserver. Slow: about two minutes on 2 cores."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            break
        time.sleep(1)
    raise AssertionError(
        f"timed out waiting for {what}; dagster dev log:\n{log.read_text()[-4000:]}"
    )


@pytest.fixture
def dev_server(isolated, tmp_path):
    port = _free_port()
    log = tmp_path / "dagster_dev.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        _wait(up, 120, "the webserver", proc, log)
        yield {**isolated, "port": port, "proc": proc, "log": log}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _analysed(key_suffix: str) -> bool:
    with DagsterInstance.get() as instance:
        done = instance.get_materialized_partitions(AssetKey("video_report"))
    return any(k.endswith(key_suffix) for k in done)


def test_upload_folder_and_api_through_dagster_dev(
    dev_server, small_clip, silent_clip, monkeypatch
):
    from resources.media_store import sha256_file

    data = dev_server["data"]
    uploads = data / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(small_clip, uploads / ".dropped.tmp")
    os.replace(uploads / ".dropped.tmp", uploads / "dropped.mp4")
    suffix = sha256_file(small_clip)[:10]
    _wait(
        lambda: _analysed(suffix),
        400,
        "the sensor-launched run",
        dev_server["proc"],
        dev_server["log"],
    )

    from starlette.testclient import TestClient

    from tiktok_assets.api import app

    monkeypatch.setenv("DAGSTER_WEBSERVER", f"127.0.0.1:{dev_server['port']}")
    bad = dev_server["home"].parent / "bad.mp4"
    bad.write_text("nope")
    roots = [str(bad.parent), str(Path(silent_clip).parent)]
    monkeypatch.setenv("TIKTOK_API_ROOTS", os.pathsep.join(roots))
    client = TestClient(app, base_url="http://127.0.0.1:8003")
    health = client.get("/health").json()
    assert health["status"] == "ok", health  # instance, daemon heartbeat, webserver, disk
    assert health["checks"]["daemon"]["last_heartbeat_s_ago"] < 120
    assert health["checks"]["webserver"]["ok"] is True
    assert client.post("/analyze", json={"video_path": str(bad)}).status_code == 422
    resp = client.post("/analyze", json={"video_path": str(silent_clip)})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["run_id"] and body["video_id"].startswith("noaudio-")
    again = client.post("/analyze", json={"video_path": str(silent_clip)})
    assert again.status_code == 200, again.text  # same bytes: same video, same run
    assert again.json()["run_id"] == body["run_id"] and again.json()["existing_run"]
    _wait(
        lambda: _analysed(body["video_id"][-10:]),
        400,
        "the API-launched run",
        dev_server["proc"],
        dev_server["log"],
    )
    status = client.get(f"/videos/{body['video_id']}").json()
    assert status["missing"] == [] and status["report"]
    assert any(r["run_id"] == body["run_id"] and r["status"] == "SUCCESS" for r in status["runs"])
    assert client.get("/videos/unknown-0000000000").status_code == 404
    rows = client.get(f"/videos/{body['video_id']}/results").json()
    assert [r["second"] for r in rows] == [0, 1, 2]  # the 3 s clip's matrix, per second
    assert rows[0]["audio_analysis__has_audio"] is False
    parquet = client.get(
        f"/videos/{body['video_id']}/results", params={"asset": "cut_analysis", "format": "parquet"}
    )
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
