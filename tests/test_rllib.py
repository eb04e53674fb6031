"""Ray RLlib: the MultiAgentEnv adapter, the .rllib loader, the budget mapping, joint training."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from target_gaming.agents import load_policy  # noqa: E402
from target_gaming.envs.target_gaming.parallel import TargetGamingEnv  # noqa: E402
from target_gaming.training.cli import main  # noqa: E402
from target_gaming.training.config import TrainConfig  # noqa: E402
from target_gaming.training.evaluation.rollout import EPISODE_COLUMNS, RolloutSpec, rollout  # noqa: E402
from target_gaming.training.rllib.config import (  # noqa: E402
    ROLES,
    RLlibSettings,
    centre_log_std_at,
    checkpoint_interval,
    iterations,
    reward_scale,
    train_batch_size,
)
from target_gaming.training.rllib.env import TargetGamingMultiAgentEnv, policy_mapping_fn  # noqa: E402
from target_gaming.training.rllib.train import list_checkpoints, train_rllib  # noqa: E402
from tests.conftest import make_world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def play(env: TargetGamingMultiAgentEnv, seed: int | None, level: float = 0.5):
    """One episode with constant actions; the list of step results."""
    obs, _ = env.reset(seed=seed)
    steps = []
    while env.agents:
        actions = {a: np.full(env.action_spaces[a].shape, level) for a in obs}
        obs, *rest = env.step(actions)
        steps.append((obs, *rest))
    return steps


# ---- the adapter -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_adapter_spaces_and_agent_order_follow_the_pettingzoo_env(scenario):
    env = TargetGamingMultiAgentEnv({"scenario": scenario})
    pz = TargetGamingEnv(scenario=scenario)
    assert env.possible_agents == pz.possible_agents  # centre(s) first, then local_0, 1, ...
    for agent in env.possible_agents:
        assert env.observation_spaces[agent] == pz.observation_space(agent)
        assert env.action_spaces[agent] == pz.action_space(agent)
        expected = "local" if agent.startswith("local_") else "centre"
        assert policy_mapping_fn(agent, None) == expected


def test_agents_list_is_ordered_and_kept_up_to_date():
    env = TargetGamingMultiAgentEnv({"overrides": {"horizon": 8}})
    assert env.agents == []
    env.reset(seed=0)
    assert env.agents == env.possible_agents
    play(env, seed=0)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_the_centre_observes_only_on_review_steps_and_at_the_end():
    env = TargetGamingMultiAgentEnv({"overrides": {"horizon": 10, "review_period": 4}})
    obs, infos = env.reset(seed=1)
    assert list(obs) == env.local_agents and set(infos) == set(obs)
    seen = [i + 1 for i, step in enumerate(play(env, seed=1)) if "centre_0" in step[0]]
    assert seen == [3, 7, 10]  # states t = 3, 7 (its action is read next) and the final one


def test_step_contract_rewards_all_keys_and_episode_metrics_at_the_end():
    env = TargetGamingMultiAgentEnv({"design": "audited_targets", "overrides": {"horizon": 6}})
    steps = play(env, seed=2)
    for i, (obs, rewards, terminateds, truncateds, infos) in enumerate(steps):
        last = i == len(steps) - 1
        assert set(rewards) == set(env.possible_agents)  # the centre's sum into its next step
        assert set(terminateds) == set(truncateds) == {*env.possible_agents, "__all__"}
        assert terminateds["__all__"] is False and truncateds["__all__"] is last
        assert all(truncateds[a] is last for a in env.possible_agents)
        assert set(infos) == set(obs)
        assert all(("episode_metrics" in info) is last for info in infos.values())
        for agent, value in obs.items():
            assert value.dtype == np.float32 and env.observation_spaces[agent].contains(value)
    summary = steps[-1][4]["local_0"]["episode_metrics"]
    local_sum = sum(np.mean([s[1][a] for a in env.local_agents]) for s in steps)
    assert summary["local_return"] == pytest.approx(local_sum)
    assert 0.0 <= summary["gaming_share"] <= 1.0


def test_reward_scale_scales_what_rllib_sees_and_not_the_logged_returns():
    plain = play(TargetGamingMultiAgentEnv({"overrides": {"horizon": 5}}), seed=4)
    scaled = play(TargetGamingMultiAgentEnv({"overrides": {"horizon": 5}, "reward_scale": 0.1}), 4)
    for a, b in zip(plain, scaled):
        assert b[1] == pytest.approx({k: 0.1 * v for k, v in a[1].items()})
    assert scaled[-1][4]["local_0"] == plain[-1][4]["local_0"]
    with pytest.raises(ValueError, match="reward_scale"):
        TargetGamingMultiAgentEnv({"reward_scale": 0.0})
    with pytest.raises(ValueError, match="unknown env_config"):
        TargetGamingMultiAgentEnv({"scenari": "jug_4"})


def test_rllibs_own_multi_agent_env_check_passes():
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    check_multiagent_environments(TargetGamingMultiAgentEnv({}))


def test_seeded_resets_repeat_an_episode_and_unseeded_ones_continue():
    first, second = TargetGamingMultiAgentEnv({}), TargetGamingMultiAgentEnv({})
    a, b = play(first, seed=7), play(second, seed=7)
    assert [s[1] for s in a] == [s[1] for s in b]
    assert all(np.array_equal(x[0][k], y[0][k]) for x, y in zip(a, b) for k in x[0])
    assert [s[1] for s in play(first, seed=None)] != [s[1] for s in a]


def test_out_of_range_actions_are_clipped_and_nan_is_refused():
    wild, tame = TargetGamingMultiAgentEnv({}), TargetGamingMultiAgentEnv({})
    for env in (wild, tame):
        env.reset(seed=3)
    big = {a: np.full(wild.action_spaces[a].shape, 7.0) for a in wild.local_agents}
    one = {a: np.ones(wild.action_spaces[a].shape) for a in wild.local_agents}
    big["local_0"][0] = -np.inf
    one["local_0"][0] = 0.0
    assert wild.step(big)[1] == tame.step(one)[1]
    one["local_1"][2] = np.nan
    with pytest.raises(ValueError, match="local_1"):
        tame.step(one)


# ---- the budget mapping and the settings -------------------------------------------------


def test_timesteps_map_to_iterations_of_one_sb3_rollout_each():
    config = TrainConfig(n_envs=4, timesteps=7200, checkpoint_every=2400)
    config = TrainConfig.from_dict({**config.to_dict(), "ppo": {"n_steps": 100}})
    assert train_batch_size(config) == 400  # env steps, i.e. 2400 local agent-steps
    assert iterations(config) == 3 and checkpoint_interval(config) == 1
    assert reward_scale(config) == pytest.approx(1 / 40)  # horizon < 1 / (1 - 0.99)
    assert reward_scale(TrainConfig.from_dict({"ppo": {"normalize_reward": False}})) == 1.0
    assert iterations(TrainConfig.from_dict({**config.to_dict(), "timesteps": 7201})) == 4
    assert checkpoint_interval(TrainConfig(checkpoint_every=0)) == 0


def test_bad_settings_and_stage_modes_fail_clearly(tmp_path, capsys):
    with pytest.raises(ValueError, match="num_cpus"):
        RLlibSettings(num_cpus=0)
    with pytest.raises(ValueError, match="jointly"):
        train_rllib(TrainConfig(mode="two_level", out=str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()
    assert main(["train", "--address", "auto", "--out", str(tmp_path / "y")]) == 2
    assert "rllib only" in capsys.readouterr().err


# ---- the .rllib loader -------------------------------------------------------------------


def saved_module(world, path: Path, role: str = "local"):
    """An untrained PPO RLModule for ``role`` of ``world``, saved as RLlib does."""
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    env = TargetGamingEnv()
    agent = "local_0" if role == "local" else "centre_0"
    spec = RLModuleSpec(
        module_class=DefaultPPOTorchRLModule,
        observation_space=env.observation_space(agent),
        action_space=env.action_space(agent),
        model_config={"fcnet_hiddens": [8], "vf_share_layers": False},
    )
    module = spec.build()
    module.save_to_path(str(path))
    return module


def test_a_saved_rlmodule_loads_by_path_as_the_clipped_gaussian_mean(tmp_path):
    import torch
    from ray.rllib.core.columns import Columns

    world = make_world()
    path = tmp_path / "local_policy.rllib"
    module = saved_module(world, path)
    policy = load_policy(str(path), world, "local")
    obs = np.random.default_rng(0).random((5, 42))
    with torch.no_grad():
        inputs = module.forward_inference({Columns.OBS: torch.tensor(obs, dtype=torch.float32)})
    mean = inputs[Columns.ACTION_DIST_INPUTS][:, :18].numpy()
    actions = policy.act(obs)
    assert actions.shape == (5, 18) and actions.dtype == np.float64
    np.testing.assert_allclose(actions, np.clip(mean, 0.0, 1.0), atol=1e-6)
    np.testing.assert_allclose(policy.act_one(obs[0]), actions[0], atol=1e-6)
    with pytest.raises(ValueError, match="another role"):
        load_policy(str(path), world, "centre")


def test_rollout_takes_rllib_locals_and_centre_by_path(tmp_path):
    world = make_world()
    local, centre = tmp_path / "local_policy.rllib", tmp_path / "centre_policy.rllib"
    saved_module(world, local)
    saved_module(world, centre, role="centre")
    spec = RolloutSpec(policy=str(local), centre_policy=str(centre), episodes=2)
    rows = rollout(spec)
    assert len(rows) == 2 and set(rows[0]) == set(EPISODE_COLUMNS)


# ---- Ray stays optional --------------------------------------------------------------------

WITHOUT_RAY = """
import sys
sys.modules["ray"] = None  # `import ray` now raises ImportError
import target_gaming.envs, target_gaming.agents
from target_gaming.training import cli, cluster, config, io, runs
from target_gaming.training.evaluation import rollout, tables, traces
from target_gaming.training.compare import aggregate, backends, cells, figures, grid, report, run
from target_gaming.training.sb3 import train, learned, vec_env, centre_env, callbacks
from target_gaming.training.rllib import config as rllib_config, learned as rllib_learned
from target_gaming.agents import load_policy
from target_gaming.envs.target_gaming import World, get_scenario
from target_gaming.training.evaluation.rollout import RolloutSpec, rollout
rows = rollout(RolloutSpec(policy="honest", episodes=2, overrides={"horizon": 4}))
assert len(rows) == 2
world = World(get_scenario("whitehall").config(), "targets")
try:
    load_policy(sys.argv[1], world)
