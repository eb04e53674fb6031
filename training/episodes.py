"""Per-environment episode bookkeeping shared by the vector envs (no SB3 here).

``NationalEpisodes`` accumulates each environment's national metrics over its
own episode, so environments may end episodes at different steps (the core's
``WorldState.where`` auto-reset). ``SlotMetrics`` is a cheap read-only mapping
of one slot's locality metrics for this step, put in the slot's ``info``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from target_gaming.envs.target_gaming.metrics import LOCALITY_METRICS, METRICS, NATIONAL_METRICS

_LOCALITY_INDEX = {name: i for i, name in enumerate(LOCALITY_METRICS)}
_LAST = np.array([METRICS[name] == "last" for name in NATIONAL_METRICS])
_MEAN = np.array([METRICS[name] == "mean" for name in NATIONAL_METRICS])
_ORDER = np.array([NATIONAL_METRICS.index(name) for name in METRICS])  # METRICS order


class NationalEpisodes:
    """Each environment's episode summary so far: means over steps, last values, sums."""

    def __init__(self, batch_size: int):
        self.totals = np.zeros((len(NATIONAL_METRICS), batch_size))  # (M, B)
        self.steps = np.zeros(batch_size, dtype=np.int64)  # (B,)

    def add(self, national: np.ndarray) -> None:
        """One step's national metrics (M, B) in NATIONAL_METRICS order."""
        self.totals += national
        self.totals[_LAST] = national[_LAST]
        self.steps += 1

    def clear(self, done: np.ndarray) -> None:
        """Forget the episodes of the environments where ``done`` (B,) is true."""
        self.totals[:, done] = 0.0
        self.steps[done] = 0

    def summaries(self, envs: np.ndarray) -> list[dict[str, float]]:
        """The summary of each environment in ``envs`` as a dict in METRICS order."""
        totals = self.totals[:, envs]  # (M, E)
        means = totals / np.maximum(self.steps[envs], 1)
        values = np.where(_MEAN[:, None], means, totals)[_ORDER].T.tolist()  # (E, M)
        return [dict(zip(METRICS, row)) for row in values]


class SlotMetrics(Mapping):
    """One slot's locality metrics this step: name -> float, read from a shared table."""

    __slots__ = ("_table", "_row")

    def __init__(self, table: np.ndarray, row: int):
        self._table = table  # (rows, M_loc), never written after the step
        self._row = row

    def __getitem__(self, name: str) -> float:
        return float(self._table[self._row, _LOCALITY_INDEX[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(LOCALITY_METRICS)

    def __len__(self) -> int:
        return len(LOCALITY_METRICS)

    def __repr__(self) -> str:
        return f"SlotMetrics({dict(self)!r})"
