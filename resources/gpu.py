"""GpuResource: the Dagster resource over resources.device (device choice, half precision,
peak memory per stage, teardown, OOM retry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource

from resources.device import StageDevice, pick_device, run_batched, stage_device

__all__ = ["GpuResource", "StageDevice", "run_batched"]


class GpuResource(ConfigurableResource):
    """``device``: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``;
    ``half``: bf16 (fp16 where bf16 is missing) on CUDA."""

    device: str = "auto"
    half: bool = True

    def pick_device(self) -> str:
        return pick_device(self.device)

    @contextmanager
    def stage(self) -> Iterator[StageDevice]:
        """Holds the device for one stage; see resources.device.stage_device."""
        with stage_device(self.device, self.half) as sd:
            yield sd
