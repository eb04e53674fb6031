"""No training work is lost: a resumed run starts from verified checkpoints, a final model is
never replaced by unverified bytes, a resume needs a run, a refused command writes nothing,
and Ctrl-C says how to continue."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from target_gaming.training.cli import main
from target_gaming.training.config import TrainConfig
from target_gaming.training.errors import UserError
from target_gaming.training.runs import RunDir
from target_gaming.training.sb3 import train as sb3_train
from target_gaming.training.sb3.checkpoints import verify_model
from target_gaming.training.sb3.train import train
from tests.test_training import TINY, quiet, read_csv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> RunDir:
    """A finished locals run (three checkpoints, the final model, the evaluation)."""
    root = tmp_path_factory.mktemp("finished") / "run"
    return train(TrainConfig.from_dict({**TINY, "out": str(root)}), log=quiet).run


def copy_run(run: RunDir, to: Path) -> TrainConfig:
    """The run copied to ``to`` (a moved run folder), and its config pointing there."""
    shutil.copytree(run.root, to)
    return dataclasses.replace(TrainConfig.from_json(run.config), out=str(to))


def truncate(path: Path) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return data[: len(data) // 2]


def test_resume_never_overwrites_a_good_model_with_a_truncated_checkpoint(finished, tmp_path):
    config = copy_run(finished, tmp_path / "run")
    run = RunDir(config.out)
    good = run.policy("local").read_bytes()
    steps, latest = run.latest("local")
    torn = truncate(latest)
    lines: list[str] = []
    result = train(config, resume=True, log=lines.append)
    assert run.policy("local").read_bytes() == good  # the final model is untouched
    assert latest.read_bytes() == good  # the checkpoint is restored from the same model
    assert latest.with_name(latest.name + ".damaged").read_bytes() == torn  # kept aside
    (line,) = [x for x in lines if "damaged" in x or "set aside" in x]
    assert latest.name in line and "restored from local_policy.zip" in line
    assert result.timesteps == {"local": steps}


def test_resume_after_a_truncated_checkpoint_falls_back_to_the_newest_good_one(finished, tmp_path):
    config = copy_run(finished, tmp_path / "run")
    run = RunDir(config.out)
    for name in ("local_policy.zip", "episodes.csv", "metrics.txt"):  # killed before the end
        (run.root / name).unlink()
    (older, older_path), (steps, latest) = run.list_checkpoints("local")[-2:]
    truncate(latest)
    lines: list[str] = []
    result = train(config, resume=True, log=lines.append)
    (line,) = [x for x in lines if "set aside" in x]
    assert latest.name in line and f"resumes from {older_path.name} ({older} timesteps)" in line
    assert any(f"timesteps {older} -> {config.timesteps}" in x for x in lines)
    assert result.timesteps == {"local": steps}  # retrained to the same count
    assert verify_model(run.policy("local")) == steps
    assert verify_model(latest) == steps  # a whole checkpoint replaced the torn one
    assert len(read_csv(run.root / "episodes.csv")) == config.eval_episodes


def test_a_final_model_is_written_only_from_verified_bytes(finished, tmp_path, monkeypatch):
    config = copy_run(finished, tmp_path / "run")
    run = RunDir(config.out)
    good = run.policy("local").read_bytes()
    monkeypatch.setattr(sb3_train, "set_aside_damaged", lambda *args: None)  # bypass the check
    truncate(run.latest("local")[1])
    with pytest.raises(UserError, match="local_0+1344.zip"):
        train(config, resume=True, log=quiet)
    assert run.policy("local").read_bytes() == good


def test_a_resumed_run_may_be_moved_to_another_folder(finished, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.copytree(finished.root, moved)  # config.json still names the old folder
    assert main(["train", "--resume", "--out", str(moved)]) == 0
    assert f"wrote {moved}" in capsys.readouterr().out


def test_resume_of_a_folder_with_no_run_is_refused(tmp_path, capsys):
    empty, missing = tmp_path / "empty", tmp_path / "missing"
    empty.mkdir()
    for folder in (empty, missing):
        assert main(["train", "--resume", "--out", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{folder} holds no run" in err
    assert list(empty.iterdir()) == [] and not missing.exists()
    (tmp_path / "c.json").write_text(json.dumps(TINY))  # with --config as well
    assert main(["train", "--resume", "--config", str(tmp_path / "c.json"), "--out", str(empty)])
    assert "holds no run" in capsys.readouterr().err and list(empty.iterdir()) == []
    config = TrainConfig.from_dict({**TINY, "out": str(empty)})
    with pytest.raises(UserError, match="holds no run"):
        train(config, resume=True, log=quiet)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--centre-policy", "{tmp}/missing.zip"], ["missing.zip", "does not exist"]),
        (["--centre-policy", "{tmp}/torn.zip"], ["torn.zip", "truncated"]),
        (["--centre-policy", "{final}"], ["local_policy.zip", "another role"]),
        (["--mode", "centre", "--local-policy", "{tmp}/torn.zip"], ["torn.zip"]),
        (["--set", "review_period=50"], ["review_period", "horizon"]),
        (["--ppo", "n_epochs=x"], ["n_epochs"]),
    ],
)
def test_a_failed_validation_writes_nothing(finished, tmp_path, capsys, flags, words):
    (tmp_path / "torn.zip").write_bytes(finished.policy("local").read_bytes()[:20_000])
    (tmp_path / "c.json").write_text(json.dumps(TINY))
    out = tmp_path / "run"
    fill = {"tmp": tmp_path, "final": finished.policy("local")}
    argv = ["train", "--config", str(tmp_path / "c.json"), "--out", str(out)]
    assert main([*argv, *(f.format(**fill) for f in flags)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert not out.exists()


def test_the_corrected_command_runs_after_a_refused_one(finished, tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(TINY))
    argv = ["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "run")]
    assert main([*argv, "--centre-policy", str(tmp_path / "missing.zip")]) == 2
    assert main(argv) == 0
    assert (tmp_path / "run" / "local_policy.zip").exists()


def test_ctrl_c_during_train_says_how_to_resume_and_the_resume_works(tmp_path, capsys, monkeypatch):
    (tmp_path / "c.json").write_text(json.dumps(TINY))
    out = tmp_path / "run"
    argv = ["train", "--config", str(tmp_path / "c.json"), "--out", str(out)]
    real = sb3_train.run_stage

    def interrupted(config, run, stage, *args):
        real(config, run, dataclasses.replace(stage, target=400), *args)  # one checkpoint
        raise KeyboardInterrupt

    monkeypatch.setattr(sb3_train, "run_stage", interrupted)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err == (
        f"target-gaming train: interrupted; the checkpoints in {out} are kept: "
        f"continue with `target-gaming train --resume --out {out}`\n"
    )
    assert RunDir(out).list_checkpoints("local") and not RunDir(out).policy("local").exists()
    monkeypatch.setattr(sb3_train, "run_stage", real)
    assert main(["train", "--resume", "--out", str(out)]) == 0
    assert RunDir(out).policy("local").exists()


def _interrupt(command: list[str], ready, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess, send SIGINT once ``ready(stdout line)``, wait for it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "target_gaming.training.cli", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # lines arrive as printed
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + timeout
        for line in process.stdout:
            if ready(line) or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # it did not stop: leave nothing running
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _default_sigint() -> None:
    """In the child: Ctrl-C as a terminal gives it, even where the tests run with SIGINT
    ignored (a background job), which Python would otherwise keep ignoring."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_rollout_prints_one_line_and_exits_130():
    command = ["rollout", "--episodes", "1", "--set", "horizon=100000", "--render"]
    done = _interrupt(command, lambda line: "design=" in line)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "target-gaming rollout: interrupted; nothing was written\n"


