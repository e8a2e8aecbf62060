"""resources.device on a real GPU: CUDA is picked, bf16 where supported, peak memory is
the CUDA allocator's, caches are freed at teardown, and a real CUDA out-of-memory error
makes run_batched halve the batch. Skipped without CUDA (run on the lent GPU machine)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

from resources.device import run_batched, stage_device  # noqa: E402


def test_stage_picks_cuda_records_peak_and_frees():
    with stage_device("auto") as dev:
        assert dev.device == "cuda"
        assert dev.dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        x = torch.empty(1024**3, dtype=torch.uint8, device="cuda")  # 1 GiB
        del x
    assert dev.memory_kind == "cuda_max_allocated"
    assert 1024 <= dev.peak_memory_mb < 1100
    assert torch.cuda.memory_reserved() < 64 * 2**20  # emptied at teardown


def test_real_cuda_oom_halves_the_batch():
    free, _ = torch.cuda.mem_get_info()
    per_item = int(free * 0.3)  # 4 items do not fit, 2 do
    calls = []

    def fn(batch):
        calls.append(len(batch))
        x = torch.empty(per_item * len(batch), dtype=torch.uint8, device="cuda")
        out = [int(x.numel() // len(batch) == per_item)] * len(batch)
        del x
        return out

    result = run_batched(fn, list(range(8)), 4, on_oom=torch.cuda.empty_cache)
    assert result == [1] * 8
    assert calls == [4, 2, 2, 4, 2, 2]
