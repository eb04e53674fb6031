"""The comparison's figures (PNG, matplotlib without a display), one of each per scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..evaluation.tables import MAIN_METRICS
from ..evaluation.traces import DISTANCE_EDGES
from ..io import write_png
from . import convergence
from .report import _values
from .stats import iqm_interval


def _save(fig: Figure, path: Path, scenario: str) -> str:
    FigureCanvasAgg(fig)
    fig.suptitle(f"scenario {scenario}", fontsize=10)
    fig.tight_layout()
    write_png(path, fig, dpi=100)
    return path.name


def interval_plots(root: Path, summary, designs, agents, scenario: str, suffix: str = "") -> str:
    """Per metric: each design's IQM and 95% interval, learned agents beside baselines
    (``summary``: one scenario's rows)."""
    cols = 5
    rows = int(np.ceil(len(MAIN_METRICS) / cols))
    fig = Figure(figsize=(3.2 * cols, 0.45 * len(designs) * rows + 1.5 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    y = np.arange(len(designs))
    offsets = np.linspace(-0.25, 0.25, len(agents))
    for ax, metric in zip(axes, MAIN_METRICS):
        for agent, dy in zip(agents, offsets):
            stats = [iqm_interval(_values(summary, d, metric, agent)) for d in designs]
            point = np.array([s[0] for s in stats])
            err = np.array([[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]])
            ax.errorbar(point, y + dy, xerr=err, fmt="o", ms=3, capsize=2, label=agent)
        ax.set_yticks(y, designs, fontsize=7)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes[len(MAIN_METRICS) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6)
    return _save(fig, root / f"intervals{suffix}.png", scenario)


def trajectories(
    root: Path, traces: dict[str, list[dict]], designs, scenario: str, suffix: str = ""
) -> str:
    """Measured vs true national outcome per step, learned agents, mean over seeds
    (``traces``: design -> one scenario's traces, one dict per seed)."""
    fig = Figure(figsize=(4 * min(len(designs), 4), 3 * int(np.ceil(len(designs) / 4))))
    axes = fig.subplots(int(np.ceil(len(designs) / 4)), min(len(designs), 4), squeeze=False)
    for ax, design in zip(axes.ravel(), designs):
        runs = traces.get(design, {})
        true = [t["learned/fresh/true_welfare"] for t in runs]
        meas = [t["learned/fresh/measured_performance"] for t in runs]
        if true:
            steps = np.arange(1, len(true[0]) + 1)
            ax.plot(steps, np.mean(true, axis=0), label="true welfare", color="tab:green")
            ax.plot(steps, np.mean(meas, axis=0), label="measured", color="tab:red")
        ax.set_title(design, fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xlabel("step", fontsize=7)
    axes.ravel()[0].legend(fontsize=7)
    for ax in axes.ravel()[len(designs) :]:
        ax.set_visible(False)
    return _save(fig, root / f"trajectories{suffix}.png", scenario)


def scatter(root: Path, episodes: list[dict], designs, scenario: str, suffix: str = "") -> str:
    """Measured performance vs true welfare, one point per evaluation episode (learned;
    ``episodes``: one scenario's)."""
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for design in designs:
        rows = [
            r
            for r in episodes
            if r["design"] == design and r["agent"] == "learned" and r["variant"] == "fresh"
        ]
        ax.scatter(
            [float(r["true_welfare"]) for r in rows],
            [float(r["measured_performance"]) for r in rows],
            s=6,
            alpha=0.6,
            label=design,
        )
    lims = [0.3, 1.0]
    ax.plot(lims, lims, color="grey", lw=0.8, ls="--", label="measure = truth")
    ax.set_xlabel("true welfare")
    ax.set_ylabel("measured performance")
    ax.legend(fontsize=7)
    return _save(fig, root / f"scatter{suffix}.png", scenario)


def bunching(
    root: Path, traces: dict[str, list[dict]], designs, scenario: str, suffix: str = ""
) -> str:
    """Distribution of counted measures around their targets (learned agents; ``traces`` as
    in ``trajectories``)."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    centres = 0.5 * (DISTANCE_EDGES[1:] + DISTANCE_EDGES[:-1])
    for design in designs:
        counts = sum(t["learned/fresh/distance_counts"] for t in traces.get(design, []))
        if np.sum(counts) > 0:
            ax.plot(centres, counts / np.sum(counts), label=design, drawstyle="steps-mid")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel("measure - target (counted cells)")
    ax.set_ylabel("share of cells")
    ax.legend(fontsize=7)
    return _save(fig, root / f"bunching{suffix}.png", scenario)


def learning_curves(
    root: Path, curves: dict[str, list[list[dict]]], scenario: str, suffix: str = ""
) -> str:
    """Per convergence metric, each design's learning curve (training rollouts, stochastic
    actions), the mean over seeds on the union of their timesteps (``curves``: design ->
    one curve per seed, ``convergence.local_curve``)."""
    metrics = convergence.METRICS
    fig = Figure(figsize=(3.4 * len(metrics), 3.2))
    axes = fig.subplots(1, len(metrics), squeeze=False).ravel()
    for design, per_seed in curves.items():
        per_seed = [rows for rows in per_seed if rows]
        if not per_seed:
            continue
        grid = np.unique(np.concatenate([[r["timesteps"] for r in rows] for rows in per_seed]))
        for ax, metric in zip(axes, metrics):
            mean = np.mean(
                [
                    np.interp(grid, [r["timesteps"] for r in rows], [r[metric] for r in rows])
                    for rows in per_seed
                ],
                axis=0,
            )
            ax.plot(grid, mean, lw=1, label=design)
    for ax, metric in zip(axes, metrics):
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("local agent-steps", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    return _save(fig, root / f"curves{suffix}.png", scenario)
