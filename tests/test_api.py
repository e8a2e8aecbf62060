"""The REST API as a live server on loopback (uvicorn, its own process), as a browser page
or a careless client would meet it: JSON only, Host and Origin checked, a body limit, paths
outside the allowed roots refused the same whether they exist or not, an optional bearer
token, URL ingest over http(s) only with a size limit, and schemathesis fuzzing the
OpenAPI document for server errors and answers the document does not declare. No Dagster
webserver runs here, so a run cannot launch: the answer says so (503) with the video id.
tests/ui/test_browser.py covers launching, idempotency and results with one (make up)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(env: dict[str, str], port: int, log: Path, host: str = "127.0.0.1") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tiktok_assets.cli", "serve", "--host", host, "--port", str(port)]
    with open(log, "w") as fh:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("api")
    root = tmp / "allowed"
    root.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(tmp / "home"),
        "TIKTOK_DATA": str(tmp / "data"),
        "TIKTOK_API_ROOTS": str(root),
        "TIKTOK_API_TOKEN": "s3cret-token",
        "DAGSTER_WEBSERVER": f"127.0.0.1:{_free_port()}",  # nothing listens there
        "TIKTOK_API_MAX_DOWNLOAD_MB": "1",
        "TIKTOK_API_URL_HOSTS": "127.0.0.1",  # the test's own file server; nothing else
    }
    proc = _start(env, port, tmp / "api.log")
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        raise AssertionError((tmp / "api.log").read_text()[-3000:])
    auth = {"Authorization": "Bearer s3cret-token"}
    try:
        yield {"base": base, "root": root, "tmp": tmp, "auth": auth, "env": env}
    finally:
        proc.terminate()
        proc.wait(20)


def post(api: dict, body: object, **kw) -> httpx.Response:
    headers = {**api["auth"], **kw.pop("headers", {})}
    return httpx.post(f"{api['base']}/analyze", json=body, headers=headers, timeout=120, **kw)


def test_bearer_token_is_required_when_set(api):
    r = httpx.post(f"{api['base']}/analyze", json={"video_path": "x"}, timeout=10)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{api['base']}/videos/a-1", headers=wrong, timeout=10).status_code == 401
    assert (
        httpx.get(f"{api['base']}/videos/a-1", headers=api["auth"], timeout=10).status_code == 404
    )


def test_json_only_host_origin_and_body_limit(api):
    url = f"{api['base']}/analyze"
    r = httpx.post(
        url, content='{"video_path": "x"}', headers={**api["auth"], "Content-Type": "text/plain"}
    )
    assert r.status_code == 415  # a page's simple (no-preflight) request is refused
    r = post(api, {"video_path": "x"}, headers={"Host": "evil.example"})
    assert r.status_code == 403 and "Host" in r.json()["error"]  # DNS rebinding
    r = post(api, {"video_path": "x"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin" in r.json()["error"]
    r = httpx.post(
        url,
        content=b'{"video_path": "' + b"a" * 70_000 + b'"}',
        headers={**api["auth"], "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 413
    assert post(api, {"video_path": "a" * 10_000}).status_code == 422  # not a 500
    assert post(api, {"video_path": "x", "url": "http://127.0.0.1/x.mp4"}).status_code == 422
    assert post(api, {}).status_code == 422
    assert post(api, ["not", "an", "object"]).status_code == 422


def test_paths_outside_the_roots_are_refused_alike(api, small_clip, tmp_path):
    outside_real = post(api, {"video_path": str(small_clip)})
    outside_missing = post(api, {"video_path": str(Path(small_clip).with_name("nope.mp4"))})
    assert outside_real.status_code == outside_missing.status_code == 403
    assert outside_real.json() == outside_missing.json()  # nothing to learn from the answer
    # a link inside the root to a file outside it is outside
    link = api["root"] / "link.mp4"
    link.symlink_to(small_clip)
    assert post(api, {"video_path": str(link)}).status_code == 403
    assert post(api, {"video_path": str(api["root"] / ".." / "x")}).status_code == 403
    assert post(api, {"video_path": str(api["root"] / "missing.mp4")}).status_code == 404
    text = api["root"] / "notes.mp4"
    text.write_text("not a video")
    r = post(api, {"video_path": str(text)})
    assert r.status_code == 422 and "not a video file" in r.json()["error"]


def test_a_good_file_is_staged_and_the_launch_failure_said(api, small_clip):
    clip = api["root"] / "good.mp4"
    shutil.copyfile(small_clip, clip)
    r = post(api, {"video_path": str(clip)})
    assert r.status_code == 503, r.text  # no Dagster webserver in this test
    body = r.json()
    assert body["video_id"].startswith("good-") and "make up" in body["error"]
    assert (api["tmp"] / "data" / "incoming").is_dir()
    status = httpx.get(f"{api['base']}/videos/{body['video_id']}", headers=api["auth"], timeout=30)
    assert status.status_code == 200 and status.json()["runs"] == []


def test_url_ingest_http_only_with_a_size_limit(api, small_clip, tmp_path):
    serve = tmp_path / "www"
    serve.mkdir()
    shutil.copyfile(small_clip, serve / "clip.mp4")
    (serve / "big.mp4").write_bytes(os.urandom(2_000_000))  # over the 1 MB limit
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(serve))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        r = post(api, {"url": f"http://127.0.0.1:{port}/clip.mp4"})
        assert r.status_code == 503, r.text  # downloaded and staged; no webserver to launch
        from resources.media_store import sha256_file

        # the bytes of the file served: the same video as good.mp4 posted by path before
        assert r.json()["video_id"].endswith(sha256_file(small_clip)[:10])
        big = post(api, {"url": f"http://127.0.0.1:{port}/big.mp4"})
        assert big.status_code == 413, big.text
        for bad in ("file:///etc/passwd", "ftp://127.0.0.1/x.mp4", "javascript:alert(1)"):
            assert post(api, {"url": bad}).status_code == 422, bad
        # hosts outside the allow-list are refused before any lookup or connection
        assert post(api, {"url": "http://10.0.0.1/x.mp4"}).status_code == 403
    finally:
        httpd.shutdown()
    leftovers = [
        p for p in (api["tmp"] / "data" / "incoming").iterdir() if p.name.startswith(".api-")
    ]
    assert leftovers == []  # downloads are removed once staged


def test_results_of_an_unknown_video(api):
    r = httpx.get(f"{api['base']}/videos/none-0000000000/results", headers=api["auth"], timeout=10)
    assert r.status_code == 404
    r = httpx.get(f"{api['base']}/videos/..%2F..%2Fetc/results", headers=api["auth"], timeout=10)
    assert r.status_code in (404, 422)


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TIKTOK_API_TOKEN"}
    env.update(
        PYTHONPATH=str(REPO), TIKTOK_DATA=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "h")
    )
    proc = _start(env, _free_port(), tmp_path / "log", host="0.0.0.0")
    assert proc.wait(60) == 2
    assert "refusing to listen on 0.0.0.0 without a token" in (tmp_path / "log").read_text()


def test_schemathesis_finds_no_server_error_and_no_undeclared_answer(api, tmp_path):
    """Fuzz every operation from the OpenAPI document (bounded: 40 examples each): no 5xx
    but the declared 503, every status code, content type and body as documented, bad
    input rejected, and the token enforced (ignored_auth)."""
    st = Path(sys.executable).parent / "st"
    config = tmp_path / "schemathesis.toml"
    # 503 is declared: /health without a daemon, /analyze without a webserver
    config.write_text(
        '[checks.not_a_server_error]\nexpected-statuses = ["2XX", "3XX", "4XX", "503"]\n'
    )
    checks = ",".join(
        [
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
            "negative_data_rejection",
            "ignored_auth",
        ]
    )
    out = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{api['base']}/openapi.json",
            "--checks",
            checks,
            "--max-examples",
            "40",
            "--header",
            "Authorization: Bearer s3cret-token",
            "--seed",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "60",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
