"""The upload sensor: the stable-size rule, duplicates, quarantine with reasons, the per
tick limit, and that no file makes it raise."""

import json
import os
import shutil

import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from resources.media_store import MediaStore, sha256_file
from resources.models import ModelStore
from tests.conftest import ffmpeg
from tiktok_assets.sensors import upload_folder_sensor


@pytest.fixture
def env(tmp_path):
    store = MediaStore(root=str(tmp_path / "data"))
    store.ensure_layout()
    with DagsterInstance.ephemeral() as instance:
        yield store, instance


def tick(store, instance, cursor=None, weights="auto"):
    models = ModelStore(weights=weights)  # the session's model home (tests/conftest.py)
    ctx = build_sensor_context(
        instance=instance, cursor=cursor, resources={"media_store": store, "model_store": models}
    )
    result = upload_folder_sensor(ctx)
    if isinstance(result, SkipReason):
        return [], ctx.cursor, []
    assert isinstance(result, SensorResult)
    added = [k for r in result.dynamic_partitions_requests for k in r.partition_keys]
    return result.run_requests, result.cursor, added


def test_a_file_is_taken_only_once_its_size_and_mtime_hold_still(env, small_clip):
    store, instance = env
    dest = store.path("uploads", "My Clip, v2!.mp4")
    shutil.copyfile(small_clip, dest)
    runs, cursor, _ = tick(store, instance)
    assert runs == [] and json.loads(cursor) == {
        dest.name: [dest.stat().st_size, dest.stat().st_mtime_ns]
    }
    with open(dest, "ab") as fh:  # still being written
        fh.write(b"\0" * 10)
    runs, cursor, _ = tick(store, instance, cursor)
    assert runs == []
    runs, cursor, added = tick(store, instance, cursor)
    assert len(runs) == 1
    key = runs[0].partition_key
    assert key.startswith("my-clip-v2-") and len(key.split("-")[-1]) == 10
    assert all(c.isalnum() or c in "_-" for c in key) and key == key.lower()
    assert sha256_file(store.incoming_path(key))[:10] in runs[0].run_key
    assert added == [key] and not dest.exists() and json.loads(cursor) == {}


def test_runs_leave_out_analyzers_without_real_weights(env, small_clip):
    """Under the policy real the run the sensor requests selects every asset but the
    analyzers whose weights are missing (speech_emotion here); under auto, all of them."""
    from dagster import AssetKey

    store, instance = env
    shutil.copyfile(small_clip, store.path("uploads", "a.mp4"))
    _, cursor, _ = tick(store, instance, weights="real")
    (run,), _, _ = tick(store, instance, cursor, weights="real")
    selected = set(run.asset_selection or [])
    assert AssetKey("speech_emotion") not in selected
    assert {
        AssetKey("cut_analysis"),
        AssetKey("speech_transcription"),
        AssetKey("video_report"),
    } <= selected
    shutil.copyfile(small_clip, store.path("uploads", "b.mov"))  # other name, other run key
    with open(store.path("uploads", "b.mov"), "ab") as fh:
        fh.write(b"\0")  # other bytes
    _, cursor, _ = tick(store, instance, weights="auto")
    (run,), _, _ = tick(store, instance, cursor, weights="auto")
    assert run.asset_selection is None  # everything


def test_same_bytes_twice_do_nothing(env, small_clip):
    store, instance = env
    shutil.copyfile(small_clip, store.path("uploads", "a.mp4"))
    _, cursor, _ = tick(store, instance)
    runs, cursor, _ = tick(store, instance, cursor)
    assert len(runs) == 1
    shutil.copyfile(small_clip, store.path("uploads", "a-again.mp4"))
    _, cursor, _ = tick(store, instance, cursor)
    runs, cursor, added = tick(store, instance, cursor)
    assert runs == [] and added == []
    assert list(store.path("uploads").iterdir()) == []


