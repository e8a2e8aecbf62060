"""The per-video HTML report: plots of the per-second matrix a person can scan."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core.files import atomic_write_bytes
from tiktok_assets.intelligence import SEP


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


def _figure(width_in: float, height_in: float, rows: int = 1, top_in: float = 0.3):
    """A figure with ``rows`` stacked axes sharing x and fixed margins (inches). Built
    without pyplot (no global figure registry) and without constrained layout, whose
    solver was most of the report's time (measured: benchmarks/RESULTS.md, issue 19)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=2.2 / width_in,  # room for a 22-character column name at 8 pt + ticks
        right=1 - 0.15 / width_in,
        top=1 - top_in / height_in,
        bottom=0.45 / height_in,
        hspace=0.25 if rows > 1 else 0.0,
    )
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _plot(matrix: pa.Table, out: Path) -> list[str]:
    seconds = np.asarray(matrix.column("second").to_pylist())
    cuts: list[float] = []
    if f"cut_analysis{SEP}cut_at" in matrix.column_names:
        cuts = [
            t for row in matrix.column(f"cut_analysis{SEP}cut_at").to_pylist() for t in row or []
        ]
    images = []
    if f"color_analysis{SEP}dominant_rgb" in matrix.column_names:
        rgb = [
            v if v is not None else [255, 255, 255]
            for v in matrix.column(f"color_analysis{SEP}dominant_rgb").to_pylist()
        ]
        fig, (ax,) = _figure(10, 1.2)
        ax.imshow(np.array([rgb], dtype=np.uint8), aspect="auto", extent=(0, len(rgb), 0, 1))
        ax.set_yticks([])
        ax.set_xlabel("second")
        ax.set_title("Dominant colour per second", loc="left", fontsize=10)
        for c in cuts:
            ax.axvline(c, color="black", lw=1)
        fig.savefig(out / "colors.png", dpi=110)
        images.append("colors.png")
    for analyzer, cols in _numeric_columns(matrix).items():
        fig, axes = _figure(10, 1.5 * len(cols) + 0.6, rows=len(cols))
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
                ax.axvline(c, color="#d1242f", lw=0.8, ls="--")
            ax.grid(alpha=0.3)
        axes[0].set_title(f"{analyzer} (dashed red: cuts)", loc="left", fontsize=10)
        axes[-1].set_xlabel("second")
        name = f"{analyzer}.png"
        fig.savefig(out / name, dpi=110)
        images.append(name)
    return images


def _descriptions(matrix: pa.Table, random: bool) -> str:
    """The VLM's summary and its sentence per second, when it ran."""
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
        f"<h2>What happens, second by second{note}</h2>"
        f"<p><b>Summary:</b> {html.escape(str(summary[0] if summary else ''))}</p>"
        f"<table><tr><th>second</th><th>description</th></tr>{rows}</table>"
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
        f"<h2>Summary</h2><p>{html.escape(text)}</p><h2>Insights</h2><table>"
        f"<tr><th>insight</th><th>value</th><th>from</th></tr>{cells}</table>"
    )


def write_report(
    matrix: pa.Table,
    runs: dict[str, dict[str, Any]],
    out_dir: Path,
    video_id: str,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``index.html`` and its PNG plots into ``out_dir``; returns the HTML path.
    ``notes``: lines a reader must see first (analyzers not run, seconds not decoded)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = _plot(matrix, out_dir)
    random = [n for n, m in runs.items() if m.get("weights_mode") == "random"]
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(str(m.get('model', '')))}</td>"
        f"<td>{html.escape(str(m.get('weights_mode', '')))}</td>"
        f"<td>{m.get('wall_time_s', '')}</td><td>{m.get('rows', '')}</td></tr>"
        for n, m in runs.items()
    )
    banner = (
        f'<p style="color:#d1242f;font-weight:bold">Random weights (outputs not meaningful): '
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
        banner += f'<div style="background:#fff8c5;padding:4px 12px"><ul>{items}</ul></div>'
    body = _insights_section(
        matrix, "qwen2_vl_temporal" in runs and "qwen2_vl_temporal" not in random
    )
    body += _descriptions(matrix, "qwen2_vl_temporal" in random)
    body += "".join(f'<img src="{i}" style="max-width:100%"><br>' for i in images)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(video_id)}: video report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}
td,th{{padding:2px 10px;text-align:left}}</style></head><body>
{banner}<h1>{html.escape(video_id)}</h1>
<p>{matrix.num_rows} seconds, {matrix.num_columns - 2} per-second columns from {len(runs)} analyzers.</p>
{body}
<h2>Analyzers</h2><table><tr><th>analyzer</th><th>model</th><th>weights</th>
<th>wall time (s)</th><th>rows</th></tr>{rows}</table>
</body></html>"""
    return atomic_write_bytes(out_dir / "index.html", page.encode())
