"""Have a comparison's learned agents converged? Learning curves of each cell, and flags.

Each SB3 cell's training writes ``curves.csv`` (``sb3.callbacks.EpisodeMetricsCallback``:
one row per rollout, the means over the episodes that ended in it, stochastic actions);
an RLlib cell has none, and its verdict is unknown. A design's curve of a metric is the
mean over its seeds. Its **drift** is
how much the metric still moves at the end of training: the slope of a least-squares
line through each seed's rows in the last quarter of its timesteps, times that
quarter's length, then the median over seeds. A design is flagged as not converged
when the drift of any of ``METRICS`` exceeds ``TOLERANCE`` in absolute value: still
changing by more than that over the last quarter of its budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runs import read_curves

CURVES = "curves.csv"
METRICS = ("true_welfare", "gaming_share", "goodhart_gap", "neglect", "partnership")
TOLERANCE = 0.02  # per last quarter of training, in the metric's units (shares, outcomes)
WINDOW = 0.25  # the last quarter of the timesteps
MIN_ROWS = 4  # fewer rows in the window: the drift is not estimated


def local_curve(cell_dir: Path) -> list[dict]:
    """The learning curve of a cell's locals, oldest row first: every local stage (a
    two-level run's locals learn in stages 0, 2, 4, ... on one timestep count), so its
    last quarter is that of the locals the cell evaluates. Empty without ``curves.csv``
    (an RLlib cell logs ``progress.csv`` instead)."""
    rows = read_curves(Path(cell_dir) / CURVES)
    return [r for r in rows if r["role"] == "local"]


def drift(rows: list[dict], metric: str, window: float = WINDOW) -> float:
    """How much ``metric`` moves over the last ``window`` of the curve's timesteps (the
    least-squares slope through those rows times the window's length); NaN if fewer than
    ``MIN_ROWS`` rows fall in it."""
    if not rows:
        return float("nan")
    steps = np.array([r["timesteps"] for r in rows], dtype=float)
    values = np.array([r[metric] for r in rows], dtype=float)
    start = steps[-1] * (1.0 - window)
    inside = steps >= start
    if inside.sum() < MIN_ROWS or np.ptp(steps[inside]) == 0:
        return float("nan")
    slope = np.polyfit(steps[inside], values[inside], 1)[0]
    return float(slope * steps[-1] * window)


def design_drifts(curves: list[list[dict]]) -> dict[str, float]:
    """Per metric, the median drift over a design's seeds (``curves``: one per seed)."""
    out = {}
    for metric in METRICS:
        values = [drift(rows, metric) for rows in curves]
        values = [v for v in values if np.isfinite(v)]
        out[metric] = float(np.median(values)) if values else float("nan")
    return out


def unconverged(drifts: dict[str, float], tolerance: float = TOLERANCE) -> list[str]:
    """The metrics still moving by more than ``tolerance``."""
    return [m for m, v in drifts.items() if np.isfinite(v) and abs(v) > tolerance]


def convergence_table(curves: dict[str, list[list[dict]]]) -> tuple[list[str], list[str]]:
    """Markdown rows (design, each metric's drift, the verdict) for one scenario's designs
    (``curves``: design -> one curve per seed), and the designs flagged."""
    lines = [
        "| design | " + " | ".join(f"{m} drift" for m in METRICS) + " | verdict |",
        "|---" * (len(METRICS) + 2) + "|",
    ]
    flagged = []
    for design, per_seed in curves.items():
        drifts = design_drifts(per_seed)
        moving = unconverged(drifts)
        if moving:
            flagged.append(design)
            verdict = "**not converged**: " + ", ".join(moving)
        elif not any(np.isfinite(v) for v in drifts.values()):
            verdict = f"unknown: fewer than {MIN_ROWS} curve rows in the last quarter"
        else:
            verdict = "converged"
        cells = " | ".join("n/a" if not np.isfinite(v) else f"{v:+.3f}" for v in drifts.values())
        lines.append(f"| `{design}` | {cells} | {verdict} |")
    return lines, flagged
