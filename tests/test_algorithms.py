"""The algorithms study: one comparison grid per learner, and the report that asks whether
the ranking of designs holds across learning algorithms."""

from __future__ import annotations

import pytest

from target_gaming.training.compare import algorithms as study
from target_gaming.training.compare.grid import FRESH, LEARNED


def summary(values: dict[str, list[float]], metric: str = "true_welfare") -> list[dict]:
    """summary.csv rows of the learned agents on fresh seeds: design -> per-seed values
    (every other main metric 0)."""
    rows = []
    for design, seeds in values.items():
        for seed, value in enumerate(seeds):
            row = {m: "0.0" for m in study.METRICS}
            row |= {"scenario": "whitehall", "design": design, "seed": str(seed)}
            row |= {"agent": LEARNED, "variant": FRESH, metric: str(value)}
            rows.append(row)
            rows.append({**row, "agent": "honest", metric: "9.0"})  # never read
    return rows


def test_every_learner_gets_the_same_grid_but_its_trainer_and_algorithm():
    base = study.base_grid("standard", None)
    grids = {x: study.learner_grid(base, x) for x in study.LEARNERS}
    assert {g.trainer for g in grids.values()} == {"sb3", "benchmarl"}
    assert grids["benchmarl_mappo"].algorithm == "mappo"
    assert grids["sb3_ppo"].algorithm is None
    shared = {
        (g.designs, g.seeds, g.scenarios, repr(g.train), g.eval_episodes) for g in grids.values()
    }
    assert len(shared) == 1


def test_a_grid_that_sets_its_own_trainer_or_an_unknown_preset_is_refused(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text('{"designs": ["targets", "audited_targets"], "trainer": "rllib"}')
    with pytest.raises(ValueError, match="algorithms grid field trainer = 'rllib'"):
        study.base_grid(None, path)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        study.base_grid("huge", None)
    path.write_text('{"designs": ["nope"]}')
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        study.base_grid(None, path)
    with pytest.raises(ValueError, match="unknown learner"):
        study.learner_grid({}, "jax_ppo")


def test_rankings_and_their_agreement():
    assert study.ranking({"a": 0.5, "b": 0.7, "c": 0.6}, higher=True) == ["b", "c", "a"]
    assert study.ranking({"a": 0.5, "b": 0.7, "c": 0.6}, higher=False) == ["a", "c", "b"]
    assert study.agreement(["a", "b", "c"], ["a", "b", "c"]) == pytest.approx(1.0)
    assert study.agreement(["a", "b", "c"], ["c", "b", "a"]) == pytest.approx(-1.0)
    assert study.agreement(["a", "b", "c", "d"], ["b", "a", "c", "d"]) == pytest.approx(2 / 3)


def test_the_report_says_where_the_best_design_differs():
    base = {"designs": ("targets", "audited_targets", "oracle_outcomes"), "seeds": (0, 1, 2)}
    ppo = {"targets": [0.60, 0.61, 0.62], "audited_targets": [0.64, 0.65, 0.66]}
    ppo["oracle_outcomes"] = [0.70, 0.71, 0.72]
    other = {**ppo, "audited_targets": [0.80, 0.81, 0.82]}  # another best design
    summaries = {"sb3_ppo": summary(ppo), "benchmarl_ippo": summary(ppo)}
    summaries["benchmarl_masac"] = summary(other)
    text = "\n".join(study.report_lines(base, summaries, "target-gaming algorithms"))
    assert "oracle_outcomes > audited_targets > targets | 1.00 | yes | yes" in text
    assert "audited_targets > oracle_outcomes > targets | 0.33 | no | yes" in text
    assert "- whitehall, true_welfare: `benchmarl_masac` (tau 0.33)" in text
    assert "| `targets` | 0.610 [0.600, 0.620] |" in text
    # the other metrics are 0 for every design: ties ranked by name, the same everywhere
    assert "the best design is the same in 7" in text
