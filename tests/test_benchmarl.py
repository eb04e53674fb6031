"""BenchMARL: the shipped task, the torch env with the centre inside, the trainer, its saved
actor, and compare cells trained with a BenchMARL algorithm."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("benchmarl", reason="benchmarl is not installed (scripts/setup installs it)")

import torch  # noqa: E402
from tensordict import TensorDict  # noqa: E402
from torchrl.envs.utils import ExplorationType, check_env_specs, set_exploration_type  # noqa: E402

from target_gaming.agents import load_policy  # noqa: E402
from target_gaming.agents.base import role_dims  # noqa: E402
from target_gaming.envs.target_gaming import SCENARIOS, World, make_config, observe  # noqa: E402
from target_gaming.training.benchmarl import ALGORITHMS, TargetGamingTask  # noqa: E402
from target_gaming.training.benchmarl import train as bm_train  # noqa: E402
from target_gaming.training.compare.grid import CompareConfig  # noqa: E402
from target_gaming.training.config import TrainConfig  # noqa: E402
from target_gaming.training.runs import read_curves  # noqa: E402
from target_gaming.training.sb3.callbacks import LOGGED_METRICS  # noqa: E402
from target_gaming.training.torchrl import TargetGamingTorchEnv  # noqa: E402


def tiny(tmp_path, name="run", **fields) -> TrainConfig:
    """A run of 8 batches of 8 worlds x 16 steps (6 locals: 768 agent-steps a batch)."""
    settings = {
        "design": "audited_targets",
        "timesteps": 6144,
        "n_envs": 8,
        "checkpoint_every": 3072,
        "eval_episodes": 2,
        "out": str(tmp_path / name),
        "progress_bar": False,
        **fields,
    }
    return TrainConfig.from_dict(settings)


def test_the_task_has_a_member_per_scenario_and_refuses_unknown_fields():
    assert [m.name.lower() for m in TargetGamingTask] == list(SCENARIOS)
    task = TargetGamingTask.JUG_2.get_task({"design": "pooled_budget"})
    assert task.config["design"] == "pooled_budget" and task.scenario == "jug_2"
    with pytest.raises(ValueError, match="unknown target-gaming task field.*'desgin'"):
        TargetGamingTask.WHITEHALL.get_task({"desgin": "targets"})
    with pytest.raises(ValueError, match="design = 'nope' is not allowed"):
        TargetGamingTask.WHITEHALL.get_task({"design": "nope"})


def test_the_tasks_env_passes_check_env_specs_with_the_centre_inside():
    task = TargetGamingTask.WHITEHALL.get_task({"design": "targeted_audits"})
    env = task.get_env_fun(num_envs=4, continuous_actions=True, seed=0, device="cpu")()
    check_env_specs(env)
    assert task.group_map(env) == {"local": [f"local_{n}" for n in range(6)]}
    assert env.centre.name == "risk_based_audits"  # the design's own centre
    assert list(task.observation_spec(env)["local"].keys()) == ["observation"]
    assert "info" in task.info_spec(env)["local"].keys()
    assert task.max_steps(env) == env.config.horizon
    with pytest.raises(ValueError, match="continuous actions only"):
        task.get_env_fun(num_envs=1, continuous_actions=False, seed=0, device="cpu")


def test_a_centre_inside_the_env_acts_as_the_same_centre_fed_from_outside():
    """The reference: the two-group env, its centre's actions computed by the same rule
    from the same observations, gives the same rewards, observations and metrics."""
    inside = TargetGamingTorchEnv("whitehall", "targeted_audits", num_envs=3, seed=5,
                                  centre_policy="risk_based_audits")  # fmt: skip
    outside = TargetGamingTorchEnv("whitehall", "targeted_audits", num_envs=3, seed=5)
    rule = load_policy("risk_based_audits", outside.world, role="centre", seed=5)
    generator = torch.Generator().manual_seed(0)
    a, b = inside.reset(), outside.reset()
    cfg = outside.config
    for _ in range(2 * cfg.horizon):  # across an auto-reset
        local = torch.rand((3, cfg.n_locals, cfg.local_action_dim), generator=generator)
        obs = observe.centre_observations(cfg, outside.world_state)
        centre = rule.act(obs.reshape(-1, obs.shape[-1])).reshape(3, cfg.n_centres, -1)
        a["local", "action"] = local
        b["local", "action"] = local
        b["centre", "action"] = torch.as_tensor(centre, dtype=torch.float32)
        sa, a = inside.step_and_maybe_reset(a)
        sb, b = outside.step_and_maybe_reset(b)
        for key in (
            ("local", "reward"),
            ("local", "observation"),
            ("local", "info", "gaming_share"),
        ):
            assert torch.equal(sa["next", *key], sb["next", *key]), key
    assert "centre" not in sa["next"].keys()


def test_ended_episodes_are_recorded_only_when_asked():
    env = TargetGamingTorchEnv("whitehall", num_envs=2, seed=0, centre_policy="design",
                               record_episodes=True)  # fmt: skip
    env.rollout(env.config.horizon + 3, break_when_any_done=False)
    assert len(env.ended_episodes) == 2
    assert set(LOGGED_METRICS) <= set(env.ended_episodes[0])
    quiet = TargetGamingTorchEnv("whitehall", num_envs=2, seed=0, centre_policy="design")
    quiet.rollout(quiet.config.horizon + 3, break_when_any_done=False)
    assert quiet.ended_episodes == []


def test_bad_centres_and_algorithms_fail_with_what_is_allowed(tmp_path):
    with pytest.raises(ValueError, match="unknown centre policy 'nobody'"):
        TargetGamingTorchEnv("whitehall", centre_policy="nobody")
    with pytest.raises(ValueError, match="centre_policy = 3 is not allowed"):
        TargetGamingTorchEnv("whitehall", centre_policy=3)
    with pytest.raises(ValueError, match="algorithm = 'ppo' is not allowed"):
        bm_train.train_benchmarl(tiny(tmp_path), "ppo")
    with pytest.raises(ValueError, match="mode = 'two_level'"):
        bm_train.train_benchmarl(tiny(tmp_path, mode="two_level"), "ippo")
    with pytest.raises(ValueError, match="centre_action = 'relative'"):
        bm_train.train_benchmarl(tiny(tmp_path, centre_action="relative"), "ippo")
    with pytest.raises(ValueError, match="centre_warmup = 0.5"):
        bm_train.train_benchmarl(tiny(tmp_path, centre_warmup=0.5), "ippo")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_budget_counts_local_agent_steps_as_the_sb3_trainer(tmp_path):
    config = tiny(tmp_path)
    exp = bm_train.experiment_config(config, "ippo", tmp_path)
    assert exp.on_policy_collected_frames_per_batch == 8 * 16
    assert exp.max_n_frames * 6 == 6144  # frames x locals = agent-steps
    assert exp.on_policy_minibatch_size == 8 * 16 // 2
    assert exp.on_policy_n_minibatch_iters == 5  # n_epochs passes, each of 2 minibatches
    assert bm_train.batches(config) == 8


@pytest.mark.parametrize("algorithm", ["ippo", "masac"])
def test_a_trained_actor_is_saved_reloaded_and_acts_as_the_experiments(tmp_path, algorithm):
    result = bm_train.train_benchmarl(tiny(tmp_path), algorithm, log=lambda text: None)
    run = result.run.root
    assert result.frames == 8 * 8 * 16
    record = json.loads((run / "benchmarl.json").read_text())
    assert record["algorithm"] == algorithm and record["batches"] == 8
    rows = read_curves(run / "curves.csv")
    assert rows and all(r["episodes"] > 0 for r in rows)
    assert [r["timesteps"] for r in rows] == sorted({r["timesteps"] for r in rows})
    assert 20 < rows[-1]["return"] < 40  # unscaled: 40 steps of pay about 0.7
    assert len(result.episodes) == 2
    world = World(make_config("whitehall"), "audited_targets", "political")
    policy = load_policy(str(run / "local_policy.benchmarl"), world)
    saved = torch.load(run / "local_policy.benchmarl", weights_only=False)
    obs = np.random.default_rng(1).random((2, 6, role_dims(world, "local")[0]))
    data = TensorDict({"local": TensorDict({"observation": torch.tensor(obs, dtype=torch.float32)},
                                           [2, 6])}, [2])  # fmt: skip
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        expected = saved["actor"](data)["local", "action"].reshape(12, -1).numpy()
    np.testing.assert_allclose(policy.act(obs.reshape(12, -1)), expected, atol=1e-6)
    rows = obs.reshape(12, -1)  # any number of rows: padded to whole groups of 6
    np.testing.assert_array_equal(policy.act(rows[:5]), policy.act(rows)[:5])


def test_a_saved_actor_is_refused_by_another_role_and_a_damaged_file(tmp_path):
    result = bm_train.train_benchmarl(tiny(tmp_path, timesteps=768), "ippo", log=lambda t: None)
    path = result.run.root / "local_policy.benchmarl"
    world = World(make_config("whitehall"), "audited_targets", "political")
    with pytest.raises(ValueError, match="trained for another role"):
        load_policy(str(path), world, role="centre")
    broken = tmp_path / "broken.benchmarl"
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable saved BenchMARL actor"):
        load_policy(str(broken), world)


def test_the_same_seed_trains_the_same_actor(tmp_path):
    first = bm_train.train_benchmarl(tiny(tmp_path, "a", timesteps=2304), "ippo", log=print)
    again = bm_train.train_benchmarl(tiny(tmp_path, "b", timesteps=2304), "ippo", log=print)
    assert read_curves(first.run.curves) == read_curves(again.run.curves)
    a = torch.load(first.run.root / "local_policy.benchmarl", weights_only=False)["actor"]
    b = torch.load(again.run.root / "local_policy.benchmarl", weights_only=False)["actor"]
    pairs = list(zip(a.named_parameters(), b.named_parameters()))
    assert pairs
    for (name, x), (_, y) in pairs:
        assert torch.equal(x, y), name


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_budget(tmp_path, monkeypatch):
    config = tiny(tmp_path)
    original = bm_train.CurveRecorder.on_batch_collected

    def die_after_five(self, batch):
        original(self, batch)
        if self.batches == 5:
            raise KeyboardInterrupt  # killed after the checkpoint of batch 4

    monkeypatch.setattr(bm_train.CurveRecorder, "on_batch_collected", die_after_five)
    with pytest.raises(KeyboardInterrupt):
        bm_train.train_benchmarl(config, "ippo", log=lambda text: None)
    monkeypatch.setattr(bm_train.CurveRecorder, "on_batch_collected", original)
    with pytest.raises(ValueError, match="not 'mappo'"):
        bm_train.train_benchmarl(config, "mappo", resume=True)
    lines = []
    result = bm_train.train_benchmarl(config, "ippo", resume=True, log=lines.append)
    assert any("resumed from" in line and "checkpoint_512" in line for line in lines)
    assert result.frames == 8 * 8 * 16
    steps = [r["timesteps"] for r in read_curves(result.run.curves)]
    # the killed run's row of batch 5 (after its checkpoint) is gone; the episodes ended at
    # batch 3 (40 steps of 16 a batch), then 40 steps after the restart at batch 5
    assert steps == [3 * 768, 7 * 768]


def test_a_damaged_checkpoint_is_set_aside_and_other_backends_runs_are_refused(tmp_path):
    config = tiny(tmp_path, checkpoint_every=3 * 768)  # at batches 3, 6 and the end, 8
    result = bm_train.train_benchmarl(config, "ippo", log=lambda text: None)
    newest = bm_train.latest_checkpoint(result.run.root / "benchmarl")
    assert newest.name == "checkpoint_1024.pt"  # the last of the two kept (768, 1024)
    newest.write_bytes(newest.read_bytes()[:1000])  # killed while saving
    lines = []
    again = bm_train.train_benchmarl(config, "ippo", resume=True, log=lines.append)
    assert any("set aside damaged checkpoint" in line for line in lines)
    assert any("resumed from" in line and "checkpoint_768" in line for line in lines)
    assert newest.with_name("checkpoint_1024.pt.damaged").exists()
    assert again.frames == 8 * 8 * 16
    from target_gaming.training.sb3.train import train

    with pytest.raises(ValueError, match="holds a benchmarl run: resume it with --backend"):
        train(config, resume=True)
    with pytest.raises(ValueError, match="at least 2 frames"):
        bm_train.train_benchmarl(tiny(tmp_path, "one", n_envs=1, ppo={"n_steps": 1}), "ippo")


def test_the_grid_takes_a_benchmarl_algorithm_and_refuses_what_it_cannot_do():
    grid = CompareConfig(trainer="benchmarl", algorithm="mappo")
    assert grid.algorithm == "mappo"
    with pytest.raises(ValueError, match="comparison field algorithm = None"):
        CompareConfig(trainer="benchmarl")
    with pytest.raises(ValueError, match="comparison field algorithm = 'mappo'.*trainer sb3"):
        CompareConfig(algorithm="mappo")
    with pytest.raises(ValueError, match="train.mode = 'two_level'"):
        CompareConfig(trainer="benchmarl", algorithm="ippo", train={"mode": "two_level"})
    with pytest.raises(ValueError, match="train.centre_params"):
        CompareConfig(
            trainer="benchmarl",
            algorithm="ippo",
            designs=("targets",),
            centre_policy="constant_rule",
            train={"centre_params": {"target_level": 0.5}},
        )
    assert set(ALGORITHMS) >= {"ippo", "mappo", "masac", "maddpg"}


def test_a_comparison_trains_its_cells_with_a_benchmarl_algorithm(tmp_path):
    """Two designs, each with its own centre inside the env, trained with MAPPO and
    evaluated beside a baseline on fresh seeds and a held-out variant; the report names
    the learner and the convergence table reads the cells' curves."""
    from target_gaming.training.compare.run import run_comparison

    grid = CompareConfig.from_dict(
        {
            "designs": ["targets", "targeted_audits"],
            "seeds": [0],
            "trainer": "benchmarl",
            "algorithm": "mappo",
            "train": {"timesteps": 3072, "n_envs": 8, "checkpoint_every": 0},
            "eval_episodes": 2,
            "baselines": ["honest"],
            "held_out": {"held_out": {"n_localities": 10}},
        }
    )
    run_comparison(grid, tmp_path, workers=1, progress=False)
    for design, centre in (("targets", "fixed_targets"), ("targeted_audits", "risk_based_audits")):
        cell = tmp_path / "runs" / design / "seed0"
        trained = TrainConfig.from_json(cell / "config.json", "config")
        assert trained.centre == centre  # the locals learned under the cell's own centre
        assert json.loads((cell / "benchmarl.json").read_text())["algorithm"] == "mappo"
        with open(cell / "episodes.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert {(r["agent"], r["variant"]) for r in rows} == {
            (a, v) for a in ("learned", "honest") for v in ("fresh", "held_out")
        }
        assert {r["centre_policy"] for r in rows} == {centre}
        assert {r["policy"] for r in rows if r["agent"] == "learned"} == {"learned"}
    report = (tmp_path / "report.md").read_text()
    assert "learning BenchMARL MAPPO" in report
    assert "## Convergence" in report or "convergence" in report.lower()


def test_a_cascade_worlds_learning_curve_logs_its_frontline_metrics(tmp_path):
    config = tiny(tmp_path, scenario="cascade_health")
    rows = read_curves(bm_train.train_benchmarl(config, "ippo", log=lambda text: None).run.curves)
    assert rows and all(r["frontline_targets"] == 17.0 for r in rows)
    assert all(0.0 < r["planned_measured_share"] <= r["measured_effort_share"] for r in rows)
