"""Tables of episodes: the mean and 95% interval of each metric, and their files.

``metrics_table`` is the plain-text table of ``target-gaming rollout`` and of every
trainer's final evaluation; ``write_episodes`` writes it (``metrics.txt``) beside the
episodes (``episodes.csv``). ``MAIN_METRICS`` are the metrics the rollout table and
the comparison's report show first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from target_gaming.envs.target_gaming import METRICS

from ..io import write_csv, write_text
from .rollout import EPISODE_COLUMNS, RETURNS, with_frontline

MAIN_METRICS = (
    "true_welfare",
    "measured_performance",
    "goodhart_gap",
    "gaming_share",
    "neglect",
    "bunching",
    "slack_share",
    "partnership",
    "inequality",
    "audit_cost",
)
# the rollout table: the locals' return, the main metrics, and the hit rate
ROLLOUT_METRICS = ("local_return", *MAIN_METRICS, "target_hit_rate")


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a t-interval over episodes (a single episode gives a zero-width interval)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2 or np.allclose(values, mean):
        return mean, mean, mean
    low, high = stats.t.interval(level, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, float(low), float(high)


def metrics_table(rows: list[dict], metrics: tuple[str, ...] | None = None) -> str:
    """A plain-text table: one line per (design, policy); per metric (default: the returns,
    every metric and a cascade's frontline metrics), mean ± 95% half-width."""
    if metrics is None:
        metrics = with_frontline(RETURNS + tuple(METRICS), rows)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["design"], row["policy"]), []).append(row)
    widths = [max(11, len(n)) for n in metrics]
    pw = max(8, *(len(p) for _, p in groups))
    head = " ".join(f"{n:>{w}}" for n, w in zip(metrics, widths))
    lines = [f"{'design':<17} {'policy':<{pw}} {'n':>4} {head}"]
    for (design, policy), group in groups.items():
        cells = []
        for name, w in zip(metrics, widths):
            mean, low, high = mean_ci(np.array([r[name] for r in group]))
            cell = f"{mean:.3f}±{(high - low) / 2:.3f}"
            cells.append(f"{cell:>{w}}")
        lines.append(f"{design:<17} {policy:<{pw}} {len(group):>4} " + " ".join(cells))
    return "\n".join(lines)


def write_episodes(folder: Path, rows: list[dict], heading: str, table: str) -> None:
    """``metrics.txt`` (``# heading``, then ``table``) and ``episodes.csv`` (EPISODE_COLUMNS,
    one row per episode) in ``folder``."""
    write_text(folder / "metrics.txt", f"# {heading}\n{table}\n")
    write_csv(folder / "episodes.csv", rows, with_frontline(EPISODE_COLUMNS, rows))
