"""The headline findings of a comparison, one row per scenario, and its trade-off figure.

Per scenario (learned agents, fresh seeds, IQM [95% interval] over seeds):

- the best design on true welfare among those a government can run (not
  ``oracle_outcomes``, which pays on the unobservable truth), and whether its interval
  clears the runner-up's;
- the designs that cut gaming, and those that cut neglect, against ``targets``: their
  interval lies wholly below that of ``targets``;
- the Goodhart gap of ``targets`` (measured minus true performance).

Each number links to its scenario's section of ``report.md``. The figure draws true
welfare against gaming share, one panel per scenario, one point per design.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import write_png
from .report import BASE_DESIGN, _fmt, _values
from .stats import iqm_interval

REFERENCE = "oracle_outcomes"  # pays on the truth: a bound, not a design to adopt
FIGURE = "overview.png"


def anchor(scenario: str) -> str:
    """The link fragment of ``## Scenario `<scenario>``` in a rendered Markdown file."""
    text = f"scenario {scenario}".lower()
    return "#" + re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _lower(summary, design: str, metric: str) -> bool:
    """Whether ``design``'s interval of ``metric`` lies wholly below that of ``targets``."""
    mine = iqm_interval(_values(summary, design, metric))
    base = iqm_interval(_values(summary, BASE_DESIGN, metric))
    return mine[2] < base[1]


def overview_rows(sections: list[tuple[str, list[dict], list[str]]], report: str) -> list[str]:
    """The Markdown table (``sections``: scenario, its summary rows, its designs; ``report``:
    the path the links point into)."""
    lines = [
        "| scenario | best design on true welfare | cut gaming vs `targets` "
        "| cut neglect vs `targets` | Goodhart gap of `targets` |",
        "|---|---|---|---|---|",
    ]
    for scenario, summary, designs in sections:
        link = f"{report}{anchor(scenario)}"
        adoptable = [d for d in designs if d != REFERENCE]
        welfare = {d: iqm_interval(_values(summary, d, "true_welfare")) for d in adoptable}
        ranked = sorted(adoptable, key=lambda d: -welfare[d][0])
        if not ranked:
            lines.append(f"| `{scenario}` | n/a | n/a | n/a | n/a |")
            continue
        best = ranked[0]
        clear = len(ranked) > 1 and welfare[best][1] > welfare[ranked[1]][2]
        best_cell = f"`{best}` [{_fmt(welfare[best])}]({link})" + (
            "" if clear else f" (interval overlaps `{ranked[1]}`)" if len(ranked) > 1 else ""
        )
        if BASE_DESIGN in designs:
            cuts = {
                metric: [d for d in designs if d != BASE_DESIGN and _lower(summary, d, metric)]
                for metric in ("gaming_share", "neglect")
            }
            gap = iqm_interval(_values(summary, BASE_DESIGN, "goodhart_gap"))
            gap_cell = f"[{_fmt(gap)}]({link})"
            cut_cells = [", ".join(f"`{d}`" for d in cuts[m]) or "none" for m in cuts]
        else:
            gap_cell, cut_cells = "n/a", ["n/a", "n/a"]
        lines.append(f"| `{scenario}` | {best_cell} | " + " | ".join([*cut_cells, gap_cell]) + " |")
    return lines


def committed_table(root: Path, report: str) -> list[str]:
    """The overview table of the comparison in ``root`` (its ``summary.csv`` and
    ``comparison.json``), its links pointing into ``report``: the table the README and
    ``results/README.md`` copy, so that a test can hold them to the committed report."""
    from .grid import CompareConfig
    from .report import KEYS

    grid = CompareConfig.from_dict(json.loads((Path(root) / "comparison.json").read_text()))
    with open(Path(root) / "summary.csv", newline="") as handle:
        rows = [
            # a cascade's metrics are blank in the rows of a grid's scenarios without one
            {
                k: v if k in KEYS or k == "centre" else float(v)
                for k, v in r.items()
                if k in KEYS or k == "centre" or v != ""
            }
            for r in csv.DictReader(handle)
        ]
    sections = [
        (s, [r for r in rows if r["scenario"] == s], list(grid.designs_for(s)))
        for s in grid.scenarios
    ]
    return overview_rows(sections, report)


def tradeoff_figure(root: Path, sections: list[tuple[str, list[dict], list[str]]]) -> str:
    """True welfare against gaming share per design (IQM and 95% intervals), one panel per
    scenario; written to ``overview.png`` in ``root``."""
    cols = min(4, len(sections))
    rows = int(np.ceil(len(sections) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (scenario, summary, designs) in zip(axes, sections):
        for design in designs:
            g = iqm_interval(_values(summary, design, "gaming_share"))
            w = iqm_interval(_values(summary, design, "true_welfare"))
            ax.errorbar(
                g[0],
                w[0],
                xerr=[[g[0] - g[1]], [g[2] - g[0]]],
                yerr=[[w[0] - w[1]], [w[2] - w[0]]],
                fmt="o",
                ms=4,
                capsize=2,
                label=design,
            )
            ax.annotate(design, (g[0], w[0]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"scenario {scenario}", fontsize=9)
        ax.set_xlabel("gaming share", fontsize=8)
        ax.set_ylabel("true welfare", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(sections) :]:
        ax.set_visible(False)
    FigureCanvasAgg(fig)
    fig.suptitle("true welfare against gaming\nlearned agents, IQM and 95% intervals", fontsize=9)
    fig.tight_layout()
    write_png(root / FIGURE, fig, dpi=100)
    return FIGURE
