"""Running the validation: every condition's cells, matched conditions second, then the outputs.

``run_validation`` checks everything first (the table, every condition's grid for every
seed with ``compare.specs.check_grid``, every metric a check reads), locks the output
folder (``runs/validate.lock``), refuses a different validation in it
(``validation.json``) unless ``force``, then runs the unfinished cells of every
condition that is not matched, then those of the matched conditions (whose target
level comes from the first cells), on a local process pool or Ray tasks with one
progress bar over cells, and writes ``summary.csv``, ``report.md`` and a figure per
phenomenon. Rerunning it skips finished cells and redoes, saying so, any whose files
are not what their ``done.json`` vouches for or whose ``condition.json`` records
another grid.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from ..compare.backends import Job, run_jobs
from ..compare.run import check_run_options, check_same_record, folder_lock, output_folder
from ..compare.specs import check_grid
from .cells import (
    condition_job,
    has_finished,
    run_condition_job,
    run_more,
    target_level,
    to_run,
)
from .config import ValidateConfig, condition_config, target_bounds
from .phenomena import CONDITIONS, check_table
from .report import aggregate

LOCK = "validate.lock"  # in the output folder's runs/
RECORD = "validation.json"

Jobs = dict[tuple[str, int], Job]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def check_validation(config: ValidateConfig) -> None:
    """Everything a validation needs, before anything is written or trained: the table,
    each metric its checks read, and every condition's grid for every seed."""
    check_table()  # the metrics of every check and table included
    for name in config.conditions():
        # a matched condition's level is known only later; any level in range is checked
        matched = CONDITIONS[name].match_target_level_of is not None
        target = target_bounds(name)[1] if matched else None
        for seed in config.seeds:
            grid = condition_config(config, name, seed, target)
            try:
                check_grid(grid)
            except ValueError as err:
                raise ValueError(f"condition {name} (seed {seed}): {err}") from err


def run_validation(
    config: ValidateConfig,
    root: Path,
    workers: int = 2,
    backend: str = "process",
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    command: str = "",
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Run the validation's unfinished cells, then write summary.csv, report.md, figures."""
    check_run_options(backend, workers)
    check_validation(config)
    root = output_folder(root)
    names = config.conditions()
    first = [n for n in names if CONDITIONS[n].match_target_level_of is None]
    matched = [n for n in names if n not in first]
    with folder_lock(root, log, LOCK, "validate"):
        check_same_record(root / RECORD, config.to_dict(), force, "validation")
        jobs: Jobs = {
            (n, s): condition_job(config, root, n, s) for n in first for s in config.seeds
        }
        todo = to_run(jobs, force, log)
        later = [  # matched cells that will likely run: unfinished, or their source redone
            (n, s)
            for n in matched
            for s in config.seeds
            if force
            or (CONDITIONS[n].match_target_level_of, s) in todo
            or not has_finished(condition_job(config, root, n, s))
        ]
        start = time.perf_counter()
        with tqdm(
            total=len(todo) + len(later), desc="cells", unit="cell", disable=not progress
        ) as bar:
            run_jobs(_longest_first(jobs, todo), workers, bar, backend, address, run_condition_job)
            second: Jobs = {
                (n, s): condition_job(config, root, n, s, target_level(config, root, n, s))
                for n in matched
                for s in config.seeds
            }
            ran_second = run_more(
                second, _longest_first, force, log, bar, workers, backend, address
            )
        wall = time.perf_counter() - start
        jobs.update(second)
        skipped = len(jobs) - len(todo) - ran_second
        return aggregate(config, root, jobs, command, skipped, wall)


def _longest_first(jobs: Jobs, keys: list[tuple[str, int]]) -> list[Job]:
    """The jobs of ``keys``, the longest (most training steps) first, so the pool ends
    together."""
    return sorted((jobs[k] for k in keys), key=lambda job: -job.config.train["timesteps"])
