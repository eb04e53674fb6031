"""Each design runs with a centre that plays its part, and a comparison never shows two
rows of one experiment without saying so."""

from __future__ import annotations

import pytest

from target_gaming.agents import CENTRE_POLICIES, centre_problem, design_centre
from target_gaming.envs.target_gaming import DESIGNS
from target_gaming.training.compare.grid import CompareConfig
from target_gaming.training.compare.report import VALUES, design_table, duplicates
from target_gaming.training.config import TrainConfig
from target_gaming.training.evaluation.rollout import RolloutSpec, rollout


@pytest.mark.parametrize("design", list(DESIGNS))
def test_every_design_names_a_centre_that_plays_its_part(design):
    centre = DESIGNS[design].centre
    assert centre in CENTRE_POLICIES
    assert centre_problem(design, centre) is None


def test_targeted_audits_runs_with_risk_based_audits_unless_a_centre_is_named():
    assert design_centre("targeted_audits") == "risk_based_audits"
    assert design_centre("audited_targets") == "fixed_targets"
    assert design_centre("targeted_audits", "random_audits") == "random_audits"
    assert TrainConfig(design="targeted_audits").centre == "risk_based_audits"
    assert TrainConfig(design="targeted_audits", centre_policy="ratchet").centre == "ratchet"
    assert RolloutSpec(design="targeted_audits").centre == "risk_based_audits"
    assert RolloutSpec(design="targets").centre == "fixed_targets"


def _rows(design: str, centre: str | None) -> list[dict]:
    spec = RolloutSpec(design=design, policy="gamer", centre_policy=centre, episodes=4, seed=3)
    return [
        {k: v for k, v in r.items() if k not in ("design", "centre_policy")} for r in rollout(spec)
    ]


def test_even_audit_weights_repeat_audited_targets_and_risk_based_ones_do_not():
    """Why the grid refuses ``targeted_audits`` under an even-audit centre: its even weights
    spread n_audits = 3 over 6 localities at audit_rate 0.5, so every episode is that of
    ``audited_targets``, draw for draw."""
    audited = _rows("audited_targets", "fixed_targets")
    assert _rows("targeted_audits", "fixed_targets") == audited
    assert _rows("targeted_audits", None) != audited  # risk_based_audits


def test_a_grid_refuses_a_centre_that_cannot_play_its_designs_part():
    with pytest.raises(ValueError, match="centre_policy: design 'targeted_audits'.*risk_based"):
        CompareConfig(designs=("targets", "targeted_audits"), centre_policy="fixed_targets")
    with pytest.raises(ValueError, match="centre_policy.*'targeted_audits'.*evenly"):
        CompareConfig(
            designs=("targets", "targeted_audits"), centre_policy={"targeted_audits": "ratchet"}
        )
    # alone, a design may run under any centre: a comparison of centres
    assert CompareConfig(designs=("targeted_audits",), centre_policy="fixed_targets")
    with pytest.raises(ValueError, match="'linear' is not in designs"):
        CompareConfig(designs=("targets",), centre_policy={"linear": "ratchet"})
    with pytest.raises(ValueError, match=r"centre_policy\['targets'\] = 3"):
        CompareConfig(designs=("targets",), centre_policy={"targets": 3})


def test_a_grid_pairs_each_design_with_its_centre():
    config = CompareConfig(designs=("targets", "audited_targets", "targeted_audits"))
    assert [config.centre_for(d) for d in config.designs] == [
        "fixed_targets",
        "fixed_targets",
        "risk_based_audits",
    ]
    mapped = CompareConfig(
        designs=("targets", "targeted_audits"), centre_policy={"targets": "ratchet"}
    )
    assert mapped.centre_for("targets") == "ratchet"
    assert mapped.centre_for("targeted_audits") == "risk_based_audits"
    everyone = CompareConfig(designs=("targets", "targeted_audits"), centre_policy="random_audits")
    assert {everyone.centre_for(d) for d in everyone.designs} == {"random_audits"}
    assert CompareConfig.from_dict(config.to_dict()) == config


def _summary(values: dict[str, list[float]]) -> list[dict]:
    rows = []
    for design, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            row = {"scenario": "whitehall", "design": design, "seed": seed, "agent": "learned"}
            row.update(variant="fresh", centre=DESIGNS[design].centre)
            rows.append(row | {name: value for name in VALUES})
    return rows


def test_the_report_flags_rows_that_are_one_experiment_and_states_each_centre():
    summary = _summary(
        {"targets": [0.1, 0.2], "audited_targets": [0.3, 0.4], "targeted_audits": [0.3, 0.4]}
    )
    designs = ["targets", "audited_targets", "targeted_audits"]
    assert duplicates(summary, designs) == [("audited_targets", "targeted_audits")]
    summary[-1]["gaming_share"] = 0.41  # one value of one seed differs: two experiments
    assert duplicates(summary, designs) == []
    table = "\n".join(design_table(summary, designs))
    assert "| `targeted_audits` | risk-based audits |" in table
    assert table.endswith("| `risk_based_audits` |")


def test_an_older_record_that_names_the_default_centre_is_the_same_grid(tmp_path):
    import json

    from target_gaming.training.compare.run import _as_grid, check_same_record

    config = CompareConfig(designs=("targets", "audited_targets"))
    path = tmp_path / "comparison.json"

    def check(record: dict) -> None:
        path.write_text(json.dumps(record))
        check_same_record(
            path, config.to_dict(), False, "comparison", lambda saved: _as_grid(saved, config)
        )

    old = config.to_dict() | {"centre_policy": "fixed_targets"}  # before the default was null
    del old["trainer"]  # before the field existed
    check(old)  # not refused
    with pytest.raises(ValueError, match="different comparison"):
        check(old | {"centre_policy": "ratchet"})
