"""speech_emotion: prosody measured on synthetic pitch sweeps (no model needed); the
wav2vec2 classifier's plumbing checked with the real architecture and random weights
(no emotion weights are available offline: the rows say weights are random and give no
valence)."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.audio.speech_emotion import LABELS, SpeechEmotion, prosody
from analyzers.core.synth import Segment, make_clip, speech_track, write_wav
from tests.conftest import SENTENCES, SMALL, analyze_with

SR = 16_000


def glide(f0: float, f1: float, seconds: float, amp: float = 0.3) -> np.ndarray:
    """A voiced-like tone (harmonics) gliding exponentially from f0 to f1 Hz."""
    t = np.arange(int(seconds * SR)) / SR
    freq = f0 * (f1 / f0) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    return (amp * sum(np.sin(h * phase) / h for h in (1, 2, 3))).astype(np.float32)


def test_pitch_of_a_steady_tone():
    p = prosody(glide(200, 200, 1.0), SR)
    assert p["pitch_mean_hz"] == pytest.approx(200, rel=0.02)
    assert p["pitch_range_st"] < 0.3


def test_pitch_range_of_a_sweep():
    # one octave per second: 10th-90th percentile spans 0.8 octave = 9.6 semitones
    p = prosody(glide(150, 300, 1.0), SR)
    assert p["pitch_range_st"] == pytest.approx(9.6, abs=0.8)
    assert p["pitch_mean_hz"] == pytest.approx(150 / np.log(2), rel=0.05)  # mean of 150*2^t


def test_energy_in_dbfs():
    t = np.arange(SR) / SR
    p = prosody((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    assert p["energy_db"] == pytest.approx(-9.03, abs=0.05)


@pytest.fixture(scope="module")
def rows(media_dir: Path, decode, model_store):
    talk = speech_track(SENTENCES[:1], lead=0.5, seconds=7).audio  # speech 0.5-5.3 s
    wav = write_wav(media_dir / "emotion.wav", talk, SR)
    clip = make_clip(
        media_dir / "emotion.mp4", [Segment("color=c=gray", 7.0)], size=SMALL, audio=wav
    )
    return analyze_with(SpeechEmotion, decode(clip), model_store)


def test_classifier_plumbing_with_random_weights(rows):
    spoken = [r for r in rows if r["emotion"] is not None]
    assert [r["second"] for r in spoken] == [0, 1, 2, 3, 4, 5]
    for r in spoken:
        assert r["emotion"] in LABELS.values()
        assert sum(p["p"] for p in r["probs"]) == pytest.approx(1, abs=1e-4)
        assert r["valence"] is None  # random weights: no meaning to give it
        assert 0 <= r["arousal"] <= 1
        assert 70 < r["pitch_mean_hz"] < 250  # espeak-ng's default male voice


def test_silence_has_no_emotion(rows):
    assert rows[-1]["emotion"] is None and rows[-1]["pitch_mean_hz"] is None
