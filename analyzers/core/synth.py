"""Synthetic media with known ground truth (ffmpeg lavfi + numpy), for the demo, the tests
and the benchmarks: a cut is where two segments meet, a colour is what was asked for."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzers.core.media import AUDIO_RATE


@dataclass(frozen=True)
class Segment:
    """One shot: a lavfi ``source`` without size/rate/duration (``color=c=red``,
    ``testsrc2``, ``mandelbrot``) or ``image=PATH`` (a still picture, kept at its own size
    so ``vf`` can crop or zoom it to the clip's size), ``seconds`` long, with optional extra ``vf`` filters
    (times inside ``vf`` are relative to the segment start). ``dissolve``: seconds over
    which this shot cross-dissolves in from the previous one (the two overlap, so the clip
    gets that much shorter; 0 is a hard cut)."""

    source: str
    seconds: float
    vf: str | None = None
    dissolve: float = 0.0


def ffmpeg_bin() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed: run scripts/install_system_deps.sh")
    return exe


def click_track(
    bpm: float, seconds: float, sr: int = AUDIO_RATE, click_ms: float = 15
) -> np.ndarray:
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
        vf = f",{seg.vf}" if seg.vf else ""
        if seg.source.startswith("image="):
            cmd += ["-loop", "1", "-framerate", str(fps), "-t", f"{seg.seconds}"]
            cmd += ["-i", seg.source.removeprefix("image=")]
            vf += f",scale={w}:{h}"  # a no-op when vf already made it the clip's size
        else:
            sep = ":" if "=" in seg.source else "="
            cmd += [
                "-f",
                "lavfi",
                "-t",
                f"{seg.seconds}",
                "-i",
                f"{seg.source}{sep}s={w}x{h}:r={fps}",
            ]
        chains.append(f"[{i}:v]format=yuv420p,setsar=1,settb=AVTB{vf}[v{i}]")
    graph = ";".join(chains) + ";" + _join(segments)
    maps = ["-map", "[v]"]
    n_in = len(segments)
    if audio is not None:
        cmd += ["-i", str(audio)]
        maps += ["-map", f"{n_in}:a", "-c:a", "aac", "-b:a", "128k"]
    elif audio_lavfi is not None:
        cmd += ["-f", "lavfi", "-i", audio_lavfi]
        maps += ["-map", f"{n_in}:a", "-c:a", "aac", "-b:a", "128k"]
    total = sum(s.seconds for s in segments) - sum(s.dissolve for s in segments[1:])
    cmd += ["-filter_complex", graph, *maps, "-t", f"{total}", "-c:v", "libx264"]
    cmd += ["-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", "-r", str(fps)]
    cmd += ["-movflags", "+faststart", str(out)]
    subprocess.run(cmd, check=True)
    return out


def texture_image(path: str | Path, size: tuple[int, int], seed: int = 0) -> Path:
    """A still picture full of detail at every scale and in every direction (smoothed
    random noise at four scales plus colour), ``size`` = width x height: what a camera sees
    so that its motion can be measured, unlike the stripes of lavfi's test patterns."""
    import cv2

    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cell, weight in ((4, 0.2), (12, 0.3), (40, 0.3), (120, 0.2)):
        # +1 cell so that the pattern's period is not a whole number of pixels (no false
        # alignment with an encoder's 8 px blocks)
        small = rng.random((h // cell + 1, w // cell + 1, 3)).astype(np.float32)
        img += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip((img - img.min()) / (np.ptp(img) + 1e-6) * 255, 0, 255).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def _join(segments: Sequence[Segment]) -> str:
    """Filter graph tail joining ``[v0]..[vN]`` into ``[v]``: concat for hard cuts, xfade
    for dissolves."""
    parts, cur, length = [], "[v0]", segments[0].seconds
    for i, seg in enumerate(segments[1:], start=1):
        out = "[v]" if i == len(segments) - 1 else f"[j{i}]"
        if seg.dissolve > 0:
            off = length - seg.dissolve
            parts.append(
                f"{cur}[v{i}]xfade=transition=fade:duration={seg.dissolve}:offset={off}{out}"
            )
            length += seg.seconds - seg.dissolve
        else:
            parts.append(f"{cur}[v{i}]concat=n=2:v=1:a=0{out}")
            length += seg.seconds
        cur = out
    if len(segments) == 1:
        return "[v0]null[v]"
    return ";".join(parts)


def demo_clip(out: str | Path, *, size: tuple[int, int] = (1080, 1920)) -> Path:
    """The 10 s sample of ``make demo``: four shots (cuts at 3, 5 and 7 s; the last fades
    out), a 120 BPM click track with a 220 Hz tone, and a spoken line from 1 s."""
    out = Path(out)
    wav = out.with_suffix(".wav")
    sr = 44_100
    t = np.arange(10 * sr) / sr
    y = 0.5 * click_track(120, 10, sr) + 0.08 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    line, _ = espeak("This is the best kitchen hack you will see today.", 150, sr=sr)
    y[sr : sr + len(line)] += 0.9 * line[: len(y) - sr]
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


def espeak(
    text: str, rate_wpm: int = 150, voice: str = "en-us", sr: int = AUDIO_RATE
) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """``text`` spoken by espeak-ng at ``rate_wpm`` words per minute: float32 mono at ``sr``
    Hz with leading/trailing silence trimmed, and each word's (word, start, end) in seconds
    from espeak-ng's own word events (start: where its sound begins; end: where the next
    word's begins, or the end of the sound), so the truth is the synthesizer's, not a guess.

    libespeak-ng (the espeak-ng package installs it) runs in a fresh process each time
    (``espeak_child.py``): it keeps state from one synthesis to the next in a process (the
    same sentence came out a few samples longer or shorter, and different, on each call),
    so generated test speech depended on what had been spoken before it."""
    import json
    import sys

    child = Path(__file__).with_name("espeak_child.py")
    proc = subprocess.run(
        [sys.executable, "-I", str(child)], capture_output=True, timeout=120,
        input=json.dumps({"text": text, "rate_wpm": rate_wpm, "voice": voice}).encode(),
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace").strip() or "espeak-ng failed")
    head, _, raw = proc.stdout.partition(b"\n")
    info = json.loads(head)
    native, marks, data = int(info["rate"]), info["marks"], text.encode()
    y = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(y) > 0.01)
    first, last = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, 0)
    starts = [max(first, m[2]) for m in marks]
    words = []
    for k, (pos, length, _) in enumerate(marks):
        word = data[pos - 1 : pos - 1 + length].decode(errors="ignore")
        end = starts[k + 1] if k + 1 < len(marks) else last
        words.append((word, (starts[k] - first) / native, (end - first) / native))
    y = y[first:last]
    if native != sr and len(y):
        from scipy.signal import resample_poly

        g = np.gcd(native, sr)
        y = resample_poly(y, sr // g, native // g).astype(np.float32)
    return y, words


@dataclass(frozen=True)
class Speech:
    """Generated speech with its truth: ``audio`` float32 at ``sr`` Hz; ``words`` as
    (word, start, end) seconds; ``spans`` the (start, end) of each sentence."""

    audio: np.ndarray
    sr: int
    words: list[tuple[str, float, float]]
    spans: list[tuple[float, float]]


def speech_track(
    sentences: Sequence[str],
    *,
    lead: float = 0.5,
    gap: float = 1.5,
    seconds: float | None = None,
    rate_wpm: int = 150,
    sr: int = AUDIO_RATE,
    voices: Sequence[str] | None = None,
) -> Speech:
    """``sentences`` spoken one after another (``lead`` s of silence first, ``gap`` s
    between them), padded with silence to ``seconds``, each by the espeak-ng voice at the
    same place in ``voices`` (default en-us for all; ``de``, ``fr``, ``es`` ... speak other
    languages). Word times are espeak-ng's own word events."""
    parts, words, spans, t = [np.zeros(int(lead * sr), np.float32)], [], [], lead
    voices = list(voices) if voices is not None else ["en-us"] * len(sentences)
    for i, sentence in enumerate(sentences):
        y, said = espeak(sentence, rate_wpm, voice=voices[i], sr=sr)
        words += [(w, t + a, t + b) for w, a, b in said]
        spans.append((t, t + len(y) / sr))
        parts.append(y)
        t += len(y) / sr
        if i < len(sentences) - 1:
            parts.append(np.zeros(int(gap * sr), np.float32))
            t += int(gap * sr) / sr
    audio = np.concatenate(parts)
    if seconds is not None:
        audio = np.pad(audio, (0, max(0, int(seconds * sr) - len(audio))))[: int(seconds * sr)]
    return Speech(audio.astype(np.float32), sr, words, spans)


# (name, what it reproduces): the timings real footage has and clean generated clips lack
ODD_TIMINGS: dict[str, str] = {
    "ntsc_4004ms": "29.97 fps, 120 frames: lasts 4.004 s, second 4 shows the last frame for 4 ms",
    "half_past_3500ms": "30 fps, 3.5 s: the last second is half a second long",
    "almost_2970ms": "25 fps, 2.97 s: the last second lacks only 30 ms",
    "starts_at_850ms": "every stream's first timestamp is 0.85 s, not 0",
    "video_after_audio": "audio from 0 s, video from 1.2 s: second 0 has no frame on screen",
    "one_frame": "a single video frame",
}


def odd_timing_clip(out_dir: str | Path, name: str, size: tuple[int, int] = (180, 320)) -> Path:
    """One clip of ``ODD_TIMINGS`` (moving test pattern, a 440 Hz tone), as real footage
    has them: fractional durations, non-zero first timestamps, a video stream that starts
    after its audio. Returns the mp4's path."""
    if name not in ODD_TIMINGS:
        raise ValueError(f"unknown odd timing {name!r}; known: {sorted(ODD_TIMINGS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.mp4"
    w, h = size
    ff = [ffmpeg_bin(), "-v", "error", "-y"]
    enc = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"]

    def src(rate: str) -> list[str]:
        return ["-f", "lavfi", "-i", f"testsrc2=s={w}x{h}:r={rate}"]

    tone = ["-f", "lavfi", "-i", "sine=f=440:sample_rate=44100"]
    if name == "ntsc_4004ms":
        cmd = [*ff, *src("30000/1001"), *tone, "-frames:v", "120", "-t", "4.004", *enc]
    elif name == "half_past_3500ms":
        cmd = [*ff, *src("30"), *tone, "-t", "3.5", *enc]
    elif name == "almost_2970ms":
        cmd = [*ff, *src("25"), *tone, "-t", "2.97", *enc]
    elif name == "starts_at_850ms":
        cmd = [*ff, *src("30"), *tone, "-t", "5", *enc, "-output_ts_offset", "0.85"]
    elif name == "one_frame":
        cmd = [*ff, *src("30"), *tone, "-frames:v", "1", "-t", "0.5", *enc]
    else:  # video_after_audio: mux a 4 s video 1.2 s after the start of a 5.2 s tone
        video = out_dir / f".{name}.video.mp4"
        subprocess.run([*ff, *src("30"), "-t", "4", *enc[:6], str(video)], check=True)
        cmd = [*ff, "-itsoffset", "1.2", "-i", str(video), *tone, "-t", "5.2"]
        cmd += ["-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac"]
    subprocess.run([*cmd, str(out)], check=True)
    return out


def encode_frames(out: str | Path, frames: np.ndarray, fps: float = 30, crf: int = 23) -> Path:
    """Encode ``frames`` (N x H x W x 3 uint8 RGB, drawn with numpy/OpenCV so every pixel's
    truth is known) into an H.264 mp4 at ``fps``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _, h, w, _ = frames.shape
    cmd = [ffmpeg_bin(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset"]
    cmd += ["veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames, np.uint8).tobytes(), check=True)
    return out


# English, then German: espeak-ng voices, sentences of everyday speech
BILINGUAL_SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "Today we test the new kitchen gadget that everyone keeps talking about online.",
        "It slices vegetables in seconds and cleans up without any effort at all.",
        "The weather was lovely this morning, so we walked to the market early.",
        "My brother bought a new bicycle last week and rides it every day.",
        "Please remember to close the windows before you leave the house.",
        "We are going to visit our friends by the lake this weekend.",
    ),
    "de": (
        "Es schneidet Gemüse in Sekunden und ist ganz ohne Mühe wieder sauber.",
        "Danach probieren wir ein Rezept aus, das meine Großmutter immer gekocht hat.",
        "Das Wetter war heute Morgen herrlich, also sind wir früh zum Markt gegangen.",
        "Mein Bruder hat letzte Woche ein neues Fahrrad gekauft und fährt jeden Tag damit.",
        "Bitte denk daran, die Fenster zu schließen, bevor du das Haus verlässt.",
        "Am Wochenende besuchen wir unsere Freunde am See.",
    ),
}
_VOICES = {"en": "en-us", "de": "de"}


def bilingual_clip(
    out: str | Path, per_language: int = 2, gap: float = 1.0
) -> tuple[Path, dict[int, str]]:
    """A vertical clip spoken in English, then German (``per_language`` sentences of each,
    espeak-ng, ``gap`` s between sentences), and its truth: second -> language code for
    every second that a sentence covers for more than half of it."""
    langs = [lang for lang in ("en", "de") for _ in range(per_language)]
    texts = [BILINGUAL_SENTENCES[lang][i % 6] for lang in ("en", "de") for i in range(per_language)]
    sp = speech_track(texts, lead=0.5, gap=gap, voices=[_VOICES[lang] for lang in langs])
    truth: dict[int, str] = {}
    for lang, (a, b) in zip(langs, sp.spans, strict=True):
        for s in range(int(a), int(b) + 1):
            if min(b, s + 1) - max(a, s) > 0.5:
                truth[s] = lang
    seconds = int(len(sp.audio) / sp.sr) + 1
    return audio_clip(out, sp.audio, sp.sr, seconds=seconds), truth


def audio_clip(
    out: str | Path,
    samples: np.ndarray,
    sr: int,
    *,
    seconds: float,
    colour: str = "0x204060",
    size: tuple[int, int] = (180, 320),
) -> Path:
    """A still ``colour`` card ``seconds`` long whose sound is ``samples`` (mono float32 at
    ``sr`` Hz): for analyzers of speech and sound, where the picture does not matter."""
    out = Path(out)
    wav = write_wav(out.with_suffix(".wav"), samples, sr)
    try:
        return make_clip(out, [Segment(f"color=c={colour}", seconds)], size=size, audio=wav)
    finally:
        wav.unlink(missing_ok=True)


def damaged_copy(
    src: str | Path, out: str | Path, start: float = 0.45, length: float = 0.1, seed: int = 0
) -> Path:
    """A copy of ``src`` with ``length`` of its bytes (a fraction of the file size) from
    ``start`` (a fraction) overwritten with seeded random bytes: a corrupt middle, the
    index and both ends intact, as a bad disk sector or a broken transfer leaves it."""
    data = bytearray(Path(src).read_bytes())
    a = int(len(data) * start)
    n = int(len(data) * length)
    data[a : a + n] = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    Path(out).write_bytes(bytes(data))
    return Path(out)


def moving_pictures_clip(
    out: str | Path,
    pictures: Sequence[tuple[np.ndarray, tuple[int, int], tuple[int, int]]],
    seconds: float,
    size: tuple[int, int] = (360, 640),
    fps: float = 30,
    background: tuple[int, int, int] = (200, 200, 200),
) -> Path:
    """A clip of still pictures (RGB arrays) pasted on a flat ``background`` of ``size``
    (w, h), each sliding at constant speed from its first (x, y) top-left corner to its
    second over ``seconds``: the truth of where every picture is in every frame is known
    (two portraits side by side, one of them moving, for face tracking)."""
    w, h = size
    n = max(1, round(seconds * fps))
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        frame = frames[i]
        frame[:] = background
        t = i / max(1, n - 1)
        for pic, (x0, y0), (x1, y1) in pictures:
            x, y = round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t)
            ph, pw = pic.shape[:2]
            frame[y : y + ph, x : x + pw] = pic[: h - y, : w - x]
    return encode_frames(out, frames, fps=fps, crf=18)
