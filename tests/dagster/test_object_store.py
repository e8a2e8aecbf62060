"""Parquet on an S3-compatible object store: moto's S3 server on loopback (a real HTTP
server speaking the S3 API, installed from the lock), reached through s3fs the way a
deployment reaches its bucket (``AWS_ENDPOINT_URL`` and keys in the environment)."""

from __future__ import annotations

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
