"""Convergence flags of a comparison: drift of a learning curve over its last quarter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from target_gaming.training.compare.convergence import (
    METRICS,
    TOLERANCE,
    convergence_table,
    design_drifts,
    drift,
    unconverged,
)


def _curve(slope: float, rows: int = 40, steps: int = 1_000_000, noise: float = 0.0, seed=0):
    rng = np.random.default_rng(seed)
    timesteps = np.linspace(steps / rows, steps, rows)
    return [
        {"timesteps": float(t)}
        | {m: 0.5 + slope * t / steps + noise * rng.standard_normal() for m in METRICS}
        for t in timesteps
    ]


def test_the_drift_of_a_straight_curve_is_its_change_over_the_last_quarter():
    assert drift(_curve(0.4), "gaming_share") == pytest.approx(0.1)
    assert drift(_curve(-0.2), "true_welfare") == pytest.approx(-0.05)
    assert drift(_curve(0.0), "neglect") == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(drift(_curve(0.4, rows=6), "neglect"))  # one row in the last quarter
    assert math.isnan(drift([], "neglect"))


def test_a_design_is_flagged_while_its_curves_still_move():
    flat = [_curve(0.0, noise=0.01, seed=s) for s in range(5)]
    rising = [_curve(0.3, noise=0.01, seed=s) for s in range(5)]
    assert unconverged(design_drifts(flat)) == []
    assert set(unconverged(design_drifts(rising))) == set(METRICS)
    lines, flagged = convergence_table({"targets": flat, "linear": rising, "short": [[]]})
    assert flagged == ["linear"]
    table = "\n".join(lines)
    assert "| `targets` |" in table and "| converged |" in table
    assert "**not converged**: true_welfare" in table
    assert "| `short` | n/a" in table and "unknown" in table
    assert TOLERANCE < 0.3 * 0.25
