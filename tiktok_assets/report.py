"""The per-video HTML report: one self-contained page a creator reads top to bottom.

Order: the summary and the insights; one combined timeline (shots as bands with a key
frame each, the transcript's words on their seconds, loudness with the beats, pace,
on-screen text, faces, detected objects, cuts across every lane); audience retention
with each drop's cause when ``tiktok-analyzer retention`` has been run; the transcript
with timestamps; the VLM's descriptions; every analyzer's per-second plots folded
below; model and weights provenance with a red banner when anything ran on random
weights. Plots are matplotlib PNGs embedded as data URIs: no file beside the page, no
script, nothing fetched, so the page opens offline and can be mailed as it is.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core.files import atomic_write_bytes
from tiktok_assets.intelligence import SEP

KeyFrames = Callable[[float], "np.ndarray | None"]
"""Returns the RGB picture (H x W x 3, uint8) nearest to a time in seconds, or None."""

PROVENANCE = "provenance.json"  # runs and notes beside the page, to re-render it
RETENTION = "retention.json"  # written by `tiktok-analyzer retention`
CUT = dict(color="#d1242f", lw=0.8, ls="--")
SHOT_COLORS = ("#dbe9f6", "#f6e7d8")


def _numeric_columns(matrix: pa.Table) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for field in matrix.schema:
        if SEP not in field.name:
            continue
        t = field.type
        if pa.types.is_floating(t) or (pa.types.is_integer(t) and not field.name.endswith("_id")):
            values = matrix.column(field.name).to_numpy(zero_copy_only=False)
            if np.isfinite(values.astype(float)).any():
                analyzer, col = field.name.split(SEP, 1)
                groups.setdefault(analyzer, []).append(col)
    return groups


def _figure(
    width_in: float,
    height_in: float,
    rows: int = 1,
    top_in: float = 0.3,
    ratios: Sequence[float] | None = None,
    dpi: float = 100,
):
    """A figure with ``rows`` stacked axes sharing x and fixed margins (inches). Built
    without pyplot (no global figure registry) and without constrained layout, whose
    solver was most of the report's time (measured: benchmarks/RESULTS.md, issue 19)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=2.2 / width_in,  # room for a 22-character column name at 8 pt + ticks
        right=1 - 0.15 / width_in,
        top=1 - top_in / height_in,
        bottom=0.45 / height_in,
        hspace=0.25 if rows > 1 else 0.0,
    )
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})[
        :, 0
    ]
    return fig, axes


def _png(fig, dpi: float = 90) -> str:
    """The figure as a PNG data URI (embedded: the page stays one file)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():  # a glyph the font lacks (CJK, emoji) draws as a box
        warnings.simplefilter("ignore", UserWarning)
        fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _col(matrix: pa.Table, name: str) -> list[Any] | None:
    return matrix.column(name).to_pylist() if name in matrix.column_names else None


def _cuts(matrix: pa.Table) -> list[float]:
    return [t for row in _col(matrix, f"cut_analysis{SEP}cut_at") or [] for t in row or []]


def shots(matrix: pa.Table) -> list[tuple[float, float]]:
    """Shots as (start, end) seconds: from the cut times when ``cut_analysis`` ran, else
    from ``scene_segmentation``'s shot ids, else one shot."""
    n = float(matrix.num_rows)
    bounds = sorted({t for t in _cuts(matrix) if 0 < t < n})
    ids = _col(matrix, f"scene_segmentation{SEP}shot_id")
    if not bounds and ids:
        bounds = [float(s) for s in range(1, len(ids)) if ids[s] != ids[s - 1]]
    edges = [0.0, *bounds, n]
    return list(itertools.pairwise(edges))


