"""Infos are flat and keep their keys: every metric under its own name, the same at reset
(0.0: nothing measured yet) and at every step (finite floats), per role (national metrics
for central agents, the agent's locality's for local agents)."""

from __future__ import annotations

import math

import pytest

from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming.metrics import (
    FRONTLINE_METRICS,
    LOCALITY_METRICS,
    NATIONAL_METRICS,
)


def _keys(env, agent):
    """The base metrics, then a cascade's frontline metrics in its worlds."""
    base = NATIONAL_METRICS if agent in env.centre_agents else LOCALITY_METRICS
    frontline = tuple(FRONTLINE_METRICS) if env.config.cascade is not None else ()
    return list(base + frontline)


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4", "cascade_health"])
def test_reset_and_step_infos_have_the_same_flat_keys(scenario):
    env = target_gaming_v2.parallel_env(scenario=scenario, max_cycles=6)
    _, infos = env.reset(seed=0)
    assert set(infos) == set(env.possible_agents)
    for agent, info in infos.items():
        assert list(info) == _keys(env, agent)
        assert all(isinstance(v, float) and v == 0.0 for v in info.values()), agent
    while env.agents:
        _, _, _, _, step_infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        for agent, info in step_infos.items():
            assert list(info) == _keys(env, agent)
            assert all(isinstance(v, float) and math.isfinite(v) for v in info.values())


def test_local_infos_carry_their_own_locality_and_fresh_dicts():
    env = target_gaming_v2.parallel_env(scenario="jug_4", max_cycles=4)
    env.reset(seed=1)
    _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    rows = env.last_result.metrics.locality_array[:, 0]  # (M, L)
    k = env.config.n_agencies
    for n, agent in enumerate(env.local_agents):
        assert list(infos[agent].values()) == rows[:, n // k].tolist()
    infos["local_0"]["true_welfare"] = -1.0  # callers may change their dicts
    assert infos["local_1"]["true_welfare"] != -1.0
