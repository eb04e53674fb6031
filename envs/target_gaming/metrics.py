"""Metrics of MODEL section 8: per locality and national, every step, and per episode.

Truth is always logged beside the measure, whatever the design.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import WorldConfig
from .state import WorldState

if TYPE_CHECKING:
    from .core import Effort

DETECTION_FLOOR = 0.005  # inflation below this found by an audit is not a detection

# Global metric -> how an episode summarises it: mean over steps, last value, or sum.
METRICS: dict[str, str] = {
    "true_welfare": "mean",
    "local_welfare": "mean",
    "measured_performance": "mean",
    "target_hit_rate": "mean",
    "goodhart_gap": "mean",
    "gaming_share": "mean",
    "slack_share": "mean",
    "partnership": "mean",
    "measured_change": "last",
    "unmeasured_change": "last",
    "neglect": "last",
    "bunching": "mean",
    "perverse_rate": "mean",
    "inequality": "mean",
    "audits": "sum",
    "detections": "sum",
    "sanctions": "sum",
    "audit_cost": "sum",
}
# Metrics that exist per locality (the rest are national only).
LOCALITY_METRICS = tuple(m for m in METRICS if m not in ("inequality", "audit_cost"))


@dataclass(frozen=True)
class StepMetrics:
    locality: dict[str, np.ndarray]  # name -> (B, L)
    national: dict[str, np.ndarray]  # name -> (B,)


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over domains where mask is 1; 0 where nothing counts.  (B, L, K) -> (B, L)."""
    return (values * mask).sum(axis=-1) / np.maximum(mask.sum(axis=-1), 1.0)


def step_metrics(
    cfg: WorldConfig,
    before: WorldState,
    after: WorldState,
    effort: Effort,
    mask: np.ndarray,  # (B, 1, K) domains measured this step
    audited: np.ndarray,  # (B, L, K)
    sanction: np.ndarray,  # (B, L, A)
) -> StepMetrics:
    x, m, tau = after.true, after.measured, before.targets
    hit = m >= tau
    hit_counted = hit * mask
    near = hit_counted * (m < tau + cfg.bunching_band)
    perverse = (m > before.measured) & (x < before.true)
    headline = cfg.headline_mask.astype(float)
    change = x - before.initial
    measured_change = _masked_mean(change, headline)
    unmeasured_change = _masked_mean(change, 1.0 - headline)
    local_welfare = (after.priorities * x).sum(axis=-1)
    found = after.detected * audited  # nonzero only on this step's audits
    loc = {
        "true_welfare": x @ cfg.priorities,
        "local_welfare": local_welfare,
        "measured_performance": _masked_mean(m, mask),
        "target_hit_rate": _masked_mean(hit, mask),
        "goodhart_gap": _masked_mean(m - x, mask),
        "gaming_share": effort.game_share.mean(axis=-1),
        "slack_share": effort.slack_share.mean(axis=-1),
        "partnership": effort.partner_share.min(axis=-1),
        "measured_change": measured_change,
        "unmeasured_change": unmeasured_change,
        "neglect": measured_change - unmeasured_change,
        "bunching": near.sum(axis=-1) / np.maximum(hit_counted.sum(axis=-1), 1.0),
        "perverse_rate": _masked_mean(perverse, mask),
        "audits": audited.mean(axis=-1),
        "detections": (found > DETECTION_FLOOR).mean(axis=-1),
        "sanctions": sanction.sum(axis=-1),
    }
    nat = {name: loc[name].mean(axis=1) for name in LOCALITY_METRICS}
    for name in ("audits", "detections", "sanctions"):
        nat[name] = loc[name].sum(axis=1)
    nat["bunching"] = near.sum(axis=(1, 2)) / np.maximum(hit_counted.sum(axis=(1, 2)), 1.0)
    nat["inequality"] = local_welfare.std(axis=1)
    nat["audit_cost"] = cfg.audit_cost * nat["audits"] / cfg.n_localities
    return StepMetrics(locality=loc, national=nat)


class EpisodeMetrics:
    """Accumulates national metrics over an episode into one summary per environment."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self._totals = {name: np.zeros(self.batch_size) for name in METRICS}

    def add(self, national: dict[str, np.ndarray]) -> None:
        self.steps += 1
        for name, how in METRICS.items():
            if how == "last":
                self._totals[name] = np.asarray(national[name], dtype=float).copy()
            else:
                self._totals[name] = self._totals[name] + national[name]

    def summary(self) -> dict[str, np.ndarray]:
        """Per environment: mean over steps, last value, or sum, as METRICS says."""
        n = max(self.steps, 1)
        return {
            name: (total / n if METRICS[name] == "mean" else total.copy())
            for name, total in self._totals.items()
        }
