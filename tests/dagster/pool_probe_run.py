"""Run by test_pool.py in its own process: registers a test-only analyzer that records when
it enters and leaves (inside the gpu pool slot), then materializes one video."""

import json
import os
import sys
import time
from pathlib import Path

import pyarrow as pa

from analyzers.core import FrameAnalyzer, register


@register
class PoolProbe(FrameAnalyzer):
    """Test only: sleeps inside its stage and writes enter/exit times (seconds since epoch)."""

    name = "pool_probe"
    stage = "stage3_light"
    output_schema = pa.schema([("x", pa.int32())])

    def analyze(self, media, config, signals):
        enter = time.time()
        time.sleep(float(os.environ.get("PROBE_SLEEP", "2.0")))
        record = {"video": media.video_id, "enter": enter, "exit": time.time(),
                  "worker": os.environ.get("PROBE_WORKER", "")}  # fmt: skip
        with open(Path(os.environ.get("PROBE_LOG") or sys.argv[3]), "a") as fh:
            fh.write(json.dumps(record) + "\n")
        return self.table(media, [{"second": s, "x": s} for s in media.seconds()])


if __name__ == "__main__":
    from dagster import AssetKey, DagsterInstance

    from tests.dagster.helpers import run_video

    clip, data = Path(sys.argv[1]), Path(sys.argv[2])
    Path(sys.argv[4]).write_text("ready")  # both processes are up; the parent says go
    while not Path(sys.argv[5]).exists():
        time.sleep(0.02)
    _, result = run_video(
        clip,
        DagsterInstance.get(),
        data,
        selection=[
            AssetKey(k)
            for k in ("video_file", "video_metadata", "segment_frames", "audio_track", "pool_probe")
        ],
    )
    sys.exit(0 if result.success else 1)
