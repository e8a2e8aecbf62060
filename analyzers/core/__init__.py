"""Analyzer contract: base classes, registry, output schema, media views, weight specs."""

from analyzers.core.base import STAGES, Analyzer, AudioAnalyzer, BaseConfig, FrameAnalyzer
from analyzers.core.media import FrameStream, Media
from analyzers.core.registry import all_analyzers, by_stage, get, register
from analyzers.core.schema import ContractError, n_seconds_for, validate
from analyzers.core.weights import MissingWeightsError, WeightSpec

__all__ = [
    "STAGES",
    "Analyzer",
    "AudioAnalyzer",
    "BaseConfig",
    "ContractError",
    "FrameAnalyzer",
    "FrameStream",
    "Media",
    "MissingWeightsError",
    "WeightSpec",
    "all_analyzers",
    "by_stage",
    "get",
    "n_seconds_for",
    "register",
    "validate",
]
