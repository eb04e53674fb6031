"""Statistics for comparing designs over seeds: IQM, bootstrap intervals, improvement odds.

The unit of replication is a seed (one training run and its evaluation);
per-seed values are means over evaluation episodes. Following the practice of
reporting robust aggregates over few runs, each design's value is the
interquartile mean (IQM, a 25%-trimmed mean) over seeds, with a percentile
bootstrap 95% interval (``scipy.stats.bootstrap``), and designs are compared
by the probability that a random seed of one beats a random seed of another.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle half (25% trimmed at each end)."""
    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_interval(values, seed: int = 0) -> tuple[float, float, float]:
    """IQM and its percentile-bootstrap 95% interval (a point when fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    point = float(iqm(values))
    if len(values) < 2 or np.allclose(values, values[0]):
        return point, point, point
    result = stats.bootstrap(
        (values,),
        iqm,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def probability_of_improvement(x, y, higher_is_better: bool = True) -> float:
    """P(a random seed of x beats a random seed of y); ties count one half."""
    x, y = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    if not higher_is_better:
        x, y = -x, -y
    return float(np.mean((x > y) + 0.5 * (x == y)))


def probability_interval(x, y, higher_is_better: bool = True, seed: int = 0):
    """The probability of improvement with a percentile-bootstrap 95% interval."""
    point = probability_of_improvement(x, y, higher_is_better)
    if len(x) < 2 or len(y) < 2:
        return point, point, point

    def statistic(a, b, axis=-1):
        a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
        if not higher_is_better:
            a, b = -a, -b
        diff = a[..., :, None] - b[..., None, :]
        return np.mean((diff > 0) + 0.5 * (diff == 0), axis=(-2, -1))

    result = stats.bootstrap(
        (np.asarray(x, float), np.asarray(y, float)),
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return point, float(np.nan_to_num(ci.low, nan=point)), float(np.nan_to_num(ci.high, nan=point))


def intervals_overlap(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """Whether two (point, low, high) intervals overlap."""
    return not (a[2] < b[1] or b[2] < a[1])
