"""MediaStore: the one owner of the data folder and of the decode.

It lays out the folder, stages new files, keeps the immutable copy, probes each file
once (at admission; the result travels with the file), writes and commits the decoded
frames and audio (through ``analyzers.core.files``, the project's one atomic-write
helper), reads them back as ``Media``, and hands out the signal store beside them. The
ingest assets only call it and report what it did."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field

from analyzers.core.decode import (
    DecodeConfig,
    DecodeResult,
    MediaError,
    VideoInfo,
    build_media,
    decode_audio,
    decode_video,
    probe,
)
from analyzers.core.files import atomic_folder, atomic_write, atomic_write_bytes
from analyzers.core.media import AUDIO_RATE, Media
from analyzers.core.runner import FileSignalStore
from resources.object_store import Mirror, mirror_for
from resources.settings import env_settings

__all__ = ["AUDIO_RATE", "MediaStore", "atomic_write_bytes", "sha256_file", "video_key"]

_SLUG = re.compile(r"[^a-z0-9_-]+")


def data_root_default() -> str:
    return env_settings().data_root


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


def max_duration_default() -> float:
    return env_settings().max_duration_s


class MediaStore(ConfigurableResource):
    """Files under ``root`` (``$TIKTOK_DATA``, default ``./data``); see ARCHITECTURE.md.
    ``max_duration_s``: longer videos are refused at admission (``TIKTOK_MAX_DURATION_S``,
    default 900 s, five times the longest short-form video)."""

    root: str = Field(default_factory=data_root_default)
    max_duration_s: float = Field(default_factory=max_duration_default)
    media_url: str = Field(default_factory=lambda: env_settings().media_url)

    def _mirror(self) -> Mirror | None:
        """The object-store mirror (``TIKTOK_MEDIA_URL``), or None for a local store."""
        return mirror_for(self.media_url, self.root)

    def publish(self, path: str | os.PathLike[str]) -> None:
        """Upload a committed file or folder of the data folder to the mirror, if any."""
        if (mirror := self._mirror()) is not None:
            mirror.push(path)

    def fetch(self, path: str | os.PathLike[str]) -> bool:
        """Make ``path`` local from the mirror when it is missing; True when it exists."""
        mirror = self._mirror()
        return mirror.pull(path) if mirror is not None else Path(path).exists()

    def _fetch_glob(self, folder: str, pattern: str) -> None:
        if (mirror := self._mirror()) is not None and not list(self.path(folder).glob(pattern)):
            for rel in mirror.glob(f"{folder}/{pattern}"):
                mirror.pull(self.path(rel))

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
            "signals",
            "reports",
        ):
            self.path(sub).mkdir(parents=True, exist_ok=True)

    # ---- staging: a file becomes a partition -------------------------------------------
    def stage(
        self,
        src: str | os.PathLike[str],
        *,
        move: bool = False,
        info: VideoInfo | None = None,
    ) -> tuple[str, bool]:
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
        record: dict[str, Any] = {"original_name": link.name, "sha256": digest}
        if info is not None:  # the admission probe travels with the file
            record["probe"] = info.to_dict()
        atomic_write_bytes(self.path("incoming", f"{key}.json"), json.dumps(record).encode())
        self.publish(dest)
        self.publish(self.path("incoming", f"{key}.json"))
        return key, True

    def find_by_hash(self, sha256_hex: str) -> str | None:
        """The key of a stored or incoming video with these bytes, if any: a regular,
        non-empty file (a dangling link or an emptied file does not count as stored, so
        an upload of the same bytes is staged again rather than deleted)."""
        for folder in ("videos", "incoming"):
            self._fetch_glob(folder, f"*-{sha256_hex[:10]}.*")  # stored by another machine
            for p in self.path(folder).glob(f"*-{sha256_hex[:10]}.*"):
                if p.name.startswith(".") or p.suffix == ".json":
                    continue
                if p.is_symlink() or not p.is_file() or p.stat().st_size == 0:
                    continue
                return p.name.split(".")[0]
        return None

    def incoming_path(self, key: str) -> Path | None:
        self._fetch_glob("incoming", f"{key}.*")
        found = [p for p in self.path("incoming").glob(f"{key}.*") if p.suffix != ".json"]
        return found[0] if found else None

    def video_path(self, key: str) -> Path | None:
        self._fetch_glob("videos", f"{key}.*")
        found = [p for p in self.path("videos").glob(f"{key}.*") if p.suffix != ".json"]
        return found[0] if found else None

    def source_info(self, key: str) -> dict[str, Any]:
        for folder in ("incoming", "videos"):
            p = self.path(folder, f"{key}.json")
            if self.fetch(p):
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

    # ---- the decode: written, committed and read here only -----------------------------
    def keep(self, key: str) -> tuple[Path, str]:
        """Move the staged file into ``videos/`` (read-only, committed atomically) and
        check it still hashes to its key. Returns the stored path and its sha256."""
        stored = self.video_path(key)
        if stored is None:
            src = self.incoming_path(key)
            if src is None:
                raise FileNotFoundError(
                    f"no file for video {key}: drop it into {self.path('uploads')} "
                    "or run `tiktok-analyzer analyze PATH`"
                )
            dest = self.path("videos", f"{key}{src.suffix}")

            def copy(tmp: Path) -> None:
                shutil.copyfile(src, tmp)
                os.chmod(tmp, 0o444)

            atomic_write(dest, copy)
            self.publish(dest)
            record = src.with_suffix(".json")
            if record.exists():
                os.replace(record, self.path("videos", f"{key}.json"))
                self.publish(self.path("videos", f"{key}.json"))
            src.unlink()
            if (mirror := self._mirror()) is not None:  # kept: the staged copy is done
                mirror.remove(src)
                mirror.remove(record)
            stored = dest
        digest = sha256_file(stored)
        if not key.endswith(digest[:10]):
            raise MediaError(f"{stored} does not hash to its key {key} (sha256 {digest[:10]}...)")
        return stored, digest

    def write_metadata(self, key: str) -> VideoInfo:
        """The container facts of ``key``: the admission probe when it was recorded for
        these bytes, else one probe now; committed as ``videos/<key>.meta.json``."""
        path = self.video_path(key)
        if path is None:
            raise FileNotFoundError(f"video {key} is not in the store; materialize video_file")
        seen = self.source_info(key).get("probe")
        if seen and seen.get("size_bytes") == path.stat().st_size:
            info = VideoInfo(**seen)
        else:
            info = probe(path)
        atomic_write_bytes(self.metadata_path(key), json.dumps(info.to_dict()).encode())
        self.publish(self.metadata_path(key))
        return info

    def metadata(self, key: str) -> dict[str, Any]:
        self.fetch(self.metadata_path(key))
        return json.loads(self.metadata_path(key).read_text())

    def decode_frames(self, key: str, config: DecodeConfig) -> DecodeResult:
        """Decode every frame of ``key`` once into ``frames/<key>/`` (sampled frames at
        ``config``'s rate and size, every frame small, indexes, manifest): written to a
        temp folder and swapped in, so a failed decode loses nothing."""
        path = self.video_path(key)
        if path is None:
            raise FileNotFoundError(f"video {key} is not in the store; materialize video_file")
        with atomic_folder(self.frames_dir(key)) as tmp:
            result = decode_video(path, tmp, config)
        self.publish(self.frames_dir(key))
        return result

    def decode_audio_track(self, key: str) -> tuple[bool, int]:
        """Decode the audio of ``key`` once to mono float32 at ``AUDIO_RATE`` Hz in
        ``audio/<key>.npy`` (empty with ``has_audio`` false when there is none). Returns
        (has_audio, samples)."""
        path = self.video_path(key)
        if path is None:
            raise FileNotFoundError(f"video {key} is not in the store; materialize video_file")
        samples = decode_audio(path, AUDIO_RATE)
        has_audio = samples is not None
        arr = samples if samples is not None else np.zeros(0, dtype=np.float32)
        out = self.audio_path(key)

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.save would add .npy to a name
                np.save(fh, arr)

        atomic_write(out, save)
        info = {"has_audio": has_audio, "samples": len(arr), "sample_rate": AUDIO_RATE}
        atomic_write_bytes(out.with_suffix(".json"), json.dumps(info).encode())
        self.publish(out)
        self.publish(out.with_suffix(".json"))
        return has_audio, len(arr)

    def load_media(self, key: str) -> Media:
        """The decoded frames and audio of ``key`` as memory-mapped, read-only views (a
        new Media each call: nothing derived is kept in this process)."""
        fdir = self.frames_dir(key)
        for part in (fdir, self.audio_path(key), self.audio_path(key).with_suffix(".json")):
            self.fetch(part)
        if not (fdir / "manifest.json").exists():
            raise FileNotFoundError(f"{key}: no decoded frames; materialize segment_frames first")
        meta = self.metadata(key)
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

    def signal_store(self) -> FileSignalStore:
        """Signal values beside the decode: ``signals/<key>/<signal>/<hash>.pkl``."""
        return MirroredSignalStore(self.path("signals"), self._mirror())


class MirroredSignalStore(FileSignalStore):
    """The signal files, also on the media store's mirror: a value computed on one
    machine is read, not recomputed, on another."""

    def __init__(self, root: str | Path, mirror: Mirror | None) -> None:
        super().__init__(root)
        self.mirror = mirror

    def get(self, video_id: str, name: str, key: str) -> Any | None:
        if self.mirror is not None:
            p = Path(self.path(video_id, name, key))
            self.mirror.pull(p)
            self.mirror.pull(p.with_suffix(".json"))
        return super().get(video_id, name, key)

    def put(self, video_id: str, name: str, key: str, value: Any, info: dict) -> None:
        super().put(video_id, name, key, value, info)
        if self.mirror is not None:
            p = Path(self.path(video_id, name, key))
            self.mirror.push(p)
            self.mirror.push(p.with_suffix(".json"))
