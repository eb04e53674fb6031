"""The validation's figures (PNG, matplotlib without a display): one per phenomenon.

Each check is a panel with its own scale: the learned agents' per-seed effects as dots,
their IQM with its 95% interval, the scripted agent's effect (IQM) as a cross, a zero
line, and the check's margin band where it has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..io import write_png

if TYPE_CHECKING:
    from .report import Result


def phenomenon_figure(root: Path, result: Result) -> str:
    """``<phenomenon>.png`` in ``root``; returns its file name."""
    phen = result.phenomenon
    n = len(result.effects)
    fig = Figure(figsize=(7.5, 1.1 * n + 0.9))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False).ravel()
    for ax, (check, learned, scripted) in zip(axes, result.effects):
        seeds = np.array(list(learned.per_seed.values()), dtype=float)
        ax.axvline(0.0, color="black", lw=0.8)
        if check.margin > 0:
            ax.axvspan(-check.margin, check.margin, color="grey", alpha=0.15, lw=0)
        if seeds.size:
            ax.scatter(seeds, np.full(seeds.size, 0.15), s=14, color="tab:blue", alpha=0.7)
            err = [[learned.iqm - learned.low], [learned.high - learned.iqm]]
            ax.errorbar([learned.iqm], [0.0], xerr=err, fmt="o", color="tab:blue", capsize=3, ms=5)
        if scripted is not None and scripted.n_seeds:
            ax.plot([scripted.iqm], [-0.15], "x", color="tab:red", ms=7, mew=2)
        ax.set_ylim(-0.4, 0.4)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(
            f"{check.name} (expected {check.expected()}): learned {learned.verdict}",
            fontsize=8,
            loc="left",
        )
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, alpha=0.7, color="tab:blue"),
        Line2D([], [], marker="o", color="tab:blue"),
        Line2D([], [], ls="", marker="x", mew=2, color="tab:red"),
    ]
    labels = ["learned, per seed", "learned IQM, 95% CI", "scripted IQM"]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"{phen.title}: {result.verdict} (effect = left - right)", fontsize=10)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1))
    path = root / f"{phen.name}.png"
    write_png(path, fig, dpi=100)
    return path.name
