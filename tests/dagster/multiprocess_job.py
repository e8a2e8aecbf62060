"""A reconstructable job for the executor-equivalence test: every asset of one video with
Dagster's multiprocess executor (one process per step), over ``$TIKTOK_DATA``."""

from dagster import Definitions, JobDefinition, define_asset_job, multiprocess_executor

from tiktok_assets.definitions import all_assets, build_resources
from tiktok_assets.partitions import videos


def analyze_video_multiprocess() -> JobDefinition:
    job = define_asset_job(
        "analyze_video_multiprocess",
        partitions_def=videos,
        executor_def=multiprocess_executor.configured({"max_concurrent": 2}),
    )
    defs = Definitions(assets=all_assets(), jobs=[job], resources=build_resources(None, "auto"))
    return defs.resolve_job_def("analyze_video_multiprocess")
