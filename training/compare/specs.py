"""What each cell of a comparison trains and evaluates, and the whole grid's check.

``train_config`` is a cell's ``TrainConfig``: the grid's ``train`` fields with the
cell's scenario, design and seed, the grid's centre and its evaluation size.
``eval_specs`` are the cell's evaluations, one ``RolloutSpec`` per agent (the learned
locals, then each baseline) and variant (``fresh``, then each held-out one): each
runs in the world the cell trained in (its scenario, ``train.overrides``,
``centre_reward``, centre policy and parameters), with the variant's overrides
layered on top. ``check_grid`` builds all of these for every cell, and each
distinct world and its scripted policies, before the first cell trains: a bad
field is found in seconds, not after hours of training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from target_gaming.agents import load_policy
from target_gaming.envs.target_gaming import World, make_config

from ..config import TrainConfig
from ..evaluation.rollout import RolloutSpec
from .grid import FRESH, LEARNED, Cell, CompareConfig


def train_config(config: CompareConfig, cell: Cell, out: str | Path = "runs/cell") -> TrainConfig:
    """The cell's training run (``mode`` locals, into ``out``)."""
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
    try:
        return TrainConfig.from_dict(settings)
    except (ValueError, TypeError) as err:
        raise ValueError(f"comparison field train (cell {cell.label}): {err}") from err


def centre_params(trained: TrainConfig) -> dict[str, Any]:
    """The parameters of the centre the cell trained under: none, as training runs its
    centre policy with its defaults (``TrainConfig`` has no centre parameters)."""
    return {}


def eval_specs(
    config: CompareConfig, cell: Cell, trained: TrainConfig, policy: str | Path
) -> list[tuple[str, str, RolloutSpec]]:
    """(agent, variant, spec) of each of the cell's evaluations: ``policy`` (the learned
    locals) and the baselines, in the trained world and in each held-out variant of it."""
    agents = {LEARNED: str(policy), **{name: name for name in config.baselines}}
    variants = {FRESH: {}, **config.held_out}
    seed = cell.seed + config.eval_seed_offset
    return [
        (
            agent,
            variant,
            RolloutSpec(
                scenario=trained.scenario,
                design=trained.design,
                policy=local,
                centre_policy=trained.centre_policy,
                centre_params=centre_params(trained),
                centre_reward=trained.centre_reward,
                episodes=config.eval_episodes,
                seed=seed,
                overrides={**trained.overrides, **overrides},
            ),
        )
        for agent, local in agents.items()
        for variant, overrides in variants.items()
    ]


def check_grid(config: CompareConfig) -> None:
    """Build every cell's training config, and every distinct evaluation world with its
    baselines and centre, raising the first bad field as one line (ValueError)."""
    for cell in config.cells():
        train_config(config, cell)
    checked: set[tuple] = set()
    for scenario in config.scenarios:
        for design in config.designs:
            cell = Cell(scenario, design, config.seeds[0])
            trained = train_config(config, cell)
            for agent, variant, spec in eval_specs(config, cell, trained, "<learned>"):
                world = _world(spec, variant, trained)
                key = (scenario, design, variant, agent)
                if key in checked:
                    continue
                checked.add(key)
                if agent != LEARNED:  # the learned locals do not exist yet
                    _policy(spec.policy, world, "local", spec.seed, {}, "baselines", scenario)
                else:  # the centre, once per world
                    _policy(
                        spec.centre_policy,
                        world,
                        "centre",
                        spec.seed,
                        spec.centre_params,
                        "centre_policy",
                        scenario,
                    )


def _world(spec: RolloutSpec, variant: str, trained: TrainConfig) -> World:
    if variant == FRESH:
        where = "train.overrides"
    else:
        where = f"held_out[{variant!r}] (on train.overrides {trained.overrides})"
    try:
        return World(make_config(spec.scenario, **spec.overrides), spec.design, spec.centre_reward)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"comparison field {where}, scenario {spec.scenario}, design {spec.design}: {err}"
        ) from err


def _policy(name, world, role, seed, params, field, scenario) -> None:
    """Build a scripted policy (cheap); a saved one must exist (loaded when it is used)."""
    with_params = f" with train.centre_params {params}" if params else ""
    subject = f"comparison field {field}: {role} policy {name!r}{with_params} (scenario {scenario})"
    path = Path(name)
    if path.suffix in (".zip", ".rllib"):
        if not path.exists():
            raise ValueError(f"{subject}: no such file")
        return
    try:
        load_policy(name, world, role, seed=seed, **params)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{subject}: {err}") from err
