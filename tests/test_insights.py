"""Insights on matrices whose construction fixes the answer: cuts on the beats of a
120 BPM track (100%) or between them (0%); a hook that opens with a cut, motion and speech
against a still, silent opening; "follow for part two" spoken in second 7; and every
insight null with the reason when its analyzer is absent."""

import pytest

from analyzers.multimodal.insights import (
    calls_to_action,
    cut_on_beat,
    drop_off,
    hook_score,
    insights,
    markdown_table,
    pacing,
    product_screen_time,
    summary,
    talking_to_camera,
    text_readability,
)


def matrix(n: int, **cols: list) -> list[dict]:
    """``n`` rows; ``cols`` maps a column to its n values."""
    return [{"video_id": "v", "second": s, **{c: v[s] for c, v in cols.items()}} for s in range(n)]


BEATS = [[s + 0.0, s + 0.5] for s in range(10)]  # 120 BPM, a beat every 0.5 s


def cuts_at(times: list[float], n: int = 10) -> list[list[float]]:
    return [[t for t in times if s <= t < s + 1] for s in range(n)]


def test_cut_on_beat_all_and_none():
    on = matrix(10, cut_analysis__cut_at=cuts_at([2.0, 4.5, 6.0]), audio_analysis__beats=BEATS)
    off = matrix(10, cut_analysis__cut_at=cuts_at([2.25, 4.75, 6.25]), audio_analysis__beats=BEATS)
    near = matrix(10, cut_analysis__cut_at=cuts_at([2.08, 5.2]), audio_analysis__beats=BEATS)
    assert cut_on_beat(on).value == 1.0
    assert cut_on_beat(off).value == 0.0
    assert cut_on_beat(near).value == 0.5  # 80 ms is on the beat, 200 ms is not
    assert cut_on_beat(near).details["offsets_s"] == pytest.approx([0.08, 0.2])
    assert cut_on_beat(on).sources == ["cut_analysis__cut_at", "audio_analysis__beats"]
    silent = matrix(10, cut_analysis__cut_at=cuts_at([2.0]), audio_analysis__beats=[[]] * 10)
    assert cut_on_beat(silent).value is None and "no beats" in cut_on_beat(silent).reason
    no_cut = matrix(10, cut_analysis__cut_at=[[]] * 10, audio_analysis__beats=BEATS)
    assert cut_on_beat(no_cut).value is None and "no cuts" in cut_on_beat(no_cut).reason


def test_hook_higher_for_a_cut_motion_and_speech_than_a_still_silent_opening():
    def clip(strong: bool) -> list[dict]:
        return matrix(
            6,
            cut_analysis__cuts=[1 if strong and s == 1 else 0 for s in range(6)],
            temporal_flow__visual_change=[0.6 if strong else 0.0] * 6,
            camera_analysis__magnitude=[0.3 if strong else 0.0] * 6,
            speech_rate__words=[3 if strong else 0] * 6,
            temporal_flow__audio_energy=[0.7 if strong else 0.05] * 6,
        )

    strong, still = hook_score(clip(True)), hook_score(clip(False))
    assert strong.value == pytest.approx(100 * (1 + 1 + 1 + 1 + 0.875) / 5, abs=0.1)
    assert still.value == pytest.approx(100 * 0.0625 / 5, abs=0.1)
    assert strong.value - still.value > 80
    comps = strong.details["components"]
    # analyzers that did not run are not counted, and say so
    assert comps["face_to_camera"] is None and comps["on_screen_text"] is None
    assert "eye_tracking__looking_at_camera" not in strong.sources
    assert hook_score(matrix(6)).value is None


def test_call_to_action_in_the_second_it_is_spoken_and_shown():
    text = [""] * 10
    text[7] = "and follow for part two"
    screen = [[] for _ in range(10)]
    screen[3] = [{"text": "LINK IN BIO"}]
    found = calls_to_action(matrix(10, speech_transcription__text=text, text_overlay__texts=screen))
    assert found.details["found"] == [
        {"second": 3, "phrase": "link in bio", "source": "screen"},
        {"second": 7, "phrase": "follow for part two", "source": "speech"},
    ]
    # a phrase across a second boundary is found at its first word; "2" reads as "two"
    words = [[] for _ in range(10)]
    words[7] = [{"word": " Follow", "start": 7.6}, {"word": " for", "start": 7.9}]
    words[8] = [{"word": " part", "start": 8.1}, {"word": " 2.", "start": 8.4}]
    spoken = calls_to_action(matrix(10, speech_transcription__words=words))
    assert spoken.details["found"] == [
        {"second": 7, "phrase": "follow for part two", "source": "speech"}
    ]
    plain = calls_to_action(matrix(3, speech_transcription__text=["we cook", "rice", "today"]))
    assert plain.value == 0 and plain.sources == ["speech_transcription__text"]


