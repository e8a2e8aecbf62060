"""Analyzer contract: base classes, registry, output schema, media views, weight specs."""

from analyzers.core.base import (
    STAGES,
    Analyzer,
    AudioAnalyzer,
    BaseConfig,
    FrameAnalyzer,
    Signal,
    SignalConfig,
)
from analyzers.core.media import AUDIO_RATE, FrameStream, Media
from analyzers.core.models import Models
from analyzers.core.registry import (
    all_analyzers,
    all_signals,
    by_stage,
    get,
    get_signal,
    register,
    register_signal,
)
from analyzers.core.schema import ContractError, n_seconds_for, validate
from analyzers.core.weights import MissingWeightsError, WeightSpec

__all__ = [
    "AUDIO_RATE",
    "STAGES",
    "Analyzer",
    "AudioAnalyzer",
    "BaseConfig",
    "ContractError",
    "FrameAnalyzer",
    "FrameStream",
    "Media",
    "MissingWeightsError",
    "Models",
    "Signal",
    "SignalConfig",
    "WeightSpec",
    "all_analyzers",
    "all_signals",
    "by_stage",
    "get",
    "get_signal",
    "n_seconds_for",
    "register",
    "register_signal",
    "validate",
]
