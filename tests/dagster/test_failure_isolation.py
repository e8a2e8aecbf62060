"""One analyzer that raises does not lose the others: its stage records the error,
finishes the rest, then fails naming it. Run config overrides an analyzer's Config."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey

from analyzers.core import FrameAnalyzer, register
from analyzers.core.registry import unregister
from tests.dagster.helpers import instance_at, run_video
from tiktok_assets.intelligence import latest_metadata


@pytest.fixture
def broken_analyzer():
    @register
    class Broken(FrameAnalyzer):
        """Test only: always raises."""

        name = "broken_probe"
        stage = "stage4_fast"
        output_schema = pa.schema([("x", pa.int32())])

        def analyze(self, media, config, signals):
            raise ValueError("model exploded on purpose")

    yield Broken
    unregister("broken_probe")


def test_a_failing_analyzer_does_not_lose_its_stage_mates(broken_analyzer, small_clip, tmp_path):
    data = tmp_path / "data"
    with instance_at(tmp_path / "home") as instance:
        key, result = run_video(
            small_clip,
            instance,
            data,
            run_config={
                "ops": {"stage3_light": {"config": {"analyzers": {"color_analysis": {"k": 2}}}}}
            },
        )
        assert not result.success
        failed = [e for e in result.all_events if e.is_step_failure]
        assert [e.step_key for e in failed] == ["stage4_fast"]
        message = failed[0].step_failure_data.user_failure_data.description
        assert "broken_probe: ValueError: model exploded on purpose" in message
        for name in ("cut_analysis", "audio_analysis", "color_analysis"):
            assert key in instance.get_materialized_partitions(AssetKey(name)), name
        assert key not in instance.get_materialized_partitions(AssetKey("broken_probe"))
        assert not (data / "parquet" / "broken_probe").exists()
        meta = latest_metadata(instance, "color_analysis", key)
        assert meta["config"]["k"] == 2
    palettes = (
        pq.read_table(
            data / "parquet" / "color_analysis" / f"video_id={key}" / "part-0.parquet",
            partitioning=None,
        )
        .column("palette")
        .to_pylist()
    )
    assert max(len(p) for p in palettes) <= 2
