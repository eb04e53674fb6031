"""A check's effects over seeds, their verdicts, and a matched condition's target level.

The unit of replication is a seed: a side's value in seed s is the mean over that
cell's evaluation episodes of the metric, for the side's agent and variant (``Values``
holds these, per condition, seed, agent and variant). A check's effect in seed s is
the left side's value minus the right side's (or minus the constant), seeds paired by
index; the effect over seeds is their interquartile mean with a percentile-bootstrap
95% interval (``compare.stats.iqm_interval``), and the check holds if that interval
lies above ``margin`` (``>``), below ``-margin`` (``<``), inside [-margin, margin]
(``tie``) or below ``margin`` (``at_most``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..compare.stats import iqm_interval
from .phenomena import Check, Side

HOLDS, FAILS, NO_DATA = "holds", "fails", "no data"
# condition -> seed -> (agent, variant) -> metric -> the mean over evaluation episodes
Values = dict[str, dict[int, dict[tuple[str, str], dict[str, float]]]]


@dataclass(frozen=True)
class Effect:
    """One effect of a check (learned or scripted): per-seed values, IQM, interval, verdict."""

    kind: str
    per_seed: dict[int, float]
    iqm: float
    low: float
    high: float
    verdict: str

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)


def verdict(low: float, high: float, relation: str, margin: float = 0.0) -> str:
    """Whether the interval [low, high] lies above ``margin`` (``>``), below ``-margin``
    (``<``), within [-margin, margin] (``tie``) or below ``margin`` (``at_most``)."""
    if relation == ">":
        held = low > margin
    elif relation == "<":
        held = high < -margin
    elif relation == "tie":
        held = -margin <= low and high <= margin
    elif relation == "at_most":
        held = high <= margin
    else:
        raise ValueError(f"relation = {relation!r} is not allowed: '>', '<', 'tie' or 'at_most'")
    return HOLDS if held else FAILS


def side_values(values: Values, side: Side, agent: str, metric: str) -> dict[int, float]:
    """The side's value per seed (seeds whose cell has the agent and variant)."""
    seeds = values.get(side.condition, {})
    key = (agent, side.variant)
    return {seed: rows[key][metric] for seed, rows in sorted(seeds.items()) if key in rows}


def paired_effects(left: dict[int, float], right: dict[int, float] | float) -> dict[int, float]:
    """left - right per seed: over the seeds both sides have, or minus a constant."""
    if isinstance(right, dict):
        return {s: left[s] - right[s] for s in sorted(left) if s in right}
    return {s: left[s] - float(right) for s in sorted(left)}


def summarise_effect(
    kind: str, per_seed: dict[int, float], relation: str, margin: float = 0.0
) -> Effect:
    """The IQM over seeds, its 95% interval and the verdict (``no data`` without seeds)."""
    if not per_seed:
        nan = float("nan")
        return Effect(kind, {}, nan, nan, nan, NO_DATA)
    point, low, high = iqm_interval(np.array(list(per_seed.values())))
    return Effect(kind, per_seed, point, low, high, verdict(low, high, relation, margin))


def check_effect(check: Check, values: Values, kind: str) -> Effect:
    """The check's ``kind`` effect (``learned`` or ``scripted``)."""
    who = check.who(kind)
    left = side_values(values, check.left, check.left.agent_for(who), check.metric)
    if isinstance(check.right, Side):
        agent = check.right.agent_for(who)
        right: dict[int, float] | float = side_values(
            values, check.right, agent, check.other_metric
        )
    else:
        right = float(check.right)
    return summarise_effect(kind, paired_effects(left, right), check.relation, check.margin)


def matched_target(levels: Iterable[float], low: float, high: float) -> float:
    """A matched condition's target_default: the mean target level, rounded to 4 decimals
    and clipped to [low, high] (the world's target_min and target_max)."""
    levels = np.asarray(list(levels), dtype=float)
    if levels.size == 0 or not np.all(np.isfinite(levels)):
        raise ValueError(f"target levels {levels.tolist()} are not allowed: finite, at least one")
    return float(np.clip(round(float(levels.mean()), 4), low, high))
