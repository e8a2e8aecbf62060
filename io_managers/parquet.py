"""Hive-partitioned Parquet: ``parquet/<asset>/video_id=<key>/part-0.parquet``.

Writes are atomic: the table goes to a hidden temp file in the same folder, is fsynced,
read back and compared with what was written, then renamed over the old file, so a crash
mid-write leaves the previous version intact, readers never see half a file, and a table
Parquet cannot round-trip is refused before it can break readers of the whole folder.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def partition_path(root: str | os.PathLike[str], asset: str, video_id: str) -> Path:
    """Where one (asset, video) table lives."""
    return Path(root) / asset / f"video_id={video_id}" / PART_FILE


class UnreadableTableError(ValueError):
    """A table whose Parquet file does not read back as written; nothing was committed."""


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` via temp file + fsync + read-back check + rename in the
    same folder. Raises UnreadableTableError (the old file, if any, stays) when the file
    does not read back equal to ``table``."""

    def check(tmp: Path) -> None:
        try:
            back = pq.read_table(tmp, partitioning=None)
            same = back.equals(table.cast(back.schema) if back.schema != table.schema else table)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise UnreadableTableError(
                f"{path.parent.parent.name}: the Parquet file for {path.parent.name} does not "
                f"read back ({exc}); nothing was written, the previous version is kept"
            ) from exc
        if not same:
            raise UnreadableTableError(
                f"{path.parent.parent.name}: the Parquet file for {path.parent.name} reads back "
                "different from the table written; nothing was written"
            )

    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"), check)


def read_table(root: str | os.PathLike[str], asset: str, video_id: str) -> pa.Table:
    """One (asset, video) table; FileNotFoundError naming both when it is missing."""
    path = partition_path(root, asset, video_id)
    if not path.exists():
        raise FileNotFoundError(f"no Parquet for asset {asset!r}, video {video_id!r} at {path}")
    return pq.read_table(path, partitioning=None)


class ParquetIOManager(ConfigurableIOManager):
    """Stores pyarrow Tables / pandas DataFrames per asset and partition."""

    root: str = Field(default_factory=default_parquet_root)

    def _path(self, context: OutputContext | InputContext) -> Path:
        asset = "__".join(context.asset_key.path)
        if not context.has_asset_partitions:
            return partition_path(self.root, asset, "all")
        return partition_path(self.root, asset, context.asset_partition_key)

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
                "path": MetadataValue.path(str(path)),
                "rows": table.num_rows,
                "bytes": path.stat().st_size,
                "schema": MetadataValue.md(
                    "\n".join(f"- `{f.name}`: {f.type}" for f in table.schema)
                ),
            }
        )

    def load_input(self, context: InputContext) -> pa.Table | None:
        """The upstream table; ``None`` for a missing one when the input's metadata says
        ``allow_missing`` (an analyzer skipped for lack of weights), else an error."""
        path = self._path(context)
        if not path.exists():
            if (context.metadata or {}).get("allow_missing"):
                return None
            raise FileNotFoundError(
                f"upstream {context.asset_key.to_user_string()} has no Parquet at {path}"
            )
        return pq.read_table(path, partitioning=None)
