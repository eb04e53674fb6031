"""The world's state: arrays batched over B environments.

Shapes: B environments, L localities, K domains, R approaches, A agencies per
locality (1 unitary, K per_domain).

A state's arrays are read-only, and never written in place: ``World.step``
returns a new state with new arrays for what changed, and arrays that did not
change are shared between states. The core and the observer keep per-episode
work keyed by the arrays' identity, so an in-place edit would silently serve
stale values: it raises instead (``ValueError: assignment destination is
read-only``). Code that changes a state makes a new one with ``replace(...)``.
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
    prescription: np.ndarray  # (B, K, R) the approach prescribed per domain, times its strength
    off_method: np.ndarray  # (B, L, K) off-method effort share recorded this period

    def __post_init__(self) -> None:
        """Hold a read-only copy of every array given (the caller keeps its own)."""
        for f in _FIELDS:
            copy = np.array(getattr(self, f))
            copy.flags.writeable = False
            object.__setattr__(self, f, copy)

    @property
    def batch_size(self) -> int:
        return self.t.shape[0]

    def replace(self, **changes: np.ndarray) -> WorldState:
        """A new state with some fields changed (given arrays are copied, read-only)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def _own(cls, fields: dict[str, np.ndarray]) -> WorldState:
        """A state that takes ``fields`` (every field) as they are, made read-only.

        Skips the constructor's copies: only for arrays just made by the caller,
        which no one else holds (the core's reset, ``where``, ``index``).
        """
        for array in fields.values():
            array.setflags(write=False)
        new = object.__new__(cls)
        new.__dict__.update(fields)
        return new

    def _evolve(self, changes: dict[str, np.ndarray]) -> WorldState:
        """Like ``replace`` for known field names, for the core's step (the hot path).

        Skips the constructor (its per-field setattr and copies): the changed arrays
        are new arrays just made by the step, which no one else holds; they are made
        read-only here.
        """
        for array in changes.values():
            array.setflags(write=False)
        new = object.__new__(WorldState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def where(self, mask: np.ndarray, other: WorldState) -> WorldState:
        """Take ``other``'s environments where ``mask`` (B,) is true: auto-reset."""
        merged = {}
        for f in _FIELDS:
            mine, theirs = getattr(self, f), getattr(other, f)
            m = mask.reshape((-1,) + (1,) * (mine.ndim - 1))
            merged[f] = np.where(m, theirs, mine)
        return WorldState._own(merged)

    def index(self, b: int) -> WorldState:
        """Environment b alone, as a batch of one."""
        return WorldState._own({f: getattr(self, f)[b : b + 1].copy() for f in _FIELDS})


_FIELDS = tuple(f.name for f in dataclasses.fields(WorldState))
