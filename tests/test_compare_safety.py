"""The comparison measures what it trained, per scenario, and never loses or races work.

Most tests here stand in a scripted policy for a cell's training (``_train`` returns
``"honest"``, run in this process), so the evaluation, the files a cell vouches for,
the report and the lock are checked in seconds; the process-pool tests (a killed
parent, Ctrl-C) train for real at a tiny budget.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from target_gaming.envs.target_gaming import make_config
from target_gaming.training.cli import main
from target_gaming.training.compare import cells as cells_module
from target_gaming.training.compare import run as run_module
from target_gaming.training.compare.cells import (
    DONE,
    cell_problem,
    evaluate_cell,
    expected_rows,
    run_cell,
)
from target_gaming.training.compare.grid import GRID_OWNED, Cell, CompareConfig
from target_gaming.training.compare.report import _values
from target_gaming.training.compare.run import LOCK, folder_lock, run_comparison
from target_gaming.training.compare.specs import check_grid, eval_specs, train_config
from target_gaming.training.compare.stats import iqm_interval
from tests.test_compare import TINY

ROOT = Path(__file__).resolve().parents[1]
# the tiny grid of test_compare, with fewer evaluations
SMALL = {
    **TINY,
    "eval_episodes": 2,
    "baselines": ["honest"],
    "held_out": {"held_out": {"heterogeneity": 0.8}},
}


@pytest.fixture
def scripted_cells(monkeypatch):
    """Cells that 'train' a scripted policy, and a backend that runs them in this process."""
    monkeypatch.setattr(cells_module, "_train", lambda config, cell, out: ("honest", None))

    def in_process(config, root, todo, workers, force, bar):
        for cell in todo:
            run_cell(config, root, cell, force)

    monkeypatch.setattr(run_module, "process_backend", in_process)


def _compare(config: CompareConfig, root: Path) -> tuple[Path, list[str]]:
    said: list[str] = []
    report = run_comparison(config, root, progress=False, log=said.append)
    return report, said


def _summary(root: Path) -> list[dict]:
    with open(root / "summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


# ---- 1. the right world evaluated ------------------------------------------------------


def test_evaluation_layers_the_variant_on_the_trained_world(monkeypatch):
    config = CompareConfig.from_dict(
        {
            **SMALL,
            "train": {"overrides": {"n_localities": 4}, "centre_reward": "welfare"},
            "centre_policy": "ratchet",
            "held_out": {"hetero": {"heterogeneity": 0.8}, "wide": {"n_localities": 6}},
        }
    )
    cell = Cell("whitehall", "audited_targets", 1)
    trained = train_config(config, cell)
    assert trained.overrides == {"n_localities": 4} and trained.centre_reward == "welfare"
    specs = {(a, v): s for a, v, s in eval_specs(config, cell, trained, "run/local.zip")}
    assert set(specs) == {
        (a, v) for a in ("learned", "honest") for v in ("fresh", "hetero", "wide")
    }
    for spec in specs.values():
        assert (spec.scenario, spec.design, spec.seed) == ("whitehall", "audited_targets", 10_001)
        assert (spec.centre_policy, spec.centre_reward) == ("ratchet", "welfare")
    assert specs["learned", "fresh"].overrides == {"n_localities": 4}
    assert specs["learned", "hetero"].overrides == {"n_localities": 4, "heterogeneity": 0.8}
    assert specs["honest", "wide"].overrides == {"n_localities": 6}  # the variant wins
    assert specs["learned", "fresh"].policy == "run/local.zip"

    # and the episodes themselves run there
    seen = []
    real = cells_module.rollout

    def recording(spec, on_step=None):
        seen.append(spec)
        return real(spec, on_step=on_step)

    monkeypatch.setattr(cells_module, "rollout", recording)
    rows, traces = evaluate_cell(config, cell, "honest")
    assert len(rows) == expected_rows(config) and len(seen) == 6
    sizes = sorted(make_config(s.scenario, **s.overrides).n_localities for s in seen)
    assert sizes == [4, 4, 4, 4, 6, 6]
    assert {s.centre_reward for s in seen} == {"welfare"}


# ---- 2. scenarios never pooled ---------------------------------------------------------


def test_a_two_scenario_grid_is_reported_per_scenario(tmp_path, scripted_cells):
    config = CompareConfig.from_dict(
        {
            **SMALL,
            "scenarios": ["whitehall", "coalfield_seaside"],
            "train": {**SMALL["train"], "overrides": {"n_localities": 4}},
        }
    )
    report, _ = _compare(config, tmp_path)
    summary = _summary(tmp_path)
    assert {r["scenario"] for r in summary} == {"whitehall", "coalfield_seaside"}
    text = report.read_text()
    sections = text.split("## Scenario `")[1:]
    assert [s.split("`")[0] for s in sections] == ["whitehall", "coalfield_seaside"]
    for section, scenario in zip(sections, config.scenarios):
        for heading in ("Ranking", "Probability of improving", "held-out variant", "Figures"):
            assert heading in section
        rows = [r for r in summary if r["scenario"] == scenario]
        welfare = [
            float(r["true_welfare"])
            for r in rows
            if (r["design"], r["agent"], r["variant"]) == ("targets", "learned", "fresh")
        ]
        assert len(welfare) == 2  # one per seed, this scenario's only
        assert f"| `targets` | **learned** | {iqm_interval(welfare)[0]:.3f} [" in section
        for name in ("intervals", "trajectories", "scatter", "bunching"):
            figure = f"{name}-{scenario}.png"
            assert f"({figure})" in section and (tmp_path / figure).stat().st_size > 0
    assert not (tmp_path / "intervals.png").exists()
    assert "never pooled" in text


def test_the_report_never_pools_values_of_two_scenarios():
    rows = [
        {"scenario": s, "design": "targets", "agent": "learned", "variant": "fresh", "x": 1.0}
        for s in ("whitehall", "jug_2")
    ]
    with pytest.raises(ValueError, match="would pool"):
        _values(rows, "targets", "x")
    assert list(_values(rows, "targets", "x", scenario="jug_2")) == [1.0]


# ---- 3. grid-owned fields refused ------------------------------------------------------


@pytest.mark.parametrize("field", sorted(GRID_OWNED))
def test_a_grid_cannot_set_a_field_every_cell_sets(field):
    value = {"seed": 3, "eval_episodes": 4}.get(field, "x")
    with pytest.raises(ValueError, match=f"train.{field} = .* every cell sets it") as err:
        CompareConfig.from_dict({**SMALL, "train": {field: value}})
    if field in ("scenario", "design", "seed", "centre_policy", "eval_episodes"):
        plural = {"scenario": "scenarios", "design": "designs", "seed": "seeds"}
        assert f"grid field {plural.get(field, field)} instead" in str(err.value)
    else:
        assert "remove it" in str(err.value)


# ---- 4. a cell is done only if its files are complete ----------------------------------


def _drop_last_row(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


def _set_world(path, world) -> None:
    """done.json as another version of the world (None: one that recorded none) wrote it."""
    record = json.loads(path.read_text())
    if world is None:
        del record["world"]
    else:
        record["world"] = world
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda d: _drop_last_row(d / "episodes.csv"), "episodes.csv does not match"),
        (lambda d: (d / "traces.npz").unlink(), "traces.npz is missing"),
        (lambda d: (d / "traces.npz").write_bytes(b"PK\x03\x04 cut"), "traces.npz does not"),
        (lambda d: (d / DONE).write_text('{"cell": "whitehall/ta'), "cannot be read"),
        (lambda d: (d / DONE).write_text('{"cell": "x", "wall_seconds": 1}'), "vouches for no"),
        (lambda d: (d / DONE).write_text("[1, 2]"), "vouches for no files"),
        (lambda d: _set_world(d / DONE, "target_gaming_v0"), "in target_gaming_v0, not"),
        (lambda d: _set_world(d / DONE, None), "in an earlier world, not"),
    ],
    ids=[
        "missing-rows",
        "missing-traces",
        "corrupt-traces",
        "cut-done",
        "old-done",
        "list-done",
        "other-world",
        "no-world",
    ],
)
def test_a_cell_with_missing_rows_is_redone(tmp_path, scripted_cells, damage, why):
    config = CompareConfig.from_dict(SMALL)
    _compare(config, tmp_path)
    before = _summary(tmp_path)
    cell = Cell("whitehall", "audited_targets", 1)
    folder = config.cell_dir(tmp_path, cell)
    untouched = config.cell_dir(tmp_path, Cell("whitehall", "targets", 0)) / DONE
    kept = untouched.read_text()
    damage(folder)
    assert why in cell_problem(config, tmp_path, cell)
    _, said = _compare(config, tmp_path)
    assert len(said) == 1 and said[0].startswith(f"redoing cell {cell.label}: ")
    assert why in said[0]
    assert cell_problem(config, tmp_path, cell) is None
    assert _summary(tmp_path) == before  # the same rows again, none lost
    assert untouched.read_text() == kept  # finished cells are not redone
    assert "3 from an earlier run" in (tmp_path / "report.md").read_text()


def test_a_done_json_vouches_for_the_cells_files(tmp_path, scripted_cells):
    config = CompareConfig.from_dict(SMALL)
    _compare(config, tmp_path)
    record = json.loads(
        (config.cell_dir(tmp_path, Cell("whitehall", "targets", 1)) / DONE).read_text()
    )
    assert record["cell"] == "whitehall/targets/seed1"
    assert record["files"]["episodes.csv"]["rows"] == expected_rows(config) == 2 * 2 * 2
    assert len(record["files"]["traces.npz"]["sha256"]) == 64


# ---- 5. the whole grid validated before the first cell ---------------------------------

BAD_GRIDS = [
    ({"held_out": {"big": {"n_localitys": 10}}}, ["held_out['big']", "n_localitys"]),
    ({"held_out": {"big": {"heterogeneity": "high"}}}, ["held_out['big']", "heterogeneity"]),
    ({"baselines": ["honest", "hnest"]}, ["baselines", "'hnest'", "honest"]),
    ({"centre_policy": "fixed_target"}, ["centre_policy", "'fixed_target'", "fixed_targets"]),
    ({"centre_policy": "missing/centre.zip"}, ["centre_policy", "no such file"]),
    ({"eval_episodes": "16"}, ["eval_episodes = '16'", "an integer"]),
    ({"train": {"timesteps": "300000"}}, ["train", "timesteps = '300000'", "an integer"]),
    ({"train": {"centre_reward": ["welfare"]}}, ["train.centre_reward = ['welfare']"]),
    ({"train": {"overrides": {"n_localities": 1}}}, ["train", "'n_localities' = 1"]),
    ({"train": {"centre_params": {"ratchet_rate": "a"}}}, ["train", "centre_params"]),
    ({"seeds": [0, -1]}, ["seeds = (0, -1)", "integers in [0, "]),
    ({"seeds": [0.5]}, ["seeds = (0.5,)", "integers"]),
    ({"seeds": 3}, ["seeds = 3", "a list"]),
    ({"designs": "targets"}, ["designs = 'targets'", "a list"]),
    ({"held_out": ["big"]}, ["held_out = ['big']", "a mapping"]),
    ({"held_out": {"fresh": {}}}, ["held_out = 'fresh'"]),
    ({"train": {"mode": "centre"}}, ["train.mode = 'centre'", "locals", "two_level"]),
    ({"trainer": "rllib", "train": {"mode": "two_level"}}, ["train.mode = 'two_level'", "jointly"]),
    ({"trainer": "jax"}, ["trainer = 'jax'", "sb3, rllib"]),
    ({"train": {"design": "linear"}}, ["train.design = 'linear'", "grid field designs"]),
]


@pytest.mark.parametrize("change, words", BAD_GRIDS, ids=lambda x: str(x)[:40])
def test_the_whole_grid_is_validated_before_the_first_cell(
    tmp_path, monkeypatch, capsys, change, words
):
    def no_cell(*args, **kwargs):
        raise AssertionError("a cell started before the grid was checked")

    monkeypatch.setattr(run_module, "process_backend", no_cell)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({**SMALL, **change}))
    out = tmp_path / "out"
    assert main(["compare", "--config", str(grid), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()  # nothing written, so the fixed grid is not "a different one"


def test_a_held_out_variant_bad_in_only_the_second_scenario_is_found_first():
    config = CompareConfig.from_dict(
        {**SMALL, "scenarios": ["whitehall", "jug_2"], "held_out": {"x": {"n_localities": 1}}}
    )
    with pytest.raises(ValueError, match=r"held_out\['x'\].*scenario whitehall"):
        check_grid(config)


def test_a_grid_that_is_a_json_list_is_refused_in_one_line(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps([SMALL]))
    assert main(["compare", "--config", str(grid), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(grid) in err and "JSON object" in err


def test_a_corrupt_comparison_json_is_named(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(SMALL))
    out = tmp_path / "out"
    out.mkdir()
    (out / "comparison.json").write_text('{"designs": ["targ')
    assert main(["compare", "--config", str(grid), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out / "comparison.json") in err and "corrupt" in err


def test_an_out_that_is_a_file_is_refused(tmp_path, capsys):
    grid, out = tmp_path / "grid.json", tmp_path / "file"
    grid.write_text(json.dumps(SMALL))
    out.write_text("")
    assert main(["compare", "--config", str(grid), "--out", str(out)]) == 2
    assert "is a file" in capsys.readouterr().err


# ---- 6. the output folder is locked ----------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from target_gaming.training.compare.run import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_compare_on_the_same_folder_is_refused(tmp_path, capsys, scripted_cells):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(SMALL))
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        assert main(["compare", "--config", str(grid), "--out", str(out), "--no-progress"]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(out / "runs" / LOCK) in err and f"pid {holder.pid}" in err
    assert not (out / "comparison.json").exists()  # the refused run wrote nothing


def test_a_stale_lock_is_taken_over(tmp_path, scripted_cells):
    holder = _holder(tmp_path)
    holder.kill()  # dies holding the lock: the kernel releases it, the pid stays in the file
    holder.wait()
    assert (tmp_path / "runs" / LOCK).read_text().strip() == str(holder.pid)
    _, said = _compare(CompareConfig.from_dict(SMALL), tmp_path)
    assert said == [
        f"taking over {tmp_path / 'runs' / LOCK}: its holder, pid {holder.pid}, "
        "ended without releasing it"
    ]
    assert (tmp_path / "runs" / LOCK).read_text() == ""  # released cleanly
    _, said = _compare(CompareConfig.from_dict(SMALL), tmp_path)
    assert said == []


def test_the_lock_is_held_in_this_process_too(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(ValueError, match=f"held by pid {os.getpid()}"):
            run_comparison(CompareConfig.from_dict(SMALL), tmp_path, progress=False)


# ---- 7, 8. workers die with their parent; Ctrl-C says how to resume ----------------------

LONG = {**SMALL, "train": {**SMALL["train"], "timesteps": 10_000_000, "checkpoint_every": 0}}


def _children(pid: int) -> list[int]:
    """Living (not zombie) processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_with_workers(tmp_path: Path) -> tuple[subprocess.Popen, list[int], Path]:
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(LONG))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "target_gaming.training.cli", "compare", "--config", str(grid)]
    cmd += ["--out", str(out), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal gives it, even where the tests run with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline:
        workers = [
            p
            for p in _children(proc.pid)
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        if len(workers) == 2 and len(list(out.glob("runs/*/seed*/config.json"))) == 2:
            return proc, workers, out  # both workers are training a cell
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the workers did not start")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_parent_leaves_no_worker(tmp_path):
    proc, workers, out = _start_with_workers(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 5
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert [w for w in workers if _alive(w)] == []
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_says_how_to_resume_and_stops_the_workers(tmp_path):
    proc, workers, out = _start_with_workers(tmp_path)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert "Traceback" not in err and err.count("\n") == 1, err
        assert "rerun the same command to resume" in err and str(out) in err
        assert [w for w in workers if _alive(w)] == []
        assert not list(out.glob("runs/*/seed*/done.json"))  # no cell claims to be done
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


# ---- 9. per-agent baseline patterns ------------------------------------------------------


def test_a_pattern_baseline_gives_each_local_agent_its_element(monkeypatch):
    config = CompareConfig.from_dict(
        {
            **SMALL,
            "scenarios": ["jug_1"],
            "baselines": ["honest+silo", "learned+learned+learned+silo"],
            "held_out": {"small": {"n_localities": 3}},
        }
    )
    check_grid(config)
    cell = Cell("jug_1", "targets", 0)
    trained = train_config(config, cell)
    specs = {(a, v): s for a, v, s in eval_specs(config, cell, trained, "run/local.zip")}
    n_locals = make_config("jug_1").n_locals
    assert specs["learned", "fresh"].policy == "run/local.zip"
    assert specs["honest+silo", "fresh"].policy == ("honest", "silo") * (n_locals // 2)
    mixed = specs["learned+learned+learned+silo", "small"].policy
    assert len(mixed) == make_config("jug_1", n_localities=3).n_locals == 12
    assert mixed == ("run/local.zip",) * 3 + ("silo",) + mixed[4:]
    assert [n for n, p in enumerate(mixed) if p == "silo"] == [3, 7, 11]

    # each row is labelled with the pattern's name, and agent 3 of each locality plays silo
    seen = []
    real = cells_module.rollout

    def recording(spec, on_step=None):
        seen.append(spec.policy)
        return real(spec, on_step=on_step)

    monkeypatch.setattr(cells_module, "rollout", recording)
    rows, _ = evaluate_cell(config, cell, "honest")
    assert {r["agent"] for r in rows} == {"learned", "honest+silo", "learned+learned+learned+silo"}
    assert {r["policy"] for r in rows} == {r["agent"] for r in rows}
    assert ("honest", "honest", "honest", "silo") * (n_locals // 4) in seen


@pytest.mark.parametrize(
    "baselines, words",
    [
        (["honest+hnest"], ["baselines", "'hnest'", "honest"]),
        (["honest++silo"], ["baselines", "honest++silo", "patterns"]),
        (["learned+learned"], ["baselines", "learned+learned", "alone"]),
    ],
)
def test_a_bad_pattern_is_refused_naming_it(baselines, words):
    with pytest.raises(ValueError) as err:
        check_grid(CompareConfig.from_dict({**SMALL, "baselines": baselines}))
    for word in words:
        assert word in str(err.value), (word, str(err.value))
