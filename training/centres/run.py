"""Running the centre comparison: every arm's cells, the search's best rule second, then the report.

``run_centre_study`` checks every arm's grid first, locks the output folder
(``runs/centres.lock``), refuses a different study in it (``centres.json``) unless
``force``, runs the unfinished cells of every arm but ``best_constant`` (the scripted
rules, the search's candidates, the learned centres, the references), then picks the
search's best rule (the highest mean centre reward of the learned locals under it, on
fresh seeds of ``search.seeds``) and runs it on every seed as ``best_constant``; with
``stackelberg`` among the arms, runs its outer loop (``stackelberg.learn_rule``: each
generation's candidates trained on ``stackelberg.seeds``) and its learned rule on every
seed as ``stackelberg`` (``stackelberg.json`` holds the loop's history); then writes
``summary.csv``, ``report.md`` and the figures. Cells are comparison cells: a rerun skips
the finished ones and redoes, saying so, any whose files are not what their ``done.json``
vouches for or whose ``condition.json`` records another grid.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..compare.backends import Job, run_jobs
from ..compare.cells import EPISODES
from ..compare.grid import FRESH, LEARNED
from ..compare.report import summarise
from ..compare.run import check_run_options, check_same_record, folder_lock, output_folder
from ..compare.specs import check_grid
from ..io import write_text
from ..validate.cells import cell_folder, job_problem, run_condition_job, run_more, to_run
from .config import (
    BEST_CONSTANT,
    STACKELBERG,
    CentreStudyConfig,
    arm_cell,
    arm_config,
    arm_root,
    rule_arm,
)
from .report import aggregate
from .stackelberg import learn_rule, start

LOCK = "centres.lock"
RECORD = "centres.json"
SCORE = "centre_return"  # what picks the search's best rule: the centre's own reward

Jobs = dict[tuple[str, int], Job]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def arm_job(
    config: CentreStudyConfig, root: Path, arm: str, seed: int, best: str | None = None
) -> Job:
    return Job(
        arm_config(config, arm, seed, best),
        arm_root(root, arm),
        arm_cell(config, arm, seed),
        force=True,
        label=f"{arm}/seed{seed}",
    )


def check_study(config: CentreStudyConfig) -> None:
    """Every arm's grid for every seed, before anything is written or trained."""
    candidates = config.candidates()
    second = {BEST_CONSTANT: candidates[0] if candidates else None}
    if STACKELBERG in config.centres:
        second[STACKELBERG] = rule_arm(start(config.rule_space()))
    for arm in (*config.first_arms(), *(a for a in second if second[a])):
        for seed in config.seeds_of(arm):
            grid = arm_config(config, arm, seed, second.get(arm))
            try:
                check_grid(grid)
            except ValueError as err:
                raise ValueError(f"centre arm {arm} (seed {seed}): {err}") from err


def mean_score(config: CentreStudyConfig, jobs: Jobs, arm: str) -> float:
    """``arm``'s mean centre reward (learned locals, fresh seeds) over its seeds' cells."""
    values = []
    for seed in config.seeds_of(arm):
        job = jobs[arm, seed]
        problem = job_problem(job)
        if problem is not None:
            raise RuntimeError(f"the search's cell {job.name} is not done ({problem})")
        rows = summarise([cell_folder(job) / EPISODES])
        values += [r[SCORE] for r in rows if r["agent"] == LEARNED and r["variant"] == FRESH]
    return float(np.mean(values))


def best_rule(config: CentreStudyConfig, jobs: Jobs) -> tuple[str, dict[str, float]]:
    """The search arm with the highest mean centre reward (learned locals, fresh seeds) over
    its seeds, and every candidate's mean."""
    means = {arm: mean_score(config, jobs, arm) for arm in config.candidates()}
    return max(means, key=lambda a: means[a]), means


def run_centre_study(
    config: CentreStudyConfig,
    root: Path,
    workers: int = 2,
    backend: str = "process",
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    command: str = "",
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Run the study's unfinished cells, then write summary.csv, report.md and figures."""
    check_run_options(backend, workers)
    check_study(config)
    root = output_folder(root)
    with folder_lock(root, log, LOCK, "centres"):
        check_same_record(root / RECORD, config.to_dict(), force, "centre study", _as_study)
        jobs: Jobs = {
            (arm, seed): arm_job(config, root, arm, seed)
            for arm in config.first_arms()
            for seed in config.seeds_of(arm)
        }
        todo = to_run(jobs, force, log)
        later = (len(config.seeds) if config.candidates() else 0) + _outer_cells(config)
        start = time.perf_counter()
        with tqdm(total=len(todo) + later, desc="cells", unit="cell", disable=not progress) as bar:
            run_jobs(_longest_first(jobs, todo), workers, bar, backend, address, run_condition_job)
            best, means = best_rule(config, jobs) if config.candidates() else (None, {})
            second: Jobs = {}
            if best is not None:
                second = {
                    (BEST_CONSTANT, s): arm_job(config, root, BEST_CONSTANT, s, best)
                    for s in config.seeds
                }
            later = _outer_cells(config)
            ran = run_more(
                second, _longest_first, force, log, bar, workers, backend, address, later
            )
            jobs.update(second)
            history: list[dict] = []
            if STACKELBERG in config.centres:
                per_generation = config.stackelberg["population"] * len(config.stackelberg["seeds"])

                def score(arms) -> dict[str, float]:
                    nonlocal ran, later
                    new = {
                        (a, s): arm_job(config, root, a, s)
                        for a in dict.fromkeys(arms)
                        for s in config.seeds_of(a)
                        if (a, s) not in jobs  # a candidate asked again is not retrained
                    }
                    later -= per_generation
                    ran += run_more(
                        new, _longest_first, force, log, bar, workers, backend, address, later
                    )
                    jobs.update(new)
                    return {a: mean_score(config, jobs, a) for a in arms}

                learned, history = learn_rule(config, score)
                write_text(
                    root / "stackelberg.json",
                    json.dumps({"learned": learned, "history": history}, indent=2) + "\n",
                )
                final = {
                    (STACKELBERG, s): arm_job(config, root, STACKELBERG, s, learned)
                    for s in config.seeds
                }
                ran += run_more(final, _longest_first, force, log, bar, workers, backend, address)
                jobs.update(final)
        wall = time.perf_counter() - start
        skipped = len(jobs) - len(todo) - ran
        return aggregate(config, root, jobs, best, means, command, skipped, wall, history)


def _as_study(saved: dict) -> dict:
    """A saved study record in today's form: fields added since (``stackelberg``) at
    their defaults."""
    return CentreStudyConfig.from_dict(saved).to_dict()


def _outer_cells(config: CentreStudyConfig) -> int:
    """The most cells the stackelberg arm trains: every candidate of every generation on
    its seeds, then the learned rule on the study's (fewer where candidates repeat or
    cells are finished)."""
    if STACKELBERG not in config.centres:
        return 0
    outer = config.stackelberg
    return outer["generations"] * outer["population"] * len(outer["seeds"]) + len(config.seeds)


def _longest_first(jobs: Jobs, keys: list[tuple[str, int]]) -> list[Job]:
    """The learned centres first (they train longest), then the rest in order."""
    learned = [k for k in keys if jobs[k].config.learns_centre(jobs[k].config.scenarios[0])]
    return [jobs[k] for k in learned] + [jobs[k] for k in keys if k not in learned]
