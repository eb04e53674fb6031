"""Every bad input to the command line gets one clear line and exit status 2, not a traceback;
a real bug keeps its traceback; the launcher runs where the user typed the command."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from target_gaming.envs.target_gaming import WorldConfig, make_config
from target_gaming.training import cli, errors, runs
from target_gaming.training.cli import main
from target_gaming.training.config import PPOConfig, TrainConfig
from target_gaming.training.sb3.train import train
from tests.test_training import TINY, quiet

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """The bad files of the cases: JSON that is broken or a list, a truncated policy, a run
    whose config.json is broken, a plain file where a folder is due."""
    root = tmp_path_factory.mktemp("files")
    (root / "tiny.json").write_text(json.dumps(TINY))
    (root / "broken.json").write_text('{"seed": 0, oops')
    (root / "list.json").write_text("[1, 2]")
    (root / "centre_reward_list.json").write_text(
        json.dumps({**TINY, "centre_reward": ["political"]})
    )
    (root / "a_file").write_text("not a folder\n")
    good = train(TrainConfig.from_dict({**TINY, "out": str(root / "good")}), log=quiet).run
    (root / "torn.zip").write_bytes(good.policy("local").read_bytes()[:20_000])
    for name, text in (("broken_run", '{"seed": 0, oops'), ("list_run", "[]")):
        (root / name).mkdir()
        (root / name / "config.json").write_text(text)
    return root


TRAIN = ["train", "--config", "{f}/tiny.json", "--out", "{f}/runs/new"]
ROLL = ["rollout", "--episodes", "2"]

# (argv, words the one line must hold); {f} is the folder of the bad files
CASES = {
    "config_missing": (["train", "--config", "{f}/nope.json"], ["nope.json", "does not exist"]),
    "config_folder": (["train", "--config", "{f}"], ["is a folder"]),
    "config_not_json": (["train", "--config", "{f}/broken.json"], ["broken.json", "valid JSON"]),
    "config_a_list": (["train", "--config", "{f}/list.json"], ["list.json", "holds a list"]),
    "out_a_file": (["train", "--config", "{f}/tiny.json", "--out", "{f}/a_file"], ["is a file"]),
    "out_under_a_file": (
        ["train", "--config", "{f}/tiny.json", "--out", "{f}/a_file/run"],
        ["a_file is a file"],
    ),
    "run_config_not_json": (
        ["train", "--resume", "--out", "{f}/broken_run"],
        ["broken_run/config.json", "not valid JSON"],
    ),
    "run_config_a_list": (
        ["train", "--resume", "--out", "{f}/list_run"],
        ["list_run/config.json", "holds a list"],
    ),
    "train_torn_centre_policy": ([*TRAIN, "--centre-policy", "{f}/torn.zip"], ["torn.zip"]),
    "train_torn_local_policy": (
        [*TRAIN, "--mode", "centre", "--local-policy", "{f}/torn.zip"],
        ["torn.zip"],
    ),
    "rollout_torn_policy": ([*ROLL, "--policy", "{f}/torn.zip"], ["torn.zip", "truncated"]),
    "rollout_torn_centre": ([*ROLL, "--centre", "{f}/torn.zip"], ["torn.zip", "truncated"]),
    "rollout_missing_policy": ([*ROLL, "--policy", "{f}/gone.zip"], ["gone.zip", "not exist"]),
    "train_set_string": ([*TRAIN, "--set", "n_localities=abc"], ["n_localities", "'abc'"]),
    "rollout_set_string": ([*ROLL, "--set", "n_localities=abc"], ["n_localities", "'abc'"]),
    "train_ppo_string": ([*TRAIN, "--ppo", "n_epochs=x"], ["n_epochs", "'x'"]),
    "centre_param_unknown": (
        [*ROLL, "--centre", "ratchet", "--centre-param", "speed=1"],
        ["speed", "ratchet_rate"],
    ),
    "centre_param_not_a_number": (
        [*ROLL, "--centre", "ratchet", "--centre-param", "ratchet_rate=abc"],
        ["ratchet_rate", "'abc'", "a number"],
    ),
    "centre_param_of_another_policy": (
        [*ROLL, "--centre-param", "ratchet_rate=0.5"],
        ["fixed_targets", "ratchet_rate", "none"],
    ),
    "centre_param_out_of_range": (
        [*ROLL, "--centre", "ratchet", "--centre-param", "ratchet_rate=2"],
        ["ratchet_rate"],
    ),
    "centre_param_without_value": ([*ROLL, "--centre-param", "ratchet_rate"], ["field=value"]),
    "train_seed_negative": ([*TRAIN, "--seed", "-1"], ["--seed", "-1"]),
    "train_seed_not_an_integer": ([*TRAIN, "--seed", "1.5"], ["--seed", "'1.5'"]),
    "train_timesteps_negative": ([*TRAIN, "--timesteps", "-5"], ["--timesteps", "-5"]),
    "rollout_seed_negative": ([*ROLL, "--seed", "-1"], ["--seed", "-1"]),
    "rollout_seed_not_an_integer": ([*ROLL, "--seed", "1.5"], ["--seed", "'1.5'"]),
    "rollout_episodes_zero": (["rollout", "--episodes", "0"], ["--episodes", "0"]),
    "centre_reward_a_list": (
        ["train", "--config", "{f}/centre_reward_list.json", "--out", "{f}/runs/x"],
        ["centre_reward_list.json", "centre_reward", "['political']"],
    ),
    "review_period_over_horizon_train": (
        [*TRAIN, "--set", "review_period=50"],
        ["review_period", "horizon = 40"],
    ),
    "review_period_over_horizon_rollout": (
        [*ROLL, "--set", "horizon=8", "--set", "review_period=9"],
        ["review_period", "horizon = 8"],
    ),
    "rollout_out_a_file": ([*ROLL, "--out", "{f}/a_file"], ["--out", "is a file"]),
    "rollout_unknown_design": ([*ROLL, "--design", "targets,bribes"], ["bribes"]),
    "sb3_with_an_rllib_flag": ([*TRAIN, "--num-cpus", "2"], ["--num-cpus", "rllib"]),
}


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's errors exit
        return exit_.code


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_line_and_no_traceback(files, capsys, case):
    argv, words = CASES[case]
    assert run_main([a.format(f=files) for a in argv]) == 2
    err = capsys.readouterr().err
    command = argv[0]
    assert err.startswith(f"target-gaming {command}: error: ") and err.count("\n") == 1, err
    for word in words:
        assert word.format(f=files) in err, (word, err)
    assert not (files / "runs").exists()  # nothing written by a refused command


def test_a_full_disk_gets_one_line_naming_the_folder(files, tmp_path, capsys, monkeypatch):
    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runs, "write_text", full)
    out = tmp_path / "run"
    assert main(["train", "--config", str(files / "tiny.json"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"target-gaming train: error: No space left on device (while writing under {out})\n"
    )


def test_a_read_only_folder_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(errors.os, "access", lambda path, mode: False)  # as on a read-only disk
    monkeypatch.setattr(errors.os, "statvfs", lambda path: os.statvfs_result([0] * 11))
    assert main(["rollout", "--episodes", "2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"target-gaming rollout: error: --out {tmp_path / 'x'}: cannot write in {tmp_path} "
        "(no permission to write)\n"
    )


def test_an_os_error_on_a_named_path_names_the_path_and_the_reason(tmp_path, capsys, monkeypatch):
    def denied(args, argv):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "x"))

    monkeypatch.setattr(cli, "_run_rollout", denied)
    assert main(["rollout"]) == 2
    assert capsys.readouterr().err == (
        f"target-gaming rollout: error: {tmp_path / 'x'}: Permission denied\n"
    )


@pytest.mark.parametrize(
    "bug", [KeyError("field"), TypeError("bad call"), OSError(errno.EBADF, "Bad file descriptor")]
)
def test_a_real_bug_keeps_its_traceback(monkeypatch, bug):
    def broken(args, argv):
        raise bug

    monkeypatch.setattr(cli, "_run_rollout", broken)
    with pytest.raises(type(bug)):
        main(["rollout"])


BAD_VALUES = [["x"], {"x": 1}, "x", "", 1.5, -1, None, True, [1, 2], [[1]], float("nan"), 10**30]


@pytest.mark.parametrize("section", ["train", "ppo", "world"])
def test_a_config_value_of_any_wrong_type_is_refused_with_a_value_error(section):
    """Never a TypeError or worse: the CLI reports ValueErrors as one line."""
    if section == "world":
        fields = [f.name for f in dataclasses.fields(WorldConfig)]
        build = lambda name, value: make_config("whitehall", **{name: value})  # noqa: E731
    elif section == "ppo":
        fields = [f.name for f in dataclasses.fields(PPOConfig)]
        build = lambda name, value: TrainConfig.from_dict({"ppo": {name: value}})  # noqa: E731
    else:
        fields = [f.name for f in dataclasses.fields(TrainConfig)]
        build = lambda name, value: TrainConfig.from_dict({name: value})  # noqa: E731
    for name in fields:
        for value in BAD_VALUES:
            try:
                build(name, value)
            except ValueError:
                pass


def _fake_checkout(tmp_path: Path) -> Path:
    """A checkout holding the real launcher, a setup that notes where it ran, and a console
    script that prints its working directory and arguments."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "target-gaming", checkout / "scripts" / "target-gaming")
    setup = checkout / "scripts" / "setup"
    setup.write_text('#!/usr/bin/env bash\ncd "$(dirname "$0")/.." && pwd > setup_ran_in\n')
    (checkout / ".venv" / "bin").mkdir(parents=True)
    console = checkout / ".venv" / "bin" / "target-gaming"
    console.write_text('#!/usr/bin/env bash\npwd\necho "$@"\n')
    for path in (setup, console):
        path.chmod(0o755)
    return checkout


def test_the_launcher_runs_the_command_where_the_user_typed_it(tmp_path):
    checkout = _fake_checkout(tmp_path)
    here = tmp_path / "elsewhere"
    here.mkdir()
    done = subprocess.run(
        [str(checkout / "scripts" / "target-gaming"), "rollout", "--out", "rel out"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(here), "rollout --out rel out"]
    assert (checkout / "setup_ran_in").read_text().strip() == str(checkout)


@pytest.mark.skipif(not list(ROOT.glob(".venv/.installed-*")), reason="the .venv is not set up")
def test_relative_paths_given_to_the_launcher_resolve_where_it_was_typed(tmp_path):
    done = subprocess.run(
        [str(ROOT / "scripts" / "target-gaming"), "rollout", "--episodes", "1", "--out", "rel"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rel" / "episodes.csv").exists() and not (ROOT / "rel").exists()
