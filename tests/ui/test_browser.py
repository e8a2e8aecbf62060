"""End to end on the services started the way a user starts them (`scripts/start.sh up`,
i.e. `make up`: Dagster webserver, daemon and the REST API, on loopback; stopped with
`down`): a file dropped into uploads/ is analysed with no other action, the API launches a
run through the webserver (idempotently) and serves its results, and the Dagster UI in a
real browser (Debian's chromium through Playwright): the asset graph with its stage groups,
the `gpu` pool, one partition materialized from the "Materialize all" dialog, a backfill
over two, a materialization's metadata with the report's path, the report, and the upload
sensor's tick history. Screenshots of each step are kept in .cache/test-artifacts/ui/.
Slow: about four minutes on 2 cores (two whole pipeline runs, three of the ingest group)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, RunsFilter

from analyzers.core.registry import by_stage
from analyzers.core.synth import Segment, make_clip
from tests.conftest import REPO, SMALL

CHROMIUM = shutil.which("chromium")
ARTIFACTS = REPO / ".cache" / "test-artifacts" / "ui"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "start.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def services(isolated, tmp_path, silent_clip) -> Iterator[dict]:
    ui, api = _free_port(), _free_port()
    (tmp_path / "mine").mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_PORT": str(ui),
        "TIKTOK_API_PORT": str(api),
        "TIKTOK_API_ROOTS": os.pathsep.join([str(tmp_path / "mine"), str(silent_clip.parent)]),
        "BIN": str(Path(sys.executable).parent),
    }
    up = _start("up", env)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"http://127.0.0.1:{ui}" in up.stdout and f"http://127.0.0.1:{api}/docs" in up.stdout
        again = _start("up", env)  # idempotent: nothing started twice
        assert again.returncode == 0 and again.stdout.count("already running") == 3
        yield {
            **isolated,
            "ui": f"http://127.0.0.1:{ui}",
            "api": f"http://127.0.0.1:{api}",
            "mine": tmp_path / "mine",
        }
    finally:
        down = _start("down", env)
        assert down.returncode == 0, down.stderr
        for port in (ui, api):
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
        assert "stopped" in _start("status", env).stdout


def _add_partitions(data: Path, n: int) -> list[str]:
    """Stage n tiny clips and add their partitions, as the API does before it launches."""
    from resources.media_store import MediaStore
    from tiktok_assets.instance import init_instance
    from tiktok_assets.videos import add_video

    keys = []
    for i, src in enumerate(["testsrc2", "mandelbrot", "rgbtestsrc"][:n]):
        clip = make_clip(
            data.parent / f"ui{i}.mp4",
            [Segment(src, 2.0)],
            size=SMALL,
            audio_lavfi="sine=f=440:d=2:sample_rate=44100",
        )
        keys.append(add_video(init_instance(), MediaStore(root=str(data)), clip).key)
    return keys


def _wait_runs(keys: list[str], timeout: float) -> dict[str, str]:
    """Wait until every key has a finished run; returns key -> last run status."""
    deadline = time.time() + timeout
    with DagsterInstance.get() as instance:
        while True:
            status = {}
            for k in keys:
                runs = instance.get_runs(RunsFilter(tags={"dagster/partition": k}), limit=1)
                status[k] = runs[0].status.value if runs else "NONE"
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in status.values()):
                return status
            assert time.time() < deadline, f"runs did not finish: {status}"
            time.sleep(2)


def _materialized(asset: str, key: str) -> bool:
    with DagsterInstance.get() as instance:
        return key in instance.get_materialized_partitions(AssetKey(asset))


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


def _upload_and_api(services: dict, small_clip: Path, silent_clip: Path) -> str:
    """A file dropped into uploads/ is analysed; the API launches, dedupes and serves."""
    import httpx

    from resources.media_store import sha256_file

    uploads = services["data"] / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(small_clip, uploads / ".dropped.tmp")
    os.replace(uploads / ".dropped.tmp", uploads / "dropped.mp4")
    dropped = f"dropped-{sha256_file(small_clip)[:10]}"
    _wait(lambda: _materialized("video_report", dropped), 400, "the sensor-launched run")

    api = httpx.Client(base_url=services["api"], timeout=60)
    health = api.get("/health").json()
    assert health["status"] == "ok", health  # instance, daemon heartbeat, webserver, disk
    assert health["checks"]["daemon"]["last_heartbeat_s_ago"] < 120
    capacity = health["checks"]["capacity"]  # the machine plan the instance runs with
    assert capacity["run_launcher"] == "WarmRunLauncher"
    assert capacity["max_concurrent_runs"] == capacity["runs"] >= 1
    bad = services["mine"] / "bad.mp4"
    bad.write_text("nope")
    assert api.post("/analyze", json={"video_path": str(bad)}).status_code == 422
    resp = api.post("/analyze", json={"video_path": str(silent_clip)})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["run_id"] and body["video_id"].startswith("noaudio-")
    again = api.post("/analyze", json={"video_path": str(silent_clip)})
    assert again.status_code == 200, again.text  # same bytes: same video, same run
    assert again.json()["run_id"] == body["run_id"] and again.json()["existing_run"]
    key = body["video_id"]
    _wait(lambda: _materialized("video_report", key), 400, "the API-launched run")
    status = api.get(f"/videos/{key}").json()
    assert status["missing"] == [] and status["report"]
    assert any(r["run_id"] == body["run_id"] and r["status"] == "SUCCESS" for r in status["runs"])
    assert api.get("/videos/unknown-0000000000").status_code == 404
    rows = api.get(f"/videos/{key}/results").json()
    assert [r["second"] for r in rows] == [0, 1, 2]  # the 3 s clip's matrix, per second
    assert rows[0]["audio_analysis__has_audio"] is False
    parquet = api.get(
        f"/videos/{key}/results", params={"asset": "cut_analysis", "format": "parquet"}
    )
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    return key


def _launch_from_dialog(page, keys: list[str], button: str, shot) -> None:
    """'Materialize all' on the open page, pick ``keys`` in the partition picker, launch."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    for k in keys:
        page.get_by_text(k, exact=True).first.click()
    page.keyboard.press("Escape")  # close the picker, keep the dialog
    n = len(keys)
    expect(dialog.get_by_text(f"{n} partition{'s' if n > 1 else ''}")).to_be_visible()
    shot()
    dialog.get_by_role("button", name=button).click()


