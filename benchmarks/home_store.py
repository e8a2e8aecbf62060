"""Weights policy ``auto`` over a model home without Dagster (the GPU machine has none, so
the benchmarks cannot use ``resources.models.ModelStore``): real weights where the file or
folder is in the model home, else random weights of the real architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class HomeStore:
    def __init__(self, home: str | Path | None) -> None:
        self.home = Path(home) if home else None

    def resolve(self, spec: Any) -> tuple[str | None, str]:
        if self.home is not None and (self.home / spec.relpath).exists():
            return str(self.home / spec.relpath), "real"
        return None, "random"

    def is_present(self, spec: Any) -> bool:
        return self.resolve(spec)[1] == "real"
