"""Parquet on an S3-compatible object store: moto's S3 server on loopback (a real HTTP
server speaking the S3 API, installed from the lock), reached through s3fs the way a
deployment reaches its bucket (``AWS_ENDPOINT_URL`` and keys in the environment)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pyarrow as pa
import pytest

from io_managers import parquet as pqio

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the lock")
s3fs = pytest.importorskip("s3fs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        s3fs.S3FileSystem.clear_instance_cache()  # no client bound to another endpoint
        s3fs.S3FileSystem().mkdir("tiktok-results")
        try:
            yield "s3://tiktok-results"
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


def _t(video_id: str, value: float) -> pa.Table:
    return pa.table({"video_id": [video_id] * 2, "second": pa.array([0, 1], pa.int32()),
                     "x": [value, value + 1]})  # fmt: skip


def test_round_trip_layout_and_replace(bucket):
    root = f"{bucket}/parquet"
    url = pqio.partition_url(root, "color_analysis", "v-1")
    assert url == f"{bucket}/parquet/color_analysis/video_id=v-1/part-0.parquet"
    assert not pqio.exists(url)
    pqio.write_table_atomic(_t("v-1", 1.0), url)
    pqio.write_table_atomic(_t("v-2", 5.0), pqio.partition_url(root, "color_analysis", "v-2"))
    assert pqio.read_table(root, "color_analysis", "v-1").equals(_t("v-1", 1.0))
    pqio.write_table_atomic(_t("v-1", 2.0), url)  # a re-run replaces only its partition
    assert pqio.read_table(root, "color_analysis", "v-1").equals(_t("v-1", 2.0))
    assert pqio.read_table(root, "color_analysis", "v-2").equals(_t("v-2", 5.0))
    fs = s3fs.S3FileSystem()
    assert sorted(fs.find("tiktok-results/parquet")) == [  # the same hive layout, nothing else
        "tiktok-results/parquet/color_analysis/video_id=v-1/part-0.parquet",
        "tiktok-results/parquet/color_analysis/video_id=v-2/part-0.parquet",
    ]
    assert pqio.size_bytes(url) == fs.size(url)
    with pytest.raises(FileNotFoundError, match="video 'v-3'"):
        pqio.read_table(root, "color_analysis", "v-3")


def test_a_table_that_cannot_read_back_never_reaches_the_bucket(bucket):
    url = pqio.partition_url(f"{bucket}/refused", "color_analysis", "v-1")
    pqio.write_table_atomic(_t("v-1", 1.0), url)
    bad = pa.Table.from_pydict(
        {"video_id": ["v-1", "v-1"], "rgb": [[1, 2, 3], None]},
        schema=pa.schema([("video_id", pa.string()), ("rgb", pa.list_(pa.uint8(), 3))]),
    )
    with pytest.raises(pqio.UnreadableTableError, match=r"color_analysis.*video_id=v-1"):
        pqio.write_table_atomic(bad, url)
    assert pqio.read_parquet(url).equals(_t("v-1", 1.0))  # the previous object is intact


def test_a_whole_pipeline_run_with_its_tables_in_the_bucket(bucket, small_clip, tmp_path,
                                                           monkeypatch):  # fmt: skip
    """TIKTOK_PARQUET_URL=s3://...: every analyzer's table, the matrix and the report's
    input go through the bucket; nothing lands in the local parquet folder."""
    from analyzers.core import all_analyzers
    from tests.dagster.helpers import instance_at, run_video

    root = f"{bucket}/run"
    monkeypatch.setenv("TIKTOK_PARQUET_URL", root)
    with instance_at(tmp_path / "home") as instance:
        key, result = run_video(small_clip, instance, tmp_path / "data")
    assert result.success
    for name in all_analyzers():
        table = pqio.read_table(root, name, key)
        assert table.column("second").to_pylist() == list(range(6)), name
    matrix = pqio.read_table(root, "cross_analyzer_intelligence", key)
    cut_at = [t for row in matrix.column("cut_analysis__cut_at").to_pylist() for t in row]
    assert cut_at == pytest.approx([3.0], abs=1 / 30)  # the clip's one cut
    assert not list((tmp_path / "data" / "parquet").rglob("*.parquet"))
    assert (tmp_path / "data" / "reports" / key / "index.html").exists()

    # and what analysts and the API read comes from the bucket too
    import io

    import pyarrow.parquet as pq

    from tiktok_assets import api, cli
    from tiktok_assets.sql import connect

    con = connect(root)
    assert con.sql("select count(*), min(second), max(second) from matrix").fetchall() == [
        (6, 0, 5)
    ]
    assert con.sql("select sum(cut_analysis__cuts) from matrix").fetchall() == [(1,)]
    assert set(all_analyzers()) <= {
        r[0] for r in con.sql("select view_name from duckdb_views()").fetchall()
    }
    monkeypatch.setenv("TIKTOK_DATA", str(tmp_path / "data"))
    rows = json.loads(api.results(key, "speech_rate", "json").body)
    assert [r["second"] for r in rows] == list(range(6))
    raw = api.results(key, "cross_analyzer_intelligence", "parquet").body
    assert pq.read_table(io.BytesIO(raw)).equals(matrix)
    assert api.results(key, "no_such_asset", "json").status_code == 404
    csv = tmp_path / "retention.csv"
    csv.write_text("second,retention\n" + "".join(f"{s},{100 - 2 * s}\n" for s in range(6)))
    assert cli.main(["--data", str(tmp_path / "data"), "retention", key, str(csv)]) == 0
    assert (tmp_path / "data" / "reports" / key / "retention.json").exists()


def test_a_run_split_across_two_machines_sharing_the_bucket(bucket, small_clip, tmp_path,
                                                            monkeypatch):  # fmt: skip
    """Machine A stages and decodes the video; machine B (its own, empty data folder)
    runs every analyzer, the matrix and the report. B reads A's decode and A's Parquet
    from the bucket: its tables equal the ones of a run on one machine."""
    from dagster import AssetSelection, materialize

    from analyzers.core import all_analyzers
    from resources.media_store import MediaStore
    from tests.dagster.helpers import instance_at
    from tiktok_assets.definitions import all_assets, build_resources
    from tiktok_assets.ingest import GROUP
    from tiktok_assets.videos import add_video

    monkeypatch.setenv("TIKTOK_PARQUET_URL", f"{bucket}/split/parquet")
    monkeypatch.setenv("TIKTOK_MEDIA_URL", f"{bucket}/split/media")
    a, b = tmp_path / "a", tmp_path / "b"
    with instance_at(tmp_path / "home") as instance:
        store_a = MediaStore(root=str(a))
        store_a.ensure_layout()
        key = add_video(instance, store_a, small_clip).key
        first = materialize(all_assets(), instance=instance, partition_key=key,
                            resources=build_resources(str(a), "auto"),
                            selection=AssetSelection.groups(GROUP))  # fmt: skip
        assert first.success
        assert not (b / "frames").exists()
        second = materialize(all_assets(), instance=instance, partition_key=key,
                             resources=build_resources(str(b), "auto"),
                             selection=AssetSelection.groups(GROUP).downstream()
                             - AssetSelection.groups(GROUP))  # fmt: skip
        assert second.success
    # B fetched A's decode instead of decoding: the same frames, byte for byte
    media_a, media_b = (
        MediaStore(root=str(a)).load_media(key),
        MediaStore(root=str(b)).load_media(key),
    )
    assert (b / "frames" / key / "manifest.json").exists()
    assert (media_a.frames.frames == media_b.frames.frames).all()
    assert (media_a.audio == media_b.audio).all()
    # the signals B computed are in the bucket for the next machine; the report too
    fs = s3fs.S3FileSystem()
    assert fs.find(f"{bucket}/split/media/signals/{key}")
    assert fs.exists(f"{bucket}/split/media/reports/{key}/index.html")
    assert not fs.glob(f"{bucket}/split/media/incoming/{key}*")  # kept: staging removed
    one_machine = f"{bucket}/run"  # the whole run of the test above, same clip, same key
    for name in [*all_analyzers(), "cross_analyzer_intelligence"]:
        split = pqio.read_table(f"{bucket}/split/parquet", name, key)
        assert split.num_rows == 6, name
        if pqio.exists(pqio.partition_url(one_machine, name, key)):
            assert split.equals(pqio.read_table(one_machine, name, key)), name
    # a third machine finds the video by its bytes: the same upload is not analysed twice
    assert MediaStore(root=str(tmp_path / "c")).find_by_hash(key.rsplit("-", 1)[1]) == key


@pytest.mark.postgres
def test_two_workers_on_one_postgres_analyse_each_video_exactly_once(bucket, media_dir,
                                                                     tmp_path, pg_env):  # fmt: skip
    """Two run workers, each in its own working directory with its own Dagster home and
    data folder, share one PostgreSQL instance and one bucket. Both are handed the same
    two videos (in opposite orders) and start together: each video is analysed by
    exactly one of them (the other is told who has it), the `gpu` pool limit of 1 holds
    across the two (never two stage ops at once), and every table is in the bucket."""
    import json
    import os
    import subprocess
    import sys
    import time

    import yaml
    from dagster import DagsterInstance, RunsFilter

    from analyzers.core.synth import Segment, make_clip
    from tests.conftest import REPO, SMALL

    clips = [make_clip(media_dir / f"claim{i}.mp4", [Segment(f"color=c={c}", 2.0)], size=SMALL)
             for i, c in enumerate(("orange", "purple"))]  # fmt: skip
    config = yaml.safe_load((REPO / "dagster_home" / "dagster.postgres.yaml").read_text())
    config["concurrency"]["pools"]["default_limit"] = 1
    go, log = tmp_path / "go", tmp_path / "probe.jsonl"
    procs, ready = [], []
    for w in range(2):
        cwd = tmp_path / f"worker{w}"
        (cwd / "home").mkdir(parents=True)
        (cwd / "home" / "dagster.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, **pg_env, "DAGSTER_HOME": str(cwd / "home"), "PYTHONPATH": str(REPO),
               "TIKTOK_GPU_SLOTS": "1", "TIKTOK_MEDIA_URL": f"{bucket}/claims/media",
               "TIKTOK_PARQUET_URL": f"{bucket}/claims/parquet", "PROBE_LOG": str(log),
               "PROBE_WORKER": str(w), "PROBE_SLEEP": "1.5"}  # fmt: skip
        if w == 0:  # create the schema once, before two processes race to
            with pytest.MonkeyPatch.context() as mp:
                for k, v in {**pg_env, "DAGSTER_HOME": env["DAGSTER_HOME"]}.items():
                    mp.setenv(k, v)
                with DagsterInstance.get() as instance:
                    instance.get_runs(limit=1)
        ready.append(cwd / "ready")
        order = clips if w == 0 else clips[::-1]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.dagster.claim_worker", str(cwd / "data"),
             str(cwd / "ready"), str(go), *map(str, order)],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    deadline = time.time() + 180
    while not all(f.exists() for f in ready) and time.time() < deadline:
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-3000:] for p in procs]
        time.sleep(0.05)
    go.write_text("go")
    outs = [p.communicate(timeout=400) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-3000:] for o in outs]
    claims = [json.loads(line) for out, _ in outs for line in out.splitlines() if line]
    assert len(claims) == 4  # each worker reports on both videos
    by_video: dict[str, list[dict]] = {}
    for c in claims:
        by_video.setdefault(c["key"], []).append(c)
    assert len(by_video) == 2
    for seen in by_video.values():
        assert sum(c["ran"] for c in seen) == 1, seen  # analysed by exactly one worker
        assert len({c["run_id"] for c in seen}) == 1  # the other was pointed at that run
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(r["video"] for r in records) == sorted(by_video)  # once each
    a, b = sorted(records, key=lambda r: r["enter"])
    assert b["enter"] >= a["exit"], records  # the pool limit held across the workers
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {**pg_env, "DAGSTER_HOME": str(tmp_path / "worker0" / "home")}.items():
            mp.setenv(k, v)
        with DagsterInstance.get() as instance:
            for key in by_video:
                runs = instance.get_runs(RunsFilter(tags={"dagster/partition": key}))
                assert len(runs) == 1 and runs[0].status.value == "SUCCESS", key
    for key in by_video:
        assert pqio.read_table(f"{bucket}/claims/parquet", "pool_probe", key).num_rows == 2