def _shot_lane(ax, matrix: pa.Table, keyframes: KeyFrames | None) -> None:
    """Shots as alternating bands, each with its key frame (the picture at its middle)."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    ax.set_ylim(0, 1)
    ax.set_yticks([])
    spans = shots(matrix)
    fig = ax.figure
    box = ax.get_position()
    # OffsetImage draws an image pixel as `zoom` points whatever the saving dpi
    lane_h_pt = box.height * fig.get_figheight() * 72
    pt_per_s = box.width * fig.get_figwidth() * 72 / max(matrix.num_rows, 1)
    for k, (a, b) in enumerate(spans):
        ax.axvspan(a, b, color=SHOT_COLORS[k % 2], lw=0)
        picture = keyframes((a + b) / 2) if keyframes else None
        if picture is None:
            continue
        h, w = picture.shape[:2]
        zoom = 0.9 * lane_h_pt / h
        room = max(int((b - a) * pt_per_s / zoom) - 2, 4)  # crop a wide picture to its band
        if w > room:
            x0 = (w - room) // 2
            picture = picture[:, x0 : x0 + room]
        image = OffsetImage(np.ascontiguousarray(picture), zoom=zoom)
        ax.add_artist(AnnotationBbox(image, ((a + b) / 2, 0.5), frameon=False, pad=0))
    ax.text(0.002, 0.97, f"{len(spans)} shots", transform=ax.transAxes, fontsize=7, va="top")


def _timeline(matrix: pa.Table, keyframes: KeyFrames | None) -> str:
    """One figure, one lane per kind of signal, seconds on a shared axis."""
    n = matrix.num_rows
    edges = np.arange(n + 1)
    lanes: list[tuple[str, float, Callable[[Any], None]]] = []

    def series(name: str) -> np.ndarray | None:
        values = _col(matrix, name)
        if values is None:
            return None
        return np.array([np.nan if v is None else float(v) for v in values])

    lanes.append(("shots", 2.4, lambda ax: _shot_lane(ax, matrix, keyframes)))

    words = [
        w
        for row in _col(matrix, f"speech_transcription{SEP}words") or []
        for w in row or []
        if w.get("word")
    ]
    if _col(matrix, f"speech_transcription{SEP}words") is not None:

        def speech(ax) -> None:
            ax.set_ylim(0, 1)
            ax.set_yticks([])
            for w in words:
                ax.axvspan(w["start"], w["end"], ymax=0.06, color="#8250df", lw=0)
                ax.text(
                    w["start"], 0.1, w["word"].strip(), rotation=90, fontsize=6.5,
                    va="bottom", ha="center", clip_on=True,
                )  # fmt: skip
            if not words:
                ax.text(0.01, 0.5, "no speech", transform=ax.transAxes, fontsize=8)

        lanes.append(("speech", 1.7, speech))

    loud = series(f"audio_analysis{SEP}rms_db")
    if loud is None:
        loud = series(f"audio_environment{SEP}rms_db")
    beats = [t for row in _col(matrix, f"audio_analysis{SEP}beats") or [] for t in row or []]
    if loud is not None:

        def loudness(ax) -> None:
            ax.stairs(np.nan_to_num(loud, nan=-80), edges, baseline=-80, fill=True, color="#9ecae1")
            ax.stairs(loud, edges, baseline=None, color="#1f6feb", lw=1)
            top = np.nanmax(loud) if np.isfinite(loud).any() else 0
            ax.set_ylim(min(-60, top - 40), max(0, top + 3))
            if beats:
                ax.vlines(beats, *ax.get_ylim()[:1], ax.get_ylim()[0] + 6, color="#444", lw=0.8)
            ax.grid(alpha=0.3)

        lanes.append(("loudness dB\n(ticks: beats)", 1.2, loudness))

    pace = series(f"temporal_flow{SEP}pace")
    change = series(f"temporal_flow{SEP}visual_change")
    if pace is not None:

        def pacing(ax) -> None:
            ax.axvspan(0, min(3, n), color="#fff1c2", lw=0)
            ax.stairs(np.nan_to_num(pace), edges, fill=True, color="#fbb4ae", alpha=0.8)
            if change is not None:
                ax.stairs(change, edges, baseline=None, color="#b2182b", lw=1)
            ax.set_ylim(0, 1.05)
            ax.grid(alpha=0.3)

        lanes.append(("pace\n(shaded: hook)", 1.2, pacing))

    texts = _col(matrix, f"text_overlay{SEP}texts")
    if texts is not None:

        def on_screen(ax) -> None:
            ax.set_ylim(0, 1)
            ax.set_yticks([])
            shown = None
            for s, row in enumerate(texts):
                lines = [t.get("text") or "" for t in row or []]
                if not lines:
                    shown = None
                    continue
                ax.axvspan(s, s + 1, ymax=0.25, color="#2da44e", lw=0)
                label = " / ".join(lines)[:40]
                if label != shown:
                    ax.text(s + 0.05, 0.32, label, fontsize=6.5, rotation=35, clip_on=True)
                    shown = label

        lanes.append(("on-screen text", 1.0, on_screen))

    faces = series(f"face_emotion{SEP}n_faces")
    if faces is not None:
        looking = _col(matrix, f"eye_tracking{SEP}looking_at_camera")
        emotion = _col(matrix, f"face_emotion{SEP}dominant_emotion")

        def face_lane(ax) -> None:
            ax.stairs(faces, edges, baseline=None, color="#6e40c9", lw=1.2)
            top = max(2.0, float(np.nanmax(faces)) + 1 if np.isfinite(faces).any() else 2)
            ax.set_ylim(-0.2, top)
            if looking is not None:
                at = [s + 0.5 for s, v in enumerate(looking) if v]
                ax.plot(at, [top * 0.85] * len(at), "o", ms=3, color="#bf3989")
            last = None
            for s, e in enumerate(emotion or []):
                if e and e != last:
                    ax.text(s + 0.05, top * 0.45, e, fontsize=6.5, clip_on=True)
                last = e
            ax.grid(alpha=0.3)

        lanes.append(("faces\n(dots: at camera)", 1.0, face_lane))

    counts = _col(matrix, f"object_detection{SEP}counts")
    if counts is not None:
        total: dict[str, int] = {}
        for row in counts:
            for c in row or []:
                total[c["cls"]] = total.get(c["cls"], 0) + int(c["n"] or 0)
        labels = sorted(total, key=lambda k: -total[k])[:6]

        def objects(ax) -> None:
            grid = np.zeros((max(len(labels), 1), n))
            for s, row in enumerate(counts):
                for c in row or []:
                    if c["cls"] in labels:
                        grid[labels.index(c["cls"]), s] = c["n"] or 0
            ax.imshow(grid, aspect="auto", cmap="Greens", extent=(0, n, len(grid), 0),
                      vmin=0, vmax=max(1.0, grid.max()), interpolation="nearest")  # fmt: skip
            ax.set_yticks(np.arange(len(labels)) + 0.5, labels, fontsize=6.5)
            if not labels:
                ax.text(0.01, 0.5, "nothing detected", transform=ax.transAxes, fontsize=8)

        lanes.append(("objects", 0.35 * max(len(labels), 2) + 0.3, objects))

    heights = [h for _, h, _ in lanes]
    fig, axes = _figure(14, sum(heights) * 0.62 + 0.8, rows=len(lanes), ratios=heights)
    fig.subplots_adjust(left=1.3 / 14, hspace=0.12)
    cuts = _cuts(matrix)
    for ax, (label, _, draw) in zip(axes, lanes, strict=True):
        ax.set_xlim(0, n)
        draw(ax)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        for c in cuts:
            ax.axvline(c, **CUT)
    step = 1 if n <= 20 else 5 if n <= 120 else 15
    axes[-1].set_xticks(np.arange(0, n + 1, step))
    axes[-1].set_xlabel("second (dashed red: cuts)")
    return _png(fig)


def _detail_plots(matrix: pa.Table) -> list[tuple[str, str]]:
    """(analyzer, PNG data URI) for each analyzer with numeric columns, and the dominant
    colour strip first."""
    seconds = np.asarray(matrix.column("second").to_pylist())
    cuts = _cuts(matrix)
    images = []
    rgb_col = _col(matrix, f"color_analysis{SEP}dominant_rgb")
    if rgb_col is not None:
        rgb = [v if v is not None else [255, 255, 255] for v in rgb_col]
        fig, (ax,) = _figure(10, 1.2)
        ax.imshow(np.array([rgb], dtype=np.uint8), aspect="auto", extent=(0, len(rgb), 0, 1))
        ax.set_yticks([])
        ax.set_xlabel("second")
        ax.set_title("Dominant colour per second", loc="left", fontsize=10)
        for c in cuts:
            ax.axvline(c, color="black", lw=1)
        images.append(("dominant colour", _png(fig, dpi=80)))
    for analyzer, cols in _numeric_columns(matrix).items():
        fig, axes = _figure(10, 1.3 * len(cols) + 0.6, rows=len(cols))
        for ax, col in zip(axes, cols, strict=True):
            y = np.asarray(matrix.column(f"{analyzer}{SEP}{col}").to_pylist(), dtype=float)
            ax.step(seconds + 0.5, y, where="mid", color="#1f6feb")
            if np.isfinite(y).any():  # keep flat series flat: at least 10% of the level
                lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
                span = max(hi - lo, 0.1 * max(abs(lo), abs(hi)), 1e-6)
                mid = (lo + hi) / 2
                ax.set_ylim(mid - 0.6 * span, mid + 0.6 * span)
            ax.set_ylabel(col, rotation=0, ha="right", fontsize=8)
            for c in cuts:
                ax.axvline(c, **CUT)
            ax.grid(alpha=0.3)
        axes[0].set_title(f"{analyzer} (dashed red: cuts)", loc="left", fontsize=10)
        axes[-1].set_xlabel("second")
        images.append((analyzer, _png(fig, dpi=80)))
    return images


def _clock(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"


def transcript_lines(matrix: pa.Table, max_words: int = 14, gap_s: float = 0.7) -> list[tuple]:
    """The transcript as (start s, end s, text) lines: a new line after a pause of
    ``gap_s`` or more, after a sentence's end, or every ``max_words`` words. Falls back
    to the per-second text when the words carry no times."""
    words = [
        w
        for row in _col(matrix, f"speech_transcription{SEP}words") or []
        for w in row or []
        if (w.get("word") or "").strip()
    ]
    lines: list[tuple[float, float, str]] = []
    current: list[dict] = []
    for w in words:
        if current and (w["start"] - current[-1]["end"] >= gap_s or len(current) >= max_words):
            lines.append((current[0]["start"], current[-1]["end"], current))  # type: ignore[arg-type]
            current = []
        current.append(w)
        if w["word"].strip()[-1:] in ".?!":
            lines.append((current[0]["start"], current[-1]["end"], current))  # type: ignore[arg-type]
            current = []
    if current:
        lines.append((current[0]["start"], current[-1]["end"], current))  # type: ignore[arg-type]
    out = [(a, b, " ".join(w["word"].strip() for w in ws)) for a, b, ws in lines]
    if not out:
        texts = _col(matrix, f"speech_transcription{SEP}text") or []
        out = [(float(s), s + 1.0, t) for s, t in enumerate(texts) if (t or "").strip()]
    return out


def _transcript_section(matrix: pa.Table) -> str:
    if f"speech_transcription{SEP}text" not in matrix.column_names:
        body = "<p><i>No transcript: speech_transcription did not run.</i></p>"
    else:
        lines = transcript_lines(matrix)
        rows = "".join(
            f'<tr><td class="t">{_clock(a)} - {_clock(b)}</td><td>{html.escape(t)}</td></tr>'
            for a, b, t in lines
        )
        body = f"<table>{rows}</table>" if lines else "<p><i>No speech found.</i></p>"
    return f'<section id="transcript"><h2>Transcript</h2>{body}</section>'


def _descriptions(matrix: pa.Table, random: bool) -> str:
    """The VLM's summary and its sentence per second, when it ran (folded)."""
    col = "qwen2_vl_temporal__description"
    if col not in matrix.column_names:
        return ""
    summary = matrix.column("qwen2_vl_temporal__summary").to_pylist()[:1]
    rows = "".join(
        f"<tr><td>{s}</td><td>{html.escape(str(d or ''))}</td></tr>"
        for s, d in zip(
            matrix.column("second").to_pylist(), matrix.column(col).to_pylist(), strict=True
        )
    )
    note = " (random weights: not meaningful)" if random else ""
    return (
        f'<section id="descriptions"><details{"" if random else " open"}><summary>'
        f"<h2>What happens, second by second{note}</h2></summary>"
        f"<p><b>Summary:</b> {html.escape(str(summary[0] if summary else ''))}</p>"
        f"<table><tr><th>second</th><th>description</th></tr>{rows}</table></details></section>"
    )


