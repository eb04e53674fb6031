"""What each cell of a comparison trains and evaluates, and the whole grid's check.

``train_config`` is a cell's ``TrainConfig``: the grid's ``train`` fields with the
cell's scenario, design and seed, the grid's centre and its evaluation size.
``eval_specs`` are the cell's evaluations, one ``RolloutSpec`` per agent (the learned
locals, then each baseline) and variant (``fresh``, then each held-out one): each
runs in the world the cell trained in (its scenario, ``train.overrides``,
``centre_reward``, centre policy and parameters), with the variant's overrides
layered on top. A baseline whose name holds ``+`` is a per-agent pattern (``"honest+silo"``,
``"learned+learned+learned+silo"``): local agent n plays element ``n % len(pattern)``,
and the element ``learned`` is the cell's trained policy; its rows are labelled with the
pattern's name. ``check_grid`` builds all of these for every cell, and each
distinct world and its scripted policies, before the first cell trains: a bad
field is found in seconds, not after hours of training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from target_gaming.agents import load_policy
from target_gaming.agents.base import role_dims
from target_gaming.envs.target_gaming import World, make_config

from ..config import TrainConfig
from ..evaluation.rollout import RolloutSpec
from .grid import FRESH, LEARNED, Cell, CompareConfig, pattern


def train_config(config: CompareConfig, cell: Cell, out: str | Path = "runs/cell") -> TrainConfig:
    """The cell's training run, into ``out`` (``mode`` locals unless the grid's ``train``
    says two_level)."""
    settings = {
        "progress_bar": False,
        **config.train_for(cell.scenario),
        "scenario": cell.scenario,
        "design": cell.design,
        "seed": cell.seed,
        "centre_policy": config.centre_for(cell.design),
        "mode": config.train_for(cell.scenario).get("mode", "locals"),
        "out": str(out),
        "eval_episodes": config.eval_episodes,
    }
    try:
        return TrainConfig.from_dict(settings)
    except (ValueError, TypeError) as err:
        raise ValueError(f"comparison field train (cell {cell.label}): {err}") from err


def centre_params(trained: TrainConfig) -> dict[str, Any]:
    """The parameters of the scripted centre the cell trained under
    (``train.centre_params``)."""
    return dict(trained.centre_params)


def eval_specs(
    config: CompareConfig,
    cell: Cell,
    trained: TrainConfig,
    policy: str | Path,
    centre: str | Path | None = None,
) -> list[tuple[str, str, RolloutSpec]]:
    """(agent, variant, spec) of each of the cell's evaluations: ``policy`` (the learned
    locals) and the baselines, in the trained world and in each held-out variant of it,
    under the cell's centre (``centre``: the learned one, when the cell trained it)."""
    agents = (LEARNED, *config.baselines)
    variants = {FRESH: {}, **config.held_out}
    seed = cell.seed + config.eval_seed_offset
    specs = []
    for agent in agents:
        for variant, overrides in variants.items():
            world = {**trained.overrides, **overrides}
            spec = RolloutSpec(
                scenario=trained.scenario,
                design=trained.design,
                policy=local_policies(agent, str(policy), trained.scenario, world),
                centre_policy=str(centre) if centre is not None else trained.centre,
                centre_params=centre_params(trained) if centre is None else {},
                centre_reward=trained.centre_reward,
                episodes=config.eval_episodes,
                seed=seed,
                overrides=world,
            )
            specs.append((agent, variant, spec))
    return specs


def local_policies(
    agent: str, learned: str, scenario: str, overrides: dict[str, Any]
) -> str | tuple[str, ...]:
    """``RolloutSpec.policy`` of an agent of the table: ``learned`` for the learned locals,
    a baseline's name, or for a pattern one policy per local agent of the world
    (``scenario`` with ``overrides``): agent n plays element ``n % len(pattern)``."""
    if agent == LEARNED:
        return learned
    elements = pattern(agent)
    if len(elements) == 1:
        return agent
    n_locals = make_config(scenario, **overrides).n_locals
    chosen = (elements[n % len(elements)] for n in range(n_locals))
    return tuple(learned if name == LEARNED else name for name in chosen)


def check_grid(config: CompareConfig) -> None:
    """Build every cell's training config, and every distinct evaluation world with its
    baselines and centre, raising the first bad field as one line (ValueError)."""
    for cell in config.cells():
        train_config(config, cell)
    for scenario in config.scenarios:
        for design in config.designs_for(scenario):
            cell = Cell(scenario, design, config.seeds[0])
            trained = train_config(config, cell)
            worlds = {  # first: the patterns' agents are counted in these worlds
                variant: _world(scenario, design, trained, variant, overrides)
                for variant, overrides in {FRESH: {}, **config.held_out}.items()
            }
            saved = Path(config.centre_for(design)).suffix in (".zip", ".rllib")
            if config.learns_centre(scenario) or saved:
                _same_centre_shape(worlds, scenario)
            for agent, variant, spec in eval_specs(config, cell, trained, "<learned>"):
                world = worlds[variant]
                if agent != LEARNED:  # the learned locals do not exist yet
                    for name in pattern(agent):
                        if name != LEARNED:
                            _policy(name, world, "local", spec.seed, {}, "baselines", scenario)
                else:  # the centre, once per world
                    _policy(
                        spec.centre,
                        world,
                        "centre",
                        spec.seed,
                        spec.centre_params,
                        "centre_policy",
                        scenario,
                    )


def _same_centre_shape(worlds: dict[str, World], scenario: str) -> None:
    """A learned or saved centre acts in every variant: each must give it the trained world's
    observation and action sizes (per-locality targets and audits: the same localities)."""
    trained = role_dims(worlds[FRESH], "centre")
    for variant, world in worlds.items():
        if role_dims(world, "centre") != trained:
            raise ValueError(
                f"comparison field held_out[{variant!r}] (scenario {scenario}): the learned "
                f"centre observes and acts {trained} in the trained world but "
                f"{role_dims(world, 'centre')} there (one target and audit weight per "
                "locality); keep n_localities and the domains, vary other fields"
            )


def _world(scenario: str, design: str, trained: TrainConfig, variant: str, overrides) -> World:
    """The world of one variant (``overrides``: the variant's, on the trained world's)."""
    if variant == FRESH:
        where = "train.overrides"
    else:
        where = f"held_out[{variant!r}] (on train.overrides {trained.overrides})"
    try:
        world = make_config(scenario, **{**trained.overrides, **overrides})
        return World(world, design, trained.centre_reward)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"comparison field {where}, scenario {scenario}, design {design}: {err}"
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
