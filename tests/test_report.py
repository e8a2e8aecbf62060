"""The report's parts on a constructed per-second matrix whose content is known: the
transcript's lines, the shots, every timeline lane drawn, the retention section."""

import pyarrow as pa

from analyzers.multimodal.retention import attribute
from tiktok_assets.report import shots, transcript_lines, write_report


def _word(w: str, start: float) -> dict:
    return {"word": f" {w}", "start": start, "end": start + 0.3, "probability": 0.9}


SALE = {"text": "SALE", "conf": 0.9, "box": [0.1, 0.1, 0.5, 0.2], "in_ui_zone": None,
        "on_screen_s": 3.0, "reading_s": 0.33, "readable": True}  # fmt: skip


def _matrix() -> pa.Table:
    said = [_word("Hello", 0.2), _word("there.", 0.6), _word("Follow", 2.1), _word("for", 2.5),
            _word("part", 2.8), _word("two", 3.2), _word("now", 5.0)]  # fmt: skip
    rows = []
    for s in range(8):
        rows.append(
            {
                "video_id": "v",
                "second": s,
                "cut_analysis__cut_at": [4.5] if s == 4 else [],
                "cut_analysis__cuts": int(s == 4),
                "speech_transcription__words": [w for w in said if s <= w["start"] < s + 1],
                "speech_transcription__text": " ".join(
                    w["word"].strip() for w in said if s <= w["start"] < s + 1
                ),
                "audio_analysis__rms_db": -20.0 - s,
                "audio_analysis__beats": [s + 0.25, s + 0.75],
                "temporal_flow__pace": 0.1 * s,
                "temporal_flow__visual_change": 0.05 * s,
                "text_overlay__texts": [SALE] if 2 <= s < 5 else [],
                "text_overlay__new_text": s == 2,
                "face_emotion__n_faces": 1 if s < 6 else 0,
                "face_emotion__dominant_emotion": "happy" if s < 6 else None,
                "eye_tracking__looking_at_camera": s < 3,
                "object_detection__counts": [{"cls": "cup", "n": 1}] if s > 3 else [],
            }
        )
    return pa.Table.from_pylist(rows)


def test_transcript_lines_break_at_sentences_and_pauses():
    lines = transcript_lines(_matrix())
    assert [t for _, _, t in lines] == ["Hello there.", "Follow for part two", "now"]
    assert lines[1][0] == 2.1 and round(lines[1][1], 2) == 3.5  # first start, last end


def test_shots_come_from_the_cut_times():
    assert shots(_matrix()) == [(0.0, 4.5), (4.5, 8.0)]
    one = pa.table({"second": [0, 1, 2]})
    assert shots(one) == [(0.0, 3.0)]  # no cut analysis: one shot over the whole video


def test_the_page_has_every_part_and_the_retention_causes(tmp_path):
    import numpy as np

    matrix = _matrix()
    curve = [1.0, 0.99, 0.98, 0.97, 0.96, 0.80, 0.79, 0.78]  # 16 points lost in second 4
    retention = attribute(matrix.to_pylist(), curve)
    seen: list[float] = []

    def picture(t: float) -> np.ndarray:
        seen.append(t)
        return np.full((64, 36, 3), 200, np.uint8)

    runs = {"cut_analysis": {"model": "classical", "weights_mode": "none", "rows": 8},
            "face_emotion": {"model": "fer", "weights_mode": "random", "rows": 8}}  # fmt: skip
    page = write_report(matrix, runs, tmp_path, "v", keyframes=picture, retention=retention)
    html = page.read_text()
    assert seen == [2.25, 6.25]  # one key frame per shot, from its middle
    for section in ("summary", "insights", "timeline", "retention", "transcript", "details"):
        assert f'<section id="{section}">' in html
    assert "<td>Hello there.</td>" in html and "0:02.1 - 0:03.5" in html
    assert "<td>4</td><td>96.0%</td><td>-16.0</td><td>cut at 4.50 s</td>" in html
    assert 'class="banner"' in html and "face_emotion" in html.split('class="banner"')[1][:200]
    assert "<td class=bad>random</td>" in html
