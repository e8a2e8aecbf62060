"""Retention attribution on constructed per-second matrices whose changes are known."""

import pytest

from analyzers.multimodal.retention import attribute, changes_in, read_retention_csv


def _matrix(n: int) -> list[dict]:
    return [
        {
            "second": s,
            "cut_analysis__cut_at": [],
            "speech_transcription__text": "words here",
            "audio_analysis__rms_db": -20.0,
            "face_emotion__n_faces": 1,
            "temporal_flow__pace": 0.5,
        }
        for s in range(n)
    ]


def _steady(n: int, per_s: float = 0.01) -> list[float]:
    return [1.0 - per_s * s for s in range(n)]


def test_a_cliff_at_a_cut_is_attributed_to_that_cut():
    rows = _matrix(20)
    rows[12]["cut_analysis__cut_at"] = [12.03]
    curve = _steady(20)
    curve = curve[:13] + [v - 0.15 for v in curve[13:]]  # 15 points lost during second 12
    table = attribute(rows, curve)
    drops = [r for r in table if r["is_drop"]]
    assert [r["second"] for r in drops] == [12]
    assert drops[0]["drop_pp"] == pytest.approx(16.0)
    assert drops[0]["cause"] == "cut at 12.03 s" and drops[0]["lag_s"] == 0
    assert len(table) == 20 and table[-1]["drop_pp"] is None


def test_viewers_reacting_a_second_late_and_a_drop_with_no_change():
    rows = _matrix(20)
    rows[7]["speech_transcription__text"] = ""  # speech stops in second 7
    for r in rows[8:]:
        r["speech_transcription__text"] = ""
    curve = _steady(20)
    curve = curve[:9] + [v - 0.10 for v in curve[9:]]  # lost during second 8: a second later
    curve = curve[:16] + [v - 0.10 for v in curve[16:]]  # lost during second 15: nothing there
    drops = {r["second"]: r for r in attribute(rows, curve) if r["is_drop"]}
    assert set(drops) == {8, 15}
    assert drops[8]["cause"] == "speech stopped" and drops[8]["lag_s"] == 1
    assert drops[15]["cause"] == "no change found" and drops[15]["changes"] == []


def test_the_steady_decay_of_a_good_video_has_no_drops():
    # a fast but even decay (3 points a second) with noise is never a drop
    noise = [0.004 * ((s * 7) % 3 - 1) for s in range(30)]
    curve = [1.0 - 0.03 * s + e for s, e in enumerate(noise)]
    assert not any(r["is_drop"] for r in attribute(_matrix(30), curve))


def test_what_counts_as_a_change():
    rows = _matrix(3)
    rows[1].update(
        {
            "scene_segmentation__scene_change": True,
            "text_overlay__new_text": True,
            "text_overlay__texts": [{"text": "SALE"}],
            "audio_analysis__rms_db": -35.0,
            "face_emotion__n_faces": 0,
            "temporal_flow__pace": 0.2,
            "speech_transcription__text": "",
        }
    )
    assert changes_in(rows, 1) == [
        "new scene",
        "new on-screen text 'SALE'",
        "speech stopped",
        "loudness fell 15 dB",
        "face left",
        "pace fell",
    ]
    assert changes_in(rows, 0) == []  # the first second: nothing to compare with


def test_reading_exports_in_the_shapes_creators_have(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("Time,Audience retention (%)\n0:00,100%\n0:01,92%\n0:02,85.5%\n0:03,80%\n")
    assert read_retention_csv(a) == pytest.approx([1.0, 0.92, 0.855, 0.80])
    b = tmp_path / "b.csv"  # fractions at half seconds: the value at or before each second
    b.write_text("second,retention\n0,1.0\n0.5,0.97\n1.0,0.95\n1.5,0.9\n2.0,0.88\n")
    assert read_retention_csv(b) == pytest.approx([1.0, 0.95, 0.88])
    c = tmp_path / "c.csv"
    c.write_text("viewers,second\n100,0\n50,1\n40,2\n")  # columns found by name, any order
    assert read_retention_csv(c) == pytest.approx([1.0, 0.5, 0.4])
    bad = tmp_path / "bad.csv"
    bad.write_text("second,retention\n0,1\nzero,x\n")
    with pytest.raises(ValueError, match="line 3"):
        read_retention_csv(bad)
