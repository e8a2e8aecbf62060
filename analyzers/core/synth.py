"""Synthetic media with known ground truth (ffmpeg lavfi + numpy), for the demo, the tests
and the benchmarks: a cut is where two segments meet, a colour is what was asked for."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Segment:
    """One shot: a lavfi ``source`` without size/rate/duration (``color=c=red``,
    ``testsrc2``, ``mandelbrot``), ``seconds`` long, with optional extra ``vf`` filters
    (times inside ``vf`` are relative to the segment start)."""

    source: str
    seconds: float
    vf: str | None = None


def ffmpeg_bin() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed: run scripts/install_system_deps.sh")
    return exe


def click_track(bpm: float, seconds: float, sr: int = 16_000, click_ms: float = 15) -> np.ndarray:
    """A click (1 kHz burst, exponential decay) on every beat from t=0, float32 mono."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    n = int(click_ms / 1000 * sr)
    t = np.arange(n) / sr
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 300)).astype(np.float32)
    for beat in np.arange(0, seconds, 60.0 / bpm):
        i = round(beat * sr)
        m = min(n, len(y) - i)
        if m > 0:
            y[i : i + m] += 0.8 * click[:m]
    return y


def write_wav(path: str | Path, samples: np.ndarray, sr: int) -> Path:
    import soundfile as sf

    sf.write(str(path), samples, sr, subtype="PCM_16")
    return Path(path)


def make_clip(
    out: str | Path,
    segments: Sequence[Segment],
    *,
    size: tuple[int, int] = (1080, 1920),
    fps: int = 30,
    audio: str | Path | None = None,
    audio_lavfi: str | None = None,
    crf: int = 23,
) -> Path:
    """Encode ``segments`` back to back into an H.264 mp4 (``size`` is width x height).
    Audio: a file (``audio``), a lavfi source (``audio_lavfi``), or none."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    cmd = [ffmpeg_bin(), "-v", "error", "-y"]
    chains = []
    for i, seg in enumerate(segments):
        sep = ":" if "=" in seg.source else "="
        src = f"{seg.source}{sep}s={w}x{h}:r={fps}"
        cmd += ["-f", "lavfi", "-t", f"{seg.seconds}", "-i", src]
        vf = f",{seg.vf}" if seg.vf else ""
        chains.append(f"[{i}:v]format=yuv420p,setsar=1{vf}[v{i}]")
    joined = "".join(f"[v{i}]" for i in range(len(segments)))
    graph = ";".join(chains) + f";{joined}concat=n={len(segments)}:v=1:a=0[v]"
    maps = ["-map", "[v]"]
    n_in = len(segments)
    if audio is not None:
        cmd += ["-i", str(audio)]
        maps += ["-map", f"{n_in}:a", "-c:a", "aac", "-b:a", "128k"]
    elif audio_lavfi is not None:
        cmd += ["-f", "lavfi", "-i", audio_lavfi]
        maps += ["-map", f"{n_in}:a", "-c:a", "aac", "-b:a", "128k"]
    total = sum(s.seconds for s in segments)
    cmd += ["-filter_complex", graph, *maps, "-t", f"{total}", "-c:v", "libx264"]
    cmd += ["-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", "-r", str(fps)]
    cmd += ["-movflags", "+faststart", str(out)]
    subprocess.run(cmd, check=True)
    return out


def demo_clip(out: str | Path, *, size: tuple[int, int] = (1080, 1920)) -> Path:
    """The 10 s sample of ``make demo``: four shots (cuts at 3, 5 and 7 s; the last fades
    out), a 120 BPM click track with a 220 Hz tone."""
    out = Path(out)
    wav = out.with_suffix(".wav")
    sr = 44_100
    t = np.arange(10 * sr) / sr
    y = click_track(120, 10, sr) + 0.15 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    write_wav(wav, y, sr)
    segments = [
        Segment("testsrc2", 3.0),
        Segment("color=c=0xE03C31", 2.0),
        Segment("mandelbrot", 2.0),
        Segment("smptebars", 3.0, vf="fade=t=out:st=2.0:d=1.0"),
    ]
    try:
        return make_clip(out, segments, size=size, audio=wav)
    finally:
        wav.unlink(missing_ok=True)
