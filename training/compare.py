"""The reward-design comparison: a grid of designs x seeds (x scenarios), each cell a
training run followed by an evaluation, then a summary, a report and figures.

A cell trains the local agents under one design (``target_gaming.training.train``), then
evaluates them with deterministic actions on fresh seeds and on held-out
variants of the scenario that training never saw, beside the scripted
baselines under the same conditions. Cells write into
``runs/<design>/seed<k>/`` and mark themselves done last, atomically: a rerun
skips finished cells (``force`` redoes them), so a killed sweep loses at most
the cells in flight.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from target_gaming.envs.target_gaming import DESIGNS, SCENARIOS

from .io import write_csv, write_npz, write_text
from .rollout import RolloutSpec, rollout
from .traces import TraceRecorder

BASELINES = ("honest", "myopic_best_response")
DONE = "done.json"
CELL_COLUMNS = ("agent", "variant", "eval_seed")  # added to rollout's episode columns


@dataclass(frozen=True)
class CompareConfig:
    """A comparison grid. ``train`` holds TrainConfig fields shared by every cell."""

    designs: tuple[str, ...] = ("targets", "audited_targets")
    seeds: tuple[int, ...] = (0, 1, 2)
    scenarios: tuple[str, ...] = ("whitehall",)
    train: dict[str, Any] = field(default_factory=dict)
    centre_policy: str = "fixed_targets"
    eval_episodes: int = 32
    eval_seed_offset: int = 10_000  # evaluation seeds: seed + offset, never a training seed
    held_out: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"held_out": {"n_localities": 10, "heterogeneity": 0.8}}
    )
    baselines: tuple[str, ...] = BASELINES

    def __post_init__(self) -> None:
        _check_names("designs", self.designs, DESIGNS)
        _check_names("scenarios", self.scenarios, SCENARIOS)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds = {self.seeds!r}: give distinct integers, at least one")
        if not 1 <= self.eval_episodes <= 10_000:
            raise ValueError(f"eval_episodes = {self.eval_episodes!r} is not in [1, 10000]")
        if "fresh" in self.held_out:
            raise ValueError("held_out: the name 'fresh' is kept for the unchanged scenario")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown comparison field(s) {unknown}; allowed: {sorted(known)}")
        tuples = ("designs", "seeds", "scenarios", "baselines")
        return cls(**{k: tuple(v) if k in tuples else v for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def cells(self) -> list[Cell]:
        return [
            Cell(scenario, design, seed)
            for scenario in self.scenarios
            for design in self.designs
            for seed in self.seeds
        ]

    def cell_dir(self, root: Path, cell: Cell) -> Path:
        base = root / "runs"
        if len(self.scenarios) > 1:
            base = base / cell.scenario
        return base / cell.design / f"seed{cell.seed}"


def _check_names(field_name: str, values: tuple[str, ...], known: dict) -> None:
    bad = [v for v in values if v not in known]
    if bad or not values:
        raise ValueError(f"{field_name} = {values!r}: unknown {bad}; known: {', '.join(known)}")


@dataclass(frozen=True)
class Cell:
    scenario: str
    design: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.scenario}/{self.design}/seed{self.seed}"


# ---- one cell --------------------------------------------------------------------------


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
    from .config import TrainConfig
    from .sb3.train import train

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
    from .rollout import EPISODE_COLUMNS

    return EPISODE_COLUMNS[:4] + CELL_COLUMNS + EPISODE_COLUMNS[4:]
