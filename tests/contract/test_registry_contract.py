"""Registry-wide contract: every registered analyzer, on a tiny generated clip with and
without audio, returns exactly one valid row per second, deterministically; and on the
timings real footage has (29.97 fps, durations a fraction past a whole second, a first
timestamp that is not 0, video starting after the audio, one frame) its table round-trips
through the Parquet writer."""

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from analyzers.core import all_analyzers
from analyzers.core.base import STAGES, BaseConfig
from analyzers.core.runner import run_analyzer
from analyzers.core.schema import check_table
from analyzers.core.synth import ODD_TIMINGS, odd_timing_clip
from io_managers.parquet import partition_path, write_table_atomic
from tests.conftest import REPO, TEST_SETTINGS

ANALYZERS = sorted(all_analyzers())


@pytest.fixture(scope="module")
def medias(small_clip, silent_clip, decode):
    return {"with_audio": decode(small_clip), "no_audio": decode(silent_clip, "noaudio-0000000000")}


@pytest.mark.parametrize("name", ANALYZERS)
def test_analyzer_contract(name, medias, model_store):
    cls = all_analyzers()[name]
    assert cls.stage in STAGES
    assert isinstance(cls.output_schema, pa.Schema)
    config = cls.make_config()
    assert isinstance(config, BaseConfig)
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        config.batch_size = 3  # type: ignore[misc]
    for media in medias.values():
        # twice, each in a scope and signal store of its own: nothing computed by the
        # first run is there for the second, so equal tables mean a deterministic analyzer
        first, second = (
            run_analyzer(cls, media, model_store, TEST_SETTINGS).table for _ in range(2)
        )
        assert first.num_rows == media.n_seconds
        assert first.column("second").null_count == 0
        assert first.column("video_id").null_count == 0
        assert first.equals(second), f"{name} is not deterministic"
        # the declared contract the `contract` asset check enforces on every run
        found = check_table(
            first, n_seconds=media.n_seconds, ranges=cls.ranges, required=cls.required
        )
        assert found["passed"], (name, media.video_id, found["problems"])
        if "has_audio" in cls.output_schema.names:
            assert set(first.column("has_audio").to_pylist()) == {media.has_audio}
            if not media.has_audio:  # every value besides the keys and the flag is null
                values = [c for c in cls.output_schema.names if c != "has_audio"]
                assert all(first.column(c).null_count == first.num_rows for c in values), name


def test_every_audio_analyzer_flags_missing_audio():
    audio = [n for n, c in all_analyzers().items() if c.modality == "audio"]
    assert len(audio) >= 6
    assert all("has_audio" in all_analyzers()[n].output_schema.names for n in audio)


def test_all_three_foundation_analyzers_are_registered():
    assert {"color_analysis", "cut_analysis", "audio_analysis"} <= set(ANALYZERS)


