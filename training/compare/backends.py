"""Where cells run: a local process pool or Ray tasks (locally or on a cluster).

A backend runs a list of jobs, each one cell of one grid (``Job``: a ``CompareConfig``,
the folder its cells live under, the cell), so one pool can run the cells of several
grids (the validation runs one grid per condition and seed). Each job runs in a worker
with one torch thread (``work``, by default ``run_job``: ``cells.run_cell``), and the
progress bar advances as each one finishes. ``process_backend`` and ``ray_backend``
run the cells of one comparison grid.

The process pool's workers die with their parent: on Linux the kernel kills each
worker when the parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and on every
platform a watchdog thread in each worker exits when its parent changes, so a
``kill -9`` of ``compare`` or ``validate`` leaves no worker training headless into the output
folder. Workers ignore Ctrl-C; the parent stops them (``KeyboardInterrupt``:
the cells in flight are dropped and redone by the next run). When a cell fails,
the cells already running finish (their work is kept), the queued ones are
cancelled, and the failure is raised.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from ..cluster import ray_session
from .cells import run_cell
from .grid import Cell, CompareConfig

BACKENDS = ("process", "ray")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_SECONDS = 0.5


@dataclass(frozen=True)
class Job:
    """One cell of one grid, whose cells live under ``root``; ``label`` names it on the bar."""

    config: CompareConfig
    root: Path
    cell: Cell
    force: bool = False
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.cell.label


def run_job(job: Job) -> str:
    """Train and evaluate the job's cell unless it is finished: 'done' or 'skipped'."""
    return run_cell(job.config, job.root, job.cell, job.force)


Work = Callable[[Job], str]


def _worker_init() -> None:
    """One torch thread per worker, so workers do not fight over the cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _die_with_parent(parent: int) -> None:
    """Exit when the process ``parent`` (this worker's parent) is gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below still stops the worker

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_SECONDS)
        os._exit(1)

    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _pool_worker_init(parent: int) -> None:
    """A process-pool worker: dies with ``parent``, leaves Ctrl-C to it, one torch thread."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_init()


def _run_in_worker(work: Work, job: Job) -> str:
    _worker_init()
    return work(job)


def run_jobs(
    jobs: Sequence[Job],
    workers: int,
    bar,
    backend: str = "process",
    address: str | None = None,
    work: Work = run_job,
) -> None:
    """Every job on ``backend`` (``process`` or ``ray``, with ``address`` a Ray cluster's),
    ``workers`` at once; ``work`` must be a module-level function (it is pickled)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    if not jobs:
        return
    if backend == "process":
        _process_jobs(jobs, workers, bar, work)
    else:
        _ray_jobs(jobs, workers, bar, address, work)


def process_backend(config, root, cells, workers, force, bar) -> None:
    """One comparison's cells on a local process pool."""
    run_jobs(_grid_jobs(config, root, cells, force), workers, bar, "process")


def ray_backend(config, root, cells, workers, force, bar, address=None) -> None:
    """One comparison's cells as Ray tasks (a local Ray, or the cluster at ``address``)."""
    run_jobs(_grid_jobs(config, root, cells, force), workers, bar, "ray", address)


def _grid_jobs(config: CompareConfig, root: Path, cells, force: bool) -> list[Job]:
    return [Job(config, Path(root), cell, force) for cell in cells]


def _process_jobs(jobs: Sequence[Job], workers: int, bar, work: Work) -> None:
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_pool_worker_init,
        initargs=(os.getpid(),),
    )
    try:
        futures = {pool.submit(_run_in_worker, work, job): job for job in jobs}
        for future in as_completed(futures):
            future.result()
            bar.set_postfix_str(futures[future].name)
            bar.update()
    except KeyboardInterrupt:
        _stop_now(pool)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # running cells finish; queued ones wait
        raise
    pool.shutdown(wait=True)


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued cells and kill the workers (their cells are redone next run)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)


def _ray_jobs(jobs: Sequence[Job], workers: int, bar, address: str | None, work: Work) -> None:
    try:
        import ray
    except ImportError as err:
        raise RuntimeError("--backend ray needs the ray extra: pip install '.[ray]'") from err
    with ray_session(address, workers):
        task = ray.remote(num_cpus=1, max_retries=0)(_run_in_worker)
        pending = {task.remote(work, job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ray.get(done[0])
            bar.set_postfix_str(pending.pop(done[0]).name)
            bar.update()
