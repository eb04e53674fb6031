"""Ray RLlib's fast path: B worlds in one MultiAgentEnv, held to the B = 1 adapter, and
training through it."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from target_gaming.envs.target_gaming import get_design  # noqa: E402
from target_gaming.envs.target_gaming.parallel import TargetGamingEnv  # noqa: E402
from target_gaming.training.config import TrainConfig  # noqa: E402
from target_gaming.training.rllib.batched_env import (  # noqa: E402
    BatchedMultiAgentEnv,
    WorldStepsEnvRunner,
)
from target_gaming.training.rllib.config import RLlibSettings, algorithm_config  # noqa: E402
from target_gaming.training.rllib.env import (  # noqa: E402
    TargetGamingMultiAgentEnv,
    policy_mapping_fn,
)
from target_gaming.training.rllib.runner import BatchedEnvRunner  # noqa: E402


def actions_for(obs: dict, spaces: dict, rng: np.random.Generator) -> dict:
    """Float32 actions, some outside their space (clipped), for the agents that observed."""
    return {
        a: rng.uniform(spaces[a].low - 0.2, spaces[a].high + 0.2).astype(np.float32) for a in obs
    }


def prefixed(values: dict, world: int = 0) -> dict:
    """An adapter's dict keyed as world ``world`` of the batched env (``__all__`` kept)."""
    return {(k if k == "__all__" else f"w{world}/{k}"): v for k, v in values.items()}


def world_part(values: dict, world: int) -> dict:
    """World ``world``'s entries of a batched env's dict, keyed by agent name."""
    prefix = f"w{world}/"
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def assert_same_observations(obs: dict, adapter_obs: dict, world: int, rtol: float) -> None:
    mine = world_part(obs, world)
    assert mine.keys() == adapter_obs.keys()
    for agent, value in adapter_obs.items():
        assert mine[agent].dtype == np.float32
        np.testing.assert_allclose(mine[agent], value, rtol=rtol, atol=0, err_msg=agent)


def assert_same_step(batched_step, adapter_step, world: int, rtol: float = 0.0) -> None:
    """World ``world`` of a batched step is the adapter's step: exactly with ``rtol`` 0."""
    obs, rewards, terminateds, truncateds, infos = batched_step
    a_obs, a_rewards, a_terminateds, a_truncateds, a_infos = adapter_step
    assert_same_observations(obs, a_obs, world, rtol)
    assert world_part(rewards, world) == pytest.approx(a_rewards, rel=rtol, abs=0)
    for batched, alone in ((terminateds, a_terminateds), (truncateds, a_truncateds)):
        assert world_part(batched, world) == {k: v for k, v in alone.items() if k != "__all__"}
        assert batched["__all__"] == alone["__all__"]
    infos = world_part(infos, world)  # episode_metrics at the end, else {}
    assert infos.keys() == a_infos.keys()
    for agent, info in a_infos.items():
        assert infos[agent].keys() == info.keys()
        if info:
            expected = info["episode_metrics"]
            assert infos[agent]["episode_metrics"] == pytest.approx(expected, rel=rtol, abs=0)


# ---- one world is the B = 1 adapter --------------------------------------------------


@pytest.mark.parametrize(
    "env_config",
    [
        {"design": "audited_targets", "overrides": {"horizon": 9, "review_period": 4}},
        {"scenario": "jug_4", "design": "targeted_audits", "overrides": {"horizon": 7}},
        {"design": "rotating_basket", "reward_scale": 0.25, "overrides": {"horizon": 5}},
        {"design": "targeted_audits", "centre_action": "relative", "overrides": {"horizon": 9}},
        {"scenario": "jug_4", "centre_action": "relative", "overrides": {"horizon": 7}},
    ],
)
def test_one_world_gives_the_adapters_observations_rewards_and_episode_metrics(env_config):
    batched = BatchedMultiAgentEnv({**env_config, "worlds": 1})
    adapter = TargetGamingMultiAgentEnv(env_config)
    rng = np.random.default_rng(0)
    for episode in range(3):  # seeded, then continuing the generator, then reseeded
        seed = {0: 11, 1: None, 2: 12}[episode]
        a_obs, a_infos = adapter.reset(seed=seed)
        obs, infos = batched.reset(seed=seed)
        assert_same_observations(obs, a_obs, world=0, rtol=0.0)
        assert world_part(infos, 0) == a_infos
        while adapter.agents:
            actions = actions_for(a_obs, adapter.action_spaces, rng)
            step = adapter.step(actions)
            assert_same_step(batched.step(prefixed(actions)), step, world=0)
            a_obs = step[0]
        assert batched.agents == []


