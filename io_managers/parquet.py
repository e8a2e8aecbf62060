"""Hive-partitioned Parquet: ``parquet/<asset>/video_id=<key>/part-0.parquet``, in a local
folder or under an object-store URL (``s3://bucket/prefix``, any S3-compatible server:
the endpoint and credentials come from the standard ``AWS_*`` variables, read by s3fs).

Writes are atomic and checked. Local: the table goes to a hidden temp file in the same
folder, is fsynced, read back and compared with what was written, then renamed over the
old file. Object store: the Parquet bytes are made and read back in memory, then stored
with one PUT, which S3 commits whole or not at all (readers see the old object or the new
one, never part of one; a crash mid-upload leaves the old one). Either way a crash keeps
the previous version, readers never see half a file, and a table Parquet cannot
round-trip is refused before it can break readers of the whole folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext
from pydantic import Field

from analyzers.core.files import atomic_write
from resources.media_store import data_root_default

PART_FILE = "part-0.parquet"


def default_parquet_root() -> str:
    return str(Path(data_root_default()) / "parquet")


def is_remote(root: str | os.PathLike[str]) -> bool:
    """An fsspec URL of an object store (``s3://...``), not a local folder."""
    text = str(root)
    return "://" in text and not text.startswith("file://")


def partition_path(root: str | os.PathLike[str], asset: str, video_id: str) -> Path:
    """Where one (asset, video) table lives (a local ``Path``; see ``partition_url``)."""
    return Path(root) / asset / f"video_id={video_id}" / PART_FILE


def partition_url(root: str | os.PathLike[str], asset: str, video_id: str) -> str:
    """Where one (asset, video) table lives, as a path or an object-store URL."""
    if is_remote(root):
        return f"{str(root).rstrip('/')}/{asset}/video_id={video_id}/{PART_FILE}"
    return str(partition_path(root, asset, video_id))


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url)


def exists(url: str | os.PathLike[str]) -> bool:
    if not is_remote(url):
        return Path(url).exists()
    fs, path = _fs(str(url))
    return bool(fs.exists(path))


def size_bytes(url: str | os.PathLike[str]) -> int:
    if not is_remote(url):
        return Path(url).stat().st_size
    fs, path = _fs(str(url))
    return int(fs.size(path))


def read_bytes(url: str | os.PathLike[str]) -> bytes:
    """The stored bytes of one file, from a path or an object-store URL."""
    if not is_remote(url):
        return Path(url).read_bytes()
    fs, path = _fs(str(url))
    return bytes(fs.cat_file(path))


def read_parquet(url: str | os.PathLike[str]) -> pa.Table:
    """One Parquet file from a path or an object-store URL (no hive columns added)."""
    if not is_remote(url):
        return pq.read_table(url, partitioning=None)
    fs, path = _fs(str(url))
    return pq.read_table(path, filesystem=fs, partitioning=None)


class UnreadableTableError(ValueError):
    """A table whose Parquet file does not read back as written; nothing was committed."""


def write_table_atomic(table: pa.Table, path: Path | str) -> None:
    """Write ``table`` to ``path`` (a local path: temp file + fsync + read-back check +
    rename in the same folder; an object-store URL: in-memory read-back check + one PUT).
    Raises UnreadableTableError (the old file, if any, stays) when the file does not read
    back equal to ``table``."""
    where = str(path).rstrip("/").split("/")
    asset, partition = where[-3], where[-2]

    def check(tmp: Any) -> None:
        try:
            back = pq.read_table(tmp, partitioning=None)
            same = back.equals(table.cast(back.schema) if back.schema != table.schema else table)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise UnreadableTableError(
                f"{asset}: the Parquet file for {partition} does not read back ({exc}); "
                "nothing was written, the previous version is kept"
            ) from exc
        if not same:
            raise UnreadableTableError(
                f"{asset}: the Parquet file for {partition} reads back different from the "
                "table written; nothing was written"
            )

    if not is_remote(path):
        atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp, compression="zstd"), check)
        return
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    check(pa.BufferReader(data))
    fs, key = _fs(str(path))
    fs.pipe_file(key, data.to_pybytes())  # one PUT: committed whole or not at all


def read_table(root: str | os.PathLike[str], asset: str, video_id: str) -> pa.Table:
    """One (asset, video) table; FileNotFoundError naming both when it is missing."""
    url = partition_url(root, asset, video_id)
    if not exists(url):
        raise FileNotFoundError(f"no Parquet for asset {asset!r}, video {video_id!r} at {url}")
    return read_parquet(url)


class ParquetIOManager(ConfigurableIOManager):
    """Stores pyarrow Tables / pandas DataFrames per asset and partition, under ``root``:
    a folder or an object-store URL (``s3://bucket/prefix``)."""

    root: str = Field(default_factory=default_parquet_root)

    def _path(self, context: OutputContext | InputContext) -> str:
        asset = "__".join(context.asset_key.path)
        if not context.has_asset_partitions:
            return partition_url(self.root, asset, "all")
        return partition_url(self.root, asset, context.asset_partition_key)

    def handle_output(self, context: OutputContext, obj: pa.Table | pd.DataFrame | None) -> None:
        if obj is None:
            return
        table = (
            obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
        )
        path = self._path(context)
        write_table_atomic(table, path)
        context.add_output_metadata(
            {
                "path": MetadataValue.path(path),
                "rows": table.num_rows,
                "bytes": size_bytes(path),
                "schema": MetadataValue.md(
                    "\n".join(f"- `{f.name}`: {f.type}" for f in table.schema)
                ),
            }
        )

    def load_input(self, context: InputContext) -> pa.Table | None:
        """The upstream table; ``None`` for a missing one when the input's metadata says
        ``allow_missing`` (an analyzer skipped for lack of weights), else an error."""
        path = self._path(context)
        if not exists(path):
            if (context.metadata or {}).get("allow_missing"):
                return None
            raise FileNotFoundError(
                f"upstream {context.asset_key.to_user_string()} has no Parquet at {path}"
            )
        return read_parquet(path)
