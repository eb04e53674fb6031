"""The validation: its verdicts, effects and matched targets, its table, its settings, a run.

Most tests stand in a scripted policy for a cell's training (``_train`` returns a
scripted name, run in this process), so a whole validation runs in seconds; one slow
test trains for real at a tiny budget and reruns it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from target_gaming.envs.target_gaming import DESIGNS, SCENARIOS, make_config
from target_gaming.training.cli import main
from target_gaming.training.compare import cells as compare_cells
from target_gaming.training.compare.grid import LEARNED
from target_gaming.training.compare.report import VALUES
from target_gaming.training.evaluation.rollout import FRONTLINE
from target_gaming.training.validate import run as run_module
from target_gaming.training.validate.cells import RECORD
from target_gaming.training.validate.config import (
    PRESETS,
    ValidateConfig,
    condition_config,
    preset,
)
from target_gaming.training.validate.effects import (
    FAILS,
    HOLDS,
    NO_DATA,
    check_effect,
    matched_target,
    paired_effects,
    summarise_effect,
    verdict,
)
from target_gaming.training.validate.phenomena import (
    CONDITIONS,
    PHENOMENA,
    Check,
    Condition,
    Phenomenon,
    Side,
    agents_read,
    check_table,
    phenomenon_verdict,
)
from target_gaming.training.validate.report import SUMMARY_COLUMNS
from target_gaming.training.validate.run import check_validation, run_validation

# two phenomena, one with a matched condition (ratchet_matched after ratchet)
TINY = {
    "phenomena": ["threshold_bunching", "ratchet"],
    "seeds": [0, 1],
    "timesteps": 2000,
    "n_envs": 4,
    "checkpoint_every": 0,
    "eval_episodes": 2,
    "ppo": {"n_steps": 32, "batch_size": 128, "n_epochs": 1},
}
TINY_CONDITIONS = ("targets_costly", "linear_costly", "ratchet", "ratchet_matched")


# ---- verdicts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "low, high, relation, margin, expected",
    [
        (0.01, 0.2, ">", 0.0, HOLDS),
        (-0.01, 0.2, ">", 0.0, FAILS),
        (0.01, 0.2, ">", 0.05, FAILS),  # above zero, not above the margin
        (-0.3, -0.01, "<", 0.0, HOLDS),
        (-0.3, 0.01, "<", 0.0, FAILS),
        (-0.3, -0.01, "<", 0.05, FAILS),
        (-0.005, 0.009, "tie", 0.01, HOLDS),
        (-0.02, 0.0, "tie", 0.01, FAILS),
        (0.0, 0.011, "tie", 0.01, FAILS),
        (0.0, 0.0, "tie", 0.0, HOLDS),
        (-0.03, -0.002, "at_most", 0.01, HOLDS),  # it helps: below the margin, and below 0
        (-0.005, 0.009, "at_most", 0.01, HOLDS),
        (-0.03, 0.011, "at_most", 0.01, FAILS),  # it may cost more than the margin
    ],
)
def test_a_check_holds_only_if_its_interval_clears_the_margin(
    low, high, relation, margin, expected
):
    assert verdict(low, high, relation, margin) == expected


def test_a_phenomenon_holds_if_every_check_holds_fails_if_none_does():
    assert phenomenon_verdict([HOLDS, HOLDS]) == "holds"
    assert phenomenon_verdict([HOLDS, FAILS, NO_DATA]) == "partly"
    assert phenomenon_verdict([FAILS, NO_DATA]) == "fails"
    assert phenomenon_verdict([FAILS]) == "fails"


def test_the_effect_over_seeds_is_an_iqm_with_a_bootstrap_interval():
    clear = summarise_effect("learned", {0: 0.10, 1: 0.20, 2: 0.15}, ">")
    assert clear.verdict == HOLDS and clear.n_seeds == 3
    assert 0.10 - 1e-12 <= clear.low <= clear.iqm <= clear.high <= 0.20 + 1e-12
    mixed = summarise_effect("learned", {0: -0.10, 1: 0.20, 2: 0.15}, ">")
    assert mixed.low < 0 and mixed.verdict == FAILS
    assert summarise_effect("learned", {}, ">").verdict == NO_DATA


# ---- effects: sides, agents, seeds paired -------------------------------------------------


def _values(rows: dict) -> dict:
    """values[condition][seed][(agent, variant)] = {metric: value} from a flat dict."""
    out: dict = {}
    for (condition, seed, agent, variant), metrics in rows.items():
        out.setdefault(condition, {}).setdefault(seed, {})[agent, variant] = metrics
    return out


def test_effects_pair_seeds_by_index_and_read_each_sides_agent_and_metric():
    values = _values(
        {
            **{("a", s, "learned", "fresh"): {"x": 10.0 * s, "y": 1.0} for s in (0, 1, 2)},
            **{("a", s, "honest", "fresh"): {"x": 100.0 + s, "y": 0.0} for s in (0, 1, 2)},
            **{("b", s, "learned", "fresh"): {"x": float(s), "y": 5.0} for s in (1, 2, 3)},
            **{("b", s, "honest", "fresh"): {"x": 1.0, "y": 0.0} for s in (1, 2, 3)},
            **{("b", s, "silo", "fresh"): {"x": 7.0, "y": 0.0} for s in (1, 2, 3)},
        }
    )
    assert paired_effects({0: 1.0, 1: 2.0, 2: 3.0}, {1: 0.5, 2: 1.0, 3: 9.0}) == {1: 1.5, 2: 2.0}
    assert paired_effects({0: 1.0, 2: 3.0}, 0.5) == {0: 0.5, 2: 2.5}
    check = Check("a beats b", "x", Side("a"), Side("b"), ">", scripted="honest")
    learned = check_effect(check, values, "learned")
    assert learned.per_seed == {1: 10.0 - 1.0, 2: 20.0 - 2.0}  # seeds 1 and 2 are in both
    scripted = check_effect(check, values, "scripted")
    assert scripted.per_seed == {1: 101.0 - 1.0, 2: 102.0 - 1.0}
    # an explicit agent is read in both effects; a right side may read another metric
    fixed = Check("a vs silo", "x", Side("a"), Side("b", agent="silo"), "<", scripted="honest")
    assert check_effect(fixed, values, "learned").per_seed == {1: 10.0 - 7.0, 2: 20.0 - 7.0}
    assert check_effect(fixed, values, "scripted").per_seed == {1: 101.0 - 7.0, 2: 102.0 - 7.0}
    other = Check("x over y", "x", Side("a"), Side("a"), ">", right_metric="y")
    assert check_effect(other, values, "learned").per_seed == {0: -1.0, 1: 9.0, 2: 19.0}
    constant = Check("x over 5", "x", Side("b"), 5.0, ">")
    assert check_effect(constant, values, "learned").per_seed == {1: -4.0, 2: -3.0, 3: -2.0}


def test_an_agent_placeholder_is_filled_per_effect():
    side = Side("jug_1", agent="{agent}+{agent}+{agent}+silo")
    assert side.agent_for(LEARNED) == "learned+learned+learned+silo"
    assert side.agent_for("honest") == "honest+honest+honest+silo"
    assert Side("jug_1").agent_for("honest") == "honest"
    assert Side("jug_1", agent="prescribed").agent_for(LEARNED) == "prescribed"


@pytest.mark.parametrize(
    "levels, expected",
    [
        ([0.6, 0.7], 0.65),
        ([0.612341, 0.612343], 0.6123),  # rounded to 4 decimals
        ([0.95, 0.97], 0.9),  # clipped to target_max
        ([0.1], 0.3),  # and to target_min
    ],
)
def test_a_matched_target_is_the_mean_level_rounded_and_clipped(levels, expected):
    assert matched_target(levels, 0.3, 0.9) == pytest.approx(expected, abs=1e-12)


def test_a_matched_target_needs_levels():
    with pytest.raises(ValueError, match="target levels"):
        matched_target([], 0.3, 0.9)


# ---- the table ----------------------------------------------------------------------------


def test_every_check_reads_conditions_agents_and_metrics_that_exist():
    check_table()
    for condition in CONDITIONS.values():
        assert condition.scenario in SCENARIOS and condition.design in DESIGNS, condition
    for phen in PHENOMENA.values():
        assert phen.checks and phen.prediction and phen.source
        for check in phen.checks:
            known = VALUES + FRONTLINE  # a cascade's metrics, in its worlds only
            assert check.metric in known and check.other_metric in known, check.name
            for side in check.sides():
                cond = CONDITIONS[side.condition]
                if check.metric in FRONTLINE or check.other_metric in FRONTLINE:
                    world = make_config(cond.scenario, **cond.overrides)
                    assert world.cascade is not None, (check.name, cond.name)
                for agent in agents_read(check, side):
                    assert agent == LEARNED or agent in cond.baselines, (check.name, agent)
            if check.scripted is not None and all(s.agent is None for s in check.sides()):
                for side in check.sides():  # the scripted agent is a baseline of both
                    assert check.scripted in CONDITIONS[side.condition].baselines


def test_the_table_encodes_the_matched_ratchet_and_the_jug_patterns():
    assert CONDITIONS["ratchet_matched"].match_target_level_of == "ratchet"
    assert CONDITIONS["ratchet"].centre_policy == "ratchet"
    for k in (1, 2, 3, 4):
        assert "learned+learned+learned+silo" in CONDITIONS[f"jug_{k}"].baselines
        assert CONDITIONS[f"jug_{k}"].timesteps_scale == 4
    assert set(PHENOMENA) == {
        "gaming_audits",
        "effort_substitution",
        "threshold_bunching",
        "ratchet",
        "local_knowledge",
        "joined_up",
        "genuine_improvement",
        "gresham",
        "prescription",
        "cascade",
    }
    # the prescription pairs differ only in the centre: the lever is on in both
    for scenario in ("coalfield", "homogeneous"):
        choice, prescribed = CONDITIONS[f"choice_{scenario}"], CONDITIONS[f"prescribed_{scenario}"]
        assert choice.overrides == prescribed.overrides == {"prescription": True}
        assert (choice.centre_policy, prescribed.centre_policy) == ("fixed_targets", "prescriptive")
        assert choice.scenario == prescribed.scenario and choice.design == prescribed.design
    # each cascade pair differs only in the depth, and every condition has the frontline tier
    for pair in (("", ""), ("_coalfield", "_coalfield"), ("_knights", "_knights")):
        for depth in ("cascade_17", "cascade_34"):
            name = depth + pair[0]
            if name not in CONDITIONS:
                continue
            deep, flat = CONDITIONS[name], CONDITIONS["headline_only" + pair[1]]
            deep_cfg, flat_cfg = (make_config(c.scenario, **c.overrides) for c in (deep, flat))
            assert flat_cfg.cascade == 1 and deep_cfg.cascade == int(depth.split("_")[1])
            assert deep_cfg.replace(cascade=1) == flat_cfg, name
            assert deep.design == flat.design == "audited_targets"


@pytest.mark.parametrize(
    "check, words",
    [
        (Check("c", "x", Side("nowhere"), 0.0, ">"), ["condition = 'nowhere'", "one of"]),
        (Check("c", "x", Side("a"), Side("b"), ">", scripted="gamer"), ["agent = 'gamer'", "b"]),
        (Check("c", "x", Side("a", "knaves"), 0.0, ">"), ["variant = 'knaves'"]),
        (Check("c", "x", Side("a"), 0.0, "=="), ["relation = '=='"]),
        (Check("c", "x", Side("a"), 0.0, ">", scripted=None), ["metric = 'x'", "one of"]),
        (
            Check("c", "measured_effort_share", Side("a"), Side("b"), ">", scripted="honest"),
            ["metric = 'measured_effort_share'", "condition a", "no cascade"],
        ),
    ],
)
def test_a_table_that_contradicts_itself_is_refused_naming_the_check(check, words):
    conditions = {
        "a": Condition("a", "whitehall", "targets", baselines=("honest", "gamer")),
        "b": Condition("b", "whitehall", "linear", baselines=("honest",)),
    }
    with pytest.raises(ValueError) as err:
        check_table({"p": Phenomenon("p", "P", "", "", (check,))}, conditions)
    message = str(err.value)
    assert "\n" not in message and "phenomenon p, check 'c'" in message
    for word in words:
        assert word in message, (word, message)


def test_a_table_of_a_cascades_metric_in_a_world_without_one_is_refused():
    deep = Condition("deep", "cascade_health", "targets")
    flat = Condition("flat", "whitehall", "targets", overrides={"cascade": 1})
    check = Check("c", "gaming_share", Side("deep"), Side("flat"), ">", scripted="honest")
    phenomena = {"p": Phenomenon("p", "P", "", "", (check,), ("true_welfare", "frontline_targets"))}
    check_table(phenomena, {"deep": deep, "flat": flat})  # M = 1 has the frontline metrics
    plain = Condition("flat", "whitehall", "targets")
    with pytest.raises(ValueError, match=r"p, table: metric = 'frontline_targets'.* flat, whose"):
        check_table(phenomena, {"deep": deep, "flat": plain})


def test_every_preset_checks_and_scales_the_per_domain_conditions():
    for name in PRESETS:
        config = preset(name)
        check_validation(config)  # every condition's grid for every seed
        assert len(config.seeds) >= 3 and config.conditions()
    # between them the full preset and the phenomena with their own presets run every one
    own = set(preset("prescription").phenomena) | set(preset("cascade").phenomena)
    assert set(preset("full").phenomena) | own == set(PHENOMENA)
    assert preset("full").conditions()[0] == "targets"
    assert preset("prescription").conditions() == (
        "choice_coalfield",
        "prescribed_coalfield",
        "choice_homogeneous",
        "prescribed_homogeneous",
    )
    config = preset("quick")
    assert condition_config(config, "jug_1", 0).train["timesteps"] == 4 * config.timesteps
    assert condition_config(config, "targets", 2).seeds == (2,)
    matched = condition_config(config, "ratchet_matched", 1, 0.7123)
    assert matched.train["overrides"] == {"effort_cost": 0.4, "target_default": 0.7123}


def test_a_subset_runs_the_conditions_it_reads_and_the_ones_they_match():
    config = ValidateConfig.from_dict({"phenomena": ["ratchet"]})
    assert config.conditions() == ("ratchet", "ratchet_matched")
    config = ValidateConfig.from_dict({"phenomena": ["gresham", "local_knowledge"]})
    assert config.conditions() == ("coalfield", "homogeneous", "gresham_targets", "gresham_audited")


# ---- settings: every bad field in one line, before anything is written -------------------

BAD = [
    ({"seeds": [0, 0]}, ["seeds = (0, 0)", "distinct integers"]),
    ({"seeds": 3}, ["seeds = 3", "a list"]),
    ({"seeds": [0.5]}, ["seeds = (0.5,)"]),
    ({"timesteps": 0}, ["timesteps = 0", "an integer in [1,"]),
    ({"n_envs": "4"}, ["n_envs = '4'"]),
    ({"eval_episodes": True}, ["eval_episodes = True"]),
    ({"checkpoint_every": -1}, ["checkpoint_every = -1"]),
    ({"phenomena": ["gamin"]}, ["phenomena = ('gamin',)", "gaming_audits"]),
    ({"phenomena": []}, ["phenomena = ()"]),
    ({"ppo": "fast"}, ["ppo = 'fast'", "PPO settings"]),
    ({"ppo": {"n_step": 3}}, ["n_step", "condition targets_costly (seed 0)"]),
    ({"sedes": [1]}, ["unknown field(s)", "a validation config", "sedes"]),
]


@pytest.mark.parametrize("change, words", BAD, ids=lambda x: str(x)[:40])
def test_a_bad_config_is_one_line_naming_the_field(tmp_path, monkeypatch, capsys, change, words):
    def no_cell(*args, **kwargs):
        raise AssertionError("a cell started before the config was checked")

    monkeypatch.setattr(run_module, "run_jobs", no_cell)
    path = tmp_path / "validate.json"
    path.write_text(json.dumps({**TINY, **change}))
    out = tmp_path / "out"
    assert main(["validate", "--config", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("target-gaming validate: error: ")
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--preset", "huge"], ["unknown preset 'huge'", "quick, full"]),
        (["--workers", "0"], ["workers = 0"]),
        (["--config", "missing.json"], ["--config missing.json does not exist"]),
    ],
)
def test_bad_flags_are_one_line(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_module, "run_jobs", lambda *a, **k: None)
    assert main(["validate", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


# ---- a whole validation, with scripted stand-ins for training -----------------------------


@pytest.fixture
def scripted_cells(monkeypatch):
    """Cells that 'train' a scripted policy (``trained[0]``), run in this process."""
    trained = ["honest"]
    monkeypatch.setattr(compare_cells, "_train", lambda config, cell, out: (trained[0], None))

    def in_process(jobs, workers, bar, backend="process", address=None, work=None):
        for job in jobs:
            work(job)
            bar.update()

    monkeypatch.setattr(run_module, "run_jobs", in_process)
    return trained


def _validate(root: Path, config: dict = TINY, force: bool = False) -> list[str]:
    said: list[str] = []
    run_validation(
        ValidateConfig.from_dict(config), root, progress=False, force=force, log=said.append
    )
    return said


def _cell(root: Path, condition: str, seed: int) -> Path:
    cond = CONDITIONS[condition]
    return root / "runs" / condition / "runs" / cond.design / f"seed{seed}"


def _learned_levels(cell: Path) -> list[float]:
    with open(cell / "episodes.csv", newline="") as handle:
        return [
            float(r["target_level"])
            for r in csv.DictReader(handle)
            if r["agent"] == "learned" and r["variant"] == "fresh"
        ]


def test_a_validation_writes_its_outputs_and_a_rerun_redoes_nothing(tmp_path, scripted_cells):
    assert _validate(tmp_path) == []
    for name in ("report.md", "summary.csv", "threshold_bunching.png", "ratchet.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "validation.json").read_text())["seeds"] == [0, 1]
    for condition in TINY_CONDITIONS:
        for seed in (0, 1):
            recorded = json.loads((_cell(tmp_path, condition, seed) / RECORD).read_text())
            assert recorded["cell"] == f"{condition}/seed{seed}"
            assert recorded["grid"]["seeds"] == [seed]
    # the matched cell's target level is the ratchet cell's, seed by seed
    for seed in (0, 1):
        recorded = json.loads((_cell(tmp_path, "ratchet_matched", seed) / RECORD).read_text())
        levels = _learned_levels(_cell(tmp_path, "ratchet", seed))
        expected = matched_target(levels, 0.3, 0.9)
        assert recorded["grid"]["train"]["overrides"] == {
            "effort_cost": 0.4,
            "target_default": expected,
        }
        assert recorded["grid"]["centre_policy"] == "fixed_targets"
    with open(tmp_path / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    checks = sum(len(PHENOMENA[p].checks) for p in TINY["phenomena"])
    assert len(rows) == 2 * checks  # a learned and a scripted row per check
    assert {r["n_seeds"] for r in rows} == {"2"}
    report = (tmp_path / "report.md").read_text()
    for words in ("## Verdicts", "Threshold bunching", "The ratchet effect", "Bevan & Hood"):
        assert words in report
    assert "target_default = the learned mean target_level of `ratchet`" in report
    assert "Cells finished: 8 of 8 (0 from an earlier run)" in report

    done = {p: p.read_text() for p in tmp_path.glob("runs/*/runs/*/seed*/done.json")}
    assert len(done) == 8
    assert _validate(tmp_path) == []
    assert {p: p.read_text() for p in done} == done  # no cell redone
    assert "Cells finished: 8 of 8 (8 from an earlier run)" in (tmp_path / "report.md").read_text()


def test_a_matched_cell_is_redone_when_its_source_changes(tmp_path, scripted_cells):
    _validate(tmp_path)
    matched = _cell(tmp_path, "ratchet_matched", 0)
    other = _cell(tmp_path, "ratchet_matched", 1) / "done.json"
    kept = other.read_text()
    (_cell(tmp_path, "ratchet", 0) / "done.json").unlink()  # the ratchet cell is redone ...
    scripted_cells[0] = "gamer"  # ... and its agents now behave otherwise
    said = _validate(tmp_path)
    assert said == [
        f"redoing cell ratchet_matched/seed0: it ran with another grid than this one ({RECORD})"
    ]
    recorded = json.loads((matched / RECORD).read_text())
    level = matched_target(_learned_levels(_cell(tmp_path, "ratchet", 0)), 0.3, 0.9)
    assert recorded["grid"]["train"]["overrides"] == {"effort_cost": 0.4, "target_default": level}
    assert other.read_text() == kept  # seed 1's source did not change


def test_a_record_without_a_grid_field_added_since_at_its_default_is_the_same_grid(
    tmp_path, scripted_cells
):
    _validate(tmp_path)
    done = {p: p.read_text() for p in tmp_path.glob("runs/*/runs/*/seed*/done.json")}
    for path in tmp_path.glob("runs/*/runs/*/seed*/" + RECORD):
        recorded = json.loads(path.read_text())
        assert recorded["grid"]["algorithm"] is None
        del recorded["grid"]["algorithm"]  # as written before the field existed
        path.write_text(json.dumps(recorded))
    assert _validate(tmp_path) == []
    assert {p: p.read_text() for p in done} == done  # no cell redone


def test_a_cell_with_a_damaged_record_is_redone_and_a_different_validation_refused(
    tmp_path, scripted_cells
):
    _validate(tmp_path)
    (_cell(tmp_path, "linear_costly", 1) / RECORD).write_text("{")
    assert _validate(tmp_path) == [
        f"redoing cell linear_costly/seed1: {RECORD} cannot be read "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    ]
    other = {**TINY, "eval_episodes": 3}
    with pytest.raises(ValueError, match="holds a different validation"):
        _validate(tmp_path, other)
    _validate(tmp_path, other, force=True)
    assert "2 evaluation episodes" not in (tmp_path / "report.md").read_text()


# ---- for real, at a tiny budget -----------------------------------------------------------


@pytest.mark.slow
def test_a_tiny_validation_trains_reports_and_skips_every_cell_on_rerun(tmp_path):
    path = tmp_path / "validate.json"
    path.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    argv = ["validate", "--config", str(path), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    for name in ("report.md", "summary.csv", "threshold_bunching.png", "ratchet.png"):
        assert (out / name).stat().st_size > 0, name
    for condition in TINY_CONDITIONS:
        for seed in (0, 1):
            cell = _cell(out, condition, seed)
            for name in ("local_policy.zip", "episodes.csv", "done.json", RECORD):
                assert (cell / name).exists(), (cell, name)
    done = {p: p.read_text() for p in out.glob("runs/*/runs/*/seed*/done.json")}
    assert len(done) == 8
    assert main(argv) == 0
    assert {p: p.read_text() for p in done} == done
    assert "Cells finished: 8 of 8 (8 from an earlier run)" in (out / "report.md").read_text()


def test_every_committed_validation_is_the_validation_its_command_names():
    """Each ``validate --preset P --out results/validation...`` of results/README.md: its
    folder holds P's validation (a preset changed without its report regenerated would
    refuse its own command and report another validation)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "results" / "README.md").read_text()
    commands = set(re.findall(r"validate --preset (\w+) --out (results/validation[\w-]*)", text))
    assert {name for name, _ in commands} == {"full", "prescription", "cascade"}
    for name, folder in sorted(commands):
        recorded = json.loads((root / folder / "validation.json").read_text())
        assert ValidateConfig.from_dict(recorded) == preset(name), (name, folder)
