"""The comparison's outputs from every finished cell: summary.csv, the figures, report.md.

Every table, ranking, probability and figure is per scenario: designs are compared
within one world, never pooled across scenarios. With one scenario the figures are
``intervals.png``, ``trajectories.png``, ``scatter.png``, ``bunching.png`` and
``curves.png`` (the learning curves); with several, one of each per scenario
(``intervals-<scenario>.png``, ...). The report opens with the overview (one row of
headline findings per scenario, ``overview.py``, and its figure ``overview.png``) and
the designs whose learning curves have not levelled off (``convergence.py``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from . import convergence, figures, overview
from .cells import DONE, EPISODES, TRACES, is_done
from .grid import FRESH, LEARNED, CompareConfig
from .report import summarise, write_report, write_summary


def aggregate(config: CompareConfig, root: Path, command: str, skipped: int, wall: float) -> Path:
    """summary.csv, figures and report.md from every finished cell."""
    cells = [c for c in config.cells() if is_done(config, root, c)]
    files = [config.cell_dir(root, c) / EPISODES for c in cells]
    summary = summarise(files)
    write_summary(root / "summary.csv", summary)
    episodes = []
    for path in files:
        with open(path, newline="") as handle:
            episodes += list(csv.DictReader(handle))
    traces: dict[tuple[str, str], list] = {}  # (scenario, design) -> one dict per seed
    for c in cells:
        with np.load(config.cell_dir(root, c) / TRACES) as data:
            traces.setdefault((c.scenario, c.design), []).append(dict(data))
    cell_seconds = sum(
        json.loads((config.cell_dir(root, c) / DONE).read_text())["wall_seconds"] for c in cells
    )
    agents = [LEARNED, *config.baselines]
    sections = []
    for scenario in config.scenarios:
        designs = [d for d in config.designs_for(scenario) if (scenario, d) in traces]
        if not designs:
            continue
        suffix = "" if len(config.scenarios) == 1 else f"-{scenario}"
        rows = [r for r in summary if r["scenario"] == scenario]
        mine = {d: traces[(scenario, d)] for d in designs}
        curves = {
            d: [
                convergence.local_curve(config.cell_dir(root, c))
                for c in cells
                if c.key == (scenario, d)
            ]
            for d in designs
        }
        names = [
            figures.interval_plots(root, rows, designs, agents, scenario, suffix),
            figures.trajectories(root, mine, designs, scenario, suffix),
            figures.scatter(
                root, [e for e in episodes if e["scenario"] == scenario], designs, scenario, suffix
            ),
            figures.bunching(root, mine, designs, scenario, suffix),
            figures.learning_curves(root, curves, scenario, suffix),
        ]
        sections.append((scenario, rows, designs, names, convergence.convergence_table(curves)))
    header = [
        f"Command: `{command}`" if command else "",
        f"Grid: designs {', '.join(config.designs)}; seeds {list(config.seeds)}; "
        f"scenarios {', '.join(config.scenarios)}; centres {centres_text(config)}; "
        f"learning {_learner(config)}; training {config.train}; {_per_scenario(config)}"
        f"{config.eval_episodes} evaluation episodes per seed, agent "
        f"and variant (fresh seeds and held-out variants {config.held_out}).",
        f"Cells finished: {len(cells)} of {len(config.cells())} ({skipped} from an earlier run); "
        f"this run's wall time {wall:.0f} s; the cells' own times add up to {cell_seconds:.0f} s.",
    ]
    variants = [FRESH, *config.held_out]
    brief = [(scenario, rows, designs) for scenario, rows, designs, *_ in sections]
    lines = ["## Overview", ""]
    lines += [
        "Learned agents on fresh seeds, IQM [95% interval] over seeds; each number links to "
        'its scenario\'s section. "Cut": the interval lies wholly below that of `targets`. '
        f"The best design excludes `{overview.REFERENCE}`, which pays on the unobservable "
        "truth.",
        "",
    ]
    lines += overview.overview_rows(brief, "") + [""]
    lines += [f"![true welfare against gaming]({overview.tradeoff_figure(root, brief)})", ""]
    return write_report(root, sections, variants, agents, header, lines)


def _learner(config: CompareConfig) -> str:
    """The trainer and algorithm of the grid's cells."""
    if config.trainer == "benchmarl":
        return f"BenchMARL {config.algorithm.upper()}"
    return "SB3 PPO" if config.trainer == "sb3" else "RLlib PPO"


def centres_text(config: CompareConfig) -> str:
    """The grid's centres: one name if every design runs with it, else per design; a
    learned centre says how it learned."""
    if config.trainer == "rllib":
        return "learned jointly with the locals (rllib) for every design"
    names = {d: config.centre_for(d) for d in config.all_designs}
    if any(config.learns_centre(s) for s in config.scenarios):
        names = {d: f"learned (two_level, phase 1 under {c})" for d, c in names.items()}
    if len(set(names.values())) == 1:
        return f"`{next(iter(names.values()))}` for every design"
    return ", ".join(f"`{d}`: `{c}`" for d, c in names.items())


def _per_scenario(config: CompareConfig) -> str:
    """The scenarios with their own designs or training fields, or nothing."""
    parts = [
        f"`{scenario}`: " + ", ".join(f"{k} {v}" for k, v in settings.items())
        for scenario, settings in config.per_scenario.items()
    ]
    return f"per scenario: {'; '.join(parts)}; " if parts else ""
