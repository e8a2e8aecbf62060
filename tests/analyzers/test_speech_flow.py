"""speech_flow: the 1.5 s gap between two spoken sentences is found as a pause within
0.15 s of its true edges; speech fractions follow the voice; fillers are spotted."""

import pytest

from analyzers.audio.speech_flow import SpeechFlow, find_fillers
from tests.conftest import analyze_with


@pytest.fixture(scope="module")
def rows(speech, decode, model_store):
    clip, _ = speech
    return analyze_with(SpeechFlow, decode(clip), model_store)


def test_the_gap_is_one_pause_at_its_true_edges(rows, speech):
    _, truth = speech
    gap = (truth.spans[0][1], truth.spans[1][0])
    pauses = {(p["start"], p["end"]) for r in rows for p in r["pauses"]}
    assert len(pauses) == 1, pauses
    ((start, end),) = pauses
    assert start == pytest.approx(gap[0], abs=0.15) and end == pytest.approx(gap[1], abs=0.15)


def test_speech_fraction_follows_the_voice(rows, speech):
    _, truth = speech
    frac = [r["speech_fraction"] for r in rows]
    assert frac[2] > 0.8 and frac[9] > 0.8  # inside the sentences
    assert max(frac[13:]) == 0  # silence after 11.5 s
    first, second = truth.spans
    total = (first[1] - first[0]) + (second[1] - second[0])
    assert sum(frac) == pytest.approx(total, abs=0.3)
    assert 0.7 < rows[0]["continuity"] <= 1


def test_fillers():
    words = ["So", "um,", "this", "is", "like", "you", "know", "great", "I", "mean", "uh"]
    assert find_fillers(words) == [1, 4, 5, 8, 10]
    assert find_fillers(["Today", "we", "test"]) == []


def test_clean_speech_has_no_fillers(rows):
    assert all(r["fillers"] == [] for r in rows)
