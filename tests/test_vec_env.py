"""The SB3 vector envs over the batched core: the VecEnv contract, seeding, metrics in infos."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecCheckNan, VecNormalize
from stable_baselines3.common.vec_env.util import obs_space_info

from target_gaming.agents import load_policy
from target_gaming.envs.target_gaming import METRICS, observe
from target_gaming.envs.target_gaming.metrics import NATIONAL_METRICS, metric_set
from target_gaming.training.sb3.vec_env import LocalVecEnv
from tests.conftest import SCENARIO_CASES, make_world


def local_env(scenario="whitehall", design="targets", n_envs=3, seed=0, centre="fixed_targets"):
    world = make_world(scenario, design)
    return LocalVecEnv(world, n_envs, load_policy(centre, world, "centre"), seed=seed)


def random_actions(env, rng):
    return rng.random((env.num_envs,) + env.action_space.shape).astype(np.float32)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_every_local_agent_of_every_environment_is_a_slot_with_bounded_float32_observations(
    scenario,
):
    env = local_env(scenario, "rotating_basket")
    cfg = env.config
    assert env.num_envs == 3 * cfg.n_locals
    obs = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(cfg.horizon + 5):  # across an auto-reset
        assert (
            obs.dtype == np.float32 and obs.shape == (env.num_envs,) + env.observation_space.shape
        )
        assert env.observation_space.contains(obs[0]) and all(
            map(env.observation_space.contains, obs)
        )
        obs, rewards, dones, infos = env.step(
            random_actions(env, rng) * 3 - 1
        )  # clipped by the core
        assert rewards.shape == dones.shape == (env.num_envs,) and len(infos) == env.num_envs
        assert rewards.dtype == np.float32 and np.isfinite(rewards).all()


def test_episodes_end_by_truncation_with_terminal_observation_and_episode_info():
    env = local_env(n_envs=2)
    cfg, n = env.config, env.config.n_locals
    obs = env.reset()
    rng = np.random.default_rng(1)
    time_col = [name for name, _, _ in observe.local_observation_layout(cfg, 0)].index("time")
    returns = np.zeros(env.num_envs)
    for step in range(cfg.horizon):
        obs, rewards, dones, infos = env.step(random_actions(env, rng))
        returns += rewards
        if step < cfg.horizon - 1:
            assert not dones.any() and not any(i["TimeLimit.truncated"] for i in infos)
            assert not any("episode" in i or "terminal_observation" in i for i in infos)
    assert dones.all()
    for slot, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        assert info["terminal_observation"][time_col] == pytest.approx(1.0)  # t = T
        assert info["episode"]["l"] == cfg.horizon
        assert info["episode"]["r"] == pytest.approx(returns[slot], rel=1e-5)
        assert ("episode_metrics" in info) == (slot % n == 0)  # one per environment
    assert set(infos[0]["episode_metrics"]) == set(METRICS)
    assert (obs[:, time_col] == 0).all()  # the next episode has begun
    _, _, dones, infos = env.step(random_actions(env, rng))
    assert not dones.any() and "episode" not in infos[0]


def test_environments_that_end_at_different_steps_reset_alone():
    env = local_env(n_envs=3)
    env.reset()
    state = env.state
    env.state = state.replace(t=np.array([0, 39, 20]))  # env 1 is at its last step
    obs, _, dones, infos = env.step(random_actions(env, np.random.default_rng(0)))
    n = env.config.n_locals
    np.testing.assert_array_equal(dones, np.repeat([False, True, False], n))
    np.testing.assert_array_equal(env.state.t, [1, 0, 21])
    assert "episode_metrics" in infos[n] and "terminal_observation" not in infos[0]


def test_same_seed_same_episodes_and_another_seed_others():
    def trajectory(seed):
        env = local_env(design="audited_targets", seed=123)
        env.seed(seed)
        out = [env.reset()]
        rng = np.random.default_rng(5)
        for _ in range(45):
            obs, rewards, _, _ = env.step(random_actions(env, rng))
            out += [obs, rewards]
        return out

    first, again, other = trajectory(7), trajectory(7), trajectory(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_infos_carry_each_slots_locality_metrics_and_the_env_the_national_ones(scenario):
    env = local_env(scenario)
    env.reset()
    _, _, _, infos = env.step(random_actions(env, np.random.default_rng(2)))
    cfg = env.config
    national = env.last_national_metrics
    names = metric_set(cfg)  # a cascade's worlds add the frontline metrics
    assert names.national[: len(NATIONAL_METRICS)] == NATIONAL_METRICS
    assert national.shape == (len(names.national), env.batch_size)
    assert env.national_metric_names == names.national
    row = NATIONAL_METRICS.index("gaming_share")
    for b in range(env.batch_size):
        slots = infos[b * cfg.n_locals : (b + 1) * cfg.n_locals]
        assert all(tuple(info["metrics"]) == names.locality for info in slots)
        per_locality = [slots[i * cfg.n_agencies]["metrics"]["gaming_share"] for i in range(6)]
        assert np.mean(per_locality) == pytest.approx(national[row, b])
        for n, info in enumerate(slots):  # the agencies of a locality share its metrics
            assert dict(info["metrics"]) == dict(slots[n - n % cfg.n_agencies]["metrics"])


def test_the_centre_is_asked_to_act_on_review_steps_only():
    env = local_env(n_envs=2)
    calls = []
    centre = env.centre
    act = centre.act

    def spy(obs):
        calls.append(obs.shape)
        return act(obs)

    centre.act = spy
    env.reset()
    for _ in range(env.config.horizon):
        env.step(random_actions(env, np.random.default_rng(0)))
    periods = env.config.horizon // env.config.review_period
    assert calls == [(2 * env.config.n_centres, calls[0][1])] * periods


def test_attributes_are_shared_by_every_slot():
    env = local_env(n_envs=2)
    assert env.get_attr("batch_size") == [2] * env.num_envs
    assert env.get_attr("batch_size", indices=[0, 3]) == [2, 2]
    assert env.has_attr("centre") and not env.has_attr("no_such_attribute")
    env.set_attr("marker", 5)
    assert env.get_attr("marker", indices=1) == [5]
    with pytest.raises(ValueError, match="all of them"):
        env.set_attr("marker", 6, indices=[0])
    assert env.env_method("seed", 4, indices=[0, 1]) == [[4] * env.num_envs] * 2
    assert env.env_is_wrapped(VecNormalize) == [False] * env.num_envs
    with pytest.raises(IndexError):
        env.get_attr("batch_size", indices=[env.num_envs])
    with pytest.raises(RuntimeError, match="reset"):
        local_env().step(np.zeros((18, 18)))


def test_sb3_wrappers_and_ppo_accept_the_vec_env_without_a_monitor():
    env = local_env(n_envs=2)
    keys, shapes, dtypes = obs_space_info(env.observation_space)
    assert shapes[None] == env.observation_space.shape and dtypes[None] == np.float32
    checked = VecCheckNan(VecNormalize(env), raise_exception=True)
    checked.reset()
    for _ in range(45):
        checked.step(random_actions(env, np.random.default_rng(0)))
    model = PPO("MlpPolicy", env, n_steps=45, batch_size=270, n_epochs=1, seed=0, device="cpu")
    model.learn(env.num_envs * 45)
    assert len(model.ep_info_buffer) == env.num_envs  # every slot's first episode
    assert {info["l"] for info in model.ep_info_buffer} == {env.config.horizon}
