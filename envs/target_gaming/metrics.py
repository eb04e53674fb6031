"""Metrics of MODEL section 8: per locality and national, every step, and per episode.

Truth is always logged beside the measure, whatever the design.

For speed the metrics of one step are computed as two stacked arrays, one row
per metric: per locality ``(M_loc, B, L)`` in ``LOCALITY_METRICS`` order and
national ``(M_nat, B)`` in ``NATIONAL_METRICS`` order. ``StepMetrics`` exposes
them as dicts of arrays (views of those rows), built on first use.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .config import WorldConfig

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
# The order of the national dict: the per-locality metrics, then the national-only ones.
NATIONAL_METRICS = LOCALITY_METRICS + ("inequality", "audit_cost")
# National metrics that are sums over localities (the other per-locality ones are means).
_SUMMED = ("audits", "detections", "sanctions")

_LI = {name: i for i, name in enumerate(LOCALITY_METRICS)}
_NI = {name: i for i, name in enumerate(NATIONAL_METRICS)}

# Rows of the per-cell stack reduced over domains with weight one (MetricsKernel).
_CELLS = ("local_welfare", "measured", "hit", "gap", "perverse", "near", "audits", "detections")
_CI = {name: i for i, name in enumerate(_CELLS)}


class StepMetrics:
    """One step's metrics: ``locality`` name -> (B, L) and ``national`` name -> (B,).

    Built either from dicts (``StepMetrics(locality, national)``) or, by the
    core, from stacked arrays (``locality_array`` (M_loc, B, L) in
    ``LOCALITY_METRICS`` order, ``national_array`` (M_nat, B) in
    ``NATIONAL_METRICS`` order); the other form is derived on first use.
    """

    def __init__(
        self,
        locality: dict[str, np.ndarray] | None = None,
        national: dict[str, np.ndarray] | None = None,
        *,
        locality_array: np.ndarray | None = None,
        national_array: np.ndarray | None = None,
    ):
        if (locality is None) == (locality_array is None) or (national is None) == (
            national_array is None
        ):
            raise ValueError("give either the dicts or the arrays of each of locality, national")
        if locality is not None:
            self.__dict__["locality"] = locality
        else:
            self.__dict__["locality_array"] = locality_array
        if national is not None:
            self.__dict__["national"] = national
        else:
            self.__dict__["national_array"] = national_array

    @cached_property
    def locality(self) -> dict[str, np.ndarray]:
        return dict(zip(LOCALITY_METRICS, self.locality_array))

    @cached_property
    def national(self) -> dict[str, np.ndarray]:
        return dict(zip(NATIONAL_METRICS, self.national_array))

    @cached_property
    def locality_array(self) -> np.ndarray:  # (M_loc, B, L)
        return np.stack([self.locality[name] for name in LOCALITY_METRICS])

    @cached_property
    def national_array(self) -> np.ndarray:  # (M_nat, B)
        return np.stack([self.national[name] for name in NATIONAL_METRICS])

    def __repr__(self) -> str:
        return f"StepMetrics(locality={self.locality!r}, national={self.national!r})"


class MetricsKernel:
    """Computes one step's metrics for a config with few array operations.

    The per-cell quantities that are averaged over domains are written into one
    stack (rows ``_CELLS``) and reduced in one matrix product; national values
    are sums over localities of the per-locality rows, in one more product.
    """

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        k, n_loc = cfg.n_domains, cfg.n_localities
        headline = cfg.headline_mask.astype(float)
        self._ones_k = np.ones(k)
        self._ones_l = np.ones(n_loc)
        # measured_change and unmeasured_change: masked means over fixed domain sets
        self._change_w = np.stack([headline, 1.0 - headline], axis=1)  # (K, 2)
        self._change_div = np.maximum(self._change_w.sum(axis=0), 1.0)  # (2,)
        # national = sum over localities / divisor (L for means, 1 for sums)
        div = np.array([1.0 if m in _SUMMED else float(n_loc) for m in LOCALITY_METRICS])
        self._nat_div = div[:, None]
        self._n_loc = n_loc
        self._k = k

    def new_cells(self, batch_size: int) -> np.ndarray:
        """An uninitialised per-cell stack (len(_CELLS), B, L, K)."""
        return np.empty((len(_CELLS), batch_size, self._n_loc, self._k))

    def compute(
        self,
        cells: np.ndarray,  # from new_cells; rows "hit" (1[m >= tau] * mask), "measured"
        # (m * mask) written by the caller
        x: np.ndarray,  # (B, L, K) true outcome after the step
        m: np.ndarray,  # (B, L, K) measure after the step
        x_before: np.ndarray,
        m_before: np.ndarray,
        initial: np.ndarray,
        priorities: np.ndarray,  # (B, L, K)
        mask: np.ndarray,  # (B, 1, K)
        counted: np.ndarray,  # (B, 1) max(1, number of domains measured)
        tau: np.ndarray,  # (B, L, K) targets in force this step
        shares: np.ndarray,  # (B, L, A, 3): game share, slack share, partner share
        audited: np.ndarray | None,  # (B, L, K) or None: no audits this step
        detected: np.ndarray | None,  # (B, L, K) inflation found (with audited)
        sanction: np.ndarray | None,  # (B, L, A) or None
    ) -> StepMetrics:
        cfg, b_, n_loc, k = self.cfg, x.shape[0], self._n_loc, self._k
        ci = _CI
        # ---- per-cell stack (row "hit" = 1[m >= tau] * mask was written by the caller)
        np.multiply(priorities, x, out=cells[ci["local_welfare"]])
        gap = cells[ci["gap"]]
        np.subtract(m, x, out=gap)
        gap *= mask
        np.multiply((m > m_before) & (x < x_before), mask, out=cells[ci["perverse"]])
        hit = cells[ci["hit"]]
        np.multiply(hit, m < tau + cfg.bunching_band, out=cells[ci["near"]])
        if audited is None:
            cells[ci["audits"] :] = 0.0
        else:
            cells[ci["audits"]] = audited
            np.greater(detected * audited, DETECTION_FLOOR, out=cells[ci["detections"]],
                       casting="unsafe")
        sums = (cells.reshape(-1, k) @ self._ones_k).reshape(len(_CELLS), b_, n_loc)
        # ---- per-locality rows
        loc = np.empty((len(LOCALITY_METRICS), b_, n_loc))
        li = _LI
        np.matmul(x.reshape(-1, k), cfg.priorities, out=loc[li["true_welfare"]].reshape(-1))
        loc[li["local_welfare"]] = sums[ci["local_welfare"]]
        c0, c1 = ci["measured"], ci["gap"] + 1
        np.divide(sums[c0:c1], counted, out=loc[li["measured_performance"] : li["goodhart_gap"] + 1])
        np.divide(sums[ci["perverse"]], counted, out=loc[li["perverse_rate"]])
        a_ = shares.shape[2]
        g0 = li["gaming_share"]  # gaming_share, slack_share, partnership: consecutive rows
        if a_ == 1:
            loc[g0 : g0 + 3] = shares[:, :, 0].transpose(2, 0, 1)
        else:
            np.divide(shares[..., :2].sum(axis=2).transpose(2, 0, 1), a_, out=loc[g0 : g0 + 2])
            loc[g0 + 2] = shares[..., 2].min(axis=-1)
        change = (x - initial).reshape(-1, k) @ self._change_w  # (B*L, 2)
        change /= self._change_div
        mc, uc = li["measured_change"], li["unmeasured_change"]
        loc[mc : uc + 1] = change.T.reshape(2, b_, n_loc)
        np.subtract(loc[mc], loc[uc], out=loc[li["neglect"]])
        near, hit = sums[ci["near"]], sums[ci["hit"]]
        np.divide(near, np.maximum(hit, 1.0), out=loc[li["bunching"]])
        np.divide(sums[ci["audits"] :], k, out=loc[li["audits"] : li["detections"] + 1])
        if sanction is None:
            loc[li["sanctions"]] = 0.0
        elif sanction.shape[2] == 1:
            loc[li["sanctions"]] = sanction[..., 0]
        else:
            loc[li["sanctions"]] = sanction.sum(axis=-1)
        # ---- national: sums over localities
        nat = np.empty((len(NATIONAL_METRICS), b_))
        n_lm = len(LOCALITY_METRICS)
        totals = (loc.reshape(-1, n_loc) @ self._ones_l).reshape(n_lm, b_)
        np.divide(totals, self._nat_div, out=nat[:n_lm])
        pooled = (sums[[ci["hit"], ci["near"]]].reshape(-1, n_loc) @ self._ones_l).reshape(2, b_)
        np.divide(pooled[1], np.maximum(pooled[0], 1.0), out=nat[_NI["bunching"]])
        welfare = loc[li["local_welfare"]]
        dev = welfare - (totals[li["local_welfare"]] / n_loc)[:, None]
        dev *= dev
        np.sqrt((dev @ self._ones_l) / n_loc, out=nat[_NI["inequality"]])
        np.multiply(nat[_NI["audits"]], cfg.audit_cost / n_loc, out=nat[_NI["audit_cost"]])
        return StepMetrics(locality_array=loc, national_array=nat)


# Episode summaries: national rows (NATIONAL_METRICS order) summed, or kept ("last").
_LAST = np.array([METRICS[name] == "last" for name in NATIONAL_METRICS])
_LAST_ROWS = np.flatnonzero(_LAST)
_LAST_SLICE = (
    slice(int(_LAST_ROWS[0]), int(_LAST_ROWS[-1]) + 1)
    if len(_LAST_ROWS) and np.all(np.diff(_LAST_ROWS) == 1)
    else _LAST_ROWS
)


class EpisodeMetrics:
    """Accumulates national metrics over an episode into one summary per environment."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self._totals = np.zeros((len(NATIONAL_METRICS), self.batch_size))

    def add(self, national: dict[str, np.ndarray]) -> None:
        """Add one step's national metrics (name -> (B,))."""
        rows = np.empty_like(self._totals)
        for i, name in enumerate(NATIONAL_METRICS):
            rows[i] = national[name]
        self.add_array(rows)

    def add_array(self, national: np.ndarray) -> None:
        """Add one step's national metrics as an array (M_nat, B) in NATIONAL_METRICS order."""
        self.steps += 1
        self._totals += national
        self._totals[_LAST_SLICE] = national[_LAST_SLICE]

    def summary(self) -> dict[str, np.ndarray]:
        """Per environment: mean over steps, last value, or sum, as METRICS says."""
        n = max(self.steps, 1)
        return {
            name: (
                self._totals[_NI[name]] / n
                if how == "mean"
                else self._totals[_NI[name]].copy()
            )
            for name, how in METRICS.items()
        }
