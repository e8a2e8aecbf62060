"""audio_analysis: a 120 BPM click track gives 120 BPM, loudness of a known sine, and a
video without audio gets rows with has_audio=false."""

import dataclasses

import numpy as np
import pytest

from analyzers.audio.audio_analysis import AudioAnalysis
from analyzers.core.runner import run_analyzer
from analyzers.core.synth import click_track

SR = 16_000


def _media_with(audio, base):
    n = len(audio) // SR
    return dataclasses.replace(base, audio=audio, n_seconds=n, duration_s=float(n), has_audio=True)


def _run(media):
    return run_analyzer(AudioAnalysis, media).table.to_pylist()


@pytest.fixture(scope="module")
def base_media(small_clip, decode):
    return decode(small_clip)


def test_click_track_120_bpm(base_media):
    rows = _run(_media_with(click_track(120, 12, SR), base_media))
    assert rows[0]["tempo"] == pytest.approx(120, rel=0.02)
    # two beats every second, each within 40 ms after a click (onset envelope lag)
    for r in rows[1:-1]:
        assert len(r["beats"]) == 2, r
        for b in r["beats"]:
            assert 0 <= (b % 0.5) < 0.04 or (0.5 - b % 0.5) < 0.01, b


def test_tone_loudness_and_silence(base_media):
    t = np.arange(4 * SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    y[2 * SR :] = 0
    rows = _run(_media_with(y, base_media))
    # RMS of a 0.5-amplitude sine is 0.5/sqrt(2): -9.03 dBFS
    assert rows[0]["rms_db"] == pytest.approx(-9.03, abs=0.1)
    assert rows[0]["spectral_centroid_hz"] == pytest.approx(1000, rel=0.05)
    assert not rows[0]["silent"] and rows[3]["silent"]
    assert rows[3]["spectral_centroid_hz"] is None


def test_decoded_tone_from_the_clip(base_media):
    rows = _run(base_media)  # ffmpeg sine 440 Hz at its default amplitude 1/8
    assert len(rows) == 6 and all(r["has_audio"] for r in rows)
    assert rows[2]["rms_db"] == pytest.approx(20 * np.log10(0.125 / np.sqrt(2)), abs=0.5)
    assert rows[2]["spectral_centroid_hz"] == pytest.approx(440, rel=0.05)


def test_no_audio_gives_rows_with_has_audio_false(silent_clip, decode):
    media = decode(silent_clip)
    assert not media.has_audio
    rows = _run(media)
    assert len(rows) == 3
    assert all(r["has_audio"] is False and r["rms_db"] is None for r in rows)


def _triads(roots: list[float], seconds: float, minor: bool = False) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    third = 1.189 if minor else 1.26
    for k, start in enumerate(np.arange(0, seconds, 0.5)):
        seg = (t >= start) & (t < start + 0.5)
        tt = t[seg] - start
        for ratio in (1, third, 1.5):
            y[seg] += 0.1 * np.sin(2 * np.pi * roots[k % len(roots)] * ratio * tt) * np.exp(-3 * tt)
    return y.astype(np.float32)


def test_lufs_of_a_known_sine(base_media):
    # ITU-R BS.1770: a full-scale 1 kHz sine reads -3.01 LUFS; at amplitude 0.5, -9.03
    t = np.arange(6 * SR) / SR
    rows = _run(_media_with((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), base_media))
    assert rows[0]["lufs_integrated"] == pytest.approx(-9.03, abs=0.2)
    assert rows[3]["lufs_short_term"] == pytest.approx(-9.03, abs=0.2)


def test_key_of_chord_progressions(base_media):
    c_major = _triads([261.63, 349.23, 392.0, 261.63], 8)  # C F G C
    a_minor = _triads([220.0, 293.66, 329.63, 220.0], 8, minor=True)  # Am Dm Em Am
    assert _run(_media_with(c_major, base_media))[0]["key"] == "C major"
    assert _run(_media_with(a_minor, base_media))[0]["key"] == "A minor"


def test_music_speech_balance(base_media):
    from analyzers.core.synth import speech_track
    from tests.conftest import SENTENCES

    talk = speech_track(SENTENCES[:1], lead=0.0, seconds=4).audio
    music = _triads([261.63, 349.23, 392.0, 261.63], 4)
    rows = _run(_media_with(np.concatenate([talk, music]), base_media))
    assert max(r["music_speech_balance"] for r in rows[:4]) < -0.5
    assert min(r["music_speech_balance"] for r in rows[5:8]) > 0.5
