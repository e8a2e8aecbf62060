"""The media store's object-store mirror: the bucket is the system of record, each
machine's data folder a cache of it.

With ``TIKTOK_MEDIA_URL=s3://bucket/prefix`` (any S3-compatible server; endpoint and keys
from the standard ``AWS_*`` variables, read by s3fs), every file the media store commits
(the kept video, its probe and metadata, the decoded frames folder, the audio, signal
values, the report) is also uploaded under the same relative path, and a file a machine
lacks locally is downloaded before it is read. So a step can run on any machine: the
decode done by one worker is what the next worker's analyzers read.

Commit semantics on the object store: each object is one PUT, committed whole or not at
all. A folder (the decoded frames) is uploaded file by file with its ``manifest.json``
last, and a folder is only ever downloaded when its manifest is there, so a reader never
takes a half-uploaded decode; a download goes to a temp file or folder first and is
renamed into place (``analyzers.core.files``), so a crash mid-download leaves nothing a
reader could take for the real thing.
"""

from __future__ import annotations

import os
from pathlib import Path

from analyzers.core.files import atomic_folder, atomic_write

MANIFEST = "manifest.json"


class Mirror:
    """Upload and download files of one data folder to and from ``url`` (fsspec)."""

    def __init__(self, url: str, local_root: str | os.PathLike[str]) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.local = Path(local_root)
        self.fs, self.base = fsspec.core.url_to_fs(self.url)
        self.base = self.base.rstrip("/")

    def _remote(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    def push(self, path: str | os.PathLike[str]) -> None:
        """Upload a committed local file or folder (relative to the data folder); a
        folder's manifest goes last."""
        path = Path(path)
        rel = path.relative_to(self.local).as_posix()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            files.sort(key=lambda p: p.name == MANIFEST)  # the manifest commits the folder
            for f in files:
                self.fs.put_file(str(f), self._remote(f"{rel}/{f.relative_to(path).as_posix()}"))
        else:
            self.fs.put_file(str(path), self._remote(rel))

    def glob(self, pattern: str) -> list[str]:
        """Relative paths in the bucket matching ``pattern`` (relative glob)."""
        n = len(self.base) + 1
        return [p[n:] for p in self.fs.glob(self._remote(pattern))]

    def pull(self, path: str | os.PathLike[str]) -> bool:
        """Download ``path`` (a file, or a folder with a manifest) when the bucket has it
        and the data folder does not; True when it is local afterwards."""
        path = Path(path)
        if path.exists():
            return True
        rel = path.relative_to(self.local).as_posix()
        remote = self._remote(rel)
        if self.fs.exists(f"{remote}/{MANIFEST}"):
            with atomic_folder(path) as tmp:
                for f in self.fs.find(remote):
                    inner = f[len(remote) + 1 :]
                    (tmp / inner).parent.mkdir(parents=True, exist_ok=True)
                    self.fs.get_file(f, str(tmp / inner))
            return True
        if self.fs.isfile(remote):
            atomic_write(path, lambda tmp: self.fs.get_file(remote, str(tmp)))
            if os.access(path, os.W_OK) and path.parent.name == "videos":
                os.chmod(path, 0o444)  # the kept copy is read-only, as on its first machine
            return True
        return False

    def remove(self, path: str | os.PathLike[str]) -> None:
        rel = Path(path).relative_to(self.local).as_posix()
        if self.fs.exists(self._remote(rel)):
            self.fs.rm(self._remote(rel), recursive=True)


def mirror_for(url: str, local_root: str | os.PathLike[str]) -> Mirror | None:
    """The mirror of ``local_root`` at ``url``, or None when ``url`` is empty."""
    return Mirror(url, local_root) if url else None
