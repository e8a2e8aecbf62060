"""The Analyzer and Signal base classes.

An analyzer declares ``name``, ``version``, ``stage``, a frozen ``Config`` dataclass,
``weights``, ``output_schema`` and the signals it ``requires`` as class attributes, and
turns one video (``Media``) plus those signals into one row per second.

A signal is an intermediate result several analyzers read (shot structure, the
transcript, voice activity, sound-event scores ...): it has a name, a version, its own
frozen ``Config`` and may require other signals. The runner (``analyzers.core.runner``)
computes each signal once per video and config and persists it, so every reader in any
process gets the same value. Heavy imports (torch, model code) belong inside
``load``/``compute`` so that importing ``analyzers`` stays cheap.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

import pandas as pd
import pyarrow as pa

from analyzers.core.media import Media
from analyzers.core.models import Models
from analyzers.core.weights import WeightsMode, WeightSpec

C = TypeVar("C")
Modality = Literal["frames", "audio", "both"]

Stage = Literal["stage1_heavy", "stage2_medium", "stage3_light", "stage4_fast"]
STAGES: tuple[Stage, ...] = ("stage1_heavy", "stage2_medium", "stage3_light", "stage4_fast")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Settings every analyzer has. ``sample_fps``: frames per second it looks at;
    ``batch_size``: frames (or windows) per model call."""

    sample_fps: float = 2.0
    batch_size: int = 32


def make_config(owner: str, config_cls: type[C], overrides: Mapping[str, Any] | None) -> C:
    """``config_cls()`` with ``overrides`` applied; unknown keys are an error that names
    the signal owning a key when one does (one setting, one place)."""
    overrides = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - known)
    if unknown:
        from analyzers.core.registry import signal_owning

        hints = [
            f"{k} is a setting of signal {signal_owning(k)!r}" for k in unknown if signal_owning(k)
        ]
        hint = f" ({'; '.join(hints)}: set it there, so every reader agrees)" if hints else ""
        raise ValueError(f"{owner}: unknown config keys {unknown}; known: {sorted(known)}{hint}")
    return dataclasses.replace(config_cls(), **overrides)  # type: ignore[type-var]


def config_dict(config: Any) -> dict[str, Any]:
    """A frozen Config dataclass as a plain dict (for metadata and hashing)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


@dataclasses.dataclass(frozen=True)
class SignalConfig:
    """Base of signal Configs (a signal with no settings uses it as is)."""


class Signal(ABC):
    """A result several analyzers read, computed once per video and config.

    ``requires``: the signals ``compute`` reads (through ``inputs``); ``modality``: what
    of the media it reads (its persisted value is keyed on that part of the decode);
    ``asset``: shown as its own asset in the Dagster graph (the expensive ones), so
    lineage reads ``speech_rate <- transcript <- audio_track``."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Config: ClassVar[type] = SignalConfig
    requires: ClassVar[tuple[str, ...]] = ()
    weights: ClassVar[tuple[WeightSpec, ...]] = ()
    modality: ClassVar[Modality] = "frames"
    asset: ClassVar[bool] = False
    model: ClassVar[str] = "classical"

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None) -> Any:
        return make_config(f"signal {cls.name}", cls.Config, overrides)

    @classmethod
    def required_weights(cls, config: Any) -> tuple[WeightSpec, ...]:
        return cls.weights

    @abstractmethod
    def compute(self, media: Media, config: Any, inputs: Mapping[str, Any], models: Models) -> Any:
        """The signal's value for ``media`` (picklable). Models come from ``models`` so
        they live as long as the runner's scope, never longer."""

    def identity(self, config: Any, models: Models) -> dict[str, Any]:
        """Anything besides the config and weights that decides the value (a backend
        picked by what is installed): part of the persisted value's key."""
        return {}

    def weights_mode(self, config: Any, models: Models) -> WeightsMode:
        """Which weights ``compute`` used: real, random or none (classical)."""
        specs = self.required_weights(config)
        if not specs:
            return "none"
        return "real" if all(models.resolve(s)[0] for s in specs) else "random"

    def summary(self, value: Any) -> dict[str, Any]:
        """A few numbers about ``value`` for the asset's metadata."""
        return {}


class Analyzer(ABC):
    """One per-second analyzer. ``analyze`` returns one row per second of the video."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    stage: ClassVar[Stage]
    Config: ClassVar[type[BaseConfig]] = BaseConfig
    weights: ClassVar[tuple[WeightSpec, ...]] = ()
    output_schema: ClassVar[pa.Schema]
    model: ClassVar[str] = "classical"
    modality: ClassVar[Modality] = "frames"
    requires: ClassVar[tuple[str, ...]] = ()  # signal names ``analyze`` reads
    order: ClassVar[int] = 100  # within a stage, lower runs first
    # the declared contract beyond the schema, checked on every materialization (the
    # asset check ``contract``): inclusive (low, high) of numeric columns (None: open),
    # and the columns never null (besides ``video_id`` and ``second``), even in a second
    # with no picture or no sound (a per-picture count there is null: nothing was seen)
    ranges: ClassVar[Mapping[str, tuple[float | None, float | None]]] = {}
    required: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.device = "cpu"
        self.weights_mode: WeightsMode = "none"
        self.models: Models | None = None
        # what ``analyze`` wants in its run's metadata besides the runner's measurements
        # (numbers and short strings: model calls, token counts, a summary)
        self.info: dict[str, Any] = {}

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None) -> BaseConfig:
        """The default Config with ``overrides`` applied; unknown keys are an error."""
        return make_config(cls.name, cls.Config, overrides)

    @classmethod
    def required_weights(cls, config: BaseConfig) -> tuple[WeightSpec, ...]:
        """The weights this analyzer loads with ``config`` (default: all of ``weights``).
        Under the weights policy ``real`` an analyzer is skipped when one is missing."""
        return cls.weights

    def load(self, device: str, models: Models) -> None:
        """Load models onto ``device`` through ``models`` (their lifetime is the scope's).
        Classical analyzers need nothing; ``self.models`` is kept for analyzers whose
        model depends on the Config and is fetched in ``analyze``."""
        self.device = device
        self.models = models
        self.weights_mode = "none"

    @abstractmethod
    def analyze(
        self, media: Media, config: BaseConfig, signals: Mapping[str, Any]
    ) -> pa.Table | pd.DataFrame:
        """Return one row per second of ``media`` with ``output_schema``'s columns.
        ``signals``: the value of each signal named in ``requires``."""

    def unload(self) -> None:
        """Drop this analyzer's references to models (the scope releases the models)."""
        self.models = None

    def table(self, media: Media, rows: list[dict[str, Any]]) -> pa.Table:
        """Contract table from per-second dicts (each with ``second``)."""
        from analyzers.core.schema import rows_to_table

        return rows_to_table(rows, media.video_id, self.output_schema)


class FrameAnalyzer(Analyzer):
    """An analyzer of the decoded frames."""

    modality: ClassVar[Modality] = "frames"


class AudioAnalyzer(Analyzer):
    """An analyzer of the 16 kHz mono audio track. With no audio it still returns one row
    per second (values null) so every video gets a complete table."""

    modality: ClassVar[Modality] = "audio"