def _insights_section(matrix: pa.Table, vlm_real: bool) -> str:
    """The summary sentences and the insights table (value, or why there is none)."""
    from analyzers.multimodal.insights import insights, summary, vlm_summary

    rows = matrix.to_pylist()
    found = insights(rows)
    text = summary(found, matrix.num_rows, vlm_summary(rows, vlm_real))
    cells = "".join(
        f"<tr><td>{html.escape(i.name)}</td><td>"
        + (
            html.escape(str(i.value))
            if i.value is not None
            else f"<i>n/a: {html.escape(str(i.reason))}</i>"
        )
        + f"</td><td><small>{html.escape(', '.join(i.sources))}</small></td></tr>"
        for i in found
    )
    return (
        f'<section id="summary"><h2>Summary</h2><p>{html.escape(text)}</p></section>'
        f'<section id="insights"><h2>Insights</h2><table>'
        f"<tr><th>insight</th><th>value</th><th>from</th></tr>{cells}</table></section>"
    )


def _retention_section(matrix: pa.Table, table: list[dict[str, Any]]) -> str:
    """Retention over the video with each drop marked and its cause, and the drops' table."""
    n = len(table)
    if not n:
        return ""
    x = np.array([r["second"] for r in table], dtype=float)
    y = 100 * np.array([r["retention"] for r in table])
    fig, (ax,) = _figure(14, 2.6)
    fig.subplots_adjust(left=1.3 / 14)
    ax.plot(x, y, color="#1f6feb", marker="o", ms=2.5, lw=1.5)
    for c in _cuts(matrix):
        ax.axvline(c, **CUT)
    drops = [r for r in table if r["is_drop"]]
    for r in drops:
        s = r["second"]
        ax.axvspan(s, s + 1, color="#ffd8d3", lw=0)
        ax.annotate(
            f"-{r['drop_pp']:.1f} pt: {r['cause']}", (s + 0.5, 100 * r["retention"]),
            xytext=(6, -14), textcoords="offset points", fontsize=7, color="#a40e26",
        )  # fmt: skip
    ax.set_xlim(0, max(matrix.num_rows, n))
    ax.set_ylim(0, 105)
    ax.set_ylabel("viewers %", rotation=0, ha="right", fontsize=8)
    ax.set_xlabel("second (dashed red: cuts; shaded: drops)")
    ax.grid(alpha=0.3)
    rows = "".join(
        f"<tr><td>{r['second']}</td><td>{100 * r['retention']:.1f}%</td><td>-{r['drop_pp']:.1f}</td>"
        f"<td>{html.escape(str(r['cause']))}</td>"
        f"<td><small>{html.escape('; '.join(r['changes']))}</small></td></tr>"
        for r in drops
    )
    table_html = (
        "<table><tr><th>second</th><th>retention</th><th>points lost</th><th>likely cause</th>"
        f"<th>all changes</th></tr>{rows}</table>"
        if drops
        else "<p>No second lost clearly more viewers than the steady decay.</p>"
    )
    return (
        f'<section id="retention"><h2>Audience retention</h2>'
        f'<img alt="retention" src="{_png(fig)}" style="max-width:100%">{table_html}</section>'
    )


