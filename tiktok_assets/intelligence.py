"""Cross-analyzer join (one wide per-second matrix) and the per-video HTML report."""

from typing import Any

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analyzers.core.registry import all_analyzers
from analyzers.core.schema import KEY_COLUMNS
from analyzers.multimodal.insights import insights, markdown_table, summary, vlm_summary
from resources.media_store import MediaStore
from resources.models import ModelStore
from tiktok_assets.measure import peak_rss_mb, progress, timed
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import mark_worker

SEP = "__"


def join_tables(tables: dict[str, pa.Table]) -> pa.Table:
    """Put every analyzer's columns side by side as ``<analyzer>__<column>``. Every input
    obeys the per-second contract, so rows line up one to one; this is checked."""
    if not tables:
        raise ValueError("no analyzer tables to join")
    names = sorted(tables)
    first = tables[names[0]]
    cols: dict[str, pa.ChunkedArray] = {k: first.column(k) for k in KEY_COLUMNS}
    for name in names:
        t = tables[name]
        if t.column("second").to_pylist() != cols["second"].to_pylist():
            raise ValueError(f"{name}: seconds do not line up with {names[0]}")
        for col in t.column_names:
            if col not in KEY_COLUMNS:
                cols[f"{name}{SEP}{col}"] = t.column(col)
    return pa.table(cols)


def latest_metadata(instance: DagsterInstance, asset: str, partition: str) -> dict[str, Any]:
    """Metadata values of the newest materialization of ``asset`` for ``partition``."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    )
    if not result.records:
        return {}
    mat = result.records[0].asset_materialization
    return {k: v.value for k, v in (mat.metadata if mat else {}).items()}


def build_intelligence_assets() -> list[AssetsDefinition]:
    """``cross_analyzer_intelligence`` over every registered analyzer, and ``video_report``."""
    names = list(all_analyzers())

    @asset(
        partitions_def=videos,
        group_name="intelligence",
        # an analyzer left out of the run (weights missing) has no table: joined without it
        ins={n: AssetIn(key=n, metadata={"allow_missing": True}) for n in names},
        kinds={"parquet"},
        io_manager_key="io_manager",
    )
    def cross_analyzer_intelligence(
        context: AssetExecutionContext, **inputs: pa.Table | None
    ) -> pa.Table:
        """Every analyzer joined on (video_id, second): one row per second, one column per
        analyzer output, prefixed ``<analyzer>__``. Analyzers with no table for the video
        (skipped for lack of weights) are left out and listed in the metadata, with the
        insights (``analyzers.multimodal.insights``) as a Markdown table and as JSON."""
        mark_worker(context.instance, context.run_id)  # for the reaper
        tables = {n: t for n, t in inputs.items() if t is not None}
        absent = sorted(n for n, t in inputs.items() if t is None)
        with timed() as t:
            matrix = join_tables(tables)
            rows = matrix.to_pylist()
            found = insights(rows)
            vlm = latest_metadata(context.instance, "qwen2_vl_temporal", context.partition_key)
            text = summary(
                found, matrix.num_rows, vlm_summary(rows, vlm.get("weights_mode") == "real")
            )
        progress(context, f"cross_analyzer_intelligence: {matrix.num_rows} x {matrix.num_columns}")
        context.add_output_metadata(
            {
                "summary": text,
                "insights": MetadataValue.md(markdown_table(found)),
                "insights_json": MetadataValue.json([i.as_dict() for i in found]),
                "absent_analyzers": MetadataValue.json(absent),
                "analyzers": len(tables),
                "columns": matrix.num_columns,
                "seconds": matrix.num_rows,
                "wall_time_s": round(t.seconds, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )
        return matrix

    @asset(
        partitions_def=videos,
        group_name="intelligence",
        ins={"matrix": AssetIn(key="cross_analyzer_intelligence")},
        kinds={"html"},
    )
    def video_report(
        context: AssetExecutionContext,
        matrix: pa.Table,
        media_store: MediaStore,
        model_store: ModelStore,
    ) -> MaterializeResult:
        """One self-contained HTML page for the video (``reports/<key>/index.html``): summary,
        insights, the combined timeline, transcript, detail plots, provenance."""
        from tiktok_assets.ingest import decode_shortfall
        from tiktok_assets.plan import skipped_analyzers
        from tiktok_assets.report import media_keyframes, write_report

        mark_worker(context.instance, context.run_id)  # for the reaper
        key = context.partition_key
        joined = {c.split(SEP, 1)[0] for c in matrix.column_names if SEP in c}
        runs = {n: latest_metadata(context.instance, n, key) for n in names if n in joined}
        skipped = {s.analyzer: s.reason() for s in skipped_analyzers(model_store)}
        notes = [
            f"{n}: not analysed: {skipped.get(n, 'no table for this video')}"
            for n in names
            if n not in joined
        ]
        short = decode_shortfall(latest_metadata(context.instance, "segment_frames", key))
        if short:
            notes.insert(
                0, f"picture analysed for {short[0]:.2f} s of {short[1]:.2f} s: {short[2]}"
            )
        try:
            keyframes = media_keyframes(media_store.load_media(key))
        except FileNotFoundError:  # frames already cleaned up: shots without pictures
            keyframes = None
        with timed() as t:
            path = write_report(
                matrix, runs, media_store.path("reports", key), key, notes, keyframes
            )
        media_store.publish(path.parent)  # the page and provenance.json, when mirrored
        progress(context, f"video_report: {path}")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(path)),
                "wall_time_s": round(t.seconds, 3),
                "size_kb": round(path.stat().st_size / 1024, 1),
                "random_weights": [n for n, m in runs.items() if m.get("weights_mode") == "random"],
            }
        )

    return [cross_analyzer_intelligence, video_report]
