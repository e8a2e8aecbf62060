"""Real footage made by other people (corpus/truth.toml): every clip decodes as its truth
says and runs through the pipeline; cuts are found frame-exactly (F1 = 1.0), no effect and
no camera move is invented on still-camera clips, read English is transcribed with a WER
of at most 10% by Whisper base. ``make test`` fetches the corpus first (make corpus)."""

from pathlib import Path

import pytest

import corpus
from analyzers.audio.speech_transcription import SpeechTranscription
from analyzers.core.decode import DecodeConfig, decode_video
from analyzers.core.schema import n_seconds_for
from analyzers.visual.camera_analysis import CameraAnalysis
from analyzers.visual.cut_analysis import CutAnalysis
from analyzers.visual.visual_effects import VisualEffects
from corpus.score import cut_f1, false_camera_moves, wer, words
from tests.conftest import analyze_rows, analyze_with, signals_for

CLIPS = sorted(corpus.truth()["clips"])


@pytest.fixture(scope="module")
def decoded(decode):
    made = {}

    def _get(name: str):
        if name not in made:
            clip = corpus.clip(name)
            made[name] = (clip, decode(clip.path, f"{name}-0"))
        return made[name]

    return _get


@pytest.mark.parametrize("name", CLIPS)
def test_decodes_as_its_truth_says(name, tmp_path):
    clip = corpus.clip(name)
    result = decode_video(clip.path, tmp_path, DecodeConfig())
    assert result.complete and result.error is None, result.error
    assert result.decoded_frames == clip.facts["frames"]
    assert result.duration_s == pytest.approx(clip.duration_s, abs=0.5 / clip.fps)
    assert result.n_seconds == n_seconds_for(clip.duration_s)


@pytest.mark.parametrize("name", CLIPS)
def test_cuts_frame_exact(name, decoded):
    clip, media = decoded(name)
    rows = analyze_rows(CutAnalysis, media)
    found = [t for r in rows for t in r["cut_at"]]
    score = cut_f1(found, clip.cut_times, tol=1 / clip.fps + 1e-6)
    assert score["f1"] == 1.0, (found, clip.cut_times)
    assert [t for r in rows for t in r["transitions"]] == []


@pytest.mark.parametrize("name", [c for c in CLIPS if "faces" in corpus.truth()["clips"][c]])
def test_faces_as_written_down(name, decoded):
    """Every sampled frame holds the faces the truth names, each keeping one face id."""
    clip, media = decoded(name)
    from analyzers.core import Models
    from analyzers.core.runner import Runner

    with Models(None) as models:
        tracks = Runner(media, models).signal("faces")
    assert [len(f) for f in tracks.frames] == [clip.facts["faces"]] * len(media.frames)
    assert tracks.n_tracks == clip.facts["faces"]


@pytest.mark.parametrize("name", CLIPS)
def test_no_false_effect_and_no_false_camera_move(name, decoded):
    clip, media = decoded(name)
    assert clip.effects == []
    effects = VisualEffects().detect(
        media, VisualEffects.make_config(), signals_for(VisualEffects, media)
    )
    assert effects == [], effects
    if clip.still_camera:
        assert false_camera_moves(analyze_rows(CameraAnalysis, media)) == []


@pytest.fixture(scope="module")
def librivox(media_dir: Path):
    return corpus.speech_clip(media_dir / "librivox.mp4")


def test_read_english_wer_and_language(librivox, decode, model_store):
    clip, utts = librivox
    rows = analyze_with(SpeechTranscription, decode(clip, "librivox-0"), model_store)
    said = words(" ".join(r["text"] for r in rows))
    ref = words(" ".join(u.text for u in utts))
    assert wer(ref, said) <= 0.10, said
    assert {r["language"] for r in rows} == {"en"}


def test_a_real_clip_runs_the_whole_pipeline(tmp_path):
    """MPEG-2 in MPEG-PS, first timestamp 0.54 s, no audio: every asset materializes, the
    report is written, and the decode says it is complete."""
    import pyarrow.parquet as pq

    from analyzers.core import all_analyzers
    from tests.dagster.helpers import instance_at, run_video
    from tiktok_assets.intelligence import latest_metadata

    clip = corpus.clip("city")
    data = tmp_path / "data"
    with instance_at(tmp_path / "home") as instance:
        key, result = run_video(clip.path, instance, data)
        assert result.success
        frames = latest_metadata(instance, "segment_frames", key)
    n = n_seconds_for(clip.duration_s)
    assert frames["complete"] is True and frames["decoded_frames"] == clip.facts["frames"]
    for name in [*all_analyzers(), "cross_analyzer_intelligence"]:
        table = pq.read_table(
            data / "parquet" / name / f"video_id={key}" / "part-0.parquet", partitioning=None
        )
        assert table.column("second").to_pylist() == list(range(n)), name
    assert (data / "reports" / key / "index.html").exists()