def test_ctrl_c_of_a_real_train_prints_the_resume_command_and_exits_130(tmp_path):
    settings = {**TINY, "timesteps": 200_000, "checkpoint_every": 200}
    (tmp_path / "c.json").write_text(json.dumps(settings))
    out = tmp_path / "run"
    command = ["train", "--config", str(tmp_path / "c.json"), "--out", str(out)]
    run = RunDir(out)

    def ready(line: str) -> bool:  # training has begun: wait for its first checkpoint
        if not line.startswith("stage 0"):
            return False
        deadline = time.monotonic() + 60
        while not run.list_checkpoints("local") and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    done = _interrupt(command, ready)
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        f"target-gaming train: interrupted; the checkpoints in {out} are kept: "
        f"continue with `target-gaming train --resume --out {out}`"
    ]
    assert all(verify_model(p) == s for s, p in run.list_checkpoints("local"))


def test_ctrl_c_during_a_checkpoint_save_waits_for_the_checkpoint(tmp_path):
    """torch's zip writer turns an interrupt inside it into a RuntimeError: the save holds
    the interrupt back, writes the checkpoint whole, then raises KeyboardInterrupt."""
    from target_gaming.training.sb3.callbacks import save_model_atomic

    class Model:
        def save(self, buffer):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the save
            buffer.write(b"model bytes")

    path = tmp_path / "checkpoint.zip"
    # Python's own Ctrl-C handler, even where the tests run with SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            save_model_atomic(Model(), path)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert path.read_bytes() == b"model bytes"
