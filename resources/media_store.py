"""MediaStore: the data folder layout, staging of new files, and loading one video's
decoded media for the analyzers."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field

from analyzers.core.decode import MediaError, VideoInfo, build_media, probe
from analyzers.core.media import Media

AUDIO_RATE = 16_000
_KEEP_LOADED = 2
_LOADED: OrderedDict[tuple[str, int, int], Media] = OrderedDict()


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0


_SLUG = re.compile(r"[^a-z0-9_-]+")


def data_root_default() -> str:
    return os.environ.get("TIKTOK_DATA", "data")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def video_key(stem: str, sha256_hex: str) -> str:
    """Partition key: slug of the stem (``[a-z0-9_-]``, at most 40 chars) + ``-`` + the
    first 10 hex of the content hash."""
    slug = _SLUG.sub("-", stem.lower()).strip("-_")[:40].strip("-_") or "video"
    return f"{slug}-{sha256_hex[:10]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def max_duration_default() -> float:
    return float(os.environ.get("TIKTOK_MAX_DURATION_S", "900"))


class MediaStore(ConfigurableResource):
    """Files under ``root`` (``$TIKTOK_DATA``, default ``./data``); see ARCHITECTURE.md.
    ``max_duration_s``: longer videos are refused at admission (``TIKTOK_MAX_DURATION_S``,
    default 900 s, five times the longest short-form video)."""

    root: str = Field(default_factory=data_root_default)
    max_duration_s: float = Field(default_factory=max_duration_default)

    def admit(self, path: str | os.PathLike[str]) -> VideoInfo:
        """Probe ``path`` and apply the store's limits; MediaError says why it is refused."""
        info = probe(path)
        if info.duration_s > self.max_duration_s:
            raise MediaError(
                f"video is {info.duration_s:.0f} s long, over the {self.max_duration_s:.0f} s "
                "limit (raise TIKTOK_MAX_DURATION_S to analyse it)"
            )
        return info

    def path(self, *parts: str) -> Path:
        return Path(self.root).joinpath(*parts)

    def ensure_layout(self) -> None:
        for sub in (
            "uploads",
            "quarantine",
            "incoming",
            "videos",
            "frames",
            "audio",
            "parquet",
            "reports",
        ):
            self.path(sub).mkdir(parents=True, exist_ok=True)

    # ---- staging: a file becomes a partition -------------------------------------------
    def stage(self, src: str | os.PathLike[str], *, move: bool = False) -> tuple[str, bool]:
        """Put ``src`` into ``incoming/`` under its partition key. Returns ``(key, new)``;
        ``new`` is False when the same bytes are already stored under any name (nothing is
        copied; a moved upload is removed, its bytes being safe in the store).

        A symbolic link is resolved first: the store keeps the bytes, never a link (a
        relative link would dangle in ``incoming/``), and moving a linked upload copies the
        target's bytes and removes only the link, not the file it points to."""
        link = Path(src)
        src = link.resolve(strict=True)
        digest = sha256_file(src)
        existing = self.find_by_hash(digest)
        if existing is not None:  # same bytes under any name: nothing to do
            if move:
                link.unlink()
            return existing, False
        key = video_key(link.stem, digest)
        dest = self.path("incoming", f"{key}{src.suffix.lower() or '.mp4'}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if move and not link.is_symlink():
            shutil.move(src, dest)
        else:
            tmp = dest.with_name(f".{dest.name}.tmp")
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            if move:
                link.unlink()  # a linked upload: its target's bytes are stored now
        self.path("incoming", f"{key}.json").write_text(
            json.dumps({"original_name": link.name, "sha256": digest})
        )
        return key, True

    def find_by_hash(self, sha256_hex: str) -> str | None:
        """The key of a stored or incoming video with these bytes, if any: a regular,
        non-empty file (a dangling link or an emptied file does not count as stored, so
        an upload of the same bytes is staged again rather than deleted)."""
        for folder in ("videos", "incoming"):
            for p in self.path(folder).glob(f"*-{sha256_hex[:10]}.*"):
                if p.name.startswith(".") or p.suffix == ".json":
                    continue
                if p.is_symlink() or not p.is_file() or p.stat().st_size == 0:
                    continue
                return p.name.split(".")[0]
        return None

    def incoming_path(self, key: str) -> Path | None:
        found = [p for p in self.path("incoming").glob(f"{key}.*") if p.suffix != ".json"]
        return found[0] if found else None

    def video_path(self, key: str) -> Path | None:
        found = [p for p in self.path("videos").glob(f"{key}.*") if p.suffix != ".json"]
        return found[0] if found else None

    def source_info(self, key: str) -> dict[str, Any]:
        for folder in ("incoming", "videos"):
            p = self.path(folder, f"{key}.json")
            if p.exists():
                return json.loads(p.read_text())
        return {}

    def frames_dir(self, key: str) -> Path:
        return self.path("frames", key)

    def audio_path(self, key: str) -> Path:
        return self.path("audio", f"{key}.npy")

    def metadata_path(self, key: str) -> Path:
        return self.path("videos", f"{key}.meta.json")

    def quarantine(self, src: Path, reason: str) -> Path:
        """Move ``src`` into ``quarantine/`` with ``<name>.reason.txt`` beside it."""
        qdir = self.path("quarantine")
        qdir.mkdir(parents=True, exist_ok=True)
        dest = qdir / src.name
        n = 1
        while dest.exists():
            dest = qdir / f"{src.stem}.{n}{src.suffix}"
            n += 1
        shutil.move(src, dest)
        dest.with_name(dest.name + ".reason.txt").write_text(reason.strip() + "\n")
        return dest

    # ---- loading decoded media ----------------------------------------------------------
    def load_media(self, key: str) -> Media:
        """The decoded frames and audio of ``key`` as memory-mapped, read-only views.

        The last few Media stay cached in this process (keyed on the decode's files), so
        the stages of one in-process run share the signals analyzers derive from them."""
        fdir = self.frames_dir(key)
        manifest = fdir / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{key}: no decoded frames; materialize segment_frames first")
        apath = self.audio_path(key)
        stamp = (str(fdir), manifest.stat().st_mtime_ns, _mtime(apath))
        media = _LOADED.get(stamp)
        if media is None:
            media = self._load_media(key)
            _LOADED[stamp] = media
            while len(_LOADED) > _KEEP_LOADED:
                _LOADED.popitem(last=False)
        return media

    def _load_media(self, key: str) -> Media:
        fdir = self.frames_dir(key)
        meta = json.loads(self.metadata_path(key).read_text())
        apath = self.audio_path(key)
        audio = np.load(apath, mmap_mode="r") if apath.exists() else None
        ameta_path = apath.with_suffix(".json")
        ameta = json.loads(ameta_path.read_text()) if ameta_path.exists() else {}
        return build_media(
            key,
            fdir,
            audio,
            bool(ameta.get("has_audio")),
            int(meta["width"]),
            int(meta["height"]),
            AUDIO_RATE,
            bit_rate=int(meta.get("bit_rate") or 0),
        )
