"""The reward-design comparison end to end: outputs, backends, statistics, resumption."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from target_gaming.envs.target_gaming import METRICS
from target_gaming.training.compare.grid import PRESETS, CompareConfig, preset
from target_gaming.training.compare.report import MAIN_METRICS, SUMMARY_COLUMNS
from target_gaming.training.compare.run import run_comparison
from target_gaming.training.compare.stats import iqm, iqm_interval, probability_of_improvement

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "designs": ["targets", "audited_targets"],
    "seeds": [0, 1],
    "train": {
        "timesteps": 2048,
        "n_envs": 8,
        "checkpoint_every": 1024,
        "ppo": {"n_steps": 32, "batch_size": 256, "n_epochs": 1},
    },
    "eval_episodes": 3,
    "baselines": ["honest", "myopic_best_response"],
    "held_out": {"held_out": {"n_localities": 8, "heterogeneity": 0.8}},
}
FILES = (
    "report.md",
    "summary.csv",
    "intervals.png",
    "trajectories.png",
    "scatter.png",
    "bunching.png",
    "curves.png",
    "overview.png",
    "comparison.json",
)


def _check_outputs(root: Path) -> None:
    for name in FILES:
        assert (root / name).stat().st_size > 0, name
    for design in TINY["designs"]:
        for seed in TINY["seeds"]:
            cell = root / "runs" / design / f"seed{seed}"
            for name in ("config.json", "local_policy.zip", "episodes.csv", "done.json"):
                assert (cell / name).exists(), (cell, name)
    with open(root / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    agents = {"learned", *TINY["baselines"]}
    assert len(rows) == 2 * 2 * len(agents) * 2  # designs x seeds x agents x variants
    assert {r["agent"] for r in rows} == agents and {r["variant"] for r in rows} == {
        "fresh",
        "held_out",
    }
    assert all(np.isfinite(float(r[m])) for r in rows for m in METRICS)
    report = (root / "report.md").read_text()
    for metric in MAIN_METRICS:
        assert metric in report
    headings = ("Ranking", "Probability of improving on `targets`", "held-out", "| honest |")
    for heading in (
        *headings,
        "Convergence of the learned agents",
        "| design | true_welfare drift",
    ):
        assert heading in report


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["process", "ray"])
def test_a_tiny_comparison_writes_every_output_with_either_backend(tmp_path, backend):
    if backend == "ray":
        pytest.importorskip("ray")
    root = run_comparison(
        CompareConfig.from_dict(TINY), tmp_path, workers=2, backend=backend, progress=False
    ).parent
    _check_outputs(root)


@pytest.mark.slow
def test_a_killed_comparison_resumes_without_redoing_finished_cells(tmp_path):
    config = tmp_path / "grid.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "cmp"
    cmd = [
        sys.executable,
        "-m",
        "target_gaming.training.cli",
        "compare",
        "--config",
        str(config),
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    deadline = time.time() + 300
    while not list(out.glob("runs/*/*/done.json")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.read_text() for p in out.glob("runs/*/*/done.json")}
    assert 1 <= len(finished) < 4
    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    for path, text in finished.items():
        assert path.read_text() == text  # not redone
    _check_outputs(out)
    assert "from an earlier run" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_two_scenario_grid_with_train_overrides_is_trained_and_reported_per_scenario(tmp_path):
    grid = {
        **TINY,
        "scenarios": ["whitehall", "jug_2"],
        "train": {**TINY["train"], "overrides": {"n_localities": 4}, "centre_reward": "welfare"},
        "eval_episodes": 2,
        "baselines": ["honest"],
        # jug_2: its own designs and a longer training
        "per_scenario": {
            "jug_2": {"designs": ["targets", "pooled_budget"], "train": {"timesteps": 3072}}
        },
    }
    config = CompareConfig.from_dict(grid)
    report = run_comparison(config, tmp_path, workers=2, progress=False).read_text()
    designs = {"whitehall": TINY["designs"], "jug_2": ["targets", "pooled_budget"]}
    assert not (tmp_path / "runs" / "jug_2" / "audited_targets").exists()
    for scenario in grid["scenarios"]:
        for design in designs[scenario]:
            for seed in TINY["seeds"]:
                cell = tmp_path / "runs" / scenario / design / f"seed{seed}"
                trained = json.loads((cell / "config.json").read_text())
                assert trained["overrides"] == {"n_localities": 4}
                assert trained["centre_reward"] == "welfare"
                assert trained["timesteps"] == (3072 if scenario == "jug_2" else 2048)
                assert json.loads((cell / "done.json").read_text())["files"]
                assert (cell / "curves.csv").stat().st_size > 0
        for name in ("intervals", "trajectories", "scatter", "bunching", "curves"):
            assert (tmp_path / f"{name}-{scenario}.png").stat().st_size > 0
    with open(tmp_path / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 2 * 2 * 2  # scenarios x designs x seeds x agents x variants
    assert [r["scenario"] for r in rows] == sorted(r["scenario"] for r in rows)
    sections = report.split("## Scenario `")[1:]
    assert [s.split("`")[0] for s in sections] == ["whitehall", "jug_2"]
    for section in sections:
        assert "Ranking" in section and "Probability of improving on `targets`" in section
    assert "`pooled_budget`" in sections[1] and "`pooled_budget`" not in sections[0]
    assert "`audited_targets`" not in sections[1]


def test_a_learned_centre_is_refused_held_out_variants_it_cannot_act_in():
    from target_gaming.training.compare.specs import check_grid

    grid = {**TINY, "train": {**TINY["train"], "mode": "two_level"}}
    with pytest.raises(ValueError, match=r"held_out\['held_out'\].*keep n_localities"):
        check_grid(CompareConfig.from_dict(grid))
    check_grid(CompareConfig.from_dict({**grid, "held_out": {"mixed": {"heterogeneity": 0.9}}}))
    check_grid(CompareConfig.from_dict(TINY))  # learned locals act in any variant


def test_per_scenario_settings_give_each_scenario_its_designs_and_training():
    config = CompareConfig.from_dict(
        {
            **TINY,
            "scenarios": ["whitehall", "jug_1"],
            "per_scenario": {"jug_1": {"designs": ["pooled_budget"], "train": {"timesteps": 4096}}},
        }
    )
    assert [c.label for c in config.cells()] == [
        "whitehall/targets/seed0",
        "whitehall/targets/seed1",
        "whitehall/audited_targets/seed0",
        "whitehall/audited_targets/seed1",
        "jug_1/pooled_budget/seed0",
        "jug_1/pooled_budget/seed1",
    ]
    assert config.train_for("jug_1")["timesteps"] == 4096
    assert config.train_for("whitehall")["timesteps"] == 2048
    assert config.all_designs == ("targets", "audited_targets", "pooled_budget")
    bad = {**TINY, "scenarios": ["whitehall"]}
    for per_scenario, message in (
        ({"jug_1": {"designs": ["targets"]}}, "a scenario of the grid"),
        ({"whitehall": {"seeds": [1]}}, "keys designs and/or train"),
        ({"whitehall": {"designs": ["bribes"]}}, r"per_scenario\['whitehall'\].designs"),
        ({"whitehall": {"train": {"seed": 3}}}, r"per_scenario\['whitehall'\].train.seed"),
    ):
        with pytest.raises(ValueError, match=message):
            CompareConfig.from_dict({**bad, "per_scenario": per_scenario})


def test_a_different_grid_in_the_same_folder_is_refused(tmp_path):
    (tmp_path / "comparison.json").write_text(json.dumps({"designs": ["linear"]}))
    with pytest.raises(ValueError, match="different comparison"):
        run_comparison(CompareConfig.from_dict(TINY), tmp_path, progress=False)


def test_bad_grids_fail_with_the_allowed_values():
    with pytest.raises(ValueError, match="bribes.*targets"):
        CompareConfig.from_dict({**TINY, "designs": ["bribes"]})
    with pytest.raises(ValueError, match="unknown comparison field"):
        CompareConfig.from_dict({**TINY, "sedes": [1]})
    with pytest.raises(ValueError, match="quick, standard, full"):
        preset("huge")
    with pytest.raises(ValueError, match="backend"):
        run_comparison(CompareConfig.from_dict(TINY), Path("/tmp/unused"), backend="slurm")


def test_every_preset_is_a_valid_grid():
    for name in PRESETS:
        config = preset(name)
        assert "targets" in config.designs and len(config.seeds) >= 3


def test_iqm_and_its_interval_and_the_probability_of_improvement():
    values = np.array([0.0, 1.0, 2.0, 3.0, 100.0])
    assert iqm(values) == pytest.approx(2.0)  # the outlier is trimmed
    point, low, high = iqm_interval(values)
    assert low <= point <= high
    assert probability_of_improvement([2, 3], [1, 1]) == 1.0
    assert probability_of_improvement([1, 2], [2, 1]) == 0.5
    assert probability_of_improvement([1], [2], higher_is_better=False) == 1.0


def test_a_two_level_cell_is_evaluated_under_the_centre_it_learned(tmp_path):
    grid = {
        "designs": ["targeted_audits"],
        "seeds": [0],
        "train": {
            "mode": "two_level",
            "timesteps": 1024,
            "rounds": 1,
            "round_timesteps": 512,
            "centre_timesteps": 64,
            "n_envs": 4,
            "checkpoint_every": 0,
            "ppo": {"n_steps": 8, "batch_size": 64, "n_epochs": 1},
            "centre_ppo": {"n_steps": 4, "batch_size": 16, "n_epochs": 1},
        },
        "eval_episodes": 2,
        "baselines": ["honest"],
        "held_out": {},
    }
    run_comparison(CompareConfig.from_dict(grid), tmp_path, workers=1, progress=False)
    cell = tmp_path / "runs" / "targeted_audits" / "seed0"
    assert (cell / "centre_policy.zip").exists()
    with open(cell / "episodes.csv", newline="") as handle:
        centres = {r["centre_policy"] for r in csv.DictReader(handle)}
    assert centres == {"centre_policy.zip"}  # learned locals and baselines alike
    trained = json.loads((cell / "config.json").read_text())
    assert (trained["mode"], trained["centre_policy"]) == ("two_level", "risk_based_audits")
