"""The Definitions load and expose the expected keys, groups, pool and wiring."""

from dagster import AssetKey

from analyzers.core import all_analyzers
from tiktok_assets.definitions import defs

INGEST = ["video_file", "video_metadata", "segment_frames", "audio_track"]


def test_every_asset_key_is_exposed():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    expected = {*INGEST, *all_analyzers(), "cross_analyzer_intelligence", "video_report"}
    assert keys == expected


def test_stage_groups_pool_and_order():
    graph = defs.resolve_asset_graph()
    for name, cls in all_analyzers().items():
        node = graph.get(AssetKey(name))
        assert node.group_name == cls.stage
        assets_def = node.assets_def
        assert assets_def.op.pool == "gpu", name
        assert assets_def.can_subset
        assert assets_def.partitions_def.name == "videos"
    # stage4 follows stage3: every stage4 asset depends on every stage3 asset
    for s4 in ("cut_analysis", "audio_analysis"):
        parents = graph.get(AssetKey(s4)).parent_keys
        assert AssetKey("color_analysis") in parents
        assert {AssetKey(k) for k in ("segment_frames", "audio_track", "video_metadata")} <= parents
    # ingest and joins stay outside the pool
    for name in [*INGEST, "cross_analyzer_intelligence", "video_report"]:
        assert graph.get(AssetKey(name)).assets_def.op.pool is None


def test_stages_without_analyzers_are_absent():
    ops = {a.op.name for a in defs.assets if hasattr(a, "op")}
    stages = {cls.stage for cls in all_analyzers().values()}
    assert {o for o in ops if o.startswith("stage")} == stages


def test_sensor_and_job_are_defined():
    assert defs.get_sensor_def("upload_folder_sensor").job_name == "analyze_video"
    assert defs.resolve_job_def("analyze_video").partitions_def.name == "videos"
