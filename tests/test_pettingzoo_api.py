"""PettingZoo's own conformance checks: the default scenario and a per_domain/departments one."""

from __future__ import annotations

import functools

import pytest
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    render_test,
    seed_test,
    state_test,
)

from target_gaming.envs import target_gaming_v2
from tests.conftest import SCENARIO_CASES


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_parallel_api(scenario):
    parallel_api_test(target_gaming_v2.parallel_env(scenario=scenario), num_cycles=200)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_aec_api(scenario):
    api_test(target_gaming_v2.env(scenario=scenario), num_cycles=200)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_aec_seed(scenario):
    seed_test(functools.partial(target_gaming_v2.env, scenario=scenario), num_cycles=200)


def test_max_cycles():
    max_cycles_test(target_gaming_v2)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_render_modes(scenario):
    render_test(functools.partial(target_gaming_v2.env, scenario=scenario))


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_state(scenario):
    state_test(
        target_gaming_v2.env(scenario=scenario),
        target_gaming_v2.parallel_env(scenario=scenario),
    )


def test_registered_with_pettingzoo():
    import pettingzoo

    import target_gaming.envs

    if not target_gaming.envs.REGISTERED:  # PettingZoo before 1.27 has no registry
        assert not hasattr(pettingzoo, "make")
        pytest.skip(f"PettingZoo {pettingzoo.__version__} has no registry (1.27 and later)")

    par = pettingzoo.make("parallel", target_gaming.envs.ENV_ID, n_localities=3)
    aec = pettingzoo.make("aec", target_gaming.envs.ENV_ID)
    assert len(par.possible_agents) == 4
    assert aec.unwrapped.possible_agents[0] == "centre_0"


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_the_centres_action_counts_only_on_review_steps(scenario):
    """Through the PettingZoo API the centre acts every step; the world reads its action
    only on review steps (``time_to_review`` 0 in its observation): two episodes whose
    centre actions differ only between reviews are the same episode."""
    import numpy as np

    def episode(between: float) -> list:
        env = target_gaming_v2.parallel_env(scenario=scenario, design="targeted_audits")
        obs, _ = env.reset(seed=4)
        period = env.unwrapped.world.config.review_period
        rewards, step = [], 0
        while env.agents:
            step += 1
            review = step % period == 0
            actions = {
                a: np.full(env.action_space(a).shape, 0.5, dtype=np.float32) for a in env.agents
            }
            for a in env.unwrapped.centre_agents:
                level = 0.8 if review else between
                actions[a] = np.full(env.action_space(a).shape, level, dtype=np.float32)
            obs, reward, *_ = env.step(actions)
            rewards.append([reward[a] for a in sorted(reward)])
        return rewards

    assert episode(0.0) == episode(1.0)


@pytest.mark.parametrize("scenario", ["coalfield_seaside", "jug_4"])
def test_the_prescription_lever_passes_every_check(scenario):
    """With the lever, the centre's action and every observation are larger: PettingZoo's
    checks hold for them too (a coordinated centre over unitary localities, and a
    department per domain over per_domain agencies)."""
    kwargs = dict(scenario=scenario, design="targeted_audits", prescription=True)
    parallel_api_test(target_gaming_v2.parallel_env(**kwargs), num_cycles=200)
    api_test(target_gaming_v2.env(**kwargs), num_cycles=200)
    seed_test(functools.partial(target_gaming_v2.env, **kwargs), num_cycles=200)
    render_test(functools.partial(target_gaming_v2.env, **kwargs))
    state_test(target_gaming_v2.env(**kwargs), target_gaming_v2.parallel_env(**kwargs))
    env = target_gaming_v2.parallel_env(**kwargs)
    centre = env.possible_agents[0]
    names = env.unwrapped.action_layout(centre)
    assert [n for n in names if n.startswith("prescribe:")][:3] == [
        f"prescribe:{env.unwrapped.world.config.domains[0]}:{r}" for r in range(3)
    ]
    assert any(n.startswith("prescribed:") for n in env.unwrapped.observation_layout("local_0"))
