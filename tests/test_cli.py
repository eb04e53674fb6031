"""The rollout command: the metrics table and episodes.csv."""

from __future__ import annotations

import csv

from target_gaming.envs.target_gaming import METRICS
from target_gaming.training.cli import main
from target_gaming.training.evaluation.rollout import EPISODE_COLUMNS, RolloutSpec, rollout


def test_rollout_writes_one_row_per_episode_with_every_documented_column(tmp_path, capsys):
    code = main(
        [
            "rollout",
            "--design",
            "targets,audited_targets",
            "--policy",
            "honest,gamer",
            "--episodes",
            "3",
            "--out",
            str(tmp_path),
            "--set",
            "n_localities=4",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "audited_targets" in printed and "gaming_share" in printed
    with open(tmp_path / "episodes.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 3
    assert tuple(rows[0]) == EPISODE_COLUMNS
    assert set(METRICS) <= set(rows[0])
    assert (tmp_path / "metrics.txt").read_text().startswith("# target-gaming rollout")


def test_rollout_is_deterministic_for_a_seed():
    spec = RolloutSpec(design="rotating_basket", policy="random", episodes=4, seed=9)
    assert rollout(spec) == rollout(spec)
    other = RolloutSpec(design="rotating_basket", policy="random", episodes=4, seed=10)
    assert rollout(spec) != rollout(other)


def test_gamer_shows_a_goodhart_gap_and_honest_does_not():
    gamer = rollout(RolloutSpec(policy="gamer", episodes=8))
    honest = rollout(RolloutSpec(policy="honest", episodes=8))
    assert min(r["goodhart_gap"] for r in gamer) > 0.05
    assert max(abs(r["goodhart_gap"]) for r in honest) < 0.01


def test_bad_names_exit_with_a_clear_error(capsys):
    assert main(["rollout", "--design", "bribes", "--episodes", "2"]) == 2
    assert "bribes" in capsys.readouterr().err
    assert main(["rollout", "--policy", "saintly", "--episodes", "2"]) == 2
    assert "saintly" in capsys.readouterr().err
    assert main(["rollout", "--set", "alpha=7", "--episodes", "2"]) == 2
    assert "alpha" in capsys.readouterr().err


def test_rollout_renders_frames_and_passes_centre_parameters(capsys):
    code = main(
        [
            "rollout",
            "--design",
            "targets",
            "--policy",
            "gamer",
            "--episodes",
            "1",
            "--render",
            "--centre",
            "ratchet",
            "--centre-param",
            "ratchet_rate=0.9",
            "--set",
            "horizon=4",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("design=targets") == 4 and "t=4/4" in out
    assert (
        main(
            [
                "rollout",
                "--centre",
                "ratchet",
                "--centre-param",
                "ratchet_rate=2",
                "--episodes",
                "1",
            ]
        )
        == 2
    )
    assert "ratchet_rate" in capsys.readouterr().err
