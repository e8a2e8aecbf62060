"""The Parquet IO manager: atomic writes (an interrupted write leaves the previous file
intact) and reads of the right partition."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, build_input_context, build_output_context

import io_managers.parquet as pqio
from io_managers.parquet import ParquetIOManager, partition_path, write_table_atomic
from tiktok_assets.partitions import videos


def _t(vid, value):
    return pa.table(
        {"video_id": [vid, vid], "second": pa.array([0, 1], pa.int32()), "x": [value] * 2}
    )


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = partition_path(tmp_path, "color_analysis", "v-1")
    write_table_atomic(_t("v-1", 1.0), path)
    real = pq.write_table

    def crash_half_way(table, where, **kw):
        real(table, where, **kw)
        with open(where, "r+b") as fh:  # a torn file, then the process dies
            fh.truncate(40)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(pqio.pq, "write_table", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_table_atomic(_t("v-1", 2.0), path)
    monkeypatch.setattr(pqio.pq, "write_table", real)
    assert pq.read_table(path, partitioning=None).column("x").to_pylist() == [1.0, 1.0]
    assert [p.name for p in path.parent.iterdir()] == ["part-0.parquet"]  # no temp left


def test_handle_output_and_load_input_use_the_partition(tmp_path):
    io = ParquetIOManager(root=str(tmp_path))
    for vid, value in (("a-1", 1.0), ("b-2", 2.0)):
        ctx = build_output_context(asset_key=AssetKey("color_analysis"), partition_key=vid)
        io.handle_output(ctx, _t(vid, value))
    assert (tmp_path / "color_analysis" / "video_id=b-2" / "part-0.parquet").exists()
    upstream = build_output_context(asset_key=AssetKey("color_analysis"), partition_key="b-2")
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("videos", ["a-1", "b-2"])
        inp = build_input_context(
            asset_key=AssetKey("color_analysis"),
            partition_key="b-2",
            upstream_output=upstream,
            asset_partitions_def=videos,
            instance=instance,
        )
        got = io.load_input(inp)
    assert got.column("video_id").to_pylist() == ["b-2", "b-2"]
    assert got.column("x").to_pylist() == [2.0, 2.0]


def test_a_table_parquet_cannot_read_back_is_never_committed(tmp_path):
    """pyarrow writes a null fixed-size list that it cannot read back ("Expected all lists
    to be of size=3"): such a file would break every reader of the asset's folder."""
    path = partition_path(tmp_path, "color_analysis", "v-1")
    write_table_atomic(_t("v-1", 1.0), path)
    bad = pa.Table.from_pydict(
        {"video_id": ["v-1", "v-1"], "rgb": [[1, 2, 3], None]},
        schema=pa.schema([("video_id", pa.string()), ("rgb", pa.list_(pa.uint8(), 3))]),
    )
    with pytest.raises(pqio.UnreadableTableError, match=r"color_analysis.*does not read back"):
        write_table_atomic(bad, path)
    assert pq.read_table(path, partitioning=None).column("x").to_pylist() == [1.0, 1.0]
    assert [p.name for p in path.parent.iterdir()] == ["part-0.parquet"]
    # the folder as a whole still reads, as the README tells analysts to read it
    assert len(pd.read_parquet(tmp_path / "color_analysis", partitioning=None)) == 2