def test_talking_to_camera_share():
    rows = matrix(
        10,
        eye_tracking__looking_at_camera=[s < 3 for s in range(10)],
        speech_rate__words=[2 if s < 5 else 0 for s in range(10)],
    )
    assert talking_to_camera(rows).value == 0.6  # looking in 3 of the 5 speaking seconds


def test_products_and_text_readability():
    rows = matrix(
        5,
        product_detection__n_products=[0, 1, 2, 0, 0],
        product_detection__brands=[[], ["Nike"], ["Nike"], [], []],
        text_overlay__texts=[
            [{"text": "BEST HACK", "on_screen_s": 3, "reading_s": 0.67, "readable": True,
              "in_ui_zone": None}],
            [{"text": "a very long caption nobody can read this fast", "on_screen_s": 1,
              "reading_s": 3.0, "readable": False, "in_ui_zone": None}],
            [{"text": "FOLLOW", "on_screen_s": 3, "reading_s": 0.33, "readable": True,
              "in_ui_zone": "bottom_caption"}],
            [], [],
        ],
    )  # fmt: skip
    p = product_screen_time(rows)
    assert p.value == 2 and p.details["share"] == 0.4 and p.details["brands"] == ["Nike"]
    t = text_readability(rows)
    assert t.value == pytest.approx(1 / 3, abs=1e-3)  # one readable, one too fast, one hidden
    assert [line["hidden_by"] for line in t.details["lines"]] == [None, None, "bottom_caption"]


def test_every_insight_is_null_with_a_reason_when_its_analyzer_is_absent():
    found = insights(matrix(4))
    assert [i.name for i in found] == [
        "hook_score", "cut_on_beat", "talking_to_camera", "calls_to_action",
        "product_screen_time", "text_readability", "pacing", "drop_off",
    ]  # fmt: skip
    for i in found:
        assert i.value is None and i.reason, i
    table = markdown_table(found)
    assert table.startswith("| insight | value | from |") and table.count("\n") == 9
    assert summary(found, 4) == "Not enough was analysed for a summary."
    assert "n/a: needs cut_analysis__cut_at, audio_analysis__beats" in table


def test_pacing_counts_cuts_per_ten_seconds():
    cuts = [0] * 30
    for s in (2, 4, 6, 8, 15, 25):  # 4 cuts in the first 10 s, 1 in each of the others
        cuts[s] = 1
    rows = matrix(30, cut_analysis__cuts=cuts, speech_rate__wpm_video=[150.0] * 30)
    p = pacing(rows)
    assert p.value == 2.0 and p.details["cuts_per_window"] == [4, 1, 1]
    assert p.details["speech_wpm"] == 150.0 and "audio_analysis__rms_db" not in p.sources


def test_drop_off_where_pace_collapses():
    pace = [0.8] * 10 + [0.1] * 5 + [0.7] * 5 + [0.65] * 5  # a dead stretch at 10-14 s
    found = drop_off(matrix(25, temporal_flow__pace=pace))
    assert found.value == [10]
    assert drop_off(matrix(10, temporal_flow__pace=[0.5] * 10)).value == []
    gentle = [0.8 - 0.02 * s for s in range(20)]  # a slow fade is not a drop
    assert drop_off(matrix(20, temporal_flow__pace=gentle)).value == []


def test_summary_says_what_the_insights_found():
    text = [""] * 10
    text[7] = "follow for part two"
    rows = matrix(
        10,
        cut_analysis__cut_at=cuts_at([2.0, 4.5, 6.0]),
        cut_analysis__cuts=[len(c) for c in cuts_at([2.0, 4.5, 6.0])],
        audio_analysis__beats=BEATS,
        speech_transcription__text=text,
        speech_rate__words=[2] * 10,
        speech_rate__wpm_video=[150.0] * 10,
    )
    out = summary(insights(rows), 10, vlm="A cook shows a kitchen gadget.")
    assert out.startswith("A cook shows a kitchen gadget. 10 s long, 3 cuts per 10 s, speech at")
    assert "100% of cuts land on the beat." in out
    assert 'Call to action: "follow for part two" at 7 s.' in out
    assert "Hook score" in out and "speech" in out
