"""Roll out policies in the batched core and summarise the episodes.

All episodes of one (design, local policy) cell run as one batch of B
environments; each episode becomes one row of ``EPISODE_COLUMNS``.
``rollout_grid`` runs every (design, local policy) cell of ``target-gaming rollout``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from target_gaming.agents import design_centre, load_policy
from target_gaming.envs.target_gaming import (
    METRICS,
    EpisodeMetrics,
    StepResult,
    World,
    WorldState,
    make_config,
    observe,
)
from target_gaming.envs.target_gaming.metrics import FRONTLINE_METRICS
from target_gaming.envs.target_gaming.render import ansi_frame

RETURNS = ("local_return", "centre_return")  # mean over agents of the episode's reward sum
EPISODE_COLUMNS = (
    "scenario",
    "design",
    "policy",
    "centre_policy",
    "seed",
    "episode",
    *RETURNS,
    *METRICS,
)
# A cascade's frontline metrics: columns only of files that have a cascade's rows.
FRONTLINE = tuple(FRONTLINE_METRICS)


def with_frontline(columns: tuple[str, ...], rows: list[dict]) -> tuple[str, ...]:
    """``columns`` and, after them, the frontline metrics that any of ``rows`` carries (a
    row of a world without a cascade leaves them empty)."""
    return tuple(columns) + tuple(name for name in FRONTLINE if any(name in r for r in rows))


@dataclass(frozen=True)
class RolloutSpec:
    """One cell: a scenario, a design, the local policy (or one per agent), the centre's."""

    scenario: str = "whitehall"
    design: str = "targets"
    policy: str | tuple[str, ...] = "honest"  # one name for all locals, or one per local agent
    centre_policy: str | None = None  # None: the design's own centre (Design.centre)
    centre_params: dict = field(default_factory=dict)  # e.g. {"ratchet_rate": 0.8}
    centre_reward: str = "political"
    episodes: int = 16
    seed: int = 0
    overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.episodes <= 100_000:
            raise ValueError(f"episodes = {self.episodes!r} is not allowed: [1, 100000]")

    @property
    def centre(self) -> str:
        """The centre that runs: ``centre_policy``, or the design's own if it is None."""
        return design_centre(self.design, self.centre_policy)

    @property
    def policy_label(self) -> str:
        if isinstance(self.policy, str):
            return self.policy
        return "+".join(dict.fromkeys(self.policy))


def _local_actor(spec: RolloutSpec, world: World) -> Callable[[np.ndarray], np.ndarray]:
    """(B, N, D_obs) -> (B, N, D_act) from one policy or one per agent."""
    n = world.n_locals
    names = (spec.policy,) * n if isinstance(spec.policy, str) else tuple(spec.policy)
    if len(names) != n:
        raise ValueError(f"policy lists {len(names)} names; this world has {n} local agents")
    groups = {
        name: (
            load_policy(name, world, "local", seed=spec.seed),
            [i for i, p in enumerate(names) if p == name],
        )
        for name in dict.fromkeys(names)
    }
    dim = world.config.local_action_dim

    def act(obs: np.ndarray) -> np.ndarray:
        out = np.empty(obs.shape[:2] + (dim,))
        for policy, cols in groups.values():
            sub = obs[:, cols].reshape(-1, obs.shape[-1])
            out[:, cols] = policy.act(sub).reshape(obs.shape[0], len(cols), dim)
        return out

    return act


def rollout(
    spec: RolloutSpec,
    render: Callable[[str], None] | None = None,
    on_step: Callable[[WorldState, StepResult], None] | None = None,
) -> list[dict]:
    """Run ``spec.episodes`` episodes at once; one dict per episode (EPISODE_COLUMNS).

    ``render``, if given, receives an ansi frame of the first episode after every
    step; ``on_step``, if given, receives the state before each step and its result.
    """
    cfg = make_config(spec.scenario, **spec.overrides)
    world = World(cfg, spec.design, spec.centre_reward)
    local = _local_actor(spec, world)
    centre = load_policy(spec.centre, world, "centre", seed=spec.seed, **spec.centre_params)
    rng = np.random.default_rng(spec.seed)
    batch = spec.episodes
    state = world.reset(rng, batch)
    episode = EpisodeMetrics(batch, world.metric_set)
    returns = np.zeros((2, batch))
    for _ in range(cfg.horizon):
        centre_obs = observe.centre_observations(cfg, state)
        centre_act = centre.act(centre_obs.reshape(-1, centre_obs.shape[-1]))
        result = world.step(
            state,
            local(observe.local_observations(cfg, state)),
            centre_act.reshape(batch, cfg.n_centres, -1),
            rng,
        )
        if on_step is not None:
            on_step(state, result)
        state = result.state
        episode.add(result.metrics)
        returns += result.local_rewards.mean(axis=1), result.centre_rewards.mean(axis=1)
        if render is not None:
            loc = result.metrics.locality
            gaming, slack = loc["gaming_share"][0], loc["slack_share"][0]
            render(ansi_frame(cfg, state, spec.design, gaming, slack))
    summary = episode.summary()
    return [
        {
            "scenario": spec.scenario,
            "design": spec.design,
            "policy": spec.policy_label,
            "centre_policy": spec.centre,
            "seed": spec.seed,
            "episode": b,
            "local_return": float(returns[0, b]),
            "centre_return": float(returns[1, b]),
            **{name: float(values[b]) for name, values in summary.items()},
        }
        for b in range(batch)
    ]


def rollout_grid(
    designs: Sequence[str],
    policies: Sequence[str],
    base: RolloutSpec,
    render: Callable[[str], None] | None = None,
) -> list[dict]:
    """``base`` rolled out under every design and local policy (designs outer), one row per
    episode; ``render`` as in ``rollout``, for each cell's first episode."""
    rows = []
    for design in designs:
        for policy in policies:
            rows += rollout(replace(base, design=design, policy=policy), render=render)
    return rows