# ---- each world of a batch is that world alone -------------------------------------------


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_each_world_of_a_batch_steps_as_that_world_alone(scenario):
    # no noise and no audits: a step is fixed by the state and the actions, so a world of
    # the batch can be replayed alone, from its slice of the batch's state
    overrides = {"horizon": 9, "review_period": 4, "sigma_x": 0.0, "sigma_m": 0.0}
    config = {"scenario": scenario, "design": "targets", "overrides": overrides}
    assert get_design("targets").audits == "none"
    batched = BatchedMultiAgentEnv({**config, "worlds": 3, "reward_scale": 0.5})
    obs, _ = batched.reset(seed=5)
    alone = [TargetGamingMultiAgentEnv({**config, "reward_scale": 0.5}) for _ in range(3)]
    for world, adapter in enumerate(alone):
        adapter.reset(seed=99)
        adapter.env.world_state = batched.state.index(world)
    rng = np.random.default_rng(1)
    ended = []
    while batched.agents:
        actions = actions_for(obs, batched.action_spaces, rng)
        step = batched.step(actions)
        for world, adapter in enumerate(alone):
            # to rounding: the core sums some metrics over the batch in another order
            assert_same_step(step, adapter.step(world_part(actions, world)), world, rtol=1e-12)
        obs = step[0]
        ended.append(step[4])
    finals = [world_part(ended[-1], w)["local_0"]["episode_metrics"] for w in range(3)]
    assert finals[0] != finals[1] != finals[2]  # three different worlds


# ---- the contract: agent ids, spaces, modules, steps ----------------------------------


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_agent_ids_are_world_prefixed_names_with_the_pettingzoo_spaces(scenario):
    env = BatchedMultiAgentEnv({"scenario": scenario, "worlds": 3})
    pz = TargetGamingEnv(scenario=scenario)
    assert env.possible_agents == [f"w{b}/{a}" for b in range(3) for a in pz.possible_agents]
    assert env.centre_agents == [f"w{b}/{a}" for b in range(3) for a in pz.centre_agents]
    assert env.local_agents == [f"w{b}/{a}" for b in range(3) for a in pz.local_agents]
    for agent in env.possible_agents:
        name = agent.split("/")[1]
        assert env.observation_spaces[agent] == pz.observation_space(name)
        assert env.action_spaces[agent] == pz.action_space(name)
        assert policy_mapping_fn(agent) == policy_mapping_fn(name)
    assert {policy_mapping_fn(a) for a in env.local_agents} == {"local"}
    assert {policy_mapping_fn(a) for a in env.centre_agents} == {"centre"}


def test_a_batch_keeps_the_step_contract_in_every_world():
    env = BatchedMultiAgentEnv({"worlds": 4, "overrides": {"horizon": 10, "review_period": 4}})
    assert env.agents == []
    obs, infos = env.reset(seed=1)
    assert list(obs) == env.local_agents and set(infos) == set(obs)
    assert env.agents == env.possible_agents
    rng, seen, t = np.random.default_rng(2), [], 0
    while env.agents:
        obs, rewards, terminateds, truncateds, infos = env.step(
            actions_for(obs, env.action_spaces, rng)
        )
        t += 1
        last = t == 10
        assert set(rewards) == set(env.possible_agents)
        assert set(terminateds) == set(truncateds) == {*env.possible_agents, "__all__"}
        assert not any(terminateds.values())
        assert all(v is last for v in truncateds.values())
        assert set(infos) == set(obs)
        assert all(("episode_metrics" in info) is last for info in infos.values())
        if set(env.centre_agents) <= set(obs):
            seen.append(t)
        for agent, value in obs.items():
            assert env.observation_spaces[agent].contains(value)
    assert seen == [3, 7, 10]  # states t = 3, 7 (their actions are read next) and the last
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_bad_actions_and_settings_fail_naming_what_is_wrong():
    env = BatchedMultiAgentEnv({"worlds": 2})
    obs, _ = env.reset(seed=0)
    good = {a: np.full(env.action_spaces[a].shape, 0.5) for a in obs}
    with pytest.raises(ValueError, match="w1/local_2"):
        env.step({**good, "w1/local_2": np.full(18, np.nan)})
    with pytest.raises(ValueError, match="missing.*w0/local_5"):
        env.step({a: v for a, v in good.items() if a != "w0/local_5"})
    with pytest.raises(ValueError, match="w1/local_0.*shape"):
        env.step({**good, "w1/local_0": np.zeros(3)})
    with pytest.raises(ValueError, match="worlds"):
        BatchedMultiAgentEnv({"worlds": 0})
    with pytest.raises(ValueError, match="unknown env_config"):
        BatchedMultiAgentEnv({"world": 2})
    with pytest.raises(ValueError, match="reward_scale"):
        BatchedMultiAgentEnv({"reward_scale": -1.0})


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda env: pickle.loads(pickle.dumps(env))])
def test_a_copied_or_pickled_batch_steps_like_the_original(copier):
    env = BatchedMultiAgentEnv({"worlds": 2, "design": "audited_targets"})
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(0)
    obs = env.step(actions_for(obs, env.action_spaces, rng))[0]
    twin = copier(env)
    for _ in range(5):
        actions = actions_for(obs, env.action_spaces, rng)
        mine, theirs = env.step(actions), twin.step(actions)
        assert mine[1] == theirs[1] and mine[0].keys() == theirs[0].keys()
        assert all(np.array_equal(mine[0][a], theirs[0][a]) for a in mine[0])
        obs = mine[0]


