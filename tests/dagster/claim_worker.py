"""Run by test_object_store.py as one of two workers (own working directory, own Dagster
home and data folder; one PostgreSQL, one bucket): stages every clip it is given, then
claims and analyses each (ingest + the pool probe) through ``tiktok_assets.claim``;
prints one JSON line per claim."""

import json
import sys
import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance

import tests.dagster.pool_probe_run  # noqa: F401 - registers the pool probe analyzer
from resources.media_store import MediaStore
from tiktok_assets.claim import analyse_once
from tiktok_assets.definitions import all_assets, build_resources
from tiktok_assets.videos import add_video

if __name__ == "__main__":
    data, ready, go, clips = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
    store = MediaStore(root=str(data))
    store.ensure_layout()
    with DagsterInstance.get() as instance:
        keys = [add_video(instance, store, clip).key for clip in clips]
        ready.write_text("ready")
        while not go.exists():
            time.sleep(0.02)
        selection = [AssetKey(k) for k in ("video_file", "video_metadata", "segment_frames",
                                           "audio_track", "pool_probe")]  # fmt: skip
        for key in keys:
            claim = analyse_once(instance, key, all_assets(), build_resources(str(data), "auto"),
                                 selection=selection, done_asset="pool_probe")  # fmt: skip
            print(json.dumps(claim.describe()), flush=True)
            if claim.ran and not claim.success:
                sys.exit(1)
