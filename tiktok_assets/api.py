"""REST API on :8003 (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

It is a thin front on Dagster, never a second pipeline: a posted file (or a downloaded
URL) is admitted, staged and added as a partition, and the run is launched through the
Dagster webserver's GraphQL API, so it is queued, pooled and shown in the UI like any
other run (``make up`` starts both).

Hardening, because a web page in the user's browser can send requests to loopback:

- JSON bodies only (415 otherwise), at most ``TIKTOK_API_MAX_BODY`` bytes (413);
- ``Host`` must be one the server answers as (loopback names and the bind address), and
  a request that carries an ``Origin`` must come from the API's own origin (403);
- files only under the allowed input roots (``TIKTOK_API_ROOTS``, default
  ``$TIKTOK_DATA/uploads`` and the folder the server started in): a path outside them is
  403 whether or not it exists, so the answer reveals nothing about the file system;
- an optional bearer token (``TIKTOK_API_TOKEN``), required to bind beyond loopback;
- idempotent ``POST /analyze``: the same bytes give the same video and its existing run;
- ``url``: http(s) only, through yt-dlp, with size and duration limits, to public hosts
  (or those in ``TIKTOK_API_URL_HOSTS``): never this machine's own network.
"""

from __future__ import annotations

import hmac
import os
import shutil
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from analyzers.core.decode import MediaError
from resources.media_store import MediaStore
from resources.settings import env_settings
from tiktok_assets.fetch import DownloadRefused, download, url_refusal

JOB = "analyze_video"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
VIDEO_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,159}$"
LIVE_OR_DONE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS")


# ---- settings ---------------------------------------------------------------------------
def max_body() -> int:
    """Largest request body accepted, in bytes (``TIKTOK_API_MAX_BODY``, default 64 KiB)."""
    return env_settings().api_max_body


def input_roots() -> list[Path]:
    """Folders whose files ``POST /analyze`` may read (``TIKTOK_API_ROOTS``, separated by
    ``os.pathsep``; default the data folder's uploads/ and the server's working folder)."""
    env = env_settings().api_roots
    if env:
        return [Path(p).expanduser().resolve() for p in env.split(os.pathsep) if p.strip()]
    return [_store().path("uploads").resolve(), Path.cwd().resolve()]


def token() -> str | None:
    return env_settings().api_token or None


def dagster_url() -> tuple[str, int]:
    """The Dagster webserver this API launches runs through (``DAGSTER_WEBSERVER``)."""
    host, _, port = os.environ.get("DAGSTER_WEBSERVER", "127.0.0.1:3000").rpartition(":")
    return host or "127.0.0.1", int(port)


def _store() -> MediaStore:
    store = MediaStore()
    store.ensure_layout()
    return store


def _instance() -> Any:
    from tiktok_assets.instance import init_instance

    return init_instance()


# ---- models -----------------------------------------------------------------------------
class AnalyzeRequest(BaseModel):
    """Exactly one of ``video_path`` (a file under an allowed input root) and ``url``
    (http or https; downloaded with yt-dlp)."""

    model_config = ConfigDict(extra="forbid")
    video_path: str | None = Field(default=None, min_length=1, max_length=4096)
    url: str | None = Field(default=None, min_length=8, max_length=2048, pattern=r"^https?://")

    @model_validator(mode="after")
    def _one(self) -> AnalyzeRequest:
        if (self.video_path is None) == (self.url is None):
            raise ValueError("give exactly one of video_path and url")
        return self


class Accepted(BaseModel):
    video_id: str
    run_id: str
    new: bool = Field(description="false when the same bytes were already stored")
    existing_run: bool = Field(description="true when the video's earlier run is returned")
    status_url: str
    results_url: str


class Problem(BaseModel):
    error: str
    video_id: str | None = None
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="which fields failed validation, and why"
    )


class RunInfo(BaseModel):
    run_id: str
    status: str


class VideoStatus(BaseModel):
    video_id: str
    materialized: list[str]
    missing: list[str]
    runs: list[RunInfo]
    report: bool


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]]


def _problem(code: int, msg: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": msg, **extra}, status_code=code)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in {
        400: "body is not parseable JSON",
        401: "bearer token missing or wrong (when TIKTOK_API_TOKEN is set)",
        403: "path outside the allowed input roots, url host not allowed, or a foreign Host/Origin",
        413: "body or download too large",
        415: "body is not JSON",
        422: "request not valid, or the file cannot be analysed (reason given)",
    }.items()
}


