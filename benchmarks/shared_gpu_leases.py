"""Two stage ops leasing one GPU: memory and time with both leases on the same card
(``TIKTOK_LEASES_PER_DEVICE=2``) against one lease per card (the second op waits).

    python benchmarks/shared_gpu_leases.py [--seconds-of-work 20] [--out DIR]

Each op is a process that leases through resources.lease, builds a Whisper-base-sized
encoder (transformers, random weights: the memory and compute shape of a real speech
stage) and runs fp16 batches of 30 s mel windows for a fixed number of steps, recording
its own peak allocated memory, and what the driver says the card holds while both run.
Needs torch + transformers and one CUDA GPU; no Dagster.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resources.lease import lease


def op(name: str, per_device: int, lock_dir: str, steps: int, q) -> None:  # type: ignore[no-untyped-def]
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    t_ask = time.time()
    with lease(["cuda:0"], per_device=per_device, lock_dir=lock_dir, owner=name) as held:
        t0 = time.time()
        torch.cuda.reset_peak_memory_stats()
        cfg = WhisperConfig(
            d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048
        )
        enc = WhisperEncoder(cfg).to(held.device, torch.float16).eval()
        x = torch.randn(16, 80, 3000, device=held.device, dtype=torch.float16)
        with torch.inference_mode():
            for _ in range(steps):
                enc(x)
            torch.cuda.synchronize()
        q.put(
            {
                "op": name,
                "lease": held.label,
                "waited_s": round(t0 - t_ask, 2),
                "work_s": round(time.time() - t0, 2),
                "start": t0,
                "end": time.time(),
                "peak_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20),
            }
        )


def driver_used_mb() -> int:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
    )
    return int(out.stdout.split()[0]) if out.returncode == 0 else -1


def trial(per_device: int, steps: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with tempfile.TemporaryDirectory() as locks:
        t0 = time.time()
        procs = [
            ctx.Process(target=op, args=(f"op{i}", per_device, locks, steps, q)) for i in range(2)
        ]
        for p in procs:
            p.start()
        peak_driver = 0
        while any(p.is_alive() for p in procs):
            peak_driver = max(peak_driver, driver_used_mb())
            time.sleep(0.2)
        wall = time.time() - t0
    ops = [q.get() for _ in procs]
    a, b = sorted(ops, key=lambda r: r["start"])
    return {
        "leases_per_device": per_device,
        "wall_s": round(wall, 2),
        "overlap_s": round(max(0.0, min(a["end"], b["end"]) - b["start"]), 2),
        "driver_peak_used_mb": peak_driver,
        "ops": ops,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()
    import torch

    result = {
        "date": time.strftime("%Y-%m-%d"),
        "gpu": torch.cuda.get_device_name(0),
        "total_mb": round(torch.cuda.get_device_properties(0).total_memory / 2**20),
        "trials": [trial(1, args.steps), trial(2, args.steps)],
    }
    print(json.dumps(result, indent=2))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "shared_gpu_leases.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
