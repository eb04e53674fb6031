"""RLlib's array sampler (``BatchedEnvRunner``) held to RLlib's own sampling loop over the
same batched env (``WorldStepsEnvRunner``): the same episode chunks, agent by agent."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from ray.rllib.callbacks.callbacks import RLlibCallback  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402

from target_gaming.training.config import TrainConfig  # noqa: E402
from target_gaming.training.rllib.batched_env import WorldStepsEnvRunner  # noqa: E402
from target_gaming.training.rllib.config import RLlibSettings, algorithm_config  # noqa: E402
from target_gaming.training.rllib.runner import BatchedEnvRunner  # noqa: E402

COLUMNS = (Columns.ACTION_DIST_INPUTS, Columns.ACTION_LOGP)


def runners(scenario: str, n_steps: int, overrides: dict | None = None, worlds: int = 3):
    """The array runner and the reference on one config, the reference holding the array
    runner's module weights."""
    config = TrainConfig.from_dict(
        {
            "scenario": scenario,
            "n_envs": worlds,
            "overrides": overrides or {},
            "ppo": {"n_steps": n_steps, "net_arch": [16]},
            "centre_ppo": {"net_arch": [16]},
        }
    )
    fast_config = algorithm_config(config, RLlibSettings(), seed=5, sampler="arrays")
    ref_config = algorithm_config(config, RLlibSettings(), seed=5, sampler="episodes")
    fast, ref = BatchedEnvRunner(config=fast_config), WorldStepsEnvRunner(config=ref_config)
    ref.module.set_state(fast.module.get_state())
    return fast, ref, config


def agent_data(episode) -> dict:
    """Per agent: what a learner reads of its chunk."""
    data = {}
    for agent, sa in episode.agent_episodes.items():
        if len(sa) == 0:
            continue
        data[agent] = {
            "obs": np.asarray(sa.get_observations()),
            "actions": np.asarray(sa.get_actions()),
            "rewards": np.asarray(sa.get_rewards(), dtype=np.float64),
            **{c: np.asarray(sa.get_extra_model_outputs(c)) for c in COLUMNS},
            "t_started": sa.t_started,
            "truncated": sa.is_truncated,
            "terminated": sa.is_terminated,
            "module": sa.module_id,
        }
    return data


def assert_same_chunks(fast_chunks, ref_chunks) -> None:
    assert len(fast_chunks) == len(ref_chunks)
    for mine, theirs in zip(fast_chunks, ref_chunks):
        assert (len(mine), mine.env_t_started, mine.is_done) == (
            len(theirs),
            theirs.env_t_started,
            theirs.is_done,
        )
        a, b = agent_data(mine), agent_data(theirs)
        assert a.keys() == b.keys()
        for agent in b:
            for key, value in b[agent].items():
                if isinstance(value, np.ndarray):
                    np.testing.assert_allclose(
                        a[agent][key], value, rtol=1e-6, atol=1e-7, err_msg=f"{agent} {key}"
                    )
                else:
                    assert a[agent][key] == value, (agent, key)


@pytest.mark.parametrize(
    ("scenario", "n_steps", "overrides"),
    [
        ("whitehall", 16, {}),  # chunks cut after a centre decision: it hangs over
        ("whitehall", 7, {"horizon": 12}),  # chunks of odd lengths across episode ends
        ("jug_4", 5, {"horizon": 10, "review_period": 3}),  # departments: several centres
        ("whitehall", 4, {"horizon": 6, "review_period": 1}),  # the centre decides at t = 0
    ],
)
def test_the_array_runner_returns_the_reference_runners_chunks(scenario, n_steps, overrides):
    fast, ref, config = runners(scenario, n_steps, overrides)
    try:
        for _ in range(4):  # several rollouts: decisions and episodes carried over
            steps = config.n_envs * n_steps
            mine = fast.sample(num_timesteps=steps, explore=False)
            theirs = ref.sample(num_timesteps=steps, explore=False)
            assert_same_chunks(mine, theirs)
        for key in ("num_env_steps_sampled_lifetime", "num_episodes_lifetime"):
            assert fast.get_metrics()[key] == ref.get_metrics()[key], key
    finally:
        fast.stop()
        ref.stop()


def test_the_array_runner_samples_whole_episodes_and_explores():
    fast, ref, config = runners("whitehall", 16, {"horizon": 8}, worlds=2)
    try:
        # world episodes (the reference counts episodes of the env: B worlds each)
        episodes = fast.sample(num_episodes=3, explore=False)
        assert_same_chunks(episodes, ref.sample(num_episodes=2, explore=False))
        explored = fast.sample(num_timesteps=2 * 12, explore=True)  # ends mid-episode
        inferred = fast.sample(num_timesteps=2 * 16, explore=False, force_reset=True)
        # a forced reset drops the chunks of the episode it abandons (it never ends)
        assert explored[-1].id_ not in fast._ongoing_episodes_for_metrics
        a, b = agent_data(explored[0]), agent_data(inferred[0])
        assert not np.allclose(a["w0/local_0"]["actions"], b["w0/local_0"]["actions"])
        # the log-probabilities are those of the sampled actions under the module
        sa = explored[0].agent_episodes["w1/local_2"]
        assert np.isfinite(sa.get_extra_model_outputs(Columns.ACTION_LOGP)).all()
        summary = episodes[0].agent_episodes["w1/local_0"].get_infos(-1)["episode_metrics"]
        assert 0.0 <= summary["gaming_share"] <= 1.0
    finally:
        fast.stop()
        ref.stop()


def test_the_array_runner_refuses_what_it_does_not_do():
    fast, ref, config = runners("whitehall", 4)
    ref.stop()
    try:
        with pytest.raises(ValueError, match="random_actions"):
            fast.sample(num_timesteps=12, random_actions=True)
        config = fast.config
        config._env_to_module_connector = lambda env, spaces, device: []
        with pytest.raises(ValueError, match="env_to_module_connector"):
            fast.sample(num_timesteps=12)
        config._env_to_module_connector = None

        class Stepping(RLlibCallback):
            def on_episode_step(self, **kwargs):
                pass

        fast._callbacks = [Stepping()]
        with pytest.raises(ValueError, match="callback on_episode_step is not supported"):
            fast.sample(num_timesteps=12)
        fast._callbacks = [RLlibCallback()]
        config.count_steps_by = "agent_steps"
        with pytest.raises(ValueError, match="count_steps_by = 'agent_steps'"):
            fast.sample(num_timesteps=12)
        config.count_steps_by = "env_steps"
        assert fast.sample(num_timesteps=12)  # and it samples again
    finally:
        fast.stop()
