"""The native TorchRL env over the batched core, and TorchRL's own PettingZoo wrapper."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

pytest.importorskip("torchrl", reason="torchrl is not installed (the 'torchrl' extra)")

import torch  # noqa: E402
from tensordict import TensorDict  # noqa: E402
from torchrl.collectors import SyncDataCollector  # noqa: E402
from torchrl.envs import PettingZooWrapper  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402

from target_gaming.envs import target_gaming_v2  # noqa: E402
from target_gaming.envs.target_gaming import World, make_config, observe  # noqa: E402
from target_gaming.training.torchrl import GROUPS, TargetGamingTorchEnv  # noqa: E402
from tests.conftest import SCENARIO_CASES  # noqa: E402


def random_actions(env: TargetGamingTorchEnv, generator: torch.Generator) -> TensorDict:
    """Actions of every group, uniform in [0, 1], from ``generator``."""
    spec = env.full_action_spec
    parts = {
        group: TensorDict(
            {"action": torch.rand(spec[group, "action"].shape, generator=generator)},
            batch_size=spec[group].shape,
        )
        for group in GROUPS
    }
    return TensorDict(parts, batch_size=env.batch_size)


def episode(env: TargetGamingTorchEnv, steps: int, seed: int = 0) -> TensorDict:
    """``steps`` steps under seeded random actions (TorchRL resets ended environments)."""
    generator = torch.Generator().manual_seed(seed)
    td, out = env.reset(), []
    for _ in range(steps):
        td.update(random_actions(env, generator))
        stepped, td = env.step_and_maybe_reset(td)
        out.append(stepped.clone())
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_specs_pass_torchrls_check_env_specs(scenario):
    env = TargetGamingTorchEnv(scenario, "targeted_audits", num_envs=3, seed=0)
    check_env_specs(env)
    cfg = env.config
    centre_dim = len(observe.centre_action_layout(cfg, 0))  # 30, or 12 for a department
    assert env.full_action_spec["centre", "action"].shape == (3, cfg.n_centres, centre_dim)
    assert env.full_action_spec["local", "action"].shape == (3, cfg.n_locals, cfg.local_action_dim)
    assert len(env.group_map["centre"]) == cfg.n_centres
    assert len(env.group_map["local"]) == cfg.n_locals


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_action_specs_are_the_pettingzoo_envs_action_spaces(scenario):
    env = TargetGamingTorchEnv(scenario, num_envs=2)
    pz = target_gaming_v2.parallel_env(scenario=scenario)
    assert env.group_map == {"centre": pz.centre_agents, "local": pz.local_agents}
    for group in GROUPS:
        spec = env.full_action_spec[group, "action"]
        obs_spec = env.full_observation_spec[group, "observation"]
        assert spec.dtype == obs_spec.dtype == torch.float32
        for i, agent in enumerate(env.group_map[group]):
            space = pz.action_space(agent)
            assert spec.shape[-1] == space.shape[0]
            assert (spec.space.low[0, i] == 0).all() and (spec.space.high[0, i] == 1).all()
            obs_space = pz.observation_space(agent)
            assert np.array_equal(obs_spec.space.low[1, i].numpy(), obs_space.low)
            assert np.array_equal(obs_spec.space.high[1, i].numpy(), obs_space.high)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_rewards_observations_and_metrics_equal_the_batched_cores(scenario):
    """A whole episode and the first step of the next, step by step against ``World``."""
    batch, seed = 4, 3
    env = TargetGamingTorchEnv(scenario, "targeted_audits", num_envs=batch, seed=seed)
    cfg = env.config
    world = World(make_config(scenario), "targeted_audits")
    rng = np.random.default_rng(seed)
    state = world.reset(rng, batch)
    generator = torch.Generator().manual_seed(0)
    td = env.reset()
    locality = np.arange(cfg.n_locals) // cfg.n_agencies
    for step in range(cfg.horizon + 1):
        local_obs, centre_obs = observe.observations(cfg, state)
        assert torch.equal(td["local", "observation"], torch.from_numpy(local_obs))
        assert torch.equal(td["centre", "observation"], torch.from_numpy(centre_obs))
        review = torch.from_numpy(np.asarray(cfg.is_review_step(state.t)))
        flags = td["centre", "review"][..., 0]  # (B, C)
        assert torch.equal(flags, review[:, None].expand_as(flags))
        td.update(random_actions(env, generator))
        stepped, td = env.step_and_maybe_reset(td)
        result = world.step(
            state,
            stepped["local", "action"].numpy(),
            stepped["centre", "action"].numpy(),
            rng,
        )
        nxt = stepped["next"]
        for group, core in (("local", result.local_rewards), ("centre", result.centre_rewards)):
            reward = torch.from_numpy(core.astype(np.float32))
            assert torch.equal(nxt[group, "reward"][..., 0], reward)
        national, local = result.metrics.national, result.metrics.locality
        names = world.metric_set  # a cascade's worlds add the frontline metrics
        for name in names.national:
            expected = torch.from_numpy(national[name].astype(np.float32))
            got = nxt["centre", "info", name]  # (B, C): every centre sees the national metrics
            assert torch.equal(got, expected[:, None].expand_as(got))
        for name in names.locality:
            expected = torch.from_numpy(local[name][:, locality].astype(np.float32))
            assert torch.equal(nxt["local", "info", name], expected)
        truncated = torch.from_numpy(result.truncated)
        assert torch.equal(nxt["done"][:, 0], truncated) and not nxt["terminated"].any()
        for group in GROUPS:
            assert torch.equal(nxt[group, "truncated"][..., 0].all(-1), truncated)
        assert truncated.all() == (step == cfg.horizon - 1)
        state = world.reset(rng, batch) if truncated.all() else result.state


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_one_environment_steps_as_the_pettingzoo_env(scenario):
    """B = 1 against ``target_gaming_v2.parallel_env``: observations, rewards, infos."""
    env = TargetGamingTorchEnv(scenario, "audited_targets", num_envs=1, seed=11)
    pz = target_gaming_v2.parallel_env(scenario=scenario, design="audited_targets")
    obs, infos = pz.reset(seed=11)
    td = env.reset()
    generator = torch.Generator().manual_seed(5)
    while pz.agents:
        for group in GROUPS:
            for i, agent in enumerate(env.group_map[group]):
                assert np.array_equal(td[group, "observation"][0, i].numpy(), obs[agent])
                metrics = env.world.metric_set
                names = metrics.national if group == "centre" else metrics.locality
                got = {name: td[group, "info", name][0, i].item() for name in names}
                assert got == pytest.approx(infos[agent], rel=1e-6, abs=1e-7)
        td.update(random_actions(env, generator))
        actions = {
            agent: td[group, "action"][0, i].numpy()
            for group in GROUPS
            for i, agent in enumerate(env.group_map[group])
        }
        obs, rewards, _, truncations, infos = pz.step(actions)
        td = env.step(td)["next"]
        for group in GROUPS:
            for i, agent in enumerate(env.group_map[group]):
                assert td[group, "reward"][0, i, 0].item() == np.float32(rewards[agent])
                assert td[group, "truncated"][0, i, 0].item() == truncations[agent]


def test_a_collector_gathers_batches_of_every_group():
    env = TargetGamingTorchEnv("jug_4", num_envs=4, seed=0)
    collector = SyncDataCollector(env, None, frames_per_batch=4 * 10, total_frames=4 * 20)
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 2
    for data in batches:
        assert data.batch_size == (4, 10)
        assert data["next", "local", "reward"].shape == (4, 10, 24, 1)
        assert data["next", "centre", "info", "true_welfare"].shape == (4, 10, 4)
        # the centre's action is read at steps 4, 8, ... (counting from 1)
        review = data["centre", "review"][0, :, 0, 0].tolist()
        assert review == [t % 4 == 3 for t in range(10)] or review == [
            t % 4 == 3 for t in range(10, 20)
        ]


def test_a_rollout_auto_resets_every_environment_at_the_horizon():
    env = TargetGamingTorchEnv(num_envs=3, seed=0, overrides={"horizon": 8})
    data = env.rollout(20, break_when_any_done=False)
    done = data["next", "done"][..., 0]
    assert done.shape == (3, 20)
    assert done.all(0).tolist() == [t % 8 == 7 for t in range(20)]
    assert torch.equal(done.any(0), done.all(0))  # the environments end together
    assert not data["next", "terminated"].any()


def test_same_seed_gives_the_same_rollout_and_another_seed_another():
    a, b = (TargetGamingTorchEnv("jug_4", num_envs=3, seed=7) for _ in range(2))
    first = episode(a, 45)
    assert (first == episode(b, 45)).all()
    a.set_seed(7)
    assert (episode(a, 45) == first).all()  # set_seed replays the episodes
    other = TargetGamingTorchEnv("jug_4", num_envs=3, seed=8)
    assert not torch.equal(
        episode(other, 5)["local", "observation"], first[:, :5]["local", "observation"]
    )


def test_a_copy_or_pickle_steps_as_the_original_from_mid_episode():
    env = TargetGamingTorchEnv("jug_4", "targeted_audits", num_envs=2, seed=3)
    generator = torch.Generator().manual_seed(0)
    td = env.reset()
    for _ in range(6):
        td.update(random_actions(env, generator))
        td = env.step(td)["next"]
    copies = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]
    steps = [random_actions(env, generator) for _ in range(40)]  # across the horizon
    runs = []
    for each in [env, *copies]:
        current, out = td.clone(), []
        for actions in steps:
            current.update(actions)
            stepped, current = each.step_and_maybe_reset(current)
            out.append(stepped["next"].clone())
        runs.append(torch.stack(out, 1))
    assert all((run == runs[0]).all() for run in runs[1:])


def test_a_partial_reset_redraws_only_the_masked_environments():
    env = TargetGamingTorchEnv(num_envs=3, seed=0)
    generator = torch.Generator().manual_seed(0)
    td = env.reset()
    for _ in range(5):
        td.update(random_actions(env, generator))
        td = env.step(td)["next"]
    before = env.world_state
    td["_reset"] = torch.tensor([[False], [True], [False]])
    after = env.reset(td)
    assert env.world_state.t.tolist() == [5, 0, 5]
    assert np.array_equal(env.world_state.true[[0, 2]], before.true[[0, 2]])
    assert not np.array_equal(env.world_state.baseline[1], before.baseline[1])
    assert after["local", "observation"].shape == (3, 6, 42)


def test_centre_actions_count_at_reviews_only():
    """Centre actions that differ only where ``review`` is False give the same rollout;
    ones that differ at a review give other targets from it on."""

    def run(at_review: float, between: float, steps: int = 8) -> tuple[TensorDict, list]:
        env = TargetGamingTorchEnv("whitehall", "targeted_audits", num_envs=2, seed=1)
        generator = torch.Generator().manual_seed(2)
        td, out, targets = env.reset(), [], []
        for _ in range(steps):
            td.update(random_actions(env, generator))
            action = td["centre", "action"]
            td["centre", "action"] = torch.where(
                td["centre", "review"], torch.full_like(action, at_review), between
            )
            td = env.step(td)["next"]
            out.append(td.clone())
            targets.append(env.world_state.targets)
        return torch.stack(out, 1), targets

    zeros, _ = run(0.5, 0.0)
    ones, _ = run(0.5, 1.0)
    assert (zeros == ones).all()
    _, low = run(0.0, 0.5)
    _, high = run(1.0, 0.5)
    assert all(np.array_equal(x, y) for x, y in zip(low[:3], high[:3]))
    assert not np.array_equal(low[3], high[3])  # the 4th step is the first review


def test_bad_arguments_and_actions_fail_with_what_is_allowed():
    with pytest.raises(ValueError, match="num_envs"):
        TargetGamingTorchEnv(num_envs=0)
    with pytest.raises(ValueError, match="scenario"):
        TargetGamingTorchEnv("nowhere")
    env = TargetGamingTorchEnv(num_envs=2, seed=0)
    td = env.reset()
    td.update(random_actions(env, torch.Generator().manual_seed(0)))
    td["local", "action"][0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="local_actions contains NaN"):
        env.step(td)


def test_torchrls_pettingzoo_wrapper_wraps_the_pettingzoo_env():
    """Flat infos with the same keys at reset and step: TorchRL keeps every metric."""
    env = PettingZooWrapper(target_gaming_v2.parallel_env(), seed=0)
    assert env.parallel  # the wrapper sees a ParallelEnv
    check_env_specs(env)
    data = env.rollout(5)
    assert data["next", "local", "info", "gaming_share"].shape == (5, 6)
    assert data["next", "centre", "info", "true_welfare"].shape == (5, 1)
