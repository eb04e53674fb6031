"""Metrics of docs/design-spec.md section 8: per locality and national, every step, per episode.

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
from .state import WorldState

DETECTION_FLOOR = 0.005  # inflation below this found by an audit is not a detection

# Global metric -> how an episode summarises it: mean over steps, last value, or sum.
METRICS: dict[str, str] = {
    "true_welfare": "mean",
    "local_welfare": "mean",
    "measured_performance": "mean",
    "target_hit_rate": "mean",
    "true_hit_rate": "mean",
    "goodhart_gap": "mean",
    "target_margin": "mean",
    "target_level": "mean",
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

_NAT_ROW = {name: i for i, name in enumerate(NATIONAL_METRICS)}

# Metrics of a target cascade's frontline tier, only in worlds with one
# (``WorldConfig.cascade`` set): per locality, appended after the base metrics.
FRONTLINE_METRICS: dict[str, str] = {
    "frontline_targets": "mean",  # frontline targets per headline target (M), 0 without one
    # the share of planned delivery effort spent on frontline targets (the cascaded
    # domains' delivery and the target work)
    "measured_effort_share": "mean",
    "planned_measured_share": "mean",  # the share of the agencies' own plan on cascaded domains
}


class MetricSet:
    """The metrics of one kind of world, in the order of the stacked arrays.

    ``episode`` maps every metric to its episode summary ("mean", "last", "sum");
    ``locality`` names the rows of ``StepMetrics.locality_array`` and ``national``
    those of ``national_array``. A world's set is ``metric_set(config)``: the base
    metrics (``METRICS``) everywhere, and ``FRONTLINE_METRICS`` after them where a
    cascade is set. The base rows keep their places in every set.
    """

    def __init__(self, extra: dict[str, str]):
        self.episode: dict[str, str] = {**METRICS, **extra}
        self.locality: tuple[str, ...] = LOCALITY_METRICS + tuple(extra)
        self.national: tuple[str, ...] = NATIONAL_METRICS + tuple(extra)
        self.extra: tuple[str, ...] = tuple(extra)
        self.national_row = {name: i for i, name in enumerate(self.national)}
        self.locality_row = {name: i for i, name in enumerate(self.locality)}
        episode = self.episode
        self.last = np.array([episode[name] == "last" for name in self.national])
        self.mean = np.array([episode[name] == "mean" for name in self.national])
        self.order = np.array([self.national.index(name) for name in episode])
        rows = np.flatnonzero(self.last)
        contiguous = len(rows) and np.all(np.diff(rows) == 1)
        self.last_rows = slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows

    def __repr__(self) -> str:
        return f"MetricSet(extra={self.extra!r})"

    def __reduce__(self):  # the shared instances survive a pickle as themselves
        return (metric_set_named, ("frontline" if self.extra else "base",))


BASE_METRICS = MetricSet({})
CASCADE_METRICS = MetricSet(FRONTLINE_METRICS)


def metric_set(cfg: WorldConfig) -> MetricSet:
    """The metrics of worlds of ``cfg``: ``CASCADE_METRICS`` where a cascade is set (also at
    M = 1, the headline-only comparison), ``BASE_METRICS`` elsewhere."""
    return BASE_METRICS if cfg.cascade is None else CASCADE_METRICS


def metric_set_named(name: str) -> MetricSet:
    return {"base": BASE_METRICS, "frontline": CASCADE_METRICS}[name]


# Rows of the per-cell stack (MetricsKernel), each (B, L, K), in three groups; each
# group is summed over domains with one weight vector, in one product per group.
_CELLS = (
    # weight 1 on every domain
    "true",  # wbar * x (weighted when written)
    "local_welfare",  # w * x
    "audits",  # audited cells
    "detections",  # 1[inflation found > DETECTION_FLOOR]
    "zero",  # never written: the sanctions row of a step without audits
    # weight 1 on the measured domains (the basket)
    "measured",  # m
    "gap",  # m - x
    "margin",  # m - tau
    "level",  # tau
    "hit",  # 1[m >= tau]
    "true_hit",  # 1[x >= tau]
    "perverse",  # 1[m rose while x fell]
    "near",  # 1[tau <= m < tau + bunching_band]
    # weight 1 on the headline domains; summed again over the other domains
    "change",  # x - x at reset
)
_CELL_ROW = {name: i for i, name in enumerate(_CELLS)}  # name -> row of the stack
_EVERY = slice(_CELL_ROW["true"], _CELL_ROW["zero"] + 1)
# rows counted only on measured domains: measured, gap, margin, level, hit, true_hit,
# perverse, near
_MASKED = slice(_CELL_ROW["measured"], _CELL_ROW["near"] + 1)
# hit, true_hit, perverse, near: consecutive
_FLAGS = slice(_CELL_ROW["hit"], _CELL_ROW["near"] + 1)
_CHANGE = slice(_CELL_ROW["change"], _CELL_ROW["change"] + 1)
# The sums over domains: one per cell row, then the change over the other domains.
_SUMS = _CELLS + ("change_other",)
_SUM_ROW = {name: i for i, name in enumerate(_SUMS)}
# Per-locality rows: LOCALITY_METRICS, then two raw sums used for bunching.
_ROWS = LOCALITY_METRICS + ("near_sum", "hit_sum")
# row -> (sum row, divisor): "counted" = number of measured domains (at least 1),
# "domains" = K, "headline" / "other" = number of such domains (at least 1); rows not
# listed are computed otherwise.
_REDUCED = {
    "true_welfare": ("true", 1),
    "local_welfare": ("local_welfare", 1),
    "measured_performance": ("measured", "counted"),
    "target_hit_rate": ("hit", "counted"),
    "true_hit_rate": ("true_hit", "counted"),
    "goodhart_gap": ("gap", "counted"),
    "target_margin": ("margin", "counted"),
    "target_level": ("level", "counted"),
    "measured_change": ("change", "headline"),
    "unmeasured_change": ("change_other", "other"),
    "perverse_rate": ("perverse", "counted"),
    "audits": ("audits", "domains"),
    "detections": ("detections", "domains"),
    "sanctions": ("zero", 1),  # replaced by the sanctions of a step with audits
    "near_sum": ("near", 1),
    "hit_sum": ("hit", 1),
}
_LOC_ROW = {name: i for i, name in enumerate(_ROWS)}


class StepMetrics:
    """One step's metrics: ``locality`` name -> (B, L) and ``national`` name -> (B,).

    Read a metric by name: ``national[name]``, ``locality[name]``. The stacked
    arrays are for copying all metrics at once: row i of ``locality_array``
    (M_loc, B, L) is the metric ``LOCALITY_METRICS[i]`` and row i of
    ``national_array`` (M_nat, B) is ``NATIONAL_METRICS[i]``; a reader of the
    arrays names the rows with those tuples, never with numbers.

    Built either from dicts (``StepMetrics(locality, national)``) or, by the
    core, from the stacked arrays; the other form is derived on first use.
    ``names`` (a ``MetricSet``) names the rows: ``BASE_METRICS`` unless the world
    has a cascade (``World.metric_set``).
    """

    names: MetricSet = BASE_METRICS

    def __init__(
        self,
        locality: dict[str, np.ndarray] | None = None,
        national: dict[str, np.ndarray] | None = None,
        *,
        locality_array: np.ndarray | None = None,
        national_array: np.ndarray | None = None,
        names: MetricSet | None = None,
    ):
        if (locality is None) == (locality_array is None) or (national is None) == (
            national_array is None
        ):
            raise ValueError("give either the dicts or the arrays of each of locality, national")
        if names is not None:
            self.__dict__["names"] = names
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
        return dict(zip(self.names.locality, self.locality_array, strict=True))

    @cached_property
    def national(self) -> dict[str, np.ndarray]:
        return dict(zip(self.names.national, self.national_array, strict=True))

    @cached_property
    def locality_array(self) -> np.ndarray:  # (M_loc, B, L)
        return np.stack([self.locality[name] for name in self.names.locality])

    @cached_property
    def national_array(self) -> np.ndarray:  # (M_nat, B)
        return np.stack([self.national[name] for name in self.names.national])

    @classmethod
    def _fast(
        cls, locality_array: np.ndarray, national_array: np.ndarray, names: MetricSet | None = None
    ) -> StepMetrics:
        """``StepMetrics(locality_array=..., national_array=...)`` for the core's step.

        Skips the constructor's one check (that exactly one form of each of locality
        and national is given): the core always gives both arrays.
        """
        metrics = object.__new__(cls)
        metrics.__dict__.update(locality_array=locality_array, national_array=national_array)
        if names is not None:
            metrics.__dict__["names"] = names
        return metrics

    def __repr__(self) -> str:
        return f"StepMetrics(locality={self.locality!r}, national={self.national!r})"


class MetricsWork:
    """Work arrays of one batch size for MetricsKernel (reused step after step).

    What the core reads after ``MetricsKernel.compute``, by name, to share work
    with pay and rewards: ``cell[name]`` (B, L, K), the per-cell quantities of
    ``_CELLS`` (unmasked: ``hit`` = 1[m >= tau], ``measured`` = m, ``local_welfare``
    = w * x, ...); ``loc_column[name]`` (B, L, 1) and ``nat_column[name]`` (B, 1),
    this step's per-locality and national metrics. They hold until the next call.

    The rest is private: ``cells`` is the per-cell stack; ``products`` the
    groups of rows summed over domains with their weight vector (a rotating
    basket's rows are masked in place first); ``sums``, ``loc`` and ``nat`` hold
    the sums, the per-locality rows and the national rows, with views of the
    rows used one by one; ``divisors`` and ``national_divisors`` are broadcast
    to the shapes they divide.
    """

    def __init__(self, kernel: MetricsKernel, batch_size: int):
        batch, n_loc, k = batch_size, kernel._n_loc, kernel._k
        self.latent_partnership = kernel.cfg.latent_partnership
        shape = (len(_CELLS), batch, n_loc, k)
        self.cells = np.zeros(shape)
        # the per-cell quantities by name (unmasked), read by pay and rewards after compute
        self.cell = {name: self.cells[i] for name, i in _CELL_ROW.items()}
        self.counted_by_audits = self.cells[_CELL_ROW["audits"] : _CELL_ROW["detections"] + 1]
        self.audit_rows_zero = True  # whether counted_by_audits holds zeros
        self.masked = self.cells[_MASKED]
        self.divisors = np.array(np.broadcast_to(kernel._div, (len(_ROWS), batch, n_loc)))
        self.national_divisors = np.array(np.broadcast_to(kernel._nat_div, (len(_ROWS), batch)))
        self.flag_rows = self.cells[_FLAGS]  # hit, true_hit, perverse, near
        # hit, true_hit, perverse, near as booleans, then work
        flags = np.empty((5, batch, n_loc, k), dtype=bool)
        self.hit, self.true_hit, self.perverse, self.near, self.fell = flags
        self.flag_head = flags[:4]
        self.threshold = np.empty((batch, n_loc, k))  # tau + bunching_band
        self.threshold_of = None  # the targets it was computed from
        self.wbar = np.array(np.broadcast_to(kernel._wbar, (batch, n_loc, k)))  # national weights
        # sums over domains (cell rows), per-locality rows and national rows, with views of
        # the rows used one by one; the results are copied out of them
        self.sums = np.empty(len(_SUMS) * batch * n_loc)
        self.sums_by_row = self.sums.reshape(len(_SUMS), batch, n_loc)
        # the products: (cells of a group (rows * B * L, K), weights (K,), sums (rows * B * L,))
        per_row = batch * n_loc
        self.products = [
            (
                self.cells[rows].reshape(-1, k),
                weights,
                self.sums[per_row * out.start : per_row * out.stop],
            )
            for rows, weights, out in kernel._groups
        ]
        loc = self.loc = np.empty((len(_ROWS), batch, n_loc))
        self.loc_by_locality = loc.reshape(-1, n_loc)
        self.loc_head = loc[: len(LOCALITY_METRICS)]
        self.loc_shares = loc[_FIRST_SHARE_ROW : _JOINT_ROW + 1, ..., None]  # (4, B, L, 1)
        self.loc_joint = loc[_JOINT_ROW]
        self.loc_row = {name: loc[i] for name, i in _LOC_ROW.items()}
        self.loc_column = {name: loc[i][..., None] for name, i in _LOC_ROW.items()}  # (B, L, 1)
        nat = self.nat = np.empty((len(_ROWS), batch))
        self.nat_flat = nat.reshape(-1)
        self.nat_row = {name: nat[i] for name, i in _NAT_ROW.items()}
        self.nat_row.update(near_sum=nat[_LOC_ROW["near_sum"]], hit_sum=nat[_LOC_ROW["hit_sum"]])
        self.nat_column = {name: nat[i][:, None] for name, i in _NAT_ROW.items()}  # (B, 1)
        self.floor = np.empty((batch, n_loc))  # max(hit_sum, 1)
        self.national_floor = np.empty(batch)
        self.deviation = np.empty((batch, n_loc))


class MetricsKernel:
    """Computes one step's metrics for a config with few array operations.

    The per-cell quantities are written into one stack (rows ``_CELLS``) and
    summed over domains with each group's weights (one matrix-vector product
    per group, at most four); the per-locality rows ``_ROWS`` are picked from
    those sums in one ``take`` and divided in one operation; national values are
    sums over localities of the per-locality rows, in one more product. The
    stack's rows are not masked: pay and centre rewards mask ``hit`` and
    ``measured`` themselves.
    """

    def __init__(self, cfg: WorldConfig, fixed_mask: np.ndarray | None):
        """``fixed_mask`` (K,): the domains measured every step, or None (a rotating basket)."""
        self.cfg = cfg
        k, n_loc = cfg.n_domains, cfg.n_localities
        headline = cfg.headline_mask.astype(float)
        ones = np.ones(k)
        basket = ones if fixed_mask is None else fixed_mask.astype(float)  # rotating: masked
        # groups of rows summed with one weight vector (neighbours with the same weights
        # in one product): (cell rows, weights, sum rows)
        groups = [(_EVERY, ones), (_MASKED, basket), (_CHANGE, headline)]
        merged = [groups[0]]
        for rows, weights in groups[1:]:
            last_rows, last_weights = merged[-1]
            if np.array_equal(weights, last_weights):
                merged[-1] = (slice(last_rows.start, rows.stop), weights)
            else:
                merged.append((rows, weights))
        self._groups = [(rows, w, rows) for rows, w in merged]
        other = _SUM_ROW["change_other"]  # the change row again, over the other domains
        self._groups.append((_CHANGE, 1.0 - headline, slice(other, other + 1)))
        self._wbar = cfg.priorities
        self._rotating = fixed_mask is None
        fixed = {1: 1.0, "domains": float(k), "counted": 1.0}
        fixed["headline"] = max(headline.sum(), 1.0)
        fixed["other"] = max((1.0 - headline).sum(), 1.0)
        if fixed_mask is not None:
            fixed["counted"] = max(fixed_mask.sum(), 1.0)
        pick, div, by_count = [], [], []
        for row in _ROWS:
            cell, d = _REDUCED.get(row, ("local_welfare", 1))  # others: overwritten
            pick.append(_SUM_ROW[cell])
            div.append(fixed[d])
            by_count.append(d == "counted")
        self._pick = np.array(pick)
        self._div = np.array(div)[:, None, None]  # (rows, 1, 1)
        self._by_count = np.array(by_count)[:, None, None]
        # national = sum over localities / divisor (L for means, 1 for sums and raw sums)
        nat_div = [1.0 if m in _SUMMED or m not in _NAT_ROW else float(n_loc) for m in _ROWS]
        self._nat_div = np.array(nat_div)[:, None]
        self._ones_l = np.ones(n_loc)
        self._centring = np.eye(n_loc) - 1.0 / n_loc  # x @ centring = x - mean(x)
        self._mean_l = np.full(n_loc, 1.0 / n_loc)
        self._near_offset = _const(cfg.bunching_band)
        self._audit_cost = _const(cfg.audit_cost / n_loc)
        self._n_loc = n_loc
        self._k = k

    def new_work(self, batch_size: int) -> MetricsWork:
        return MetricsWork(self, batch_size)

    def divisors(self, counted: np.ndarray) -> np.ndarray:
        """Per-row divisors (rows, B, 1) of a rotating basket, given the counts (B, 1)."""
        return np.where(self._by_count, counted[None], self._div)

    def compute(
        self,
        work: MetricsWork,  # from new_work; the core reads its rows after
        divisors: np.ndarray | None,  # from divisors(), or None: work's (a fixed basket)
        x: np.ndarray,  # (B, L, K) true outcome after the step
        m: np.ndarray,  # (B, L, K) measure after the step
        before: WorldState,  # the state before the step
        mask: np.ndarray | None,  # (B, 1, K) 1.0 where measured (needed with a rotating basket)
        shares: np.ndarray,  # (4, B, L, A): game, slack, partner share, partner share again
        audited: np.ndarray | None,  # (B, L, K) or None: no audits this step
        detected: np.ndarray | None,  # (B, L, K) inflation found (with audited)
        sanction: np.ndarray | None,  # (B, L, A) or None
        frontline: np.ndarray | None = None,  # (3, B, L): FRONTLINE_METRICS (a cascade)
    ) -> StepMetrics:
        """One step's metrics, as fresh arrays (work's rows keep them until the next call).

        With ``frontline`` (a cascade's world) its rows follow the base rows, per
        locality and as national means (``CASCADE_METRICS``)."""
        self._fill_cells(work, x, m, before, audited, detected)
        if self._rotating:
            work.masked *= mask[None]
        for cells, weights, sums in work.products:
            cells.dot(weights, sums)
        loc = work.sums_by_row.take(self._pick, 0, work.loc, "clip")  # indices are valid
        loc /= work.divisors if divisors is None else divisors
        self._locality_rows(work, shares, sanction)
        self._national(work)
        if frontline is None:
            return StepMetrics._fast(work.loc_head.copy(), work.nat.copy())
        national = np.concatenate([work.nat, frontline.mean(axis=-1)])
        locality = np.concatenate([work.loc_head, frontline])
        return StepMetrics._fast(locality, national, CASCADE_METRICS)

    def _fill_cells(self, work: MetricsWork, x, m, before, audited, detected) -> None:
        """Write the per-cell stack (rows _CELLS), unweighted.

        The indicators hit, perverse and near are computed as booleans and cast to
        the stack's consecutive rows in one copy.
        """
        row = work.cell
        np.multiply(x, work.wbar, row["true"])
        np.multiply(before.priorities, x, row["local_welfare"])
        np.subtract(x, before.initial, row["change"])
        row["measured"][...] = m
        np.subtract(m, x, row["gap"])
        np.subtract(m, before.targets, row["margin"])
        row["level"][...] = before.targets
        hit, perverse, near = work.hit, work.perverse, work.near
        np.greater_equal(m, before.targets, hit)
        np.greater_equal(x, before.targets, work.true_hit)
        np.greater(m, before.measured, perverse)
        np.logical_and(perverse, np.less(x, before.true, work.fell), perverse)
        if work.threshold_of is not before.targets:  # targets change only at reviews
            np.add(before.targets, self._near_offset, work.threshold)
            work.threshold_of = before.targets
        np.less(m, work.threshold, near)
        np.logical_and(near, hit, near)
        work.flag_rows[...] = work.flag_head
        if audited is None:
            if not work.audit_rows_zero:
                work.counted_by_audits.fill(0.0)
                work.audit_rows_zero = True
        else:
            row["audits"][...] = audited
            np.greater(detected * audited, DETECTION_FLOOR, row["detections"])
            work.audit_rows_zero = False

    @staticmethod
    def _locality_rows(work: MetricsWork, shares: np.ndarray, sanction: np.ndarray | None) -> None:
        """The per-locality rows not picked from the sums: shares, neglect, bunching, sanctions."""
        # gaming_share, slack_share, partnership (mean shares over agencies), joint_partnership
        # (the geometric mean of the agencies' partner shares): consecutive rows
        a_, row = shares.shape[3], work.loc_row
        if a_ == 1:  # the fourth share row repeats the partner share: joint_partnership
            work.loc_shares[...] = shares
        else:
            np.divide(shares.sum(axis=-1), a_, work.loc_shares[..., 0])
            latent = work.latent_partnership  # J: see WorldConfig.joint_partnership
            np.multiply.reduce(shares[2] + latent, axis=-1, out=work.loc_joint)
            np.power(work.loc_joint, 1.0 / a_, work.loc_joint)
            work.loc_joint -= latent
        np.subtract(row["measured_change"], row["unmeasured_change"], row["neglect"])
        floor = np.maximum(row["hit_sum"], _ONE, out=work.floor)
        np.divide(row["near_sum"], floor, row["bunching"])
        if sanction is None:  # no audits: the row already holds the sum of the zero cells
            return
        if sanction.shape[2] == 1:
            row["sanctions"][...] = sanction[..., 0]
        else:
            np.add.reduce(sanction, axis=-1, out=row["sanctions"])

    def _national(self, work: MetricsWork) -> None:
        """The national rows (M_nat, B) from the per-locality rows (rows, B, L).

        Sums over localities, in NATIONAL_METRICS order: the two raw sums sit in the
        places of inequality and audit_cost until those are computed.
        """
        row = work.nat_row
        work.loc_by_locality.dot(self._ones_l, work.nat_flat)
        work.nat /= work.national_divisors
        floor = np.maximum(row["hit_sum"], _ONE, out=work.national_floor)
        np.divide(row["near_sum"], floor, row["bunching"])
        # inequality: the standard deviation of local welfare over localities
        dev = work.loc_row["local_welfare"].dot(self._centring, work.deviation)
        dev *= dev
        inequality = dev.dot(self._mean_l, row["inequality"])
        np.sqrt(inequality, inequality)
        np.multiply(row["audits"], self._audit_cost, row["audit_cost"])


def _const(value: float) -> np.ndarray:
    """A read-only 0-d float64 array: cheaper in a ufunc call than a Python float."""
    out = np.array(float(value))
    out.flags.writeable = False
    return out


_ZERO, _ONE = _const(0.0), _const(1.0)
# the per-locality share rows, consecutive: gaming_share, slack_share, partnership, then
# joint_partnership
_FIRST_SHARE_ROW = _LOC_ROW["gaming_share"]
_JOINT_ROW = _FIRST_SHARE_ROW + 3


class EpisodeMetrics:
    """Each environment's episode so far, summarised from its national metrics.

    The one episode accumulator (the PettingZoo env, rollouts and the vector envs):
    ``add`` one step's metrics of all B environments, ``clear(done)`` the
    environments whose episode ended (environments may end at different steps, as
    with ``WorldState.where``'s auto-reset), and read a summary per environment:
    the mean over its steps, the last value or the sum, as ``names.episode`` says
    (``names``: the world's ``MetricSet``, ``World.metric_set``).
    """

    def __init__(self, batch_size: int, names: MetricSet = BASE_METRICS):
        self.batch_size = batch_size
        self.names = names
        self.totals = np.zeros((len(names.national), batch_size))  # (M_nat, B)
        self.steps = np.zeros(batch_size, dtype=np.int64)  # (B,) steps of each episode

    def add(self, metrics: StepMetrics) -> None:
        """Add one step's metrics of every environment."""
        national = metrics.national_array  # (M_nat, B)
        self.totals += national
        last = self.names.last_rows
        self.totals[last] = national[last]
        self.steps += 1

    def clear(self, done: np.ndarray | None = None) -> None:
        """Forget the episodes where ``done`` (B,) is true (all of them if None)."""
        if done is None:
            self.totals.fill(0.0)
            self.steps.fill(0)
        else:
            self.totals[:, done] = 0.0
            self.steps[done] = 0

    def summary(self) -> dict[str, np.ndarray]:
        """Metric name -> (B,): each environment's summary, in ``names.episode`` order."""
        names = self.names
        means = self.totals / np.maximum(self.steps, 1)
        values = np.where(names.mean[:, None], means, self.totals)
        return {name: values[names.national_row[name]] for name in names.episode}

    def summaries(self, envs: np.ndarray) -> list[dict[str, float]]:
        """The summaries of the environments ``envs`` (indices), one dict each."""
        totals = self.totals[:, envs]  # (M, E)
        means = totals / np.maximum(self.steps[envs], 1)
        names = self.names
        values = np.where(names.mean[:, None], means, totals)[names.order].T.tolist()  # (E, M)
        return [dict(zip(names.episode, row)) for row in values]