def test_bad_files_are_quarantined_with_a_reason(env, tmp_path, small_clip):
    store, instance = env
    up = store.path("uploads")
    (up / "empty.mp4").write_bytes(b"")
    (up / "notes.mov").write_text("hello\n" * 100)
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(up / "voice.m4a"))
    data = small_clip.read_bytes()
    moov_at_end = tmp_path / "plain.mp4"
    ffmpeg("-i", str(small_clip), "-c", "copy", str(moov_at_end))  # no faststart
    (up / "truncated.mp4").write_bytes(moov_at_end.read_bytes()[: len(data) // 3])
    (up / "subdir").mkdir()
    _, cursor, _ = tick(store, instance)
    runs, cursor, _ = tick(store, instance, cursor)
    assert runs == []
    reasons = {
        p.name.removesuffix(".reason.txt"): p.read_text()
        for p in store.path("quarantine").glob("*.reason.txt")
    }
    assert "empty file" in reasons["empty.mp4"]
    assert "not a video file" in reasons["notes.mov"]
    assert "no video stream" in reasons["voice.m4a"]
    assert "not a video file" in reasons["truncated.mp4"]
    assert sorted(p.name for p in up.iterdir()) == ["subdir"]
    assert not any("Errno" in r for r in reasons.values()), reasons


def test_at_most_n_files_per_tick(env, small_clip, silent_clip, monkeypatch):
    store, instance = env
    monkeypatch.setenv("TIKTOK_SENSOR_MAX_FILES", "1")
    shutil.copyfile(small_clip, store.path("uploads", "one.mp4"))
    shutil.copyfile(silent_clip, store.path("uploads", "two.mp4"))
    _, cursor, _ = tick(store, instance)
    runs1, cursor, _ = tick(store, instance, cursor)
    runs2, cursor, _ = tick(store, instance, cursor)
    assert len(runs1) == 1 and len(runs2) == 1
    assert runs1[0].partition_key != runs2[0].partition_key


def test_a_file_vanishing_mid_tick_does_not_raise(env, small_clip, monkeypatch):
    store, instance = env
    dest = store.path("uploads", "gone.mp4")
    shutil.copyfile(small_clip, dest)
    _, cursor, _ = tick(store, instance)

    def vanish(path, move=False):
        os.unlink(path)
        raise FileNotFoundError(path)

    monkeypatch.setattr(MediaStore, "stage", lambda self, p, move=False: vanish(p))
    runs, _, _ = tick(store, instance, cursor)
    assert runs == []


def test_a_video_over_the_duration_limit_is_quarantined(tmp_path, small_clip):
    store = MediaStore(root=str(tmp_path / "data"), max_duration_s=2)
    store.ensure_layout()
    shutil.copyfile(small_clip, store.path("uploads", "long.mp4"))
    with DagsterInstance.ephemeral() as instance:
        _, cursor, _ = tick(store, instance)
        runs, _, _ = tick(store, instance, cursor)
    assert runs == []
    reason = store.path("quarantine", "long.mp4.reason.txt").read_text()
    assert "6 s long, over the 2 s limit" in reason


def test_a_relative_symlink_stores_its_bytes_and_poisons_nothing(env, small_clip, tmp_path):
    """Staging a relative link keeps the bytes, not the link; the real file and an upload
    of the same bytes then find them stored; an upload is only deleted once its bytes are."""
    store, instance = env
    real = tmp_path / "clips" / "real.mp4"
    real.parent.mkdir()
    shutil.copyfile(small_clip, real)
    link = tmp_path / "clips" / "link.mp4"
    link.symlink_to("real.mp4")  # relative, as `ln -s real.mp4 link.mp4` makes it
    key, new = store.stage(link)
    staged = store.incoming_path(key)
    assert new and not staged.is_symlink() and sha256_file(staged) == sha256_file(real)
    assert store.stage(real) == (key, False)  # the same bytes, stored once
    shutil.copyfile(small_clip, store.path("uploads", "again.mp4"))
    _, cursor, _ = tick(store, instance)
    runs, _, _ = tick(store, instance, cursor)
    assert runs == [] and not store.path("uploads", "again.mp4").exists()  # safely stored

    # a store whose copy is gone (a dangling link left by an older version): the upload
    # is staged again, never deleted unstored
    staged.unlink()
    staged.symlink_to("gone.mp4")
    shutil.copyfile(small_clip, store.path("uploads", "third.mp4"))
    _, cursor, _ = tick(store, instance)
    runs, _, _ = tick(store, instance, cursor)
    assert len(runs) == 1 and runs[0].partition_key == "third-" + key.rsplit("-", 1)[1]
    assert sha256_file(store.incoming_path(runs[0].partition_key)) == sha256_file(real)


def test_an_uploaded_symlink_moves_its_bytes_and_leaves_the_target(env, small_clip, tmp_path):
    store, instance = env
    target = tmp_path / "outside.mp4"
    shutil.copyfile(small_clip, target)
    store.path("uploads", "linked.mp4").symlink_to(target)
    _, cursor, _ = tick(store, instance)
    runs, _, _ = tick(store, instance, cursor)
    assert len(runs) == 1
    assert target.exists() and not store.path("uploads", "linked.mp4").exists()
    staged = store.incoming_path(runs[0].partition_key)
    assert not staged.is_symlink() and sha256_file(staged) == sha256_file(target)