def test_importing_analyzers_pulls_in_neither_dagster_nor_torch():
    code = (
        "import sys; from analyzers.core.registry import all_analyzers; all_analyzers();"
        "bad = [m for m in ('dagster', 'torch') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_dagster_import_in_analyzers_source():
    offenders = [
        str(p.relative_to(REPO))
        for p in Path(REPO, "analyzers").rglob("*.py")
        if "import dagster" in p.read_text() or "from dagster" in p.read_text()
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def odd_medias(media_dir, decode):
    return {
        name: decode(odd_timing_clip(media_dir / "odd", name), f"{name.replace('_', '-')}-0")
        for name in ODD_TIMINGS
    }


def test_odd_timings_decode_to_the_seconds_on_screen(odd_medias):
    """Rows = ceil(duration); every second with a frame on screen has a sampled frame;
    the second before a late video stream has none."""
    want_rows = {
        "ntsc_4004ms": 5,
        "half_past_3500ms": 4,
        "almost_2970ms": 3,
        "starts_at_850ms": 6,  # the tone's AAC priming starts 24 ms before the video
        "video_after_audio": 6,
        "one_frame": 1,
    }
    for name, media in odd_medias.items():
        assert media.n_seconds == want_rows[name], name
        on_screen = set(range(media.n_seconds)) - ({0} if name == "video_after_audio" else set())
        assert set(media.frames.seconds.tolist()) == on_screen, name
    late = odd_medias["video_after_audio"]
    assert late.lowres.pts[0] == pytest.approx(1.2, abs=1e-3)
    # audio keeps its own clock: the tone is there from 0 s
    assert float(abs(late.audio[: late.sample_rate // 2]).max()) > 0.05


@pytest.mark.parametrize("name", ANALYZERS)
def test_analyzer_handles_real_footage_timings(name, odd_medias, model_store, tmp_path):
    cls = all_analyzers()[name]
    for clip, media in odd_medias.items():
        table = run_analyzer(cls, media, model_store, TEST_SETTINGS).table
        # the table is committed only if Parquet gives it back as written
        write_table_atomic(table, partition_path(tmp_path, name, media.video_id))
        assert table.num_rows == media.n_seconds, clip
        found = check_table(
            table, n_seconds=media.n_seconds, ranges=cls.ranges, required=cls.required
        )
        assert found["passed"], (name, clip, found["problems"])


def test_no_output_schema_uses_fixed_size_lists():
    """Parquet has no fixed-size list: pyarrow writes a null one that it cannot read back."""

    def fixed(t: pa.DataType) -> bool:
        if pa.types.is_fixed_size_list(t):
            return True
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return fixed(t.value_type)
        if pa.types.is_struct(t):
            return any(fixed(t.field(i).type) for i in range(t.num_fields))
        return False

    offenders = [
        f"{n}.{f.name}"
        for n, c in all_analyzers().items()
        for f in c.output_schema
        if fixed(f.type)
    ]
    assert offenders == []


def test_every_analyzer_declares_ranges_for_its_numeric_columns():
    """The declared ranges name real numeric columns (registration refuses unknown ones);
    every analyzer declares at least one, so its `contract` check tests values too."""
    for name, cls in all_analyzers().items():
        assert cls.ranges, name
        for col in cls.ranges:
            t = cls.output_schema.field(col).type
            assert pa.types.is_integer(t) or pa.types.is_floating(t), (name, col)


def test_check_table_finds_each_kind_of_breach():
    schema = pa.schema([("video_id", pa.string()), ("second", pa.int32()), ("share", pa.float32()),
                        ("n", pa.int32())])  # fmt: skip
    good = pa.table({"video_id": ["v"] * 3, "second": [0, 1, 2], "share": [0.0, 0.5, None],
                     "n": [0, 2, 1]}, schema=schema)  # fmt: skip
    kw = {"ranges": {"share": (0, 1), "n": (0, None)}, "required": ("n",)}
    ok = check_table(good, n_seconds=3, **kw)
    assert ok == {"passed": True, "problems": [], "checked": {"share": [0.0, 0.5], "n": [0, 2]}}
    assert check_table(good, n_seconds=4, **kw)["problems"] == ["3 rows for a 4-second video"]
    bad = good.set_column(2, "share", pa.array([0.2, 1.5, float("nan")], pa.float32()))
    bad = bad.set_column(3, "n", pa.array([0, None, -1], pa.int32()))
    problems = check_table(bad, n_seconds=3, **kw)["problems"]
    assert problems == [
        "n: 1 null value(s) in a column that is never null",
        "share: 2 value(s) outside [0, 1] (e.g. 1.5, nan)",
        "n: 1 value(s) outside [0, None] (e.g. -1)",
    ]
    shuffled = good.set_column(1, "second", pa.array([0, 2, 1], pa.int32()))
    assert check_table(shuffled, n_seconds=3, **kw)["problems"] == [
        "seconds are not 0..n-1 in order"
    ]


def test_registering_a_range_for_an_unknown_column_is_refused():
    from analyzers.core.base import FrameAnalyzer
    from analyzers.core.registry import register

    class Wrong(FrameAnalyzer):
        name = "wrong_ranges"
        stage = "stage4_fast"
        output_schema = pa.schema([("x", pa.float32())])
        ranges = {"y": (0, 1)}

        def analyze(self, media, config, signals):
            raise NotImplementedError

    with pytest.raises(ValueError, match=r"not in output_schema: \['y'\]"):
        register(Wrong)
