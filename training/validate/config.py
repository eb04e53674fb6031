"""The validation's settings, its presets, and the comparison grid of each condition and seed.

``ValidateConfig`` is what ``target-gaming validate --config FILE`` reads (its fields:
``seeds``, ``timesteps``, ``n_envs``, ``checkpoint_every``, ``eval_episodes``,
``phenomena``, ``ppo``); ``PRESETS`` are the named ones (``--preset quick``, ``full``).
Each condition of the chosen phenomena runs, per seed, as a one-cell ``CompareConfig``
(``condition_config``) whose cell lives under ``runs/<condition>/`` of the output folder
(``condition_root``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_gaming.envs.target_gaming import make_config

from ..compare.grid import MAX_SEED, Cell, CompareConfig, distinct_seeds
from ..errors import UserError, fields_of, read_json_object
from .phenomena import CONDITIONS, PHENOMENA, Condition

_TUPLES = ("seeds", "phenomena")
OFFSET = CompareConfig.eval_seed_offset  # evaluation seeds: seed + offset


@dataclass(frozen=True)
class ValidateConfig:
    """Seeds, the training budget of a condition of scale 1 (local agent-steps), the PPO
    settings of every cell, evaluation episodes per agent and variant, the phenomena."""

    seeds: tuple[int, ...] = (0, 1, 2)
    timesteps: int = 300_000
    n_envs: int = 64
    checkpoint_every: int = 100_000
    eval_episodes: int = 16
    phenomena: tuple[str, ...] = tuple(PHENOMENA)
    ppo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        top = MAX_SEED - OFFSET
        if not distinct_seeds(self.seeds, top):
            _fail("seeds", self.seeds, f"a list of distinct integers in [0, {top}], at least one")
        check_budget(self, _fail)
        names = self.phenomena
        if not (
            isinstance(names, tuple)
            and names
            and all(isinstance(n, str) and n in PHENOMENA for n in names)
            and len(set(names)) == len(names)
        ):
            _fail("phenomena", names, f"a list of distinct names from: {', '.join(PHENOMENA)}")
        if not isinstance(self.ppo, dict):
            _fail("ppo", self.ppo, "a mapping of PPO settings (PPOConfig fields)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidateConfig:
        return cls(**fields_of(cls, data, "a validation config", _TUPLES))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def conditions(self) -> tuple[str, ...]:
        """Every condition the chosen phenomena read, and any that one of them is matched
        to, in the table's order."""
        needed = {c for name in self.phenomena for c in PHENOMENA[name].conditions()}
        needed |= {CONDITIONS[c].match_target_level_of for c in needed} - {None}
        return tuple(c for c in CONDITIONS if c in needed)


BUDGET = (  # a study's shared training budget fields and their ranges
    ("timesteps", 1, 10**10),
    ("n_envs", 1, 100_000),
    ("checkpoint_every", 0, 10**10),
    ("eval_episodes", 1, 10_000),
)


def check_budget(settings: Any, fail: Callable[[str, Any, str], None]) -> None:
    """The ``BUDGET`` fields of ``settings``, each an integer in its range, else ``fail``."""
    for name, low, high in BUDGET:
        if not _is_int(getattr(settings, name), low, high):
            fail(name, getattr(settings, name), f"an integer in [{low}, {high}]")


def _fail(name: str, value: Any, allowed: str) -> None:
    """The one form of a bad field's error: its name, its value, what is allowed."""
    text = repr(value)
    text = text if len(text) <= 120 else text[:117] + "..."
    raise ValueError(f"validation field {name} = {text} is not allowed: {allowed}")


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


_FULL_BUDGET = {
    "seeds": (0, 1, 2, 3, 4),
    "timesteps": 1_000_000,
    "n_envs": 64,
    "checkpoint_every": 100_000,
    "eval_episodes": 32,
}

_OWN = ("prescription", "cascade")  # phenomena with their own preset and report

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "seeds": (0, 1, 2),
        "timesteps": 300_000,
        "n_envs": 64,
        "checkpoint_every": 100_000,
        "eval_episodes": 16,
    },
    # every phenomenon but prescription and cascade, which have their own presets (and
    # reports) until the full report is regenerated with them
    "full": {**_FULL_BUDGET, "phenomena": tuple(p for p in PHENOMENA if p not in _OWN)},
    # the full budget on the prescription phenomenon alone
    "prescription": {**_FULL_BUDGET, "phenomena": ("prescription",)},
    # the full budget on target cascades alone (the comparison of cascade depths), on ten
    # seeds: its effects are small (0.005 to 0.02), and five seeds' intervals as wide
    "cascade": {**_FULL_BUDGET, "seeds": tuple(range(10)), "phenomena": ("cascade",)},
}


def preset(name: str) -> ValidateConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return ValidateConfig.from_dict(PRESETS[name])


def load_config(path: Path) -> ValidateConfig:
    """A custom validation from a JSON file with ValidateConfig's fields."""
    data = read_json_object(path, "--config", "validation fields")
    try:
        return ValidateConfig.from_dict(data)
    except (ValueError, TypeError) as err:
        raise UserError(f"--config {path}: {err}") from err


def config_and_folder(
    preset_name: str | None, config_path: Path | None, out: Path | None
) -> tuple[ValidateConfig, Path]:
    """The validation to run, a preset (default ``quick``) or a JSON file, and its output
    folder (default ``runs/validate-<preset>``, or ``runs/validate-custom`` for a file)."""
    name = preset_name or ("custom" if config_path else "quick")
    config = load_config(config_path) if config_path else preset(name)
    return config, out or Path("runs") / f"validate-{name}"


# ---- each condition's grid ---------------------------------------------------------------


def training_steps(config: ValidateConfig, condition: Condition) -> int:
    """The condition's budget: the config's timesteps times the condition's scale."""
    return max(1, round(config.timesteps * condition.timesteps_scale))


def condition_config(
    config: ValidateConfig, name: str, seed: int, target_default: float | None = None
) -> CompareConfig:
    """The one-cell grid of condition ``name`` and ``seed`` (``target_default``: a matched
    condition's target level for this seed)."""
    cond = CONDITIONS[name]
    overrides = dict(cond.overrides)
    if target_default is not None:
        overrides["target_default"] = target_default
    train: dict[str, Any] = {
        "timesteps": training_steps(config, cond),
        "n_envs": config.n_envs,
        "checkpoint_every": config.checkpoint_every,
        "overrides": overrides,
    }
    if config.ppo:
        train["ppo"] = dict(config.ppo)
    try:
        return CompareConfig(
            designs=(cond.design,),
            seeds=(seed,),
            scenarios=(cond.scenario,),
            train=train,
            centre_policy=cond.centre_policy,
            eval_episodes=config.eval_episodes,
            held_out={k: dict(v) for k, v in cond.held_out.items()},
            baselines=tuple(cond.baselines),
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"condition {name} (seed {seed}): {err}") from err


def condition_root(root: Path, name: str) -> Path:
    """The folder under which condition ``name``'s cells live (``runs/<design>/seed<k>/``)."""
    return Path(root) / "runs" / name


def condition_cell(name: str, seed: int) -> Cell:
    cond = CONDITIONS[name]
    return Cell(cond.scenario, cond.design, seed)


def target_bounds(name: str) -> tuple[float, float, float]:
    """(target_min, target_default, target_max) of condition ``name``'s world."""
    cond = CONDITIONS[name]
    world = make_config(cond.scenario, **cond.overrides)
    return world.target_min, world.target_default, world.target_max
