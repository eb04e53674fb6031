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
    "joint_partnership": "mean",
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

_NI = {name: i for i, name in enumerate(NATIONAL_METRICS)}

# Rows of the per-cell stack (MetricsKernel), each summed over domains; then the sums
# over domains of x weighted by wbar, and of the change weighted by headline / other domains
# (_WEIGHTED), come from small products of their own.
_CELLS = ("local_welfare", "measured", "hit", "gap", "perverse", "near", "audits", "detections")
_CI = {name: i for i, name in enumerate(_CELLS)}
_WEIGHTED = ("x:wbar", "change:headline", "change:other")
# Per-locality rows: LOCALITY_METRICS, then two raw sums used for bunching.
_ROWS = LOCALITY_METRICS + ("near_sum", "hit_sum")
# row -> (sum over domains, divisor): "counted" = number of measured domains (at least 1),
# "domains" = K; rows not listed are computed otherwise.
_REDUCED = {
    "true_welfare": ("x:wbar", 1),
    "local_welfare": ("local_welfare", 1),
    "measured_performance": ("measured", "counted"),
    "target_hit_rate": ("hit", "counted"),
    "goodhart_gap": ("gap", "counted"),
    "measured_change": ("change:headline", "headline"),
    "unmeasured_change": ("change:other", "other"),
    "perverse_rate": ("perverse", "counted"),
    "audits": ("audits", "domains"),
    "detections": ("detections", "domains"),
    "near_sum": ("near", 1),
    "hit_sum": ("hit", 1),
}
_SOURCES = _CELLS + _WEIGHTED  # rows of the array the per-locality rows are picked from
_RI = {name: i for i, name in enumerate(_ROWS)}


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

    The per-cell quantities are written into one stack (rows ``_CELLS``) and
    summed over domains in one matrix-vector product; with the weighted sums
    ``_WEIGHTED`` they are picked into the per-locality rows ``_ROWS`` in one
    indexing and divided in one operation; national values are sums over
    localities of the per-locality rows, in one more product.
    """

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        k, n_loc = cfg.n_domains, cfg.n_localities
        headline = cfg.headline_mask.astype(float)
        self._ones_k = np.ones(k)
        self._wbar = cfg.priorities
        self._change_w = np.stack([headline, 1.0 - headline], axis=1)  # (K, 2)
        fixed = {1: 1.0, "domains": float(k), "counted": 1.0}
        fixed["headline"] = max(headline.sum(), 1.0)
        fixed["other"] = max((1.0 - headline).sum(), 1.0)
        pick, div, by_count = [], [], []
        for row in _ROWS:
            source, d = _REDUCED.get(row, ("local_welfare", 1))  # others: overwritten
            pick.append(_SOURCES.index(source))
            div.append(fixed[d])
            by_count.append(d == "counted")
        self._pick = np.array(pick)
        self._div = np.array(div)[:, None, None]  # (rows, 1, 1)
        self._by_count = np.array(by_count)[:, None, None]
        # national = sum over localities / divisor (L for means, 1 for sums and raw sums)
        nat_div = [1.0 if m in _SUMMED or m not in _NI else float(n_loc) for m in _ROWS]
        self._nat_div = np.array(nat_div)[:, None]
        self._ones_l = np.ones(n_loc)
        self._n_loc = n_loc
        self._k = k

    def new_cells(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Uninitialised work arrays: the per-cell stack (len(_CELLS), B, L, K) and the
        sums over domains (len(_SOURCES), B, L)."""
        q, b_, n_loc = len(_CELLS), batch_size, self._n_loc
        return np.empty((q, b_, n_loc, self._k)), np.empty((len(_SOURCES), b_, n_loc))

    def divisors(self, counted: np.ndarray | None) -> np.ndarray:
        """Per-row divisors (rows, B or 1, 1), given the measured-domain counts (B, 1)."""
        if counted is None:
            return self._div
        return np.where(self._by_count, counted[None], self._div)

    def compute(
        self,
        cells: np.ndarray,  # from new_cells; rows "hit" (1[m >= tau] * mask), "measured"
        # (m * mask) written by the caller
        reduced: np.ndarray,  # from new_cells: work array
        divisors: np.ndarray,  # from divisors()
        x: np.ndarray,  # (B, L, K) true outcome after the step
        m: np.ndarray,  # (B, L, K) measure after the step
        x_before: np.ndarray,
        m_before: np.ndarray,
        initial: np.ndarray,
        priorities: np.ndarray,  # (B, L, K)
        mask: np.ndarray,  # (B, 1, K)
        tau: np.ndarray,  # (B, L, K) targets in force this step
        shares: np.ndarray,  # (B, L, A, 3): game share, slack share, partner share
        audited: np.ndarray | None,  # (B, L, K) or None: no audits this step
        detected: np.ndarray | None,  # (B, L, K) inflation found (with audited)
        sanction: np.ndarray | None,  # (B, L, A) or None
    ) -> StepMetrics:
        cfg, b_, n_loc, k = self.cfg, x.shape[0], self._n_loc, self._k
        ci, ri = _CI, _RI
        # ---- per-cell stack
        np.multiply(priorities, x, out=cells[ci["local_welfare"]])
        gap = cells[ci["gap"]]
        np.subtract(m, x, out=gap)
        gap *= mask
        np.multiply((m > m_before) & (x < x_before), mask, out=cells[ci["perverse"]])
        np.multiply(cells[ci["hit"]], m < tau + cfg.bunching_band, out=cells[ci["near"]])
        if audited is None:
            cells[ci["audits"] :] = 0.0
        else:
            cells[ci["audits"]] = audited
            np.greater(
                detected * audited, DETECTION_FLOOR, out=cells[ci["detections"]], casting="unsafe"
            )
        q = len(_CELLS)
        np.dot(cells.reshape(-1, k), self._ones_k, out=reduced[:q].reshape(-1))
        np.dot(x.reshape(-1, k), self._wbar, out=reduced[q].reshape(-1))
        change = np.dot((x - initial).reshape(-1, k), self._change_w)  # (B*L, 2)
        reduced[q + 1 :] = change.T.reshape(2, b_, n_loc)
        # ---- per-locality rows
        loc = reduced[self._pick]  # (rows, B, L)
        loc /= divisors
        # gaming_share, slack_share, partnership (mean shares over agencies), joint_partnership
        # (the weakest agency's partner share): consecutive rows
        g0 = ri["gaming_share"]
        a_ = shares.shape[2]
        if a_ == 1:
            loc[g0 : g0 + 3] = shares[:, :, 0].transpose(2, 0, 1)
            loc[g0 + 3] = loc[g0 + 2]
        else:
            np.divide(shares.sum(axis=2).transpose(2, 0, 1), a_, out=loc[g0 : g0 + 3])
            loc[g0 + 3] = shares[..., 2].min(axis=-1)
        np.subtract(
            loc[ri["measured_change"]], loc[ri["unmeasured_change"]], out=loc[ri["neglect"]]
        )
        np.divide(loc[ri["near_sum"]], np.maximum(loc[ri["hit_sum"]], 1.0), out=loc[ri["bunching"]])
        if sanction is None:
            loc[ri["sanctions"]] = 0.0
        elif sanction.shape[2] == 1:
            loc[ri["sanctions"]] = sanction[..., 0]
        else:
            loc[ri["sanctions"]] = sanction.sum(axis=-1)
        # ---- national: sums over localities (rows in NATIONAL_METRICS order, the two raw
        # sums in the places of inequality and audit_cost until those are computed)
        nat = np.dot(loc.reshape(-1, n_loc), self._ones_l).reshape(len(_ROWS), b_)
        nat /= self._nat_div
        np.divide(
            nat[ri["near_sum"]], np.maximum(nat[ri["hit_sum"]], 1.0), out=nat[_NI["bunching"]]
        )
        dev = loc[ri["local_welfare"]] - nat[_NI["local_welfare"]][:, None]
        dev *= dev
        np.sqrt(np.dot(dev, self._ones_l) / n_loc, out=nat[_NI["inequality"]])
        np.multiply(nat[_NI["audits"]], cfg.audit_cost / n_loc, out=nat[_NI["audit_cost"]])
        return StepMetrics(locality_array=loc[: len(LOCALITY_METRICS)], national_array=nat)


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
            name: (self._totals[_NI[name]] / n if how == "mean" else self._totals[_NI[name]].copy())
            for name, how in METRICS.items()
        }
