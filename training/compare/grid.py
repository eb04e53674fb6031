"""The comparison's grid: designs x seeds (x scenarios), its presets and its output folder.

``CompareConfig`` is a grid (``target-gaming compare --config grid.json`` takes its
fields); ``PRESETS`` are the named ones (``--preset quick``, ``standard``, ``full``).
A cell is one (scenario, design, seed) of the grid; it lives in
``runs/<design>/seed<k>/`` (``runs/<scenario>/<design>/seed<k>/`` with several
scenarios) under the output folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_gaming.envs.target_gaming import DESIGNS, SCENARIOS

BASELINES = ("honest", "myopic_best_response")


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


PRESETS: dict[str, dict] = {
    # the main contrasts only: about three minutes on an idle two-core machine (2 min 46 s
    # measured; 12 min while other training jobs loaded it)
    "quick": {
        "designs": ("targets", "audited_targets", "rotating_basket", "oracle_outcomes"),
        "seeds": (0, 1, 2),
        "train": {"timesteps": 300_000, "n_envs": 64, "checkpoint_every": 100_000},
        "eval_episodes": 16,
    },
    "standard": {
        "designs": (
            "targets",
            "linear",
            "league_table",
            "audited_targets",
            "rotating_basket",
            "targeted_audits",
            "local_priorities",
            "pooled_budget",
            "oracle_outcomes",
        ),
        "seeds": (0, 1, 2, 3, 4),
        "train": {"timesteps": 1_000_000, "n_envs": 64},
        "eval_episodes": 32,
    },
    "full": {
        "designs": tuple(
            "targets linear league_table audited_targets rotating_basket targeted_audits "
            "local_priorities pooled_budget oracle_outcomes".split()
        ),
        "seeds": tuple(range(10)),
        "scenarios": ("whitehall", "coalfield_seaside", "jug_2"),
        "train": {"timesteps": 3_000_000, "n_envs": 64},
        "eval_episodes": 64,
    },
}


def preset(name: str) -> CompareConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return CompareConfig.from_dict(PRESETS[name])


def load_config(path: Path) -> CompareConfig:
    """A custom grid from a JSON file with CompareConfig's fields."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read comparison config {path}: {err}") from err
    return CompareConfig.from_dict(data)


def grid_and_folder(
    preset_name: str | None, config_path: Path | None, out: Path | None
) -> tuple[CompareConfig, Path]:
    """The grid to run, a preset (default ``quick``) or a JSON file, and its output folder
    (default ``runs/compare-<preset>``, or ``runs/compare-custom`` for a file)."""
    name = preset_name or ("custom" if config_path else "quick")
    config = load_config(config_path) if config_path else preset(name)
    return config, out or Path("runs") / f"compare-{name}"