def write_report(
    matrix: pa.Table,
    runs: dict[str, dict[str, Any]],
    out_dir: Path,
    video_id: str,
    notes: Sequence[str] = (),
    keyframes: KeyFrames | None = None,
    retention: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the self-contained ``index.html`` into ``out_dir`` and return its path.

    ``runs``: each analyzer's materialization metadata (model, weights mode, time);
    ``notes``: lines a reader must see first (analyzers not run, seconds not decoded);
    ``keyframes``: pictures for the shots' key frames (none: bands only); ``retention``:
    ``analyzers.multimodal.retention.attribute``'s rows (none: read ``retention.json``
    beside the page when the retention command wrote one). ``provenance.json`` keeps
    ``runs`` and ``notes`` so the page can be re-rendered without the Dagster instance."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if retention is None and (out_dir / RETENTION).exists():
        retention = json.loads((out_dir / RETENTION).read_text())["seconds"]
    random = [n for n, m in runs.items() if m.get("weights_mode") == "random"]
    provenance = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(str(m.get('model', '')))}</td>"
        f"<td{' class=bad' if n in random else ''}>{html.escape(str(m.get('weights_mode', '')))}"
        f"</td><td>{m.get('wall_time_s', '')}</td><td>{m.get('rows', '')}</td></tr>"
        for n, m in runs.items()
    )
    banner = (
        f'<p class="banner">Random weights (outputs not meaningful): '
        f"{html.escape(', '.join(random))}. Fetch real ones with "
        "<code>tiktok-analyzer models pull NAME</code>.</p>"
        if random
        else ""
    )
    off = [n for n, m in runs.items() if (m.get("config") or {}).get("face_attributes") is False]
    if off:
        notes = [
            *notes,
            "Emotion, age and gender inference from faces was switched off (face_attributes "
            f"= false): {', '.join(off)} counted faces but left those values empty.",
        ]
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        banner += f'<div class="notes"><ul>{items}</ul></div>'
    body = _insights_section(
        matrix, "qwen2_vl_temporal" in runs and "qwen2_vl_temporal" not in random
    )
    body += (
        '<section id="timeline"><h2>Timeline</h2>'
        f'<img alt="timeline" src="{_timeline(matrix, keyframes)}" style="max-width:100%">'
        "</section>"
    )
    if retention:
        body += _retention_section(matrix, retention)
    body += _transcript_section(matrix)
    body += _descriptions(matrix, "qwen2_vl_temporal" in random)
    details = _detail_plots(matrix)
    body += (
        f'<section id="details"><h2>Per-analyzer detail</h2><p>{len(details)} plots, '
        "one line per numeric column per second; click to open.</p>"
        + "".join(
            f"<details><summary>{html.escape(name)}</summary>"
            f'<img alt="{html.escape(name)}" src="{uri}" style="max-width:100%"></details>'
            for name, uri in details
        )
        + "</section>"
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(video_id)}: video report</title>
<style>body{{font-family:sans-serif;max-width:1400px;margin:auto;padding:0 12px}}
td,th{{padding:2px 10px;text-align:left;vertical-align:top}} td.t{{white-space:nowrap;color:#57606a}}
.banner{{color:#d1242f;font-weight:bold}} td.bad{{color:#d1242f;font-weight:bold}}
.notes{{background:#fff8c5;padding:4px 12px}} summary{{cursor:pointer;padding:2px 0}}
summary h2{{display:inline}}</style></head><body>
{banner}<h1>{html.escape(video_id)}</h1>
<p>{matrix.num_rows} seconds, {matrix.num_columns - 2} per-second columns from {len(runs)} analyzers.</p>
{body}
<section id="provenance"><h2>Models and weights</h2><table><tr><th>analyzer</th><th>model</th>
<th>weights</th><th>wall time (s)</th><th>rows</th></tr>{provenance}</table></section>
</body></html>"""
    atomic_write_bytes(
        out_dir / PROVENANCE, json.dumps({"runs": runs, "notes": list(notes)}, default=str).encode()
    )
    return atomic_write_bytes(out_dir / "index.html", page.encode())


def media_keyframes(media: Any, height: int = 160) -> KeyFrames:
    """Key frames from a ``Media``'s decoded frames (memory-mapped: only the pictures
    asked for are read), scaled to ``height`` pixels."""
    import cv2

    stream = media.frames
    times = np.asarray(stream.pts, dtype=float)

    def picture(t: float) -> np.ndarray | None:
        if not len(times):
            return None
        frame = np.asarray(stream.frames[int(np.argmin(np.abs(times - t)))])
        h, w = frame.shape[:2]
        return cv2.resize(frame, (max(1, round(w * height / h)), height), cv2.INTER_AREA)

    return picture


def rerender(
    data_root: Path,
    key: str,
    retention: list[dict[str, Any]] | None = None,
    matrix: pa.Table | None = None,
) -> Path:
    """Render ``reports/<key>/index.html`` again from the stored matrix (or ``matrix``, when
    the caller has it already), the runs kept in ``provenance.json`` and the decoded
    frames (when still stored)."""
    from io_managers.parquet import read_table
    from resources.media_store import MediaStore
    from resources.settings import env_settings

    if matrix is None:
        root = env_settings().parquet_root(data_root)
        matrix = read_table(root, "cross_analyzer_intelligence", key)
    out = data_root / "reports" / key
    saved = json.loads((out / PROVENANCE).read_text()) if (out / PROVENANCE).exists() else {}
    try:
        keyframes = media_keyframes(MediaStore(root=str(data_root)).load_media(key))
    except FileNotFoundError:
        keyframes = None
    return write_report(
        matrix,
        saved.get("runs", {}),
        out,
        key,
        saved.get("notes", ()),
        keyframes=keyframes,
        retention=retention,
    )
