"""Where the comparison's cells run: a local process pool or Ray tasks (locally or on a cluster).

Each backend runs the given cells (``cells.run_cell``), one torch thread per
worker, and advances the progress bar as each one finishes.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from ..cluster import ray_session
from .cells import run_cell
from .grid import Cell, CompareConfig

BACKENDS = ("process", "ray")


def _worker_init() -> None:
    """One torch thread per worker, so workers do not fight over the cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _run_cell_in_worker(config: CompareConfig, root: Path, cell: Cell, force: bool) -> str:
    _worker_init()
    return run_cell(config, root, cell, force)


def process_backend(config, root, cells, workers, force, bar) -> None:
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run_cell_in_worker, config, root, c, force): c for c in cells}
        for future in as_completed(futures):
            future.result()
            bar.set_postfix_str(futures[future].label)
            bar.update()


def ray_backend(config, root, cells, workers, force, bar, address=None) -> None:
    try:
        import ray
    except ImportError as err:
        raise RuntimeError("--backend ray needs the ray extra: pip install '.[ray]'") from err
    with ray_session(address, workers):
        task = ray.remote(num_cpus=1, max_retries=0)(_run_cell_in_worker)
        pending = {task.remote(config, root, c, force): c for c in cells}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ray.get(done[0])
            bar.set_postfix_str(pending.pop(done[0]).label)
            bar.update()
