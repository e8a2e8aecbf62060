"""audio_analysis: a 120 BPM click track gives 120 BPM, loudness of a known sine, and a
video without audio gets rows with has_audio=false."""

import dataclasses

import numpy as np
import pytest

from analyzers.audio.audio_analysis import AudioAnalysis
from analyzers.core import validate
from analyzers.core.synth import click_track

SR = 16_000


def _media_with(audio, base):
    n = len(audio) // SR
    return dataclasses.replace(base, audio=audio, n_seconds=n, duration_s=float(n), has_audio=True)


def _run(media):
    an = AudioAnalysis()
    return validate(
        an.analyze(media, AudioAnalysis.make_config()),
        analyzer=an.name,
        output_schema=an.output_schema,
        video_id=media.video_id,
        n_seconds=media.n_seconds,
    ).to_pylist()


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
