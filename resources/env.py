"""The ``TIKTOK_*`` environment variables: one table, read here only (no Dagster import,
so the device-lease code can use it in a bare process). ``resources.settings.Settings`` is
the Dagster resource built on it."""

from __future__ import annotations

import os
from typing import Any

# field -> (variable, default, what it sets)
VARIABLES: dict[str, tuple[str, Any, str]] = {
    "data_root": ("TIKTOK_DATA", "data", "data folder"),
    "media_url": (
        "TIKTOK_MEDIA_URL",
        "",
        "object store mirroring the data folder (s3://bucket/prefix): videos, decodes, "
        "signals and reports committed there too and fetched by any machine that lacks them",
    ),
    "celery_broker": (
        "TIKTOK_CELERY_BROKER",
        "redis://127.0.0.1:6379/0",
        "Celery broker of the Celery executor and workers (Redis or RabbitMQ URL)",
    ),
    "celery_backend": (
        "TIKTOK_CELERY_BACKEND",
        "",
        "Celery result backend (default: the broker when it is Redis, else rpc://)",
    ),
    "parquet_url": (
        "TIKTOK_PARQUET_URL",
        "",
        "where the Parquet tables go when not <data>/parquet: a folder or s3://bucket/prefix "
        "(endpoint and keys from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
    ),
    "model_home": ("TIKTOK_MODEL_HOME", "~/.cache/tiktok-analyzer/models", "model home"),
    "weights": ("TIKTOK_WEIGHTS", "real", "weights policy: real, auto or random"),
    "max_duration_s": ("TIKTOK_MAX_DURATION_S", 900.0, "longest video admitted, seconds"),
    "analyzer_config": (
        "TIKTOK_ANALYZER_CONFIG",
        "",
        "TOML file of Config overrides by analyzer or signal name, and [decode]",
    ),
    "face_attributes": (
        "TIKTOK_FACE_ATTRIBUTES",
        True,
        "infer emotion, age and gender from faces (off: no such model loads, values null)",
    ),
    "devices": ("TIKTOK_DEVICES", "", "devices stage ops lease, comma separated"),
    "leases_per_device": ("TIKTOK_LEASES_PER_DEVICE", 0, "leases per device (0: auto)"),
    "gpu_slots": ("TIKTOK_GPU_SLOTS", 0, "gpu pool limit (0: auto, see resources.machine)"),
    "max_runs": (
        "TIKTOK_MAX_RUNS",
        0,
        "runs at once, = warm workers (0: auto, see resources.machine)",
    ),
    "run_threads": ("TIKTOK_RUN_THREADS", 0, "torch/BLAS threads per warm worker (0: auto)"),
    "run_memory_gb": ("TIKTOK_RUN_MEMORY_GB", 2.5, "memory one run worker may need, GB"),
    "stage_threads": (
        "TIKTOK_STAGE_THREADS",
        0,
        "analyzers of a stage run at once (0: auto, up to 4 on a GPU, 1 on a CPU)",
    ),
    "worker_max_runs": ("TIKTOK_WORKER_MAX_RUNS", 50, "runs before a warm worker is replaced"),
    "keep_models": ("TIKTOK_KEEP_MODELS", "auto", "keep models across videos: auto, on, off"),
    "cudnn_attention": (
        "TIKTOK_CUDNN_ATTENTION",
        False,
        "let attention use cuDNN on a GPU (builds a graph per shape and thread)",
    ),
    "lease_dir": ("TIKTOK_LEASE_DIR", "", "lease lock folder (empty: <data>/leases)"),
    "sensor_max_files": ("TIKTOK_SENSOR_MAX_FILES", 8, "uploads handled per sensor tick"),
    "api_host": ("TIKTOK_API_HOST", "127.0.0.1", "API bind address"),
    "api_port": ("TIKTOK_API_PORT", 8003, "API port"),
    "api_token": ("TIKTOK_API_TOKEN", "", "API bearer token (empty: none)"),
    "api_roots": ("TIKTOK_API_ROOTS", "", "folders POST /analyze may read (os.pathsep list)"),
    "api_max_body": ("TIKTOK_API_MAX_BODY", 65536, "largest request body, bytes"),
    "api_max_download_mb": ("TIKTOK_API_MAX_DOWNLOAD_MB", 500.0, "largest URL download, MB"),
    "api_url_hosts": ("TIKTOK_API_URL_HOSTS", "", "hosts a URL may name (comma separated)"),
    "min_free_gb": ("TIKTOK_MIN_FREE_GB", 2.0, "free disk the health check wants, GB"),
    "progress": ("TIKTOK_PROGRESS", False, "progress lines on stderr (the CLI sets it)"),
}


def env_value(field: str) -> Any:
    """The value of ``field`` from its variable (unset or empty: the default), converted
    to the default's type."""
    var, default, _ = VARIABLES[field]
    raw = os.environ.get(var, "")
    if not raw.strip():
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return type(default)(raw)
