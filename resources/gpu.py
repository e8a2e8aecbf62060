"""GpuResource: the Dagster resource over resources.device (device choice, half precision,
peak memory per stage, teardown, OOM retry) and resources.lease (one device per stage op)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource

from resources.device import StageDevice, pick_device, run_batched, stage_device
from resources.lease import devices, lease

__all__ = ["GpuResource", "StageDevice", "run_batched"]


class GpuResource(ConfigurableResource):
    """``device``: ``auto`` (lease a free device among those the host has, see
    resources.lease), ``cpu`` or ``cuda[:N]`` (lease that one); ``half``: bf16 (fp16 where
    bf16 is missing) on CUDA; ``lease_timeout_s``: how long a stage waits for a device."""

    device: str = "auto"
    half: bool = True
    lease_timeout_s: float = 3600.0

    def pick_device(self) -> str:
        return pick_device(self.device)

    @contextmanager
    def stage(self, owner: str = "") -> Iterator[StageDevice]:
        """Leases one device for the stage and holds it (resources.device.stage_device);
        ``owner`` (run id, step) is written into the lease for whoever looks."""
        listed = devices() if self.device == "auto" else [self.device]
        with (
            lease(listed, timeout_s=self.lease_timeout_s, owner=owner) as held,
            stage_device(held.device, self.half) as sd,
        ):
            sd.lease = held.label
            yield sd
