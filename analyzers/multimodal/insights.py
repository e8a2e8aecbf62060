"""Insights from the joined per-second matrix (``cross_analyzer_intelligence``): each one
a value with the columns it came from, or null with the reason its inputs are absent.
Works with any subset of analyzers: a missing column makes its insight (or its component
of the hook score) null, never an error. No Dagster here; the asset calls ``insights``.

Rows are the matrix's rows as dicts, columns named ``<analyzer>__<column>``. Units:
seconds, shares 0-1, scores 0-100.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Row = dict[str, Any]
HOOK_S = 3  # seconds 0-2 are the hook
BEAT_TOLERANCE_S = 0.1
CTA_PHRASES = (
    "follow for more", "follow for part two", "follow me", "follow", "link in bio",
    "link in my bio", "comment", "like and subscribe", "subscribe", "share this", "save this",
    "part two", "part three", "stay tuned", "shop now", "swipe up", "tap the link",
    "use code", "dm me",
)  # fmt: skip
NUMBERS = dict(zip(["1", "2", "3", "4", "5", "6", "7", "8", "9"],
                   ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"], strict=True))  # fmt: skip


@dataclass
class Insight:
    """One insight: ``value`` (None with ``reason``), the ``sources`` columns it read and
    ``details`` (components, per-item findings)."""

    name: str
    value: Any
    sources: list[str]
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "sources": self.sources,
                "reason": self.reason, "details": self.details}  # fmt: skip


def _has(rows: Sequence[Row], *cols: str) -> list[str]:
    """The columns of ``cols`` missing from the matrix (all rows share one schema)."""
    return [c for c in cols if not rows or c not in rows[0]]


def _absent(name: str, missing: list[str]) -> Insight:
    return Insight(name, None, missing, reason=f"needs {', '.join(missing)} (not analysed)")


def cut_on_beat(rows: Sequence[Row], tolerance_s: float = BEAT_TOLERANCE_S) -> Insight:
    """Share of hard cuts within ``tolerance_s`` of a musical beat (0-1)."""
    cols = ["cut_analysis__cut_at", "audio_analysis__beats"]
    if missing := _has(rows, *cols):
        return _absent("cut_on_beat", missing)
    cuts = [t for r in rows for t in (r[cols[0]] or [])]
    beats = np.array([t for r in rows for t in (r[cols[1]] or [])])
    if not cuts:
        return Insight("cut_on_beat", None, cols, reason="no cuts in the video")
    if beats.size == 0:
        return Insight("cut_on_beat", None, cols, reason="no beats found in the audio")
    off = [float(np.min(np.abs(beats - c))) for c in cuts]
    on = [c for c, d in zip(cuts, off, strict=True) if d <= tolerance_s]
    return Insight("cut_on_beat", round(len(on) / len(cuts), 3), cols, details={
        "cuts": len(cuts), "on_beat": len(on), "tolerance_s": tolerance_s,
        "offsets_s": [round(d, 3) for d in off],
    })  # fmt: skip


# hook components: (name, column, score 0-1 of the first HOOK_S rows). A null value in a
# present column is "nothing there" (no face to look at the camera, no audio track): 0.
def _any(col: str) -> Callable[[list[Row]], float]:
    def f(rows: list[Row]) -> float:
        return float(any(bool(r.get(col)) for r in rows))

    return f


def _mean(col: str, scale: float = 1.0) -> Callable[[list[Row]], float]:
    def f(rows: list[Row]) -> float:
        vals = [float(r[col]) for r in rows if r.get(col) is not None]
        return 0.0 if not vals else float(np.clip(np.mean(vals) / scale, 0, 1))

    return f


HOOK_COMPONENTS: tuple[tuple[str, str, Callable[[list[Row]], float]], ...] = (
    ("cut", "cut_analysis__cuts", _any("cut_analysis__cuts")),
    ("visual_change", "temporal_flow__visual_change", _mean("temporal_flow__visual_change", 0.5)),
    ("motion", "camera_analysis__magnitude", _mean("camera_analysis__magnitude", 0.2)),
    ("face_to_camera", "eye_tracking__looking_at_camera", _any("eye_tracking__looking_at_camera")),
    ("on_screen_text", "text_overlay__n_texts", _any("text_overlay__n_texts")),
    ("speech", "speech_rate__words", _any("speech_rate__words")),
    ("loudness", "temporal_flow__audio_energy", _mean("temporal_flow__audio_energy", 0.8)),
)


def hook_score(rows: Sequence[Row]) -> Insight:
    """0-100: the mean of the hook's components over seconds 0-2, each 0-1 (a cut, visual
    change, camera motion, a face looking at the camera, on-screen text, speech, loudness);
    components whose analyzer is absent are left out of the mean and listed."""
    head = list(rows[:HOOK_S])
    comps: dict[str, float | None] = {}
    used = []
    for name, col, score in HOOK_COMPONENTS:
        comps[name] = None if _has(rows, col) else score(head)
        if comps[name] is not None:
            used.append(col)
    vals = [v for v in comps.values() if v is not None]
    if not vals:
        return Insight("hook_score", None, [c for _, c, _ in HOOK_COMPONENTS],
                       reason="none of the hook's inputs were analysed")  # fmt: skip
    return Insight("hook_score", round(100 * float(np.mean(vals)), 1), used, details={
        "components": {k: None if v is None else round(v, 3) for k, v in comps.items()},
        "seconds": len(head),
    })  # fmt: skip


def talking_to_camera(rows: Sequence[Row]) -> Insight:
    """Share of the seconds with speech in which the main face looks at the camera."""
    cols = ["eye_tracking__looking_at_camera", "speech_rate__words"]
    if missing := _has(rows, *cols):
        return _absent("talking_to_camera", missing)
    speaking = [r for r in rows if (r[cols[1]] or 0) > 0]
    if not speaking:
        return Insight("talking_to_camera", None, cols, reason="no speech in the video")
    looking = sum(1 for r in speaking if r[cols[0]])
    return Insight("talking_to_camera", round(looking / len(speaking), 3), cols,
                   details={"speech_seconds": len(speaking), "looking": looking})  # fmt: skip


def _tokens(text: str) -> list[str]:
    """Lower-case words, digits spelled ("part 2" and "part two" are one phrase)."""
    return [NUMBERS.get(t, t) for t in re.sub(r"[^\w]+", " ", text.lower()).split()]


def _phrases(tokens: Sequence[str]) -> list[tuple[int, str]]:
    """(index of the first token, phrase) of each call-to-action phrase in ``tokens``,
    longest first where phrases overlap ("follow for part two", not also "follow")."""
    taken: set[int] = set()
    found = []
    for p in sorted(CTA_PHRASES, key=len, reverse=True):
        words = p.split()
        for i in range(len(tokens) - len(words) + 1):
            span = set(range(i, i + len(words)))
            if tokens[i : i + len(words)] == words and not span & taken:
                taken |= span
                found.append((i, p))
    return sorted(found)


def calls_to_action(rows: Sequence[Row]) -> Insight:
    """Calls to action ("follow for part two", "link in bio", ...) with their second: in
    speech, matched over the whole transcript's words (a phrase may run across a second
    boundary) and placed at its first word's start; on screen, in each second's text."""
    words, text, screen = (
        "speech_transcription__words", "speech_transcription__text", "text_overlay__texts"
    )  # fmt: skip
    have = [c for c in (words, text, screen) if not _has(rows, c)]
    if not have:
        return _absent("calls_to_action", [words, screen])
    found = []
    used = [c for c in have if c != text or words not in have]  # words before text
    if words in have:
        timed = [(t, w["start"]) for r in rows for w in r[words] or [] for t in _tokens(w["word"])]
        found += [{"second": int(timed[i][1]), "phrase": p, "source": "speech"}
                  for i, p in _phrases([t for t, _ in timed])]  # fmt: skip
    elif text in have:
        for r in rows:
            found += [{"second": r["second"], "phrase": p, "source": "speech"}
                      for _, p in _phrases(_tokens(r[text] or ""))]  # fmt: skip
    if screen in have:
        for r in rows:
            line = " ".join(t["text"] for t in r[screen] or [])
            found += [{"second": r["second"], "phrase": p, "source": "screen"}
                      for _, p in _phrases(_tokens(line))]  # fmt: skip
    found.sort(key=lambda f: (f["second"], f["source"]))
    return Insight("calls_to_action", len(found), used, details={"found": found})


def product_screen_time(rows: Sequence[Row]) -> Insight:
    """Seconds with a product or brand on screen, and their share of the video."""
    col = "product_detection__n_products"
    if missing := _has(rows, col):
        return _absent("product_screen_time", missing)
    seconds = [r["second"] for r in rows if (r[col] or 0) > 0]
    brands = sorted({b for r in rows for b in r.get("product_detection__brands") or []})
    return Insight("product_screen_time", len(seconds), [col], details={
        "share": round(len(seconds) / max(1, len(rows)), 3), "seconds": seconds,
        "brands": brands,
    })  # fmt: skip


def text_readability(rows: Sequence[Row]) -> Insight:
    """Share of on-screen text lines that stay up long enough to read (3 words/s), and the
    lines the app's UI would hide."""
    col = "text_overlay__texts"
    if missing := _has(rows, col):
        return _absent("text_readability", missing)
    lines: dict[str, dict[str, Any]] = {}
    for r in rows:
        for t in r[col] or []:
            k = " ".join(t["text"].upper().split())
            lines.setdefault(k, {"text": t["text"], "first_second": r["second"],
                                 "on_screen_s": t["on_screen_s"], "reading_s": t["reading_s"],
                                 "readable": t["readable"], "hidden_by": t["in_ui_zone"]})  # fmt: skip
    if not lines:
        return Insight("text_readability", None, [col], reason="no text on screen")
    ok = sum(1 for v in lines.values() if v["readable"] and not v["hidden_by"])
    return Insight("text_readability", round(ok / len(lines), 3), [col],
                   details={"lines": list(lines.values())})  # fmt: skip


