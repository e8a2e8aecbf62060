"""Shared fixtures: generated media with known truth, decoded without Dagster, and an
isolated data folder + Dagster home per test."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
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
