"""The Analyzer base classes: one class per analyzer, one ``analyze`` method.

Subclasses declare ``name``, ``version``, ``stage``, a frozen ``Config`` dataclass,
``weights`` and ``output_schema`` as class attributes. Heavy imports (torch, model code)
belong inside ``load`` so that importing ``analyzers`` stays cheap.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol

import pandas as pd
import pyarrow as pa

from analyzers.core.media import Media
from analyzers.core.weights import WeightsMode, WeightSpec

Stage = Literal["stage1_heavy", "stage2_medium", "stage3_light", "stage4_fast"]
STAGES: tuple[Stage, ...] = ("stage1_heavy", "stage2_medium", "stage3_light", "stage4_fast")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Settings every analyzer has. ``sample_fps``: frames per second it looks at;
    ``batch_size``: frames (or windows) per model call."""

    sample_fps: float = 2.0
    batch_size: int = 32


class WeightsProvider(Protocol):
    """What ``load`` may ask of the model store (see resources.models.ModelStore)."""

    def resolve(self, spec: WeightSpec) -> tuple[str | None, WeightsMode]: ...


class Analyzer(ABC):
    """One per-second analyzer. ``analyze`` returns one row per second of the video."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    stage: ClassVar[Stage]
    Config: ClassVar[type[BaseConfig]] = BaseConfig
    weights: ClassVar[tuple[WeightSpec, ...]] = ()
    output_schema: ClassVar[pa.Schema]
    model: ClassVar[str] = "classical"
    modality: ClassVar[Literal["frames", "audio", "both"]] = "frames"
    order: ClassVar[int] = 100  # within a stage, lower runs first

    def __init__(self) -> None:
        self.device = "cpu"
        self.weights_mode: WeightsMode = "none"
        self.store: WeightsProvider | None = None

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None) -> BaseConfig:
        """The default Config with ``overrides`` applied; unknown keys are an error."""
        overrides = dict(overrides or {})
        known = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"{cls.name}: unknown config keys {unknown}; known: {sorted(known)}")
        return dataclasses.replace(cls.Config(), **overrides)

    @classmethod
    def required_weights(cls, config: BaseConfig) -> tuple[WeightSpec, ...]:
        """The weights this analyzer loads with ``config`` (default: all of ``weights``).
        Under the weights policy ``real`` an analyzer is skipped when one is missing."""
        return cls.weights

    def load(self, device: str, model_store: WeightsProvider | None) -> None:
        """Load models onto ``device``. Classical analyzers need nothing; the model store is
        kept as ``self.store`` for analyzers that resolve weights later (per Config)."""
        self.device = device
        self.store = model_store
        self.weights_mode = "none"

    @abstractmethod
    def analyze(self, media: Media, config: BaseConfig) -> pa.Table | pd.DataFrame:
        """Return one row per second of ``media`` with ``output_schema``'s columns."""

    def unload(self) -> None:  # noqa: B027 - optional hook
        """Drop references to models so their memory can be freed."""

    def table(self, media: Media, rows: list[dict[str, Any]]) -> pa.Table:
        """Contract table from per-second dicts (each with ``second``)."""
        from analyzers.core.schema import rows_to_table

        return rows_to_table(rows, media.video_id, self.output_schema)


class FrameAnalyzer(Analyzer):
    """An analyzer of the decoded frames."""

    modality: ClassVar[Literal["frames", "audio", "both"]] = "frames"


class AudioAnalyzer(Analyzer):
    """An analyzer of the 16 kHz mono audio track. With no audio it still returns one row
    per second (values null) so every video gets a complete table."""

    modality: ClassVar[Literal["frames", "audio", "both"]] = "audio"
