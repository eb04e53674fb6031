"""Same seed, same trajectory; the batched core and the ParallelEnv agree exactly."""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming import World
from tests.conftest import SCENARIO_CASES


def _rollout(env, seed: int, action_seed: int = 7):
    """A full episode with actions from their own seeded generator."""
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    trace = [np.concatenate([obs[a] for a in env.possible_agents])]
    while env.agents:
        actions = {a: rng.random(env.action_space(a).shape) for a in env.agents}
        obs, rewards, _, _, infos = env.step(actions)
        trace.append(np.concatenate([obs[a] for a in env.possible_agents]))
        trace.append(np.array([rewards[a] for a in env.possible_agents]))
        trace.append(np.array(list(infos["local_0"].values())))
    return trace


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_same_seed_gives_the_same_whole_episode(scenario):
    first = _rollout(target_gaming_v2.parallel_env(scenario=scenario), seed=3)
    second = _rollout(target_gaming_v2.parallel_env(scenario=scenario), seed=3)
    assert len(first) == len(second) == 1 + 3 * 40
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_give_different_episodes():
    first = _rollout(target_gaming_v2.parallel_env(), seed=3)
    second = _rollout(target_gaming_v2.parallel_env(), seed=4)
    assert not np.array_equal(first[-1], second[-1])


def test_reset_without_seed_continues_the_stream():
    env = target_gaming_v2.parallel_env()
    a, _ = env.reset(seed=1)
    b, _ = env.reset()
    assert not np.array_equal(a["local_0"], b["local_0"])


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
@pytest.mark.parametrize("design", ["targets", "targeted_audits", "rotating_basket"])
def test_batched_core_and_parallel_env_give_identical_trajectories(scenario, design):
    env = target_gaming_v2.parallel_env(scenario=scenario, design=design)
    world = World(env.config, design)
    core_rng = np.random.default_rng(11)
    state = world.reset(core_rng, 1)
    obs, _ = env.reset(seed=11)
    env_local = np.stack([obs[a] for a in env.local_agents])
    from target_gaming.envs.target_gaming import observe

    np.testing.assert_array_equal(observe.local_observations(world.config, state)[0], env_local)
    act_rng = np.random.default_rng(5)
    while env.agents:
        actions = {a: act_rng.random(env.action_space(a).shape) for a in env.agents}
        local = np.stack([actions[a] for a in env.local_agents])[None]
        centre = np.stack([actions[a] for a in env.centre_agents])[None]
        result = world.step(state, local, centre, core_rng)
        state = result.state
        obs, rewards, _, _, _ = env.step(actions)
        np.testing.assert_array_equal(
            observe.local_observations(world.config, state)[0],
            np.stack([obs[a] for a in env.local_agents]),
        )
        np.testing.assert_array_equal(
            observe.centre_observations(world.config, state)[0],
            np.stack([obs[a] for a in env.centre_agents]),
        )
        np.testing.assert_array_equal(
            result.local_rewards[0], [rewards[a] for a in env.local_agents]
        )
        np.testing.assert_array_equal(
            result.centre_rewards[0], [rewards[a] for a in env.centre_agents]
        )
    np.testing.assert_array_equal(env.state(), observe.global_state(world.config, state)[0])


def test_auto_reset_merge_takes_fresh_environments_only_where_asked():
    world = World(target_gaming_v2.parallel_env().config)
    rng = np.random.default_rng(0)
    old = world.reset(rng, 4)
    fresh = world.reset(rng, 4)
    mask = np.array([True, False, True, False])
    merged = old.where(mask, fresh)
    np.testing.assert_array_equal(merged.true[0], fresh.true[0])
    np.testing.assert_array_equal(merged.true[1], old.true[1])
    np.testing.assert_array_equal(merged.index(2).effectiveness, fresh.effectiveness[2:3])
