"""One cell of the comparison: a training run, then an evaluation beside the baselines.

A cell trains the local agents under one design (``target_gaming.training.sb3.train``),
then evaluates them with deterministic actions on fresh seeds and on held-out
variants of the scenario that training never saw, beside the scripted
baselines under the same conditions. Cells write into
``runs/<design>/seed<k>/`` and mark themselves done last, atomically: a rerun
skips finished cells (``force`` redoes them), so a killed sweep loses at most
the cells in flight.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from ..evaluation.rollout import EPISODE_COLUMNS, RolloutSpec, rollout
from ..evaluation.traces import TraceRecorder
from ..io import write_csv, write_npz, write_text
from .grid import Cell, CompareConfig

DONE = "done.json"
CELL_COLUMNS = ("agent", "variant", "eval_seed")  # added to rollout's episode columns


def is_done(cell_dir: Path) -> bool:
    return (cell_dir / DONE).exists()


def run_cell(config: CompareConfig, root: Path, cell: Cell, force: bool = False) -> str:
    """Train and evaluate one cell unless it is finished; returns 'done' or 'skipped'."""
    out = config.cell_dir(root, cell)
    if is_done(out) and not force:
        return "skipped"
    if out.exists():
        shutil.rmtree(out)  # an unfinished or forced cell starts clean
    out.mkdir(parents=True)
    start = time.perf_counter()
    policy_path = _train(config, cell, out)
    rows, traces = evaluate_cell(config, cell, policy_path)
    write_csv(out / "episodes.csv", rows, _episode_columns())
    write_npz(out / "traces.npz", traces)
    wall = time.perf_counter() - start
    write_text(out / DONE, json.dumps({"cell": cell.label, "wall_seconds": wall}) + "\n")
    return "done"


def _train(config: CompareConfig, cell: Cell, out: Path) -> Path:
    from ..config import TrainConfig
    from ..sb3.train import train  # torch and SB3 are imported only to train

    settings = {
        "progress_bar": False,
        **config.train,
        "scenario": cell.scenario,
        "design": cell.design,
        "seed": cell.seed,
        "centre_policy": config.centre_policy,
        "mode": "locals",
        "out": str(out),
        "eval_episodes": config.eval_episodes,
    }
    result = train(TrainConfig.from_dict(settings), log=lambda text: None)
    return result.run.policy("local")


def evaluate_cell(
    config: CompareConfig, cell: Cell, policy_path: Path
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Learned locals and the baselines on fresh seeds and held-out variants."""
    agents = {"learned": str(policy_path), **{name: name for name in config.baselines}}
    variants = {"fresh": {}, **config.held_out}
    eval_seed = cell.seed + config.eval_seed_offset
    rows, traces = [], {}
    for agent, policy in agents.items():
        for variant, overrides in variants.items():
            recorder = TraceRecorder()
            spec = RolloutSpec(
                scenario=cell.scenario,
                design=cell.design,
                policy=policy,
                centre_policy=config.centre_policy,
                episodes=config.eval_episodes,
                seed=eval_seed,
                overrides=overrides,
            )
            for row in rollout(spec, on_step=recorder):
                rows.append(
                    {
                        **row,
                        "policy": agent,
                        "agent": agent,
                        "variant": variant,
                        "eval_seed": eval_seed,
                    }
                )
            traces.update(recorder.arrays(prefix=f"{agent}/{variant}/"))
    return rows, traces


def _episode_columns() -> tuple[str, ...]:
    return EPISODE_COLUMNS[:4] + CELL_COLUMNS + EPISODE_COLUMNS[4:]
