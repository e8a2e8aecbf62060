"""Settings: every ``TIKTOK_*`` environment variable read in one place, as one Dagster
resource (``settings``), so a run's configuration can be seen (and overridden per run
in the launchpad: ``resources: settings: config: analysis: {transcript: {language: de}}``).

Modules ask ``env_settings()`` (or take the ``settings`` resource) instead of reading
``os.environ`` themselves; ``Settings.describe()`` lists the variables for the docs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field

from resources.env import VARIABLES, env_value

try:
    from dagster import ConfigurableResource as _Base
except ImportError:  # a GPU machine running the lease benchmarks has no Dagster
    from pydantic import BaseModel as _Base  # type: ignore[assignment]


def _env(field: str) -> Any:
    """A field whose default is read from its environment variable at construction."""
    var, _, doc = VARIABLES[field]
    return Field(default_factory=lambda: env_value(field), description=f"{doc} (env {var})")


class Settings(_Base):
    """The deployment's settings; each field defaults to its environment variable."""

    data_root: str = _env("data_root")
    parquet_url: str = _env("parquet_url")
    media_url: str = _env("media_url")
    celery_broker: str = _env("celery_broker")
    celery_backend: str = _env("celery_backend")
    model_home: str = _env("model_home")
    weights: str = _env("weights")
    max_duration_s: float = _env("max_duration_s")
    analyzer_config: str = _env("analyzer_config")
    analysis: dict[str, Any] = Field(
        default_factory=dict,
        description="Config overrides by analyzer or signal name for this run, on top of "
        "the TOML file's (the launchpad's way to set them)",
    )
    face_attributes: bool = _env("face_attributes")
    devices: str = _env("devices")
    leases_per_device: int = _env("leases_per_device")
    gpu_slots: int = _env("gpu_slots")
    stage_threads: int = _env("stage_threads")
    cudnn_attention: bool = _env("cudnn_attention")
    lease_dir: str = _env("lease_dir")
    sensor_max_files: int = _env("sensor_max_files")
    api_host: str = _env("api_host")
    api_port: int = _env("api_port")
    api_token: str = _env("api_token")
    api_roots: str = _env("api_roots")
    api_max_body: int = _env("api_max_body")
    api_max_download_mb: float = _env("api_max_download_mb")
    api_url_hosts: str = _env("api_url_hosts")
    min_free_gb: float = _env("min_free_gb")
    progress: bool = _env("progress")

    def stage_threads_on(self, device: str) -> int:
        """How many analyzers of a stage run at once on ``device``: the setting, else on a
        GPU the worker's threads up to 4 (its CPU analyzers then overlap the GPU ones and
        each other), on a CPU 1 (the cores are the runs')."""
        if self.stage_threads > 0:
            return self.stage_threads
        if not device.startswith("cuda"):
            return 1
        from resources.machine import machine_plan

        return max(1, min(4, machine_plan().threads))

    def parquet_root(self, data_root: str | Path | None = None) -> str:
        """Where the Parquet tables live: the bucket (``TIKTOK_PARQUET_URL``) when set, else
        the ``parquet`` folder of ``data_root`` (default: this deployment's data folder)."""
        return self.parquet_url or str(Path(data_root or self.data_root) / "parquet")

    def _file(self) -> dict[str, Any]:
        if not self.analyzer_config:
            return {}
        return tomllib.loads(Path(self.analyzer_config).expanduser().read_text())

    def file_overrides(self) -> dict[str, dict[str, Any]]:
        """The TOML file's sections (``[transcript]`` then ``language = "de"``); its
        top-level keys are pipeline-wide switches (``face_attributes = false``)."""
        return {k: v for k, v in self._file().items() if isinstance(v, dict)}

    def face_attributes_on(self) -> bool:
        """Whether emotion, age and gender may be inferred from faces: off when the
        setting (``TIKTOK_FACE_ATTRIBUTES``), the TOML file's top-level
        ``face_attributes`` or the run's ``analysis`` says off (any one turning it off
        wins, so a run config cannot turn back on what the deployment turned off)."""
        layers = (self.face_attributes, self._file().get("face_attributes", True),
                  self.analysis.get("face_attributes", True))  # fmt: skip
        return all(bool(v) for v in layers)

    def overrides(self, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict]:
        """Config overrides by analyzer or signal name: the file's, then ``analysis``,
        then ``extra`` (an op's), later ones winning key by key; ``decode`` left out.
        With face attributes off, every analyzer with a ``face_attributes`` setting gets
        it false, whatever a layer says."""
        out: dict[str, dict[str, Any]] = {}
        for layer in (self.file_overrides(), self.analysis, extra or {}):
            for name, values in layer.items():
                if isinstance(values, dict) or values is None:
                    out.setdefault(name, {}).update(values or {})
        out.pop("decode", None)
        if not self.face_attributes_on():
            import dataclasses

            from analyzers.core.registry import all_analyzers

            for name, cls in all_analyzers().items():
                if "face_attributes" in {f.name for f in dataclasses.fields(cls.Config)}:
                    out.setdefault(name, {})["face_attributes"] = False
        return out

    def decode_overrides(self) -> dict[str, Any]:
        """``[decode]`` settings (sample_fps, max_side, lowres_max_side)."""
        return {**self.file_overrides().get("decode", {}), **self.analysis.get("decode", {})}

    @staticmethod
    def describe() -> dict[str, tuple[str, str]]:
        """Field -> (environment variable, what it sets)."""
        return {k: (var, doc) for k, (var, _, doc) in VARIABLES.items()}


def env_settings() -> Settings:
    """The settings as the environment gives them now."""
    return Settings()
