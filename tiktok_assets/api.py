"""REST API on :8003: ``POST /analyze``, ``GET /health``, ``GET /videos/{id}``.

It is a thin front on Dagster, never a second pipeline: a posted file is staged and added
as a partition, and the run is launched through the Dagster webserver's GraphQL API, so it
is queued, pooled and shown in the UI like any other run (start the UI with ``make dev``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analyzers.core.decode import MediaError
from resources.media_store import MediaStore

JOB = "analyze_video"


def dagster_url() -> tuple[str, int]:
    """The Dagster webserver this API launches runs through (``DAGSTER_WEBSERVER``)."""
    host, _, port = os.environ.get("DAGSTER_WEBSERVER", "127.0.0.1:3000").rpartition(":")
    return host or "127.0.0.1", int(port)


def _store() -> MediaStore:
    store = MediaStore()
    store.ensure_layout()
    return store


def _instance():
    from tiktok_assets.instance import init_instance

    return init_instance()


def _launch(key: str, source: str) -> str:
    from dagster_graphql import DagsterGraphQLClient

    from resources.models import ModelStore
    from tiktok_assets.plan import run_selection, skipped_analyzers

    host, port = dagster_url()
    client = DagsterGraphQLClient(host, port_number=port, timeout=30)
    return client.submit_job_execution(
        JOB,
        tags={"dagster/partition": key, "tiktok/source": source, "tiktok/entry": "api"},
        asset_selection=run_selection(skipped_analyzers(ModelStore())),
    )


async def analyze(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": 'body must be JSON: {"video_path": PATH}'}, 400)
    path = Path(str(body.get("video_path", ""))) if isinstance(body, dict) else Path()
    if not str(path) or not path.is_file():
        return JSONResponse({"error": f"video_path {str(path)!r} is not a readable file"}, 400)
    from tiktok_assets.videos import add_video

    try:
        key, new, _, _ = add_video(_instance(), _store(), path)
    except MediaError as exc:
        return JSONResponse({"error": f"{path.name} cannot be analysed: {exc}"}, 422)
    try:
        run_id = _launch(key, path.name)
    except Exception as exc:  # webserver down, code location broken, ...
        host, port = dagster_url()
        return JSONResponse(
            {
                "video_id": key,
                "error": f"could not launch the run through Dagster at {host}:{port} "
                f"({type(exc).__name__}: {exc}); is `make dev` running?",
            },
            503,
        )
    return JSONResponse(
        {"video_id": key, "run_id": run_id, "new": new, "status_url": f"/videos/{key}"}, 202
    )


async def health(request: Request) -> JSONResponse:
    import socket

    host, port = dagster_url()
    with socket.socket() as sock:
        sock.settimeout(1.0)
        webserver = sock.connect_ex((host, port)) == 0
    instance = _instance()
    return JSONResponse(
        {
            "status": "ok",
            "dagster_webserver": webserver,
            "storage": type(instance.run_storage).__name__,
            "data": str(_store().path()),
        }
    )


def video_status(key: str) -> dict[str, Any] | None:
    """Runs and materialized assets of one video, or None when it is unknown."""
    from dagster import RunsFilter

    from tiktok_assets.videos import asset_names, missing_assets

    instance = _instance()
    if key not in instance.get_dynamic_partitions("videos"):
        return None
    missing = missing_assets(instance, [key])[key]
    runs = instance.get_runs(RunsFilter(tags={"dagster/partition": key}), limit=10)
    report = _store().path("reports", key, "index.html")
    return {
        "video_id": key,
        "materialized": [a for a in asset_names() if a not in missing],
        "missing": missing,
        "runs": [{"run_id": r.run_id, "status": r.status.value} for r in runs],
        "report": str(report) if report.exists() else None,
    }


async def video(request: Request) -> JSONResponse:
    status = video_status(request.path_params["video_id"])
    if status is None:
        return JSONResponse({"error": "unknown video_id"}, 404)
    return JSONResponse(status)


app = Starlette(
    routes=[
        Route("/analyze", analyze, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/videos/{video_id}", video, methods=["GET"]),
    ]
)


def serve(host: str = "127.0.0.1", port: int = 8003) -> int:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0
