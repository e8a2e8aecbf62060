"""GPU check of the per-analyzer GPU sampling (tiktok_assets.measure): NVML readings taken
while a bf16 matrix loop keeps the GPU busy, against idle readings before it. Runs bare
(torch and nvidia-ml-py only): `python3 benchmarks/gpu_sampler_check.py`. Prints JSON."""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from tiktok_assets.measure import GpuSampler, nvml_reader


def main() -> None:
    read = nvml_reader("cuda:0")
    assert read is not None, "NVML not available"
    with GpuSampler(read, interval_s=0.1) as idle:
        time.sleep(1.0)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    extra = torch.empty(8 * 2**30, dtype=torch.uint8, device="cuda")  # 8 GiB held
    with GpuSampler(read, interval_s=0.1) as busy:
        t0 = time.time()
        while time.time() - t0 < 3.0:
            for _ in range(20):
                a = (a @ a).clamp_(-1, 1)
            torch.cuda.synchronize()
    del extra
    out = {
        "device": torch.cuda.get_device_name(0),
        "idle": idle.summary(),
        "busy": busy.summary(),
        "ok": busy.summary()["gpu_util_max_pct"] > 50
        and busy.summary()["gpu_mem_max_mib"] - idle.summary()["gpu_mem_max_mib"] > 8000,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