except ValueError as err:
    assert "ray extra" in str(err), err
else:
    raise AssertionError("a .rllib path loaded without Ray")
assert "ray" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
print("ok")
"""


def test_core_agents_rollout_sb3_training_and_compare_work_without_ray(tmp_path):
    path = tmp_path / "local_policy.rllib"
    path.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_RAY, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


# ---- joint training ------------------------------------------------------------------------

SMOKE = {
    "n_envs": 4,
    "timesteps": 7200,  # 3 iterations of 400 env steps (2400 local agent-steps)
    "checkpoint_every": 2400,  # every iteration
    "eval_episodes": 4,
    "ppo": {"n_steps": 100, "batch_size": 100, "n_epochs": 1, "net_arch": [16]},
    "centre_ppo": {"net_arch": [16]},
}


class Killed(Exception):
    pass


def kill_after(n: int):
    def hook(iteration: int, result: dict) -> None:
        if iteration == n:
            raise Killed

    return hook


@pytest.mark.slow
def test_joint_training_checkpoints_resumes_and_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    config = TrainConfig.from_dict({**SMOKE, "out": str(out)})
    with pytest.raises(Killed):  # two iterations, then a "crash"
        train_rllib(
            config, RLlibSettings(num_cpus=2), log=lambda _: None, on_iteration=kill_after(2)
        )
    assert [i for i, _ in list_checkpoints_of(out)] == [1, 2]
    assert not (out / "episodes.csv").exists()

    assert main(["train", "--backend", "rllib", "--resume", "--out", str(out)]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert [i for i, _ in list_checkpoints_of(out)] == [1, 2, 3]
    progress = read_csv(out / "progress.csv")
    assert [int(r["iteration"]) for r in progress] == [1, 2, 3]
    assert [int(r["local_timesteps"]) for r in progress] == [2400, 4800, 7200]
    assert all(0.0 <= float(r["gaming_share"]) <= 1.0 for r in progress)
    assert json.loads((out / "rllib.json").read_text())["iterations"] == 3
    with open(out / "episodes.csv") as handle:
        assert tuple(csv.DictReader(handle).fieldnames) == EPISODE_COLUMNS
    rows = read_csv(out / "episodes.csv")
    assert len(rows) == 4 and {r["policy"] for r in rows} == {"local_policy.rllib"}
    assert {r["centre_policy"] for r in rows} == {"centre_policy.rllib"}
    world = make_world()
    for role in ("local", "centre"):
        actions = load_policy(str(out / f"{role}_policy.rllib"), world, role).act_one(
            np.zeros(42 if role == "local" else 106)
        )
        assert np.all((actions >= 0) & (actions <= 1))
    # the centre's log-std follows its schedule, resumed run included, and is not learned;
    # the locals' is learned from its initial value
    for iteration, path in list_checkpoints_of(out):
        centre = module_log_std(path, "centre")
        assert centre == pytest.approx(np.full(30, centre_log_std_at(config, iteration)))
        assert not np.allclose(module_log_std(path, "local"), config.ppo.log_std_init)
    assert [centre_log_std_at(config, i) for i in (1, 2, 3)] == pytest.approx([-0.5, -1.0, -1.5])


def module_log_std(checkpoint: Path, role: str) -> np.ndarray:
    from ray.rllib.core.rl_module.rl_module import RLModule

    module = RLModule.from_checkpoint(
        str(checkpoint.resolve() / "learner_group" / "learner" / "rl_module" / role)
    )
    return module.pi.log_std.detach().numpy()


def list_checkpoints_of(out: Path):
    from target_gaming.training.runs import RunDir

    return list_checkpoints(RunDir(out))


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_the_comparison_evaluates_rllib_locals_beside_the_baselines(tmp_path):
    from target_gaming.training.compare.cells import evaluate_cell
    from target_gaming.training.compare.grid import Cell, CompareConfig

    path = tmp_path / "local_policy.rllib"
    saved_module(make_world(), path)
    config = CompareConfig(designs=("targets",), seeds=(0,), eval_episodes=2)
    rows, traces = evaluate_cell(config, Cell("whitehall", "targets", 0), path)
    assert {(r["agent"], r["variant"]) for r in rows} == {
        (agent, variant)
        for agent in ("learned", "honest", "myopic_best_response")
        for variant in ("fresh", "held_out")
    }
    assert traces


@pytest.mark.slow
def test_a_comparison_cell_trains_on_rllib_and_is_evaluated_under_its_learned_centre(tmp_path):
    from target_gaming.training.compare.grid import CompareConfig
    from target_gaming.training.compare.run import run_comparison

    train = {k: v for k, v in SMOKE.items() if k != "eval_episodes"}
    grid = CompareConfig.from_dict(
        {
            "designs": ["targets"],
            "seeds": [0],
            "trainer": "rllib",
            "train": {**train, "timesteps": 2400},
            "eval_episodes": 2,
            "baselines": ["honest"],
            "held_out": {},
        }
    )
    run_comparison(grid, tmp_path, workers=1, progress=False)
    cell = tmp_path / "runs" / "targets" / "seed0"
    rows = read_csv(cell / "episodes.csv")
    assert {r["agent"] for r in rows} == {"learned", "honest"}
    assert {r["centre_policy"] for r in rows} == {"centre_policy.rllib"}
    assert (cell / "local_policy.rllib").is_dir()  # the learned rows' locals


def test_a_run_begun_by_another_rllib_trainer_is_not_resumed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    config = TrainConfig.from_dict({**SMOKE, "out": str(out)})
    (out / "config.json").write_text(config.to_json())
    old = {"backend": "rllib", "iterations": 3}  # rllib.json from before "learning"
    (out / "rllib.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="was trained with learning = None, not this trainer's"):
        train_rllib(config, RLlibSettings(num_cpus=2), resume=True, log=lambda _: None)
    (out / "rllib.json").write_text("{")
    with pytest.raises(ValueError, match="rllib.json cannot be read"):
        train_rllib(config, RLlibSettings(num_cpus=2), resume=True, log=lambda _: None)


# ---- a centre acting relative to the last measures ------------------------------------------


def test_a_relative_centres_zero_action_is_the_ratchet():
    from target_gaming.agents.base import CentreView

    env = TargetGamingMultiAgentEnv(
        {"design": "targeted_audits", "centre_action": "relative", "overrides": {"horizon": 12}}
    )
    assert env.action_spaces["centre_0"].low.min() == -1.0
    cfg = env.env.config
    view = CentreView.build(cfg)
    obs, _ = env.reset(seed=3)
    seen = []  # what the centre saw at each decision (and at the end)
    while env.agents:
        actions = {a: np.full(env.action_spaces[a].shape, 0.6) for a in obs if a != "centre_0"}
        if "centre_0" in obs:
            seen.append(obs["centre_0"])
            actions["centre_0"] = np.zeros(env.action_spaces["centre_0"].shape)
        obs, *_ = env.step(actions)
    seen.append(obs["centre_0"])
    assert len(seen) >= 3
    for before, after in zip(seen[:-1], seen[1:]):  # headline domains: health, education
        tau, m = before[view.target][:, :2], before[view.measured][:, :2]
        expected = np.clip(tau + 0.5 * (m - tau), cfg.target_min, cfg.target_max)
        np.testing.assert_allclose(after[view.target][:, :2], expected, atol=1e-6)


def test_a_saved_relative_centre_reloads_and_maps_its_mean_as_the_trainer_did(tmp_path):
    import torch
    from ray.rllib.core.columns import Columns

    from target_gaming.agents.centre_actions import world_action
    from target_gaming.training.rllib.learned import CENTRE_ACTION_FILE

    world = make_world(design="targeted_audits")
    path = tmp_path / "centre_policy.rllib"
    module = saved_module(world, path, role="centre")
    (path / CENTRE_ACTION_FILE).write_text(json.dumps({"centre_action": "relative"}))
    policy = load_policy(str(path), world, "centre")
    assert policy.centre_action == "relative"
    obs = np.random.default_rng(0).random((4, 106))
    with torch.no_grad():
        inputs = module.forward_inference({Columns.OBS: torch.tensor(obs, dtype=torch.float32)})
    mean = inputs[Columns.ACTION_DIST_INPUTS][:, :30].numpy()
    expected = world_action(world.config, obs, mean, "relative")
    np.testing.assert_allclose(policy.act(obs), expected, atol=1e-6)
    assert not np.allclose(expected, np.clip(mean, 0, 1), atol=1e-3)  # the mapping acts
    (path / CENTRE_ACTION_FILE).write_text('{"centre_action": "sideways"}')
    with pytest.raises(ValueError, match="centre_action = 'sideways' is not allowed"):
        load_policy(str(path), world, "centre")
    (path / CENTRE_ACTION_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not a readable centre_action record"):
        load_policy(str(path), world, "centre")


def test_a_relative_centre_trains_and_its_saved_folder_records_it(tmp_path):
    from target_gaming.training.rllib.learned import CENTRE_ACTION_FILE

    out = tmp_path / "run"
    config = TrainConfig.from_dict(
        {
            **SMOKE,
            "timesteps": 2400,
            "design": "targeted_audits",
            "centre_action": "relative",
            "out": str(out),
        }
    )
    train_rllib(config, RLlibSettings(num_cpus=2), log=lambda _: None)
    record = json.loads((out / "centre_policy.rllib" / CENTRE_ACTION_FILE).read_text())
    assert record == {"centre_action": "relative"}
    world = make_world(design="targeted_audits")
    assert load_policy(str(out / "centre_policy.rllib"), world, "centre").centre_action == (
        "relative"
    )
    assert len(read_csv(out / "episodes.csv")) == 4
    from target_gaming.training.sb3.train import train

    with pytest.raises(ValueError, match="centre_action = 'relative' is the rllib backend's"):
        train(TrainConfig.from_dict({**SMOKE, "centre_action": "relative", "out": str(out)}))
    # SB3 locals learn against the saved (relative) RLlib centre, which acts as it did
    centre = str(out / "centre_policy.rllib")
    sb3 = {k: v for k, v in SMOKE.items() if k != "centre_ppo"}
    fields = {**sb3, "timesteps": 2400, "design": "targeted_audits", "centre_policy": centre}
    result = train(TrainConfig.from_dict({**fields, "out": str(tmp_path / "sb3")}), log=print)
    rows = read_csv(result.run.root / "episodes.csv")
    assert {r["centre_policy"] for r in rows} == {"centre_policy.rllib"} and len(rows) == 4
    with pytest.raises(ValueError, match=r"a saved policy's path \(.zip or .rllib\)"):
        TrainConfig.from_dict({**fields, "centre_policy": "centre.pt"})


@pytest.mark.slow
def test_the_command_repeats_an_rllib_run_in_another_process(tmp_path):
    """RLlib orders agents by hashing their names: the command fixes the hash seed, so two
    processes (each with its own random hash seed otherwise) train the same modules."""
    import os

    config = {
        **SMOKE,
        "timesteps": 2400,
        "design": "targeted_audits",
        "centre_action": "relative",
        "ppo": {**SMOKE["ppo"], "n_epochs": 2},
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    saved = []
    for run in ("a", "b"):
        path = tmp_path / f"{run}.json"
        path.write_text(json.dumps({**config, "out": str(tmp_path / run)}))
        command = [str(ROOT / ".venv" / "bin" / "target-gaming"), "train", "--backend", "rllib"]
        subprocess.run([*command, "--config", str(path)], env=env, check=True, capture_output=True)
        folders = [tmp_path / run / f"{role}_policy.rllib" for role in ROLES]
        saved.append([(folder / "module_state.pkl").read_bytes() for folder in folders])
    assert saved[0] == saved[1]


def test_the_command_fixes_the_hash_seed_before_it_starts():
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    code = (
        "import os; from target_gaming.training.cli import fixed_hash_seed; "
        "fixed_hash_seed(); print(os.environ['PYTHONHASHSEED'], hash('centre'))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.stdout.split()[0] for r in runs] == ["0", "0"]
    assert runs[0].stdout == runs[1].stdout  # the same hashes in both processes
    kept = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PYTHONHASHSEED": "7"}, capture_output=True
    )
    assert kept.stdout.split()[0] == b"7"


# ---- the modules' start, the centre's warm-up ------------------------------------------


def test_modules_start_as_sb3s_and_runners_get_what_the_learner_sets_at_once():
    """SB3's orthogonal init (gains sqrt 2, 0.01 policy, 1 value; biases 0), so every policy
    starts at a mean of about 0 (a relative centre at the ratchet); a log-std set between
    updates reaches the env runner before it samples; a held centre's policy does not
    take gradients, its value function does."""
    import torch

    from target_gaming.training.rllib.config import algorithm_config, init_like_sb3
    from target_gaming.training.rllib.train import anneal_centre

    config = TrainConfig.from_dict({**SMOKE, "design": "targeted_audits"})
    algo = algorithm_config(config, RLlibSettings(num_cpus=2), seed=0).build_algo()
    try:
        learner = algo.learner_group._learner
        init_like_sb3(learner, seed=3)
        for module_id in ROLES:
            module = learner.module[module_id]
            for part, gain in (("encoder", 2**0.5), ("pi", 0.01), ("vf", 1.0)):
                layers = [
                    m for m in getattr(module, part).modules() if isinstance(m, torch.nn.Linear)
                ]
                assert layers
                for layer in layers:
                    w = layer.weight.detach().double()
                    small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
                    assert torch.allclose(
                        small, gain**2 * torch.eye(len(small), dtype=torch.float64), atol=1e-5
                    )
                    assert not layer.bias.detach().any()
            obs = torch.rand(64, module.observation_space.shape[0])
            out = module.forward_inference({"obs": obs})["action_dist_inputs"]
            assert out[:, : out.shape[1] // 2].abs().max() < 0.05
        first = [p.detach().clone() for p in learner.module["local"].parameters()]
        init_like_sb3(learner, seed=3)
        assert all(torch.equal(a, b) for a, b in zip(first, learner.module["local"].parameters()))
        init_like_sb3(learner, seed=4)
        assert not torch.equal(first[0], next(learner.module["local"].parameters()))

        algo.train()  # an update: runners then take weights only of a newer one
        anneal_centre(algo, -2.0, learns=False)
        runner = algo.env_runner_group.local_env_runner
        assert np.allclose(runner.module["centre"].pi.log_std.detach().numpy(), -2.0)
        centre = learner.module["centre"]
        assert not any(p.requires_grad for p in centre.pi.net.parameters())
        assert not any(p.requires_grad for p in centre.encoder.actor_encoder.parameters())
        assert all(p.requires_grad for p in centre.vf.parameters())
        anneal_centre(algo, -1.0, learns=True)
        assert np.allclose(runner.module["centre"].pi.log_std.detach().numpy(), -1.0)
        assert all(p.requires_grad for p in centre.pi.net.parameters())
    finally:
        algo.stop()


def test_the_centres_warmup_schedule():
    from target_gaming.training.rllib.config import HELD_LOG_STD, centre_learns, warmup_iterations

    config = TrainConfig.from_dict({**SMOKE, "timesteps": 6 * 2400, "centre_warmup": 0.5})
    assert iterations(config) == 6 and warmup_iterations(config) == 3
    assert [centre_learns(config, i) for i in range(1, 7)] == [False] * 3 + [True] * 3
    schedule = [centre_log_std_at(config, i) for i in range(1, 7)]
    assert schedule == pytest.approx([HELD_LOG_STD] * 3 + [-0.5, -1.0, -1.5])
    held = TrainConfig.from_dict({**SMOKE, "centre_warmup": 1.0})
    assert not any(centre_learns(held, i) for i in range(1, 4))
    for bad in (-0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="centre_warmup"):
            TrainConfig.from_dict({**SMOKE, "centre_warmup": bad})
    from target_gaming.training.sb3.train import train

    with pytest.raises(ValueError, match="centre_warmup = 0.5 is the rllib backend's"):
        train(config)


@pytest.mark.slow
def test_a_warming_centre_holds_its_policy_and_trains_its_value(tmp_path):
    from ray.rllib.core.rl_module.rl_module import RLModule

    out = tmp_path / "run"
    fields = {"timesteps": 4 * 2400, "design": "targeted_audits", "centre_action": "relative"}
    config = TrainConfig.from_dict(
        {**SMOKE, **fields, "centre_reward": "welfare", "centre_warmup": 0.5, "out": str(out)}
    )
    train_rllib(config, RLlibSettings(num_cpus=2), log=lambda _: None)

    def weights(path: Path) -> tuple:
        module = RLModule.from_checkpoint(
            str(path.resolve() / "learner_group" / "learner" / "rl_module" / "centre")
        )
        policy = [p.detach().clone() for p in module.pi.net.parameters()]
        value = [p.detach().clone() for p in module.vf.parameters()]
        return policy, value

    saved = [weights(path) for _, path in list_checkpoints_of(out)]
    assert len(saved) == 4

    def moved(a, b) -> bool:
        return any(not np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))

    (p1, v1), (p2, v2), (p3, _), (p4, _) = saved
    assert not moved(p1, p2) and moved(v1, v2)  # iterations 1-2: held
    assert moved(p2, p3) and moved(p3, p4)  # then it learns from its first iteration on


@pytest.mark.slow
def test_a_cascade_worlds_progress_logs_its_frontline_metrics(tmp_path):
    fields = {"scenario": "cascade_health", "timesteps": 2400, "overrides": {"horizon": 8}}
    config = TrainConfig.from_dict({**SMOKE, **fields, "out": str(tmp_path / "run")})
    train_rllib(config, RLlibSettings(num_cpus=2), log=lambda _: None)
    with open(tmp_path / "run" / "progress.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(float(r["frontline_targets"]) == 17.0 for r in rows)
    assert all(0.0 < float(r["planned_measured_share"]) <= 1.0 for r in rows)