def test_rllibs_own_multi_agent_env_check_passes_for_a_batch():
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    check_multiagent_environments(BatchedMultiAgentEnv({"worlds": 3}))


# ---- the trainer's path ------------------------------------------------------------------


def test_the_trainer_shares_n_envs_worlds_out_among_the_runners():
    config = TrainConfig(n_envs=8)
    algo = algorithm_config(config, RLlibSettings(num_env_runners=2), seed=0)
    assert algo.env is BatchedMultiAgentEnv and algo.env_runner_cls is BatchedEnvRunner
    assert algo.env_config["worlds"] == 4 and algo.num_envs_per_env_runner == 1
    assert algo.train_batch_size_per_learner == 8 * config.ppo.n_steps  # world steps
    episodes = algorithm_config(config, RLlibSettings(), seed=0, sampler="episodes")
    assert episodes.env is BatchedMultiAgentEnv and episodes.env_runner_cls is WorldStepsEnvRunner
    reference = algorithm_config(config, RLlibSettings(), seed=0, sampler="adapter")
    assert reference.env is TargetGamingMultiAgentEnv and reference.num_envs_per_env_runner == 8
    with pytest.raises(ValueError, match="sampler = 'batched' must be one of"):
        algorithm_config(config, RLlibSettings(), seed=0, sampler="batched")
    uneven = algorithm_config(config, RLlibSettings(num_env_runners=3), seed=0)
    assert uneven.env_config["worlds"] == 3  # ceil(8 / 3), as the reference's envs per runner


@pytest.mark.slow
def test_training_through_the_batch_counts_world_steps_and_repeats_for_a_seed():
    from target_gaming.training.cluster import ray_session
    from target_gaming.training.rllib.train import progress_row

    config = TrainConfig.from_dict(
        {
            "n_envs": 4,
            "overrides": {"horizon": 5},
            "ppo": {"n_steps": 10, "batch_size": 20, "n_epochs": 1, "net_arch": [8]},
            "centre_ppo": {"net_arch": [8]},
        }
    )
    runs = []
    with ray_session(None, 2):
        for _ in range(2):
            algo = algorithm_config(config, RLlibSettings(), seed=3).build_algo()
            learner = algo.learner_group._learner
            for module_id in ("local", "centre"):  # SB3's optimizer
                optimizer = learner.get_optimizer(module_id)
                assert optimizer.defaults["eps"] == 1e-5 and optimizer.defaults["foreach"]
            try:
                runs.append([progress_row(i, algo.train()) for i in (1, 2)])
            finally:
                algo.stop()
    rows = runs[0]
    # one iteration: 4 worlds x 10 steps = 40 world steps, 240 local agent-steps, and
    # every world ends two episodes of 5 steps, with two centre decisions in each
    assert [r["env_steps"] for r in rows] == [40, 80]
    assert [r["local_timesteps"] for r in rows] == [240, 480]
    assert [r["centre_decisions"] for r in rows] == [16, 32]
    assert [r["episodes"] for r in rows] == [8, 8]
    assert all(0.0 <= r["gaming_share"] <= 1.0 for r in rows)
    for row in (*runs[0], *runs[1]):
        row.pop("seconds")
    assert runs[0] == runs[1]  # the same seed, the same run


def test_step_arrays_checks_its_actions_as_step_does():
    env = BatchedMultiAgentEnv({"worlds": 2})
    env.reset(seed=0)
    n, d = env.config.n_locals, env.config.local_action_dim
    with pytest.raises(ValueError, match=r"actions must be numbers of shape \(2, 6, "):
        env.step_arrays(np.zeros((n, 2, d)))
    bad = np.full((2, n, d), 0.5)
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"\['w1/local_3'\] contains NaN"):
        env.step_arrays(bad)
    while not env.centre_decides():
        env.step_arrays(np.full((2, n, d), 0.5))
    with pytest.raises(ValueError, match="central actions are required on a review step"):
        env.step_arrays(np.full((2, n, d), 0.5))
