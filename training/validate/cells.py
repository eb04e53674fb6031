"""The validation's cells: one per condition and seed, each a comparison cell that records
the exact grid it ran.

A cell is ``compare.cells.run_cell`` of the condition's one-cell grid
(``config.condition_config``), under ``runs/<condition>/`` of the output folder; once
it is done, ``condition.json`` records the condition, the seed and that grid. A cell is
finished only if its comparison files hold (``compare.cells.cell_problem``) and its
``condition.json`` is the grid it would run now (``job_problem``): a matched cell whose
target level changed (its source cell was redone) is redone. The cells' values for the
checks (``read_values``) and a matched condition's target level (``target_level``) are
read from their ``episodes.csv``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from ..compare.backends import Job, run_jobs
from ..compare.cells import DONE, EPISODES, cell_problem, run_cell
from ..compare.grid import FRESH, LEARNED
from ..compare.report import VALUES, summarise
from ..evaluation.rollout import FRONTLINE
from ..io import write_text
from .config import (
    ValidateConfig,
    condition_cell,
    condition_config,
    condition_root,
    target_bounds,
)
from .effects import Values, matched_target
from .phenomena import CONDITIONS

RECORD = "condition.json"  # in each cell's folder, written once the cell is done
MATCHED_METRIC = "target_level"  # what a matched condition matches, learned agents, fresh


def condition_job(
    config: ValidateConfig, root: Path, name: str, seed: int, target: float | None = None
) -> Job:
    """The job of condition ``name``'s cell for ``seed`` (``target``: a matched cell's
    target_default). The validation decides which cells to redo, so a job always runs."""
    return Job(
        condition_config(config, name, seed, target),
        condition_root(root, name),
        condition_cell(name, seed),
        force=True,
        label=f"{name}/seed{seed}",
    )


def record(job: Job) -> dict:
    """What a finished cell's condition.json holds (JSON values)."""
    return json.loads(json.dumps({"cell": job.name, "grid": job.config.to_dict()}))


def cell_folder(job: Job) -> Path:
    return job.config.cell_dir(job.root, job.cell)


def job_problem(job: Job) -> str | None:
    """None if the job's cell is finished and was run with the job's grid; else why not."""
    problem = cell_problem(job.config, job.root, job.cell)
    if problem is not None:
        return problem
    path = cell_folder(job) / RECORD
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return f"{RECORD} is missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{RECORD} cannot be read ({err})"
    if not same_record(saved, job):
        return f"it ran with another grid than this one ({RECORD})"
    return None


def same_record(saved, job: Job) -> bool:
    """Whether a saved condition.json records the job's cell and grid. The saved grid is
    read as a grid, so a field added since, at its default, still matches."""
    if not isinstance(saved, dict) or saved.get("cell") != job.name:
        return False
    try:
        grid = type(job.config).from_dict(saved["grid"])
    except (KeyError, TypeError, ValueError):
        return False
    return _json(grid.to_dict()) == _json(job.config.to_dict())


def _json(value):
    return json.loads(json.dumps(value))


def has_finished(job: Job) -> bool:
    """Whether the cell's comparison files are done (whatever grid it ran)."""
    return cell_problem(job.config, job.root, job.cell) is None


def has_started(job: Job) -> bool:
    """Whether the cell once finished (its done.json exists): redoing it is news."""
    return (cell_folder(job) / DONE).exists()


def run_condition_job(job: Job) -> str:
    """Run the job's cell (in a worker), then record the grid it ran."""
    status = run_cell(job.config, job.root, job.cell, job.force)
    write_text(cell_folder(job) / RECORD, json.dumps(record(job), indent=2) + "\n")
    return status


def cell_seconds(job: Job) -> float:
    """The finished cell's own wall time (its done.json)."""
    return float(json.loads((cell_folder(job) / DONE).read_text())["wall_seconds"])


def _episodes(job: Job) -> list[dict]:
    with open(cell_folder(job) / EPISODES, newline="") as handle:
        return list(csv.DictReader(handle))


def target_level(config: ValidateConfig, root: Path, name: str, seed: int) -> float:
    """The target_default of matched condition ``name`` in ``seed``: the mean target level of
    the learned agents (fresh) in that seed of the condition it is matched to."""
    source = CONDITIONS[name].match_target_level_of
    job = condition_job(config, root, source, seed)
    problem = job_problem(job)
    if problem is not None:
        raise RuntimeError(f"cannot match {name} to {job.name}: that cell is not done ({problem})")
    levels = [
        float(row[MATCHED_METRIC])
        for row in _episodes(job)
        if row["agent"] == LEARNED and row["variant"] == FRESH
    ]
    low, _, high = target_bounds(name)
    return matched_target(levels, low, high)


def read_values(jobs: dict[tuple[str, int], Job]) -> Values:
    """The values of each finished job of ``jobs`` ((condition, seed) -> job): condition ->
    seed -> (agent, variant) -> metric -> the mean over its evaluation episodes."""
    values: Values = {}
    for (name, seed), job in jobs.items():
        if job_problem(job) is not None:
            continue
        rows = summarise([cell_folder(job) / EPISODES])
        values.setdefault(name, {})[seed] = {
            (r["agent"], r["variant"]): {m: r[m] for m in VALUES + FRONTLINE if m in r}
            for r in rows
        }
    return values


def to_run(jobs: dict, force: bool, log: Callable[[str], None]) -> list:
    """The keys of the jobs to run (``jobs``: key -> Job): all with ``force``, else those
    not finished with their grid; a cell that once finished is redone saying why."""
    todo = []
    for key, job in jobs.items():
        problem = job_problem(job)
        if problem is not None and has_started(job):
            log(f"redoing cell {job.name}: {problem}")
        if force or problem is not None:
            todo.append(key)
    return todo


def run_more(
    jobs: dict, order, force: bool, log, bar, workers: int, backend, address, later: int = 0
) -> int:
    """Run the jobs of ``jobs`` that ``to_run`` picks, in ``order(jobs, keys)``, on a bar
    whose total becomes their number plus ``later`` (at most the cells still to come
    after them, so that its ETA covers the run); returns how many ran."""
    keys = to_run(jobs, force, log)
    bar.total = bar.n + len(keys) + later
    bar.refresh()
    run_jobs(order(jobs, keys), workers, bar, backend, address, run_condition_job)
    return len(keys)
