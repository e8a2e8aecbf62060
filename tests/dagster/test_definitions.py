"""The Definitions load and expose the expected keys, groups, pool and wiring."""

from dagster import AssetKey

from analyzers.core import all_analyzers, all_signals
from tiktok_assets.definitions import defs

INGEST = ["video_file", "video_metadata", "segment_frames", "audio_track"]


def test_every_asset_key_is_exposed():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    visible = {n for n, cls in all_signals().items() if cls.asset}
    assert visible == {"shots", "transcript", "sound_events", "faces", "objects", "ocr", "clip"}
    expected = {
        *INGEST,
        *all_analyzers(),
        *visible,
        "cross_analyzer_intelligence",
        "video_report",
    }
    assert keys == expected


def test_lineage_runs_through_the_signals():
    """speech_rate <- transcript <- audio_track: the graph shows what an analyzer reads."""
    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys}

    assert parents("transcript") == {"audio_track"}
    assert parents("shots") == {"segment_frames"}
    assert parents("sound_events") == {"audio_track"}
    for reader in ("speech_rate", "speech_flow", "speech_transcription"):
        assert {"transcript", "audio_track"} <= parents(reader), reader
    for reader in ("cut_analysis", "scene_segmentation", "camera_analysis", "temporal_flow"):
        assert {"shots", "segment_frames"} <= parents(reader), reader
    assert parents("faces") == {"segment_frames"}
    for reader in ("face_emotion", "age_estimation", "eye_tracking"):
        assert {"faces", "segment_frames"} <= parents(reader), reader
    assert "sound_events" in parents("audio_analysis")
    assert "sound_events" in parents("audio_environment")
    assert "transcript" not in parents("cut_analysis")


def test_stage_groups_pool_and_order():
    graph = defs.resolve_asset_graph()
    for name, cls in all_analyzers().items():
        node = graph.get(AssetKey(name))
        assert node.group_name == cls.stage
        assets_def = node.assets_def
        assert assets_def.op.pool == "gpu", name
        assert assets_def.can_subset
        assert assets_def.partitions_def.name == "videos"
    # stage4 follows stage3: every stage4 analyzer depends on every stage3 analyzer
    for s4 in ("cut_analysis", "audio_analysis"):
        parents = graph.get(AssetKey(s4)).parent_keys
        assert AssetKey("color_analysis") in parents
    assert AssetKey("segment_frames") in graph.get(AssetKey("cut_analysis")).parent_keys
    assert AssetKey("audio_track") in graph.get(AssetKey("audio_analysis")).parent_keys
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
