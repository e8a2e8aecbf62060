"""Jobs: one that materializes everything for one video partition."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from tiktok_assets.partitions import videos

analyze_video = define_asset_job(
    "analyze_video",
    selection=AssetSelection.all(),
    partitions_def=videos,
    executor_def=in_process_executor,
    description="Every asset of one video: ingest, decode, the four GPU stages, join, report.",
)
