"""Registry-wide contract: every registered analyzer, on a tiny generated clip with and
without audio, returns exactly one valid row per second, deterministically."""

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from analyzers.core import all_analyzers, validate
from analyzers.core.base import STAGES, BaseConfig
from tests.conftest import REPO

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
        an = cls()
        an.load("cpu", model_store)
        first, second = (
            validate(
                an.analyze(media, config),
                analyzer=name,
                output_schema=cls.output_schema,
                video_id=media.video_id,
                n_seconds=media.n_seconds,
            )
            for _ in range(2)
        )
        an.unload()
        assert first.num_rows == media.n_seconds
        assert first.column("second").null_count == 0
        assert first.column("video_id").null_count == 0
        assert first.equals(second), f"{name} is not deterministic"
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
