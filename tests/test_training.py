"""Training with SB3: tiny runs of every mode, determinism, resume, the config, learned policies."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from target_gaming.agents import Policy, load_policy
from target_gaming.envs.target_gaming import METRICS, observe
from target_gaming.training.cli import main
from target_gaming.training.config import PPOConfig, TrainConfig
from target_gaming.training.evaluation.rollout import EPISODE_COLUMNS
from target_gaming.training.io import write_csv
from target_gaming.training.runs import CURVE_KEYS, RunDir, read_curves
from target_gaming.training.sb3.callbacks import LOGGED_METRICS, EpisodeMetricsCallback
from target_gaming.training.sb3.train import plan_stages, train
from tests.conftest import make_world

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "n_envs": 4,
    "timesteps": 1200,
    "round_timesteps": 600,
    "centre_timesteps": 64,
    "rounds": 2,
    "checkpoint_every": 400,
    "eval_episodes": 3,
    "progress_bar": False,
    "ppo": {"n_steps": 8, "batch_size": 64, "n_epochs": 1, "net_arch": [16]},
    "centre_ppo": {"n_steps": 4, "batch_size": 16, "n_epochs": 1, "net_arch": [16]},
}


def tiny(tmp_path, name="run", **fields) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, "out": str(tmp_path / name), **fields})


def quiet(_line: str) -> None:
    pass


def parameters(path) -> dict[str, np.ndarray]:
    model = PPO.load(str(path), device="cpu")
    return {k: v.numpy() for k, v in model.policy.state_dict().items()}


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


# ---- modes -------------------------------------------------------------------------------


def test_locals_mode_writes_config_model_checkpoints_and_evaluation(tmp_path):
    config = tiny(tmp_path)
    result = train(config, log=quiet)
    run = result.run
    assert json.loads(run.config.read_text()) == config.to_dict()
    assert run.policy("local").exists() and not run.policy("centre").exists()
    steps = [s for s, _ in run.list_checkpoints("local")]
    assert steps[-1] == result.timesteps["local"] >= config.timesteps and len(steps) >= 3
    rows = read_csv(run.root / "episodes.csv")
    assert len(rows) == config.eval_episodes and tuple(rows[0]) == EPISODE_COLUMNS
    assert rows[0]["policy"] == "local_policy.zip" and rows[0]["centre_policy"] == "fixed_targets"
    assert any(run.tensorboard.rglob("events.out.tfevents.*"))


def test_centre_mode_learns_against_frozen_scripted_locals(tmp_path):
    config = tiny(tmp_path, mode="centre", design="targeted_audits", timesteps=80)
    result = train(config, log=quiet)
    assert result.timesteps == {"centre": 80}  # 4 envs x 4 decisions x 5 rollouts
    rows = read_csv(result.run.root / "episodes.csv")
    assert {r["policy"] for r in rows} == {"honest"}
    assert {r["centre_policy"] for r in rows} == {"centre_policy.zip"}


def test_two_level_alternates_centre_and_locals_and_saves_both(tmp_path):
    config = tiny(tmp_path, mode="two_level")
    lines = []
    result = train(config, log=lines.append)
    stages = [line for line in lines if line.startswith("stage")]
    assert [s.split()[2] for s in stages] == ["local", "centre", "local", "centre", "local"]
    assert "against fixed_targets" in stages[0] and "against centre_" in stages[2]
    assert result.run.policy("local").exists() and result.run.policy("centre").exists()
    assert result.timesteps["centre"] >= 2 * config.centre_timesteps


def test_the_centres_exploration_is_annealed_over_rounds(tmp_path):
    config = tiny(tmp_path, mode="two_level", rounds=3, centre_log_std=(0.0, -2.0))
    centre = [s for s in plan_stages(config) if s.role == "centre"]
    assert [s.log_std_cap for s in centre] == [0.0, -1.0, -2.0]
    ent = [s.ent_coef for s in centre]
    assert ent[0] == config.centre_ppo.ent_coef > ent[1] > ent[2] == 0.0
    assert [s.target for s in centre] == [64, 128, 192]


def test_train_command_runs_and_resume_refuses_a_changed_config(tmp_path, capsys):
    out = tmp_path / "cli"
    (tmp_path / "c.json").write_text(json.dumps({**TINY, "timesteps": 400}))
    args = ["train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--seed", "3"]
    assert main([*args, "--ppo", "n_epochs=2", "--set", "n_localities=4"]) == 0
    stored = TrainConfig.from_json(out / "config.json")
    assert stored.seed == 3 and stored.ppo.n_epochs == 2 and stored.overrides == {"n_localities": 4}
    assert "local_policy.zip" in capsys.readouterr().out
    assert main(args) == 2  # the folder holds a run
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(out), "--seed", "4"]) == 2
    assert "seed" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(out)]) == 0  # nothing left to do


# ---- determinism and resume -------------------------------------------------------------------


def test_same_config_and_seed_give_identical_parameters_and_episodes(tmp_path):
    runs = [train(tiny(tmp_path, name, mode="two_level", rounds=1), log=quiet) for name in "ab"]
    for role in ("local", "centre"):
        first, second = (parameters(r.run.policy(role)) for r in runs)
        assert all(np.array_equal(first[k], second[k]) for k in first)
    a, b = (r.run.root / "episodes.csv" for r in runs)
    assert a.read_text() == b.read_text()
    other = train(tiny(tmp_path, "c", mode="two_level", rounds=1, seed=1), log=quiet)
    assert (other.run.root / "episodes.csv").read_text() != a.read_text()


class Crash(BaseCallback):
    """Kills training once a checkpoint of the learner exists beyond a given count."""

    def __init__(self, run: RunDir, role: str, after: int):
        super().__init__()
        self.run, self.role, self.after = run, role, after

    def _on_step(self) -> bool:
        if self.run.latest(self.role)[0] > self.after:
            raise KeyboardInterrupt("killed")
        return True


@pytest.mark.parametrize("mode", ["locals", "two_level"])
def test_a_killed_run_resumes_to_the_same_timesteps_keeping_its_checkpoints(tmp_path, mode):
    whole = train(tiny(tmp_path, "whole", mode=mode), log=quiet)
    config = tiny(tmp_path, "killed", mode=mode)
    run = RunDir(config.out)
    after = config.timesteps if mode == "two_level" else 0  # in phase 2, or phase 1
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[Crash(run, "local", after)], log=quiet)
    before = {p.name: p.read_bytes() for p in run.checkpoints.iterdir()}
    assert before and not run.policy("local").exists()
    resumed = train(config, resume=True, log=quiet)
    assert resumed.timesteps == whole.timesteps
    after_files = {p.name: p.read_bytes() for p in run.checkpoints.iterdir()}
    assert all(after_files.get(name) == data for name, data in before.items())
    assert len(read_csv(run.root / "episodes.csv")) == config.eval_episodes
    # the learning curve: rows in order of stage and timesteps, none twice after the resume
    keys = [(r["stage"], r["timesteps"]) for r in read_curves(run.curves)]
    assert keys == sorted(set(keys)) and {r["role"] for r in read_curves(run.curves)} <= {
        "local",
        "centre",
    }
    stages = {r["stage"] for r in read_curves(whole.run.curves)}
    assert 0 in stages and stages <= {s.index for s in plan_stages(config)}


def test_a_cascade_worlds_learning_curve_logs_its_frontline_metrics(tmp_path):
    result = train(tiny(tmp_path, scenario="cascade_health"), log=quiet)
    rows = read_curves(result.run.curves)
    assert rows and all(r["frontline_targets"] == 17.0 for r in rows)
    assert all(0.0 < r["measured_effort_share"] <= 1.0 for r in rows)
    plain = read_curves(train(tiny(tmp_path, "plain"), log=quiet).run.curves)
    assert plain and "measured_effort_share" not in plain[0]


class _Model:  # what the curve's resume reads of a PPO model
    num_timesteps = 200


def test_a_resumed_stage_drops_its_curve_rows_beyond_its_checkpoint(tmp_path):
    path = tmp_path / "curves.csv"
    row = {"role": "local", "episodes": 4, "return": 1.0} | {m: 0.5 for m in LOGGED_METRICS}
    rows = [row | {"stage": s, "timesteps": t} for s, t in ((0, 100), (1, 50), (2, 100), (2, 300))]
    write_csv(path, rows, CURVE_KEYS + LOGGED_METRICS)
    callback = EpisodeMetricsCallback(curves=path, stage=2, role="local")
    callback.model = _Model()
    callback._on_training_start()
    assert [(r["stage"], r["timesteps"]) for r in callback._rows] == [(0, 100), (1, 50), (2, 100)]
    assert read_curves(tmp_path / "none.csv") == []
    # a metric logged from some row on (a cascade's, after a resume) is blank before it
    names = LOGGED_METRICS + ("measured_effort_share",)
    write_csv(path, [*rows[:1], rows[1] | {"measured_effort_share": 0.9}], CURVE_KEYS + names)
    first, second = read_curves(path)
    assert "measured_effort_share" not in first and second["measured_effort_share"] == 0.9


# ---- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "solo"}, "TrainConfig.mode = 'solo' is not allowed: one of locals, centre"),
        ({"design": "bribes"}, "TrainConfig.design = 'bribes'"),
        ({"n_envs": 0}, "TrainConfig.n_envs = 0 is not allowed: an integer in [1,"),
        ({"timesteps": 1.5}, "TrainConfig.timesteps = 1.5"),
        ({"centre_policy": "tyrant"}, "TrainConfig.centre_policy = 'tyrant'"),
        ({"colour": "red"}, "unknown TrainConfig field(s) ['colour']; allowed: scenario"),
        ({"ppo": {"gamma": 2.0}}, "PPOConfig.gamma = 2.0 is not allowed: a number in [0.0, 1.0]"),
        ({"ppo": {"lr": 0.1}}, "unknown PPOConfig field(s) ['lr']"),
        ({"ppo": {"net_arch": [0]}}, "PPOConfig.net_arch = (0,)"),
        ({"overrides": {"alpha": 7}}, "'alpha' = 7"),
        ({"overrides": {"colour": 1}}, "unknown config field(s) ['colour']"),
    ],
)
def test_bad_config_values_fail_naming_field_value_and_what_is_allowed(fields, message):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(fields)
    assert message in str(err.value)


def test_config_round_trips_through_json(tmp_path):
    config = TrainConfig(
        mode="two_level", ppo=PPOConfig(net_arch=(32, 32)), overrides={"n_localities": 4}
    )
    (tmp_path / "c.json").write_text(config.to_json())
    assert TrainConfig.from_json(tmp_path / "c.json") == config
    partial = TrainConfig.from_dict({"centre_ppo": {"n_epochs": 3}})
    assert partial.centre_ppo.n_epochs == 3
    assert partial.centre_ppo.n_steps == TrainConfig().centre_ppo.n_steps


# ---- learned policies ------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    return train(
        TrainConfig.from_dict({**TINY, "mode": "two_level", "rounds": 1, "out": str(root)}),
        log=quiet,
    )


def test_saved_models_load_by_path_as_deterministic_policies(trained):
    world = make_world()
    for role, observe_role in (
        ("local", observe.local_observations),
        ("centre", observe.centre_observations),
    ):
        policy = load_policy(str(trained.run.policy(role)), world, role)
        assert isinstance(policy, Policy) and policy.role == role
        state = world.reset(np.random.default_rng(0), 2)
        obs = observe_role(world.config, state).reshape(-1, policy.model.observation_space.shape[0])
        actions = policy.act(obs)
        expected, _ = policy.model.predict(obs, deterministic=True)
        np.testing.assert_allclose(actions, np.clip(expected, 0, 1))
        np.testing.assert_allclose(policy.act_one(obs[0]), actions[0], atol=1e-6)
        assert (actions >= 0).all() and (actions <= 1).all()


def test_a_saved_model_for_another_role_or_world_is_refused_clearly(trained):
    with pytest.raises(ValueError, match="trained\\s+for another role"):
        load_policy(str(trained.run.policy("local")), make_world(), "centre")
    with pytest.raises(ValueError, match="observes"):
        load_policy(str(trained.run.policy("local")), make_world("jug_4"), "local")


def test_rollout_command_takes_learned_locals_and_centre_by_path(trained, tmp_path):
    local, centre = trained.run.policy("local"), trained.run.policy("centre")
    argv = ["rollout", "--design", "targets", "--episodes", "2", "--out", str(tmp_path)]
    assert main([*argv, "--policy", f"honest,{local}", "--centre", str(centre)]) == 0
    rows = read_csv(tmp_path / "episodes.csv")
    assert len(rows) == 4 and set(METRICS) <= set(rows[0])


@pytest.mark.slow
def test_a_run_killed_by_sigkill_resumes_to_the_same_timesteps_keeping_its_checkpoints(tmp_path):
    out = tmp_path / "killed"
    settings = {**TINY, "timesteps": 60_000, "checkpoint_every": 1920, "eval_episodes": 2}
    (tmp_path / "c.json").write_text(json.dumps(settings))
    command = [
        sys.executable,
        "-m",
        "target_gaming.training.cli",
        "train",
        "--config",
        str(tmp_path / "c.json"),
    ]
    process = subprocess.Popen([*command, "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL)
    run = RunDir(out)
    deadline = time.monotonic() + 120
    while len(run.list_checkpoints("local")) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {p.name: p.read_bytes() for p in run.checkpoints.glob("*.zip")}
    assert len(before) >= 2 and not run.policy("local").exists()
    assert main(["train", "--resume", "--out", str(out)]) == 0
    chunk = TINY["ppo"]["n_steps"] * TINY["n_envs"] * 6  # timesteps per PPO rollout
    assert run.latest("local")[0] == -(-settings["timesteps"] // chunk) * chunk
    after = {p.name: p.read_bytes() for p in run.checkpoints.glob("*.zip")}
    assert all(after.get(name) == data for name, data in before.items())
    for path in run.checkpoints.glob("*.zip"):  # whole files only (a torn write stays a .tmp)
        assert PPO.load(str(path), device="cpu").num_timesteps == int(path.stem.split("_")[1])


def test_the_scripted_centre_takes_its_parameters_in_training_and_evaluation(tmp_path):
    fields = {"design": "targeted_audits", "centre_policy": "constant_rule"}
    config = tiny(tmp_path, **fields, centre_params={"target_level": 0.85, "audit_rate": 0.0})
    result = train(config, log=quiet)
    levels = [float(r["target_level"]) for r in result.episodes]
    assert min(levels) > 0.8  # the first period's default targets, then 0.85
    assert all(float(r["audits"]) == 0.0 for r in result.episodes)
    assert TrainConfig.from_json(RunDir(config.out).config).centre_params["target_level"] == 0.85
    bad = tiny(tmp_path, "bad", **fields, centre_params={"target_level": 2.0})
    with pytest.raises(ValueError, match="target_level = 2.0 must be in"):
        train(bad, log=quiet)
    assert not Path(bad.out).exists()
    with pytest.raises(ValueError, match="centre_params.*a saved centre takes none"):
        tiny(tmp_path, centre_policy="run/centre.zip", centre_params={"target_level": 0.5})