# ---- guards -----------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False)


def require_token(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    want = token()
    if want is None:
        return
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), want.encode()):
        raise HTTPException(401, "bearer token missing or wrong", {"WWW-Authenticate": "Bearer"})


def _allowed_hosts() -> set[str]:
    bind = env_settings().api_host
    return {*LOOPBACK, bind.strip("[]")}


def _same_origins() -> set[str]:
    port = env_settings().api_port
    return {f"http://{f'[{h}]' if ':' in h else h}:{port}" for h in _allowed_hosts()}


async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Host, Origin, body size and media type, before any route runs."""
    try:
        host = request.url.hostname or ""
    except ValueError:
        host = ""
    if host not in _allowed_hosts():
        return _problem(403, "Host not allowed: this API answers on its own address only")
    origin = request.headers.get("origin")
    if origin is not None and origin not in _same_origins():
        return _problem(403, f"Origin {origin[:100]!r} not allowed")
    if request.method in ("POST", "PUT", "PATCH"):
        try:
            length = int(request.headers.get("content-length", "0"))
        except ValueError:
            return _problem(400, "Content-Length is not a number")
        if length > max_body():
            return _problem(413, f"body over {max_body()} bytes")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return _problem(415, 'send JSON: Content-Type: application/json, {"video_path": PATH}')
    return await call_next(request)


def _inside_roots(raw: str) -> Path | None:
    """``raw`` resolved (links followed) when it lies under an allowed root, else None."""
    try:
        path = Path(raw).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for root in input_roots():
        if path == root or path.is_relative_to(root):
            return path
    return None


# ---- launching ----------------------------------------------------------------------------
_launch_lock = threading.Lock()  # one check-then-launch at a time: duplicates find the run


def _existing_run(instance: Any, key: str) -> str | None:
    from dagster import RunsFilter

    for run in instance.get_runs(RunsFilter(tags={"dagster/partition": key}), limit=20):
        if run.status.value in LIVE_OR_DONE and run.job_name == JOB:
            return run.run_id
    return None


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


# ---- the app ------------------------------------------------------------------------------
app = FastAPI(
    title="tiktok-analyzer",
    version="1",
    description="Per-second video analytics as Dagster assets: submit a video, follow its "
    "run, read its results.",
)
app.middleware("http")(guard)
AUTH = [Depends(require_token)]  # every route but /health


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))[:300]}
        for e in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in detail[:3])
    return JSONResponse({"error": f"request not valid: {where}"[:1000], "detail": detail}, 422)


@app.post(
    "/analyze",
    dependencies=AUTH,
    status_code=202,
    response_model=Accepted,
    responses={
        200: {"model": Accepted, "description": "same bytes as a video already analysed"},
        404: {"model": Problem, "description": "no such file under an allowed root"},
        503: {"model": Problem, "description": "Dagster webserver not reachable"},
        **ERRORS,
    },
)
def analyze(body: AnalyzeRequest) -> Any:
    """Analyze one video: ``{"video_path": PATH}`` or ``{"url": URL}``. The same bytes
    posted again return the same video and its run (200) instead of a second run."""
    from tiktok_assets.videos import add_video

    store = _store()
    tmp: Path | None = None
    if body.url is not None:
        import tempfile

        refused = url_refusal(body.url)
        if refused is not None:
            return _problem(403, f"url refused: {refused}")
        tmp = Path(tempfile.mkdtemp(prefix=".api-", suffix=".tmp", dir=store.path("incoming")))
        try:
            path = download(body.url, tmp)
        except DownloadRefused as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return _problem(exc.code, str(exc))
        source = body.url
    else:
        assert body.video_path is not None
        inside = _inside_roots(body.video_path)
        if inside is None:
            return _problem(403, "video_path is outside the allowed input roots (TIKTOK_API_ROOTS)")
        if not inside.is_file():
            return _problem(404, "no such file under the allowed input roots")
        path, source = inside, inside.name
    try:
        with _launch_lock:
            instance = _instance()
            try:
                key, new, _, _ = add_video(instance, store, path)
            except MediaError as exc:
                return _problem(422, f"{path.name} cannot be analysed: {exc}")
            urls = {"status_url": f"/videos/{key}", "results_url": f"/videos/{key}/results"}
            run_id = _existing_run(instance, key)
            if run_id is not None:
                return JSONResponse(
                    Accepted(
                        video_id=key, run_id=run_id, new=new, existing_run=True, **urls
                    ).model_dump(),
                    200,
                )
            try:
                run_id = _launch(key, source)
            except Exception as exc:  # webserver down, code location broken, ...
                host, port = dagster_url()
                return _problem(
                    503,
                    f"could not launch the run through Dagster at {host}:{port} "
                    f"({type(exc).__name__}); is `make up` running?",
                    video_id=key,
                )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return Accepted(video_id=key, run_id=run_id, new=new, existing_run=False, **urls)


@app.get("/health", response_model=Health, responses={503: {"model": Health}})
def health() -> Any:
    """Instance storage, daemon heartbeat, Dagster webserver, disk space, GPU memory."""
    from tiktok_assets.health import health_checks

    checks = health_checks(_instance(), _store(), dagster_url())
    ok = all(c.get("ok", True) for c in checks.values())
    body = Health(status="ok" if ok else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), 200 if ok else 503)


def video_status(key: str) -> VideoStatus | None:
    """Runs and materialized assets of one video, or None when it is unknown."""
    from dagster import RunsFilter

    from tiktok_assets.videos import asset_names, missing_assets

    instance = _instance()
    if key not in instance.get_dynamic_partitions("videos"):
        return None
    missing = missing_assets(instance, [key])[key]
    runs = instance.get_runs(RunsFilter(tags={"dagster/partition": key}), limit=10)
    return VideoStatus(
        video_id=key,
        materialized=[a for a in asset_names() if a not in missing],
        missing=missing,
        runs=[RunInfo(run_id=r.run_id, status=r.status.value) for r in runs],
        report=_store().path("reports", key, "index.html").exists(),
    )


VideoId = Annotated[str, PathParam(pattern=VIDEO_ID, max_length=160)]


@app.get(
    "/videos/{video_id}",
    dependencies=AUTH,
    response_model=VideoStatus,
    responses={404: {"model": Problem, "description": "unknown video_id"}, **ERRORS},
)
def video(video_id: VideoId) -> Any:
    """A video's runs and which assets are materialized for it."""
    status = video_status(video_id)
    if status is None:
        return _problem(404, "unknown video_id")
    return status


