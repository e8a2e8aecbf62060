"""Insights on generated clips, through the real analyzers (no Dagster): cuts placed on
the beats of a 120 BPM click track read 100% on the beat and cuts a quarter beat off read
0%; "follow for part two" spoken from 6.4 s is a call to action in second 6; a clip that
opens with a cut, moving pictures and speech hooks far better than a still, silent one."""

import numpy as np
import pytest

from analyzers.audio.audio_analysis import AudioAnalysis
from analyzers.audio.speech_rate import SpeechRate
from analyzers.audio.speech_transcription import SpeechTranscription
from analyzers.core.runner import run_analyzer
from analyzers.core.synth import Segment, click_track, espeak, make_clip, write_wav
from analyzers.multimodal.insights import calls_to_action, cut_on_beat, hook_score
from analyzers.multimodal.temporal_flow import TemporalFlow
from analyzers.visual.camera_analysis import CameraAnalysis
from analyzers.visual.cut_analysis import CutAnalysis
from tests.conftest import SMALL
from tiktok_assets.intelligence import join_tables

SR = 44_100


def _clip(path, shots: list[tuple[str, float]], audio: np.ndarray):
    wav = write_wav(path.with_suffix(".wav"), audio, SR)
    return make_clip(path, [Segment(src, s) for src, s in shots], size=SMALL, audio=wav)


def _rows(media, store, *analyzers) -> list[dict]:
    tables = {cls.name: run_analyzer(cls, media, store).table for cls in analyzers}
    return join_tables(tables).to_pylist()


@pytest.mark.parametrize(
    "name, shots, expected",
    [
        ("on", [("testsrc2", 2.0), ("color=c=red", 2.0), ("mandelbrot", 2.0), ("smptebars", 2.0)], 1.0),
        ("off", [("testsrc2", 2.25), ("color=c=red", 2.0), ("mandelbrot", 2.0), ("smptebars", 1.75)], 0.0),
    ],
)  # fmt: skip
def test_cuts_on_and_between_the_beats(media_dir, decode, name, shots, expected):
    clip = _clip(media_dir / f"beats-{name}.mp4", shots, 0.6 * click_track(120, 8, SR))
    rows = _rows(decode(clip, f"beats-{name}"), None, CutAnalysis, AudioAnalysis)
    found = cut_on_beat(rows)
    assert found.details["cuts"] == 3, found
    assert found.value == expected, found.details


def test_call_to_action_in_the_second_it_is_spoken(media_dir, decode, model_store):
    audio = np.zeros(9 * SR, np.float32)
    line, words = espeak("Follow for part two.", 150, sr=SR)
    audio[int(6.4 * SR) : int(6.4 * SR) + len(line)] = 0.9 * line
    clip = _clip(media_dir / "cta.mp4", [("color=c=0x203060", 9.0)], audio)
    rows = _rows(decode(clip, "cta-0"), model_store, SpeechTranscription)
    found = calls_to_action(rows)
    assert 6.4 + words[0][1] < 7  # the truth: "follow" begins inside second 6
    assert {"second": 6, "phrase": "follow for part two", "source": "speech"} in found.details[
        "found"
    ], found.details


def test_a_busy_spoken_opening_hooks_better_than_a_still_silent_one(media_dir, decode, model_store):
    line, _ = espeak("Stop scrolling, this changes everything you know.", 170, sr=SR)
    busy_audio = np.zeros(6 * SR, np.float32)
    busy_audio[int(0.2 * SR) : int(0.2 * SR) + len(line)] = 0.9 * line[: int(5.8 * SR)]
    busy = _clip(media_dir / "hook-busy.mp4", [("testsrc2", 1.0), ("mandelbrot", 5.0)], busy_audio)
    still = _clip(
        media_dir / "hook-still.mp4", [("color=c=gray", 6.0)], np.zeros(6 * SR, np.float32)
    )
    analyzers = (CutAnalysis, CameraAnalysis, TemporalFlow, SpeechRate)
    strong = hook_score(_rows(decode(busy, "hook-busy"), model_store, *analyzers))
    weak = hook_score(_rows(decode(still, "hook-still"), model_store, *analyzers))
    comps = strong.details["components"]
    assert comps["cut"] == 1 and comps["speech"] == 1 and comps["visual_change"] > 0.3
    assert weak.details["components"]["cut"] == 0 and weak.details["components"]["speech"] == 0
    assert weak.value < 10 and strong.value - weak.value > 40, (strong, weak)
