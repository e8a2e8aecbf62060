"""Scores of analyzer output against written-down truth: cut F1, transition edge error,
word error rate, per-second language accuracy, false effects and false camera moves."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def cut_f1(found: Sequence[float], truth: Sequence[float], tol: float) -> dict[str, float]:
    """Precision, recall and F1 of cut times ``found`` against ``truth`` (seconds), each
    truth matched at most once within ``tol`` seconds; ``max_error_s`` of the matches."""
    left = list(truth)
    hits, errors = 0, []
    for t in found:
        near = [u for u in left if abs(u - t) <= tol]
        if near:
            best = min(near, key=lambda u: abs(u - t))
            left.remove(best)
            hits += 1
            errors.append(abs(best - t))
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "max_error_s": max(errors, default=0.0),
    }


def edge_errors(
    found: Sequence[tuple[str, float, float]], truth: Sequence[tuple[str, float, float]]
) -> list[float]:
    """For each true (kind, start, end) transition, the larger of the start and end errors
    (seconds) of the found transition of the same kind that overlaps it most (inf when
    none does)."""
    out = []
    for kind, a, b in truth:
        same = [(s, e) for k, s, e in found if k == kind and min(b, e) > max(a, s) - 0.5]
        if not same:
            out.append(float("inf"))
            continue
        s, e = max(same, key=lambda se: min(b, se[1]) - max(a, se[0]))
        out.append(max(abs(s - a), abs(e - b)))
    return out


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped (numbers kept as written)."""
    return re.sub(r"[^a-z0-9'äöüßéèàçñ ]", " ", text.lower()).split()


def wer(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length."""
    d = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hypothesis, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1] / max(1, len(reference))


def language_accuracy(rows: Sequence[dict[str, Any]], truth: dict[int, str]) -> float:
    """Share of the seconds in ``truth`` (second -> language code) whose row says so."""
    right = sum(rows[s]["language"] == lang for s, lang in truth.items())
    return right / max(1, len(truth))


def false_effects_per_minute(rows: Sequence[dict[str, Any]], duration_s: float) -> float:
    """Distinct effects reported (by kind and start) per minute of a clip that has none."""
    seen = {(e["kind"], round(e["start"], 3)) for r in rows for e in r["effects"]}
    return len(seen) * 60.0 / max(duration_s, 1e-9)


def false_camera_moves(rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """(second, motion) of every second of a still-camera clip not called ``static``
    (seconds with no frame, motion null, are not counted)."""
    return [(r["second"], r["motion"]) for r in rows if r["motion"] not in (None, "static")]