@app.get(
    "/videos/{video_id}/results",
    dependencies=AUTH,
    responses={
        200: {
            "description": "the rows as JSON (one object per second), or the Parquet file",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        404: {"model": Problem, "description": "unknown video, or no such table for it"},
        **ERRORS,
    },
)
def results(
    video_id: VideoId,
    asset: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = "cross_analyzer_intelligence",
    format: Annotated[Literal["json", "parquet"], Query()] = "json",
) -> Any:
    """One asset's table for a video (default the joined per-second matrix): JSON rows,
    or the Parquet file itself (``format=parquet``)."""
    from io_managers.parquet import exists, is_remote, partition_url, read_bytes, read_parquet
    from resources.settings import env_settings

    # the local data folder, or the bucket of a multi-machine deployment
    url = partition_url(env_settings().parquet_root(_store().root), asset, video_id)
    if not exists(url):
        return _problem(404, f"no {asset} table for video {video_id}")
    if format == "parquet":
        if not is_remote(url):
            return FileResponse(
                url,
                media_type="application/vnd.apache.parquet",
                filename=f"{asset}-{video_id}.parquet",
            )
        return Response(
            read_bytes(url),
            media_type="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{asset}-{video_id}.parquet"'},
        )
    return JSONResponse(_jsonable(read_parquet(url).to_pylist()))


def _jsonable(value: Any) -> Any:
    """NaN and infinities (not JSON) as null, recursively."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def serve(host: str = "127.0.0.1", port: int = 8003) -> int:
    """Run the API with uvicorn. Binding beyond loopback needs ``TIKTOK_API_TOKEN``."""
    import uvicorn

    if host not in LOOPBACK and token() is None:
        print(
            f"error: refusing to listen on {host} without a token: set TIKTOK_API_TOKEN "
            "(clients send `Authorization: Bearer TOKEN`), or bind 127.0.0.1",
            flush=True,
        )
        return 2
    os.environ["TIKTOK_API_HOST"] = host
    os.environ["TIKTOK_API_PORT"] = str(port)
    with socket.socket() as probe:
        if probe.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) == 0:
            print(f"error: port {port} on {host} is already in use", flush=True)
            return 2
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    return 0
