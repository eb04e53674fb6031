"""The centre's semi-MDP view: one decision per review period, frozen locals, check_env."""

from __future__ import annotations

import importlib
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.envs.registration import parse_env_id
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from gymnasium.wrappers import RecordEpisodeStatistics
from stable_baselines3.common.env_checker import check_env

import target_gaming.training.sb3
from target_gaming.agents import load_policy
from target_gaming.envs.target_gaming import METRICS, WORLD_VERSION, World, observe
from target_gaming.training.sb3 import CENTRE_ENV_ID
from target_gaming.training.sb3.centre_env import CentreEnv, CentreVecEnv
from tests.conftest import make_world


def test_the_coordinated_centre_env_passes_sb3_check_env():
    with pytest.warns(UserWarning, match="symmetric"):  # its actions live in [0, 1]
        check_env(CentreEnv(design="targeted_audits", local_policy="reactive_gamer"))


def test_one_centre_step_is_one_review_period_and_rewards_sum_its_steps():
    env = CentreEnv(design="targeted_audits", seed=3)
    cfg = env.world.config
    names = [name for name, _, _ in observe.centre_observation_layout(cfg, 0)]
    obs, _ = env.reset(seed=3)
    # replay the same world by hand: the same generator draws in the same order
    world, rng = World(cfg, "targeted_audits"), np.random.default_rng(3)
    locals_policy = load_policy("honest", world, "local", seed=3)
    state = world.reset(rng, 1)
    idle = np.zeros((1, 1, env.action_space.shape[0]))

    def world_step(state, centre):
        local = locals_policy.act(observe.local_observations(cfg, state)[0])[None]
        return world.step(state, local, centre, rng)

    for _ in range(cfg.review_period - 1):
        state = world_step(state, idle).state
    np.testing.assert_array_equal(obs, observe.centre_observations(cfg, state)[0, 0])
    assert obs[names.index("time_to_review")] == 0.0  # just before the review step
    action = np.linspace(0, 1, env.action_space.shape[0]).astype(np.float32)
    steps, truncated = 0, False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(action)
        expected = 0.0
        for _ in range(cfg.review_period):
            result = world_step(state, action[None, None].astype(np.float64))
            expected += float(result.centre_rewards[0, 0])
            state = result.state
            if result.truncated[0]:
                break
        assert reward == pytest.approx(expected, rel=1e-5) and not terminated
        steps += 1
    assert steps == cfg.horizon // cfg.review_period
    assert set(info["episode_metrics"]) == set(METRICS) and "episode" not in info


def test_departments_are_slots_of_one_vec_env_each_with_its_own_reward():
    world = make_world("jug_4", "targeted_audits")
    env = CentreVecEnv(world, 2, load_policy("honest", world, "local"), seed=0)
    k = world.config.n_domains
    assert env.num_envs == 2 * k
    obs = env.reset()
    names = [name for name, _, _ in observe.centre_observation_layout(world.config, 0)]
    onehot = [i for i, name in enumerate(names) if name.startswith("department:")]
    np.testing.assert_array_equal(obs[:k, onehot], np.eye(k))
    rng = np.random.default_rng(0)
    for _ in range(world.config.horizon // world.config.review_period):
        actions = rng.random((env.num_envs, env.action_space.shape[0])).astype(np.float32)
        obs, rewards, dones, infos = env.step(actions)
        assert all(map(env.observation_space.contains, obs))
    assert dones.all() and len(set(rewards[:k].tolist())) > 1  # own domain, own reward
    assert "terminal_observation" in infos[1] and "episode_metrics" in infos[k]


def test_centre_env_for_departments_points_to_the_vec_env():
    with pytest.raises(ValueError, match="CentreVecEnv"):
        CentreEnv(scenario="jug_3")


def test_the_centre_env_is_deterministic_for_a_seed():
    def episode(seed):
        env = CentreEnv(local_policy="random")
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(10):
            obs, reward, *_ = env.step(np.full(env.action_space.shape, 0.5, np.float32))
            out += [obs, reward]
        return out

    assert all(np.array_equal(a, b) for a, b in zip(episode(4), episode(4)))
    assert not all(np.array_equal(a, b) for a, b in zip(episode(4), episode(5)))


def test_record_episode_statistics_counts_the_centre_decisions_of_an_episode():
    env = RecordEpisodeStatistics(CentreEnv(design="targeted_audits", seed=1))
    env.reset(seed=1)
    cfg, total, truncated = env.unwrapped.world.config, 0.0, False
    while not truncated:
        _, reward, _, truncated, info = env.step(env.action_space.sample())
        total += reward
    assert info["episode"]["l"] == cfg.horizon // cfg.review_period
    assert info["episode"]["r"] == pytest.approx(total)
    assert set(info["episode_metrics"]) == set(METRICS)  # the world's summary beside it


def test_gymnasium_make_builds_the_registered_centre_env_with_its_arguments():
    world, world_version = WORLD_VERSION.rsplit("_v", 1)
    assert parse_env_id(CENTRE_ENV_ID) == (world, "centre", int(world_version))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is registered again
        importlib.reload(target_gaming.training.sb3)
    env = gymnasium.make(
        CENTRE_ENV_ID,
        design="targeted_audits",
        local_policy="reactive_gamer",
        overrides={"n_localities": 3},
    )
    assert isinstance(env.unwrapped, CentreEnv)
    assert env.unwrapped.world.design.name == "targeted_audits"
    assert env.unwrapped.world.config.n_localities == 3
    gymnasium_check_env(env.unwrapped)
    by_module = gymnasium.make(f"target_gaming.training.sb3:{CENTRE_ENV_ID}")
    assert isinstance(by_module.unwrapped, CentreEnv)


def test_the_centre_env_renders_each_decision_point_in_the_modes_it_names(capsys):
    metadata = CentreEnv.metadata
    assert {"name", "render_modes", "render_fps"} <= set(metadata)
    assert metadata["render_modes"] == ["human", "ansi", "rgb_array"]
    frames = {}
    for mode in metadata["render_modes"]:
        env = gymnasium.make(CENTRE_ENV_ID, render_mode=mode)
        env.reset(seed=0)
        env.step(env.action_space.sample())
        frames[mode] = None if mode == "human" else env.render()
        env.close()
    period = env.unwrapped.world.config.review_period
    printed = capsys.readouterr().out  # "human": a table at the reset and at the step
    times = [line.split("/")[0] for line in printed.splitlines() if line.startswith("t=")]
    assert times == [f"t={period - 1}", f"t={2 * period - 1}"]
    assert frames["ansi"].startswith(f"t={2 * period - 1}/")
    assert frames["rgb_array"].shape == (360, 640, 3)
    assert frames["rgb_array"].dtype == np.uint8
    with pytest.raises(ValueError, match="rgb_array"):
        CentreEnv(render_mode="screen")