def test_uploads_api_and_the_ui_in_a_browser(services, small_clip, silent_clip):
    from playwright.sync_api import expect, sync_playwright

    _upload_and_api(services, small_clip, silent_clip)

    expect.set_options(timeout=30_000)  # pages load their data after the first paint
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = _add_partitions(services["data"], 2)
    ui = services["ui"]
    ingest = f"{ui}/locations/tiktok_analyzer/asset-groups/ingest"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

        # the asset graph with the stage groups; no community pop-up (start.sh marks it seen)
        page.goto(f"{ui}/asset-groups", wait_until="networkidle")
        for group in ["ingest", *by_stage(), "intelligence"]:
            expect(page.get_by_text(group, exact=True).first).to_be_visible()
        expect(page.get_by_text("Join the Dagster community")).to_have_count(0)
        shot("1-asset-graph")

        # the gpu pool, at its limit
        page.goto(f"{ui}/deployment/concurrency", wait_until="networkidle")
        expect(page.get_by_text("gpu", exact=True).first).to_be_visible()
        shot("2-pools")

        # one partition of the ingest group from its "Materialize all" dialog
        page.goto(ingest, wait_until="networkidle")
        _launch_from_dialog(page, keys[:1], "Launch 1 run", lambda: shot("3-materialize-one"))
        _wait(lambda: _materialized("segment_frames", keys[0]), 300, "the UI-launched run")

        # a backfill of the group over both partitions
        page.goto(ingest, wait_until="networkidle")
        _launch_from_dialog(page, keys, "Launch backfill", lambda: shot("4-backfill-two"))
        _wait(lambda: len(DagsterInstance.get().get_backfills()) == 1, 60, "the backfill")
        with DagsterInstance.get() as instance:
            (backfill,) = instance.get_backfills()
        assert _wait_runs(keys, 300) == {k: "SUCCESS" for k in keys}
        with DagsterInstance.get() as instance:  # the backfill's runs, one per partition
            runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(keys)

        def backfill_done() -> bool:  # the backfill daemon's next tick marks it complete
            with DagsterInstance.get() as instance:
                b = instance.get_backfill(backfill.backfill_id)
            return b is not None and b.status.value == "COMPLETED_SUCCESS"

        _wait(backfill_done, 120, "the backfill to complete")
        page.goto(f"{ui}/runs/b/{backfill.backfill_id}", wait_until="networkidle")
        expect(page.get_by_text(backfill.backfill_id).first).to_be_visible()
        expect(page.get_by_text("100% completed").first).to_be_visible()
        shot("5-backfill")

        # the latest report's materialization metadata: its path, and the report itself
        with DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(AssetKey("video_report"))
        assert event is not None and event.asset_materialization is not None
        latest = event.asset_materialization.partition
        report = services["data"] / "reports" / str(latest) / "index.html"
        page.goto(f"{ui}/assets/video_report", wait_until="networkidle")
        shot("6-report-metadata")
        expect(page.get_by_text(str(report)).first).to_be_visible()
        page.goto(report.as_uri())
        expect(page.get_by_role("heading", name=str(latest))).to_be_visible()
        shot("7-report")

        # the upload sensor's tick history: the tick that launched the dropped file's run
        page.goto(
            f"{ui}/locations/tiktok_analyzer/sensors/upload_folder_sensor",
            wait_until="networkidle",
        )
        expect(page.get_by_text("Running").first).to_be_visible()
        expect(page.get_by_text("0 runs requested").first).to_be_visible()  # tick rows
        shot("8-sensor-ticks")
        with DagsterInstance.get() as instance:
            (launched,) = instance.get_runs(
                RunsFilter(tags={"dagster/sensor_name": "upload_folder_sensor"})
            )
        page.get_by_role("button", name="Runs", exact=True).click()
        expect(page.get_by_text(launched.run_id[:8]).first).to_be_visible()
        shot("9-sensor-runs")
        browser.close()
