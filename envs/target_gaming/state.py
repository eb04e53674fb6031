"""The world's state: arrays batched over B environments.

Shapes: B environments, L localities, K domains, R approaches, A agencies per
locality (1 unitary, K per_domain).

A state's arrays are never written in place: ``World.step`` returns a new state
with new arrays for what changed, and arrays that did not change are shared
between states (some, like the zeros left by a review without audits, are
read-only). The core and the observer keep per-episode work keyed by the
arrays' identity, so code that edits a state must make a new one with
``replace(...)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WorldState:
    t: np.ndarray  # (B,) steps taken this episode
    true: np.ndarray  # (B, L, K) true outcome x
    initial: np.ndarray  # (B, L, K) x at reset
    baseline: np.ndarray  # (B, L, K) structural baseline b
    effectiveness: np.ndarray  # (B, L, K, R) local effectiveness E of each approach
    capacity: np.ndarray  # (B, L) capacity c
    priorities: np.ndarray  # (B, L, K) local priorities w (rows sum to 1)
    motivation: np.ndarray  # (B, L) intrinsic motivation psi
    inflation: np.ndarray  # (B, L, K) reporting inflation u in the measure
    targets: np.ndarray  # (B, L, K) targets tau
    measured: np.ndarray  # (B, L, K) last published measure m (all domains)
    basket: np.ndarray  # (B, K) 1.0 where the domain is measured this period
    revealed: np.ndarray  # (B, K) what localities know is measured
    audited: np.ndarray  # (B, L, K) cells audited at the last review
    audited_true: np.ndarray  # (B, L, K) x found by the last review's audits (0 elsewhere)
    detected: np.ndarray  # (B, L, K) inflation found by the last review's audits
    sanction: np.ndarray  # (B, L, A) sanction at the last review
    partnership: np.ndarray  # (B, L, A) partner share of each agency's last action

    @property
    def batch_size(self) -> int:
        return self.t.shape[0]

    def replace(self, **changes: np.ndarray) -> WorldState:
        return dataclasses.replace(self, **changes)

    def _evolve(self, changes: dict[str, np.ndarray]) -> WorldState:
        """Like ``replace`` for known field names, without dataclass overhead (the hot path)."""
        new = object.__new__(WorldState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def where(self, mask: np.ndarray, other: WorldState) -> WorldState:
        """Take ``other``'s environments where ``mask`` (B,) is true: auto-reset."""
        merged = {}
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            m = mask.reshape((-1,) + (1,) * (mine.ndim - 1))
            merged[f.name] = np.where(m, theirs, mine)
        return WorldState(**merged)

    def index(self, b: int) -> WorldState:
        """Environment b alone, as a batch of one."""
        return WorldState(
            **{f.name: getattr(self, f.name)[b : b + 1] for f in dataclasses.fields(self)}
        )
