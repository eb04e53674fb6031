"""Copies and pickles of the env and of the world step exactly like the original.

Spawn-based vector envs, ``ray.put`` and searches copy environments; a copy that
kept views of buffers it no longer shares would ignore its actions without an error.
"""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import cloudpickle
import numpy as np
import pytest

from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming import World, make_config

COPIERS = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "cloudpickle": lambda obj: cloudpickle.loads(cloudpickle.dumps(obj)),
}


def _actions(env, gen: np.random.Generator) -> dict[str, np.ndarray]:
    return {a: gen.random(env.action_space(a).shape).astype(np.float32) for a in env.agents}


def _same(one, other) -> None:
    """Two env outputs (dicts of arrays, numbers or nested dicts) are equal exactly."""
    assert one.keys() == other.keys()
    for key in one:
        if isinstance(one[key], dict):
            _same(one[key], other[key])
        else:
            np.testing.assert_array_equal(one[key], other[key], err_msg=str(key))


@pytest.mark.parametrize("copier", list(COPIERS))
@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_a_copied_env_steps_like_the_original_over_the_episode(scenario, copier):
    env = target_gaming_v2.parallel_env(scenario=scenario, design="audited_targets")
    env.reset(seed=5)
    gen = np.random.default_rng(0)
    for _ in range(6):  # mid-episode, past a review
        env.step(_actions(env, gen))
    twin = COPIERS[copier](env)
    assert twin.agents == env.agents
    steps = 0
    while env.agents:
        actions = _actions(env, gen)
        out, twin_out = env.step(actions), twin.step(actions)
        for part, twin_part in zip(out, twin_out):
            _same(part, twin_part)
        np.testing.assert_array_equal(env.state(), twin.state())
        steps += 1
    assert steps == env.config.horizon - 6 and not twin.agents
    _same(env.episode_metrics(), twin.episode_metrics())


@pytest.mark.parametrize("copier", list(COPIERS))
def test_a_copied_world_steps_like_the_original(copier):
    world = World(make_config("jug_2"), "pooled_budget")
    gen = np.random.default_rng(1)
    state = world.reset(np.random.default_rng(2), 3)
    shape_l = (3, world.n_locals, world.config.local_action_dim)
    cfg = world.config
    targets = cfg.n_localities * cfg.n_domains // cfg.n_centres  # target:<i>:<d>, then audit:<i>
    shape_c = (3, world.n_centres, targets + cfg.n_localities)
    for _ in range(3):  # the world has its work arrays now
        state = world.step(state, gen.random(shape_l), gen.random(shape_c), gen).state
    twin = COPIERS[copier](world)
    for _ in range(6):
        local, centre = gen.random(shape_l), gen.random(shape_c)
        seed = int(gen.integers(2**31))
        one = world.step(state, local, centre, np.random.default_rng(seed))
        two = twin.step(state, local, centre, np.random.default_rng(seed))
        np.testing.assert_array_equal(one.local_rewards, two.local_rewards)
        np.testing.assert_array_equal(one.centre_rewards, two.centre_rewards)
        np.testing.assert_array_equal(one.state.true, two.state.true)
        np.testing.assert_array_equal(one.metrics.national_array, two.metrics.national_array)
        state = one.state


def test_an_env_is_freed_after_del():
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    for agent in env.possible_agents:
        env.observation_space(agent), env.action_space(agent)
    env.step({a: env.action_space(a).sample() for a in env.agents})
    ref = weakref.ref(env)
    del env
    gc.collect()
    assert ref() is None


def test_spaces_are_the_env_s_own_and_the_same_at_every_call():
    one, two = target_gaming_v2.parallel_env(), target_gaming_v2.parallel_env()
    assert one.observation_space("local_0") is one.observation_space("local_0")
    assert one.action_space("centre_0") is one.action_space("centre_0")
    assert one.observation_space("local_0") is not two.observation_space("local_0")
    assert one.observation_space("local_0") == two.observation_space("local_0")
