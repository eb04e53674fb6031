"""Per-environment episode bookkeeping shared by the vector envs (no SB3 here).

``SlotMetrics`` is a cheap read-only mapping of one slot's locality metrics for
this step, put in the slot's ``info``. Episodes are summarised by the world's one
accumulator, ``target_gaming.envs.target_gaming.EpisodeMetrics``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from target_gaming.envs.target_gaming.metrics import LOCALITY_METRICS

_LOCALITY_INDEX = {name: i for i, name in enumerate(LOCALITY_METRICS)}


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
