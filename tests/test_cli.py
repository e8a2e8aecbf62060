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
    for name in ("color_analysis", "cut_analysis", "audio_analysis"):
        assert any(line.startswith(name) and " 6 " in line for line in text.splitlines()), name
    assert "stage4_fast" in out.stderr and "segment_frames" in out.stderr  # progress lines

    status = cli("status", env=env, cwd=tmp_path)
    assert status.returncode == 0 and "small-" in status.stdout
    assert "-" in status.stdout.splitlines()[1].split()[-1]  # nothing missing

    bad = tmp_path / "broken.mp4"
    bad.write_text("this is not a video")
    out = cli("analyze", str(bad), env=env, cwd=tmp_path)
    assert out.returncode == 2 and "not a video file" in out.stderr

    models = cli("models", "list", env=env, cwd=tmp_path)
    assert models.returncode == 0 and "color_analysis" in models.stdout
