"""Signals through Dagster: the configured transcript is the one every reader gets, in
any process; the in-process and multiprocess executors give equal tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from dagster import execute_job, reconstructable

from analyzers.core import all_analyzers
from io_managers.parquet import read_table
from resources.media_store import MediaStore
from tests.conftest import REPO, TEST_SETTINGS_TOML
from tests.dagster.helpers import instance_at, run_video
from tests.dagster.multiprocess_job import analyze_video_multiprocess
from tiktok_assets.intelligence import latest_metadata
from tiktok_assets.videos import add_video

ALONE = """
import json, sys
from dagster import DagsterInstance, materialize
from tiktok_assets.definitions import all_assets, build_resources
from tiktok_assets.intelligence import latest_metadata
home, data, key = sys.argv[1:4]
with DagsterInstance.from_config(home) as instance:
    result = materialize(all_assets(), selection=["speech_rate"], instance=instance,
                         partition_key=key, resources=build_resources(data, "auto"))
    assert result.success
    print(json.dumps(latest_metadata(instance, "speech_rate", key)["signals"]))
"""


def _alone(home: Path, data: Path, key: str, **env: str) -> dict:
    """Materialize speech_rate alone in a fresh Python process; its ``signals`` metadata."""
    out = subprocess.run(
        [sys.executable, "-c", ALONE, str(home), str(data), key],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_speech_rate_alone_in_a_fresh_process_uses_the_configured_transcript(
    speech, model_store, tmp_path, monkeypatch
):
    clip, _ = speech
    settings = tmp_path / "analysis.toml"
    settings.write_text(TEST_SETTINGS_TOML + '[transcript]\nlanguage = "de"\nbeam_size = 2\n')
    monkeypatch.setenv("TIKTOK_ANALYZER_CONFIG", str(settings))
    data, home = tmp_path / "data", tmp_path / "home"
    with instance_at(home) as instance:
        key, result = run_video(clip, instance, data)
        assert result.success
        full = read_table(data / "parquet", "speech_rate", key)
        transcript = latest_metadata(instance, "transcript", key)
    assert transcript["config"]["language"] == "de" and transcript["words"] > 0
    assert sum(full.column("words").to_pylist()) > 0

    # the persisted transcript is read, not made again
    assert _alone(home, data, key)["transcript"].startswith("read ")
    assert read_table(data / "parquet", "speech_rate", key).equals(full)

    # without the persisted value, the configured settings make the same transcript
    shutil.rmtree(data / "signals")
    assert _alone(home, data, key)["transcript"].startswith("computed ")
    assert read_table(data / "parquet", "speech_rate", key).equals(full)

    # and the setting matters: Whisper's defaults give other words (the test could not
    # tell the two apart otherwise)
    assert _alone(home, data, key, TIKTOK_ANALYZER_CONFIG="")["transcript"].startswith("computed")
    default = read_table(data / "parquet", "speech_rate", key)
    assert default.column("words").to_pylist() != full.column("words").to_pylist() or (
        default.column("wpm").to_pylist() != full.column("wpm").to_pylist()
    )


def test_in_process_and_multiprocess_executors_give_equal_tables(
    small_clip, model_store, tmp_path, monkeypatch
):
    with instance_at(tmp_path / "home-a") as instance:
        key, result = run_video(small_clip, instance, tmp_path / "a")
        assert result.success
    data = tmp_path / "b"
    monkeypatch.setenv("TIKTOK_DATA", str(data))  # the step processes build their resources
    store = MediaStore(root=str(data))
    store.ensure_layout()
    with instance_at(tmp_path / "home-b") as instance:
        assert add_video(instance, store, small_clip).key == key
        run = execute_job(
            reconstructable(analyze_video_multiprocess),
            instance=instance,
            tags={"dagster/partition": key},
            raise_on_error=False,
        )
        assert run.success
        steps = {e.step_key for e in run.all_events if e.is_step_success}
        assert {"stage2_medium", "stage3_light", "stage4_fast"} <= steps
        pids = {e.pid for e in run.all_events if e.step_key and e.is_step_start}
        assert len(pids) > 1  # really one process per step
        camera = latest_metadata(instance, "camera_analysis", key)
    # shots were made once (stage2's process) and read by the later processes
    assert len(list((data / "signals" / key / "shots").glob("*.pkl"))) == 1
    assert camera["signals"]["shots"].startswith("read ")
    for name in all_analyzers():
        a = read_table(tmp_path / "a" / "parquet", name, key)
        b = read_table(data / "parquet", name, key)
        assert a.schema == b.schema and a.equals(b), name
    assert isinstance(a, pa.Table)
