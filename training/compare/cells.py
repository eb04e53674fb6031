"""One cell of the comparison: a training run, then an evaluation beside the baselines.

A cell trains the local agents under one design (``target_gaming.training.sb3.train``,
with the cell's ``specs.train_config``; with the grid's ``trainer`` rllib or
``train.mode`` two_level the centre learns too; with ``trainer`` benchmarl the locals
learn with the grid's BenchMARL ``algorithm``, ``training/benchmarl/train.py``), then
evaluates them with deterministic actions on fresh seeds and on held-out variants of the
world it trained in (``specs.eval_specs``), beside the scripted baselines under the same
conditions.
Cells write into ``runs/<design>/seed<k>/`` and mark themselves done last,
atomically, with ``done.json``: it vouches for the cell's label, the world version
(``WORLD_VERSION``: a cell of another version of the world is redone), and for the row
count and sha256 checksum of ``episodes.csv`` and ``traces.npz``. A cell is done
only if those hold (``cell_problem``), so a rerun skips finished cells, redoes a cell
whose files are incomplete or corrupt (``force`` redoes every one), and a killed
sweep loses at most the cells in flight.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from target_gaming.envs.target_gaming import WORLD_VERSION

from ..evaluation.rollout import EPISODE_COLUMNS, rollout, with_frontline
from ..evaluation.traces import TraceRecorder
from ..io import write_csv, write_npz, write_text
from .grid import Cell, CompareConfig
from .specs import eval_specs, train_config

DONE = "done.json"
EPISODES = "episodes.csv"
TRACES = "traces.npz"
CELL_COLUMNS = ("agent", "variant", "eval_seed")  # added to rollout's episode columns


def expected_rows(config: CompareConfig) -> int:
    """Episodes a finished cell holds: agents (learned + baselines) x variants x episodes."""
    return (1 + len(config.baselines)) * (1 + len(config.held_out)) * config.eval_episodes


def cell_problem(config: CompareConfig, root: Path, cell: Cell) -> str | None:
    """None if the cell is finished and its files are what ``done.json`` vouches for;
    otherwise why not (``"not finished"`` when there is no ``done.json``)."""
    out = config.cell_dir(root, cell)
    done = out / DONE
    if not done.exists():
        return "not finished"
    try:
        record = json.loads(done.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{done} cannot be read ({err})"
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return f"{done} vouches for no files (it is corrupt or from an older version)"
    if record.get("cell") != cell.label:
        return f"{done} is for cell {record.get('cell')!r}, not {cell.label}"
    if record.get("world") != WORLD_VERSION:
        found = record.get("world", "an earlier world")
        return f"{done} was trained and evaluated in {found}, not {WORLD_VERSION}"
    files = record["files"]
    for name, count in ((EPISODES, "rows"), (TRACES, "arrays")):
        path, entry = out / name, files.get(name)
        if not isinstance(entry, dict):
            return f"{done} does not vouch for {name}"
        if not path.is_file():
            return f"{name} is missing"
        if _sha256(path) != entry.get("sha256"):
            found = _count(path, count)
            return (
                f"{name} does not match its checksum in {DONE} "
                f"({found} {count}; {DONE} vouches for {entry.get(count)})"
            )
    if files[EPISODES].get("rows") != expected_rows(config):
        rows = files[EPISODES].get("rows")
        return f"{EPISODES} holds {rows} rows; the grid gives {expected_rows(config)}"
    return None


def is_done(config: CompareConfig, root: Path, cell: Cell) -> bool:
    return cell_problem(config, root, cell) is None


def run_cell(config: CompareConfig, root: Path, cell: Cell, force: bool = False) -> str:
    """Train and evaluate one cell unless it is finished; returns 'done' or 'skipped'."""
    out = config.cell_dir(root, cell)
    if not force and is_done(config, root, cell):
        return "skipped"
    if out.exists():
        shutil.rmtree(out)  # an unfinished, incomplete or forced cell starts clean
    out.mkdir(parents=True)
    start = time.perf_counter()
    policy_path, centre_path = _train(config, cell, out)
    rows, traces = evaluate_cell(config, cell, policy_path, centre_path)
    write_csv(out / EPISODES, rows, with_frontline(_episode_columns(), rows))
    write_npz(out / TRACES, traces)
    wall = time.perf_counter() - start
    record = {
        "cell": cell.label,
        "world": WORLD_VERSION,
        "wall_seconds": wall,
        "files": {
            EPISODES: {"rows": len(rows), "sha256": _sha256(out / EPISODES)},
            TRACES: {"arrays": len(traces), "sha256": _sha256(out / TRACES)},
        },
    }
    write_text(out / DONE, json.dumps(record, indent=2) + "\n")
    return "done"


def _train(config: CompareConfig, cell: Cell, out: Path) -> tuple[Path, Path | None]:
    """Train the cell; the learned locals' policy and, if the centre learned, its policy."""
    trained = train_config(config, cell, out)
    if config.trainer == "rllib":
        from ..rllib.train import policy_path, train_rllib  # Ray is imported only to train

        result = train_rllib(trained, log=lambda text: None)
        return policy_path(result.run, "local"), policy_path(result.run, "centre")
    if config.trainer == "benchmarl":
        from ..benchmarl.train import policy_path as actor_path  # BenchMARL only to train
        from ..benchmarl.train import train_benchmarl

        result = train_benchmarl(trained, config.algorithm, log=lambda text: None)
        return actor_path(result.run), None
    from ..sb3.train import train  # torch and SB3 are imported only to train

    result = train(trained, log=lambda text: None)
    centre = result.run.policy("centre") if "centre" in trained.roles else None
    return result.run.policy("local"), centre


def evaluate_cell(
    config: CompareConfig,
    cell: Cell,
    policy_path: str | Path,
    centre_path: str | Path | None = None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Learned locals and the baselines on fresh seeds and held-out variants, in the
    world the cell trained in, under the cell's centre (``centre_path``: the learned one,
    when the cell trained it)."""
    rows, traces = [], {}
    trained = train_config(config, cell)
    for agent, variant, spec in eval_specs(config, cell, trained, policy_path, centre_path):
        recorder = TraceRecorder()
        for row in rollout(spec, on_step=recorder):
            if centre_path is not None:  # a learned centre by its file name, not its path
                row["centre_policy"] = Path(centre_path).name
            rows.append(
                {**row, "policy": agent, "agent": agent, "variant": variant, "eval_seed": spec.seed}
            )
        traces.update(recorder.arrays(prefix=f"{agent}/{variant}/"))
    return rows, traces


def _episode_columns() -> tuple[str, ...]:
    return EPISODE_COLUMNS[:4] + CELL_COLUMNS + EPISODE_COLUMNS[4:]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _count(path: Path, what: str) -> int | str:
    """Rows of a CSV or arrays of an .npz, or 'unreadable'."""
    try:
        if what == "rows":
            with open(path, newline="") as handle:
                return sum(1 for _ in csv.DictReader(handle))
        with np.load(path) as data:
            return len(data.files)
    except (OSError, ValueError, EOFError, csv.Error, zipfile.BadZipFile):
        return "unreadable"
