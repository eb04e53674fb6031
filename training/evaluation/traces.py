"""Step-level traces of an evaluation, for the comparison's figures.

A ``TraceRecorder`` is passed as ``on_step`` to
``target_gaming.training.evaluation.rollout.rollout``: it keeps the mean true
and measured national outcome at each step, and a histogram of the distance of
each counted measure from its target (the bunching picture).
"""

from __future__ import annotations

import numpy as np

from target_gaming.envs.target_gaming import StepResult, WorldState

# Bins of (measure - target) for counted cells; values outside are clipped into the end bins.
DISTANCE_EDGES = np.linspace(-0.3, 0.3, 61)


class TraceRecorder:
    def __init__(self) -> None:
        self.true_welfare: list[float] = []
        self.measured: list[float] = []
        self.distance_counts = np.zeros(len(DISTANCE_EDGES) - 1)

    def __call__(self, before: WorldState, result: StepResult) -> None:
        national = result.metrics.national
        self.true_welfare.append(float(national["true_welfare"].mean()))
        self.measured.append(float(national["measured_performance"].mean()))
        counted = np.broadcast_to(before.basket[:, None, :], before.targets.shape) > 0
        distance = (result.state.measured - before.targets)[counted]
        clipped = np.clip(distance, DISTANCE_EDGES[0], DISTANCE_EDGES[-1] - 1e-9)
        self.distance_counts += np.histogram(clipped, DISTANCE_EDGES)[0]

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {
            f"{prefix}true_welfare": np.array(self.true_welfare),
            f"{prefix}measured_performance": np.array(self.measured),
            f"{prefix}distance_counts": self.distance_counts.copy(),
        }
