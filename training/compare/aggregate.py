"""The comparison's outputs from every finished cell: summary.csv, the figures, report.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from . import figures
from .cells import DONE, is_done
from .grid import CompareConfig
from .report import summarise, write_report, write_summary


def aggregate(config: CompareConfig, root: Path, command: str, skipped: int, wall: float) -> Path:
    """summary.csv, figures and report.md from every finished cell."""
    cells = [c for c in config.cells() if is_done(config.cell_dir(root, c))]
    files = [config.cell_dir(root, c) / "episodes.csv" for c in cells]
    summary = summarise(files)
    write_summary(root / "summary.csv", summary)
    episodes = []
    for path in files:
        with open(path, newline="") as handle:
            episodes += list(csv.DictReader(handle))
    traces: dict[str, list] = {}
    for c in cells:
        with np.load(config.cell_dir(root, c) / "traces.npz") as data:
            traces.setdefault(c.design, []).append(dict(data))
    cell_seconds = sum(
        json.loads((config.cell_dir(root, c) / DONE).read_text())["wall_seconds"] for c in cells
    )
    designs = [d for d in config.designs if any(c.design == d for c in cells)]
    agents = ["learned", *config.baselines]
    names = [
        figures.interval_plots(root, summary, designs, agents),
        figures.trajectories(root, traces, designs),
        figures.scatter(root, episodes, designs),
        figures.bunching(root, traces, designs),
    ]
    header = [
        f"Command: `{command}`" if command else "",
        f"Grid: designs {', '.join(config.designs)}; seeds {list(config.seeds)}; "
        f"scenarios {', '.join(config.scenarios)}; centre `{config.centre_policy}`; "
        f"training {config.train}; {config.eval_episodes} evaluation episodes per seed, agent "
        f"and variant (fresh seeds and held-out variants {config.held_out}).",
        f"Cells finished: {len(cells)} of {len(config.cells())} ({skipped} from an earlier run); "
        f"this run's wall time {wall:.0f} s; the cells' own times add up to {cell_seconds:.0f} s.",
    ]
    variants = ["fresh", *config.held_out]
    return write_report(root, summary, designs, variants, agents, header, names)
