"""Running a comparison: presets, the cell backends (process pool or Ray), and aggregation.

``run_comparison`` runs every unfinished cell of a ``CompareConfig`` (a local
process pool with one torch thread per worker, or Ray tasks locally or on a
cluster), with a progress bar over cells, then writes ``summary.csv``,
``report.md`` and the figures. Rerunning it skips finished cells.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from . import figures
from .cluster import ray_session
from .compare import Cell, CompareConfig, is_done, run_cell
from .io import write_text
from .report import summarise, write_report, write_summary

BACKENDS = ("process", "ray")

PRESETS: dict[str, dict] = {
    # about ten minutes on two cores: the main contrasts only
    "quick": {
        "designs": ("targets", "audited_targets", "rotating_basket", "oracle_outcomes"),
        "seeds": (0, 1, 2),
        "train": {"timesteps": 300_000, "n_envs": 64, "checkpoint_every": 100_000},
        "eval_episodes": 16,
    },
    "standard": {
        "designs": (
            "targets",
            "linear",
            "league_table",
            "audited_targets",
            "rotating_basket",
            "targeted_audits",
            "local_priorities",
            "pooled_budget",
            "oracle_outcomes",
        ),
        "seeds": (0, 1, 2, 3, 4),
        "train": {"timesteps": 1_000_000, "n_envs": 64},
        "eval_episodes": 32,
    },
    "full": {
        "designs": tuple(
            "targets linear league_table audited_targets rotating_basket targeted_audits "
            "local_priorities pooled_budget oracle_outcomes".split()
        ),
        "seeds": tuple(range(10)),
        "scenarios": ("whitehall", "coalfield_seaside", "jug_2"),
        "train": {"timesteps": 3_000_000, "n_envs": 64},
        "eval_episodes": 64,
    },
}


def preset(name: str) -> CompareConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return CompareConfig.from_dict(PRESETS[name])


def load_config(path: Path) -> CompareConfig:
    """A custom grid from a JSON file with CompareConfig's fields."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read comparison config {path}: {err}") from err
    return CompareConfig.from_dict(data)


def _worker_init() -> None:
    """One torch thread per worker, so workers do not fight over the cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _run_cell_in_worker(config: CompareConfig, root: Path, cell: Cell, force: bool) -> str:
    _worker_init()
    return run_cell(config, root, cell, force)


def _process_backend(config, root, cells, workers, force, bar) -> None:
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run_cell_in_worker, config, root, c, force): c for c in cells}
        for future in as_completed(futures):
            future.result()
            bar.set_postfix_str(futures[future].label)
            bar.update()


def _ray_backend(config, root, cells, workers, force, bar, address=None) -> None:
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
            _process_backend(config, root, todo, workers, force, bar)
        elif todo:
            _ray_backend(config, root, todo, workers, force, bar, address)
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


def aggregate(config: CompareConfig, root: Path, command: str, skipped: int, wall: float) -> Path:
    """summary.csv, figures and report.md from every finished cell."""
    import csv

    import numpy as np

    cells = [c for c in config.cells() if is_done(config.cell_dir(root, c))]
    files = [config.cell_dir(root, c) / "episodes.csv" for c in cells]
    summary = summarise(files)
    write_summary(root / "summary.csv", summary)
    episodes = []
    for path in files:
        with open(path, newline="") as handle:
            episodes += list(csv.DictReader(handle))
    traces: dict[str, list] = {}
    for c in cells:
        with np.load(config.cell_dir(root, c) / "traces.npz") as data:
            traces.setdefault(c.design, []).append(dict(data))
    cell_seconds = sum(
        json.loads((config.cell_dir(root, c) / "done.json").read_text())["wall_seconds"]
        for c in cells
    )
    designs = [d for d in config.designs if any(c.design == d for c in cells)]
    agents = ["learned", *config.baselines]
    names = [
        figures.interval_plots(root, summary, designs, agents),
        figures.trajectories(root, traces, designs),
        figures.scatter(root, episodes, designs),
        figures.bunching(root, traces, designs),
    ]
    header = [
        f"Command: `{command}`" if command else "",
        f"Grid: designs {', '.join(config.designs)}; seeds {list(config.seeds)}; "
        f"scenarios {', '.join(config.scenarios)}; centre `{config.centre_policy}`; "
        f"training {config.train}; {config.eval_episodes} evaluation episodes per seed, agent "
        f"and variant (fresh seeds and held-out variants {config.held_out}).",
        f"Cells finished: {len(cells)} of {len(config.cells())} ({skipped} from an earlier run); "
        f"this run's wall time {wall:.0f} s; the cells' own times add up to {cell_seconds:.0f} s.",
    ]
    variants = ["fresh", *config.held_out]
    return write_report(root, summary, designs, variants, agents, header, names)