def pacing(rows: Sequence[Row], window_s: int = 10) -> Insight:
    """Cuts per ``window_s`` seconds over the whole video (per window in ``details``), with
    the speech rate (words per minute) and the loudness curve (dBFS per second) beside."""
    col = "cut_analysis__cuts"
    if missing := _has(rows, col):
        return _absent("pacing", missing)
    windows = [sum(r[col] or 0 for r in rows[k : k + window_s])
               for k in range(0, len(rows), window_s)]  # fmt: skip
    rate = sum(windows) * window_s / max(1, len(rows))
    sources = [col]
    details: dict[str, Any] = {"cuts_per_window": windows, "window_s": window_s}
    if not _has(rows, "speech_rate__wpm_video"):
        sources.append("speech_rate__wpm_video")
        details["speech_wpm"] = next(
            (r["speech_rate__wpm_video"] for r in rows if r["speech_rate__wpm_video"]), None
        )
    if not _has(rows, "audio_analysis__rms_db"):
        sources.append("audio_analysis__rms_db")
        details["loudness_db"] = [r["audio_analysis__rms_db"] for r in rows]
    return Insight("pacing", round(rate, 2), sources, details=details)


def drop_off(
    rows: Sequence[Row], drop: float = 0.3, before_s: int = 3, after_s: int = 2
) -> Insight:
    """Seconds where viewers are likely to leave: the pace (temporal_flow's 0-1 mix of
    cuts, visual change and loudness) falls by at least ``drop`` from the mean of the
    ``before_s`` seconds before to the mean of the ``after_s`` seconds from there, and to
    at most half of it. The first second of each such fall."""
    col = "temporal_flow__pace"
    if missing := _has(rows, col):
        return _absent("drop_off", missing)
    pace = np.array([r[col] if r[col] is not None else np.nan for r in rows], float)
    found: list[int] = []
    for s in range(before_s, len(rows) - after_s + 1):
        prev, cur = np.nanmean(pace[s - before_s : s]), np.nanmean(pace[s : s + after_s])
        if np.isnan(prev) or np.isnan(cur):
            continue
        if prev - cur >= drop and cur <= 0.5 * prev and (not found or s - found[-1] > after_s):
            found.append(int(rows[s]["second"]))
    return Insight("drop_off", found, [col], details={"drop": drop})


