"""Objects per second from the ``objects`` signal (YOLOv8 detections tracked by ultralytics'
ByteTrack: model, sizes and tracker settings are the signal's, ``[objects]`` in the
settings file; see ``analyzers.signals.objects``), so the same cup keeps one ``track_id``
across seconds and product_detection and composition_analysis see the same boxes.

Per second, from its last sampled frame: ``objects`` [{cls, conf, box normalized xyxy,
track_id}], ``counts`` [{cls, n}] (most of each class in any one of the second's frames),
``n_objects``, ``backend``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from analyzers.core import FrameAnalyzer, Media, register
from analyzers.signals.objects import ObjectTracks

OBJECT_TYPE = pa.struct(
    [
        ("cls", pa.string()),
        ("conf", pa.float32()),
        ("box", pa.list_(pa.float32())),
        ("track_id", pa.int32()),
    ]
)
COUNT_TYPE = pa.struct([("cls", pa.string()), ("n", pa.int32())])


@register
class ObjectDetection(FrameAnalyzer):
    """Tracked objects per second: ``objects`` [{cls, conf 0-1, box normalized xyxy,
    track_id}], ``counts`` [{cls, n}], ``n_objects``, ``backend``."""

    name = "object_detection"
    version = "2"
    stage = "stage2_medium"
    requires = ("objects",)
    model = "yolov8 + bytetrack"
    output_schema = pa.schema(
        [
            ("objects", pa.list_(OBJECT_TYPE)),
            ("counts", pa.list_(COUNT_TYPE)),
            ("n_objects", pa.int32()),
            ("backend", pa.string()),
        ]
    )
    ranges = {"n_objects": (0, None)}

    def analyze(  # type: ignore[override]
        self, media: Media, config: Any, signals: Mapping[str, Any]
    ) -> pa.Table:
        tracks: ObjectTracks = signals["objects"]
        rows = []
        for s in media.seconds():
            frames = tracks.at(media.frames.indices_in(s))
            if not frames:
                rows.append({"second": s})
                continue
            counts: Counter[str] = Counter()
            for dets in frames:
                for name, n in Counter(d.name for d in dets).items():
                    counts[name] = max(counts[name], n)
            rows.append({
                "second": s,
                "objects": [
                    {"cls": d.name, "conf": d.conf, "box": [round(v, 4) for v in d.box],
                     "track_id": d.track_id}
                    for d in frames[-1]
                ],
                "counts": [{"cls": c, "n": n} for c, n in sorted(counts.items())],
                "n_objects": len(frames[-1]),
                "backend": tracks.backend,
            })  # fmt: skip
        self.info["detections"] = sum(len(f) for f in tracks.frames)
        return self.table(media, rows)
