"""The Dagster UI in a real browser (Debian's chromium through Playwright), on services
started the way a user starts them (`scripts/start.sh up`, i.e. `make up`: webserver,
daemon, API, on loopback) and stopped with `down`.

A person's path through it: the asset graph with its stage groups, the `gpu` pool, one
video partition materialized from the "Materialize all" dialog, a backfill over two
partitions, the materialization's metadata with the report's path, and the upload sensor's
tick history. Screenshots of each step are kept in .cache/test-artifacts/ui/.
Slow: about four minutes on 2 cores (three pipeline runs)."""

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
def services(isolated, tmp_path) -> Iterator[dict]:
    ui, api = _free_port(), _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_PORT": str(ui),
        "TIKTOK_API_PORT": str(api),
        "BIN": str(Path(sys.executable).parent),
    }
    up = _start("up", env)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"http://127.0.0.1:{ui}" in up.stdout and f"http://127.0.0.1:{api}/docs" in up.stdout
        again = _start("up", env)  # idempotent: nothing started twice
        assert again.returncode == 0 and again.stdout.count("already running") == 3
        yield {**isolated, "ui": f"http://127.0.0.1:{ui}", "env": env, "ports": (ui, api)}
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


def test_the_ui_in_a_browser(services):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # pages load their data after the first paint
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = _add_partitions(services["data"], 3)
    ui = services["ui"]
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

        # materialize one video partition from the "Materialize all" dialog
        page.goto(f"{ui}/asset-groups", wait_until="networkidle")
        page.get_by_role("button", name="Materialize all").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_text(keys[0], exact=True).first.click()
        page.keyboard.press("Escape")  # close the picker, keep the dialog
        expect(dialog.get_by_text("1 partition")).to_be_visible()
        shot("3-materialize-one")
        dialog.get_by_role("button", name="Launch 1 run").click()
        assert _wait_runs(keys[:1], 400) == {keys[0]: "SUCCESS"}

        # a backfill over the other two
        page.goto(f"{ui}/asset-groups", wait_until="networkidle")
        page.get_by_role("button", name="Materialize all").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select a partition or create one").click()
        for k in keys[1:]:
            page.get_by_text(k, exact=True).first.click()
        page.keyboard.press("Escape")
        expect(dialog.get_by_text("2 partitions")).to_be_visible()
        shot("4-backfill-two")
        dialog.get_by_role("button", name="Launch backfill").click()
        page.wait_for_timeout(2000)
        with DagsterInstance.get() as instance:
            (backfill,) = instance.get_backfills()
        assert _wait_runs(keys[1:], 600) == {k: "SUCCESS" for k in keys[1:]}
        with DagsterInstance.get() as instance:  # both runs are the backfill's
            runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(keys[1:])
        page.goto(f"{ui}/runs/b/{backfill.backfill_id}", wait_until="networkidle")
        expect(page.get_by_text(backfill.backfill_id).first).to_be_visible()
        expect(page.get_by_text("100% completed").first).to_be_visible()
        shot("5-backfills")

        # the latest materialization's metadata: the report's path, and the report itself
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

        # the upload sensor's tick history
        page.goto(
            f"{ui}/locations/tiktok_analyzer/sensors/upload_folder_sensor",
            wait_until="networkidle",
        )
        expect(page.get_by_text("Running").first).to_be_visible()
        expect(page.get_by_text("0 runs requested").first).to_be_visible()
        shot("8-sensor-ticks")
        browser.close()
    with DagsterInstance.get() as instance:
        done = instance.get_materialized_partitions(AssetKey("video_report"))
    assert set(keys) <= done