INSIGHTS = (hook_score, cut_on_beat, talking_to_camera, calls_to_action, product_screen_time,
            text_readability, pacing, drop_off)  # fmt: skip


def insights(rows: Sequence[Row]) -> list[Insight]:
    """Every insight for one video's matrix rows (second 0 first)."""
    rows = sorted(rows, key=lambda r: r["second"])
    return [f(rows) for f in INSIGHTS]


def vlm_summary(rows: Sequence[Row], real: bool) -> str | None:
    """The VLM's whole-video summary from the matrix, when it ran with real weights (a
    random model's words are noise and stay out of the summary)."""
    if not real:
        return None
    return next((r["qwen2_vl_temporal__summary"] for r in rows
                 if r.get("qwen2_vl_temporal__summary")), None)  # fmt: skip


def summary(found: Sequence[Insight], seconds: int, vlm: str | None = None) -> str:
    """A few plain sentences from the insights (template-based); ``vlm``: the
    vision-language model's own summary, put first when it ran with real weights."""
    by = {i.name: i for i in found}
    out = [vlm.strip()] if vlm and vlm.strip() else []
    pace = by.get("pacing")
    if pace and pace.value is not None:
        out.append(f"{seconds} s long, {pace.value:g} cuts per 10 s"
                   + (f", speech at {pace.details['speech_wpm']:.0f} words a minute"
                      if pace.details.get("speech_wpm") else "") + ".")  # fmt: skip
    hook = by.get("hook_score")
    if hook and hook.value is not None:
        strong = [
            k.replace("_", " ") for k, v in hook.details["components"].items() if v and v >= 0.5
        ]
        out.append(f"Hook score {hook.value:g}/100"
                   + (f" ({', '.join(strong)} in the first {HOOK_S} s)." if strong else
                      f": little happens in the first {HOOK_S} s."))  # fmt: skip
    beat = by.get("cut_on_beat")
    if beat and beat.value is not None:
        out.append(f"{round(100 * beat.value)}% of cuts land on the beat.")
    cta = by.get("calls_to_action")
    if cta and cta.value:
        first = cta.details["found"][0]
        out.append(f"Call to action: \"{first['phrase']}\" at {first['second']} s"
                   + (f" and {cta.value - 1} more." if cta.value > 1 else "."))  # fmt: skip
    products = by.get("product_screen_time")
    if products and products.value:
        brands = products.details["brands"]
        out.append(f"Products on screen for {products.value} s"
                   + (f" ({', '.join(brands)})." if brands else "."))  # fmt: skip
    drops = by.get("drop_off")
    if drops and drops.value:
        out.append(f"Likely drop-off at {', '.join(f'{s} s' for s in drops.value)}.")
    return " ".join(out) if out else "Not enough was analysed for a summary."


def markdown_table(found: Sequence[Insight]) -> str:
    """The insights as a Markdown table (the intelligence asset's metadata)."""
    lines = ["| insight | value | from |", "|---|---|---|"]
    for i in found:
        value = i.value if i.value is not None else f"n/a: {i.reason}"
        lines.append(f"| {i.name} | {value} | {', '.join(i.sources)} |")
    return "\n".join(lines)
