"""Running a comparison: every unfinished cell on a backend, then the outputs.

``run_comparison`` checks the whole grid first (``specs.check_grid``: every cell's
training config, every evaluation world, baseline and centre), locks the output
folder (``runs/compare.lock``: a second run on the same folder is refused while
the first holds it; the lock of a run that died is taken over), then runs every
unfinished cell of a ``CompareConfig`` (a local process pool with one torch
thread per worker, or Ray tasks locally or on a cluster) with a progress bar
over cells, then writes ``summary.csv``, ``report.md`` and the figures.
Rerunning it skips finished cells and redoes, saying so, any whose files are
not what their ``done.json`` vouches for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from ..io import write_text
from .aggregate import aggregate
from .backends import BACKENDS, process_backend, ray_backend
from .cells import DONE, cell_problem
from .grid import CompareConfig
from .specs import check_grid

try:
    import fcntl
except ImportError:  # not a POSIX system: the folder is not locked
    fcntl = None

LOCK = "compare.lock"  # in the output folder's runs/


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_comparison(
    config: CompareConfig,
    root: Path,
    workers: int = 2,
    backend: str = "process",
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    command: str = "",
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Run the grid's unfinished cells, then write summary.csv, report.md and figures."""
    check_run_options(backend, workers)
    check_grid(config)  # before anything is written or trained
    root = output_folder(root)
    with folder_lock(root, log):
        check_same_record(
            root / "comparison.json",
            config.to_dict(),
            force,
            "comparison",
            lambda saved: _as_grid(saved, config),
        )
        cells = config.cells()
        todo = []
        for cell in cells:
            problem = cell_problem(config, root, cell)
            if problem is not None and (config.cell_dir(root, cell) / DONE).exists():
                log(f"redoing cell {cell.label}: {problem}")
            if force or problem is not None:
                todo.append(cell)
        start = time.perf_counter()
        with tqdm(total=len(todo), desc="cells", unit="cell", disable=not progress) as bar:
            if todo and backend == "process":
                process_backend(config, root, todo, workers, force, bar)
            elif todo:
                ray_backend(config, root, todo, workers, force, bar, address)
        wall = time.perf_counter() - start
        return aggregate(config, root, command, len(cells) - len(todo), wall)


def check_run_options(backend: str, workers: int) -> None:
    """A run's backend and worker count, checked before any work (ValueError)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r} must be an integer, at least 1")


def output_folder(root: Path) -> Path:
    """``root`` as a folder, made if missing (ValueError if it is a file)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"--out {root} is a file, not a folder")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def folder_lock(
    root: Path, log: Callable[[str], None] = _stderr, name: str = LOCK, command: str = "compare"
) -> Iterator[Path]:
    """Hold ``root/runs/<name>`` (``flock``, released by the kernel when the holder dies,
    however it dies) for the block; the file records the holder's pid. ``command`` names
    the kind of run that holds it in the refusal (``compare``, ``validate``)."""
    path = Path(root) / "runs" / name
    if fcntl is None:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd) or "unknown"
            raise ValueError(
                f"{root} is in use by another {command}: {path} is held by pid {holder}; "
                "wait for it to finish, or use another --out"
            ) from None
        previous = _read_pid(fd)
        if previous and previous != str(os.getpid()):
            log(f"taking over {path}: its holder, pid {previous}, ended without releasing it")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # released cleanly: no holder recorded
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors="replace").strip()


def _as_grid(saved: dict, config: CompareConfig) -> dict:
    """A recorded grid with the fields added since at their defaults (a folder from before
    a field existed ran with its default), and ``config``'s centre_policy where the two
    name the same centre for every design (an older record names the centre the default
    now implies)."""
    grid = CompareConfig.from_dict(saved)
    designs = grid.all_designs
    if designs == config.all_designs and all(
        grid.centre_for(d) == config.centre_for(d) for d in designs
    ):
        grid = dataclasses.replace(grid, centre_policy=config.centre_policy)
    return grid.to_dict()


def check_same_record(
    path: Path,
    record: dict,
    force: bool,
    what: str,
    normalise: Callable[[dict], dict] | None = None,
) -> None:
    """Refuse to run a different ``what`` (``comparison``, ``validation``) in a folder whose
    ``path`` records another, unless ``force``; then record this one there. ``normalise``
    maps the saved record to today's form (fields added since, at their defaults); a
    record it refuses is another one."""
    if path.exists() and not force:
        try:
            saved = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"{path} is corrupt ({err}); restore it, use another --out, "
                "or --force to redo every cell"
            ) from err
        if normalise is not None:
            try:
                saved = normalise(saved)
            except (ValueError, TypeError):
                pass  # not a record of this kind today: it differs
        if json.loads(json.dumps(saved)) != json.loads(json.dumps(record)):
            raise ValueError(
                f"{path.parent} holds a different {what} ({path}); use another --out or --force"
            )
    write_text(path, json.dumps(record, indent=2) + "\n")
