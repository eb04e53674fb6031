"""Running a comparison: every unfinished cell on a backend, then the outputs.

``run_comparison`` runs every unfinished cell of a ``CompareConfig`` (a local
process pool with one torch thread per worker, or Ray tasks locally or on a
cluster), with a progress bar over cells, then writes ``summary.csv``,
``report.md`` and the figures. Rerunning it skips finished cells.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm import tqdm

from ..io import write_text
from .aggregate import aggregate
from .backends import BACKENDS, process_backend, ray_backend
from .cells import is_done
from .grid import CompareConfig


def run_comparison(
    config: CompareConfig,
    root: Path,
    workers: int = 2,
    backend: str = "process",
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    command: str = "",
) -> Path:
    """Run the grid's unfinished cells, then write summary.csv, report.md and figures."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    if workers < 1:
        raise ValueError(f"workers = {workers!r} must be at least 1")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _check_same_grid(config, root, force)
    cells = config.cells()
    todo = [c for c in cells if force or not is_done(config.cell_dir(root, c))]
    start = time.perf_counter()
    with tqdm(total=len(todo), desc="cells", unit="cell", disable=not progress) as bar:
        if todo and backend == "process":
            process_backend(config, root, todo, workers, force, bar)
        elif todo:
            ray_backend(config, root, todo, workers, force, bar, address)
    wall = time.perf_counter() - start
    return aggregate(config, root, command, len(cells) - len(todo), wall)


def _check_same_grid(config: CompareConfig, root: Path, force: bool) -> None:
    path = root / "comparison.json"
    if path.exists() and not force:
        saved = json.loads(path.read_text())
        if saved != json.loads(json.dumps(config.to_dict())):
            raise ValueError(
                f"{root} holds a different comparison ({path}); use another --out or --force"
            )
    write_text(path, json.dumps(config.to_dict(), indent=2) + "\n")
