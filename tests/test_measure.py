"""Measurement plumbing: the GPU sampler's summary (known readings in, their mean and
maxima out; nothing without a GPU), the real NVML reader on a CUDA host, and the JSON-lines
run log (one parseable object per line with run, video, step and event)."""

import json
import time

import pytest

from tiktok_assets.measure import GpuSampler, nvml_reader


def test_sampler_summarizes_what_it_read():
    readings = iter([(10.0, 100.0), (50.0, 300.0), (90.0, 200.0)] + [(30.0, 150.0)] * 100)
    with GpuSampler(lambda: next(readings), interval_s=0.01) as s:
        while len(s.samples) < 3:
            time.sleep(0.005)
    first = s.samples[:3]
    assert first == [(10.0, 100.0), (50.0, 300.0), (90.0, 200.0)]
    out = s.summary()
    assert out["gpu_util_max_pct"] == 90.0 and out["gpu_mem_max_mib"] == 300.0
    util = [u for u, _ in s.samples]
    assert out["gpu_util_mean_pct"] == pytest.approx(sum(util) / len(util), abs=0.05)
    assert out["gpu_samples"] == len(s.samples) >= 4  # one more when the block ends


def test_no_gpu_no_samples():
    assert nvml_reader("cpu") is None
    with GpuSampler(None) as s:
        pass
    assert s.summary() == {}


@pytest.mark.gpu
def test_nvml_sees_a_busy_gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    read = nvml_reader("cuda:0")
    assert read is not None
    a = torch.randn(8192, 8192, device="cuda")
    with GpuSampler(read, interval_s=0.05) as s:
        t0 = time.time()
        while time.time() - t0 < 2.0:
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
    out = s.summary()
    assert out["gpu_util_max_pct"] > 50 and out["gpu_mem_max_mib"] > 256


def test_run_log_lines_are_json(tmp_path, monkeypatch):
    """log_event writes one JSON object per line with the run's identifiers."""
    from types import SimpleNamespace

    from tiktok_assets.measure import log_event, run_log_path

    monkeypatch.setenv("TIKTOK_DATA", str(tmp_path))
    ctx = SimpleNamespace(
        run_id="run-1234",
        op_execution_context=SimpleNamespace(op=SimpleNamespace(name="stage4_fast")),
        has_partition_key=True,
        partition_key="clip-0123456789",
    )
    log_event(ctx, "analyzer_done", analyzer="cut_analysis", rows=6, wall_time_s=0.5)
    log_event(ctx, "analyzer_failed", level=40, analyzer="x", error="ValueError: bad")
    lines = run_log_path("run-1234").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0]["event"] == "analyzer_done" and rows[0]["rows"] == 6
    assert rows[0]["run_id"] == "run-1234" and rows[0]["video_id"] == "clip-0123456789"
    assert rows[0]["step"] == "stage4_fast" and rows[0]["level"] == "INFO" and rows[0]["time"]
    assert rows[1]["level"] == "ERROR" and rows[1]["error"] == "ValueError: bad"
