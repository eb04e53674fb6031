"""A training run, for either backend: its folder, its preparation, its seeds, its evaluation.

``RunDir`` names the paths of ``out/``; with SB3 (``training/sb3/train.py``)::

    config.json                      the TrainConfig of the run
    checkpoints/<role>_<steps>.zip   every checkpoint, named by the learner's timesteps
    tensorboard/<role>_0/            TensorBoard logs (rewards and metrics/)
    curves.csv                       the learning curves: one row per rollout of each stage
    local_policy.zip, centre_policy.zip   the final models of the roles that learned
    episodes.csv, metrics.txt        the final evaluation (deterministic actions)

(the RLlib layout is in ``training/rllib/train.py``). Every file is written
atomically (``training/io.py``): a checkpoint appears whole or not at all, so after
a crash every ``.zip`` in ``checkpoints/`` is complete and the latest one per role
is where a resumed run picks up.

``check_run_folder`` checks the folder against ``resume`` for both backends, writing
nothing (a trainer checks everything else it can before ``prepare_run`` writes
config.json, so a refused command leaves the folder as it was);
``derived_seed`` draws every seed of a run from its config's seed;
``evaluate_policies`` and ``write_evaluation`` are the final evaluation both
trainers end with.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import TrainConfig
from .errors import UserError, check_out_folder
from .evaluation.rollout import RolloutSpec, rollout
from .evaluation.tables import metrics_table, write_episodes
from .io import write_text

ROLES = ("local", "centre")
CURVE_KEYS = ("stage", "role", "timesteps", "episodes", "return")  # then LOGGED_METRICS


def read_curves(path: Path) -> list[dict]:
    """The rows of a run's ``curves.csv`` (none if it does not exist): the role as text,
    stage, timesteps and episodes as integers, the rest as floats; a blank value (a
    metric logged only from some row on) is left out of its row."""
    if not Path(path).exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    whole = ("stage", "timesteps", "episodes")
    return [
        {
            k: v if k == "role" else int(v) if k in whole else float(v)
            for k, v in row.items()
            if v != "" or k == "role"
        }
        for row in rows
    ]


_CHECKPOINT = re.compile(r"^(local|centre)_(\d+)\.zip$")


class RunDir:
    """Paths of one run's folder and its checkpoints."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def curves(self) -> Path:
        """The learning curves of every stage (``callbacks.EpisodeMetricsCallback``)."""
        return self.root / "curves.csv"

    def policy(self, role: str) -> Path:
        """The final model of ``role``: ``local_policy.zip`` or ``centre_policy.zip``."""
        return self.root / f"{_check_role(role)}_policy.zip"

    def checkpoint(self, role: str, steps: int) -> Path:
        return self.checkpoints / f"{_check_role(role)}_{steps:012d}.zip"

    def list_checkpoints(self, role: str) -> list[tuple[int, Path]]:
        """(timesteps, path) of every complete checkpoint of ``role``, oldest first."""
        _check_role(role)
        if not self.checkpoints.is_dir():
            return []
        found = []
        for path in self.checkpoints.iterdir():
            match = _CHECKPOINT.match(path.name)
            if match and match.group(1) == role:
                found.append((int(match.group(2)), path))
        return sorted(found)

    def latest(self, role: str) -> tuple[int, Path | None]:
        """The latest checkpoint of ``role``: (timesteps, path), or (0, None) if none."""
        found = self.list_checkpoints(role)
        return found[-1] if found else (0, None)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


# the file that marks a run of a backend other than sb3 (written at every start)
BACKEND_RECORDS = {"rllib": "rllib.json", "benchmarl": "benchmarl.json"}


def run_backend(root: Path) -> str:
    """The backend that trained the run in ``root``: the one whose record it holds, else sb3."""
    found = [b for b, name in BACKEND_RECORDS.items() if (Path(root) / name).exists()]
    return found[0] if found else "sb3"


def check_run_folder(
    config: TrainConfig, resume: bool, rllib: bool = False, backend: str | None = None
) -> RunDir:
    """Check the out folder against ``resume``, writing nothing: a new run needs a folder
    that can be written and holds no run; ``resume`` needs the run, with the same config
    (``progress_bar`` aside, and ``out``: a run's folder may be moved), trained by the same
    ``backend`` (sb3, rllib or benchmarl; ``rllib=True`` says rllib)."""
    backend = backend or ("rllib" if rllib else "sb3")
    run = RunDir(config.out)
    check_out_folder(run.root)
    if run.config.exists():
        if not resume:
            raise UserError(
                f"{run.root} already holds a run (config.json): pass --resume to continue it, "
                "or choose another --out"
            )
        found = run_backend(run.root)
        if found != backend:
            raise UserError(
                f"{run.root} holds a {found} run: resume it with --backend {found}"
                + (" and its --algorithm" if found == "benchmarl" else "")
            )
        stored = TrainConfig.from_json(run.config, "the run's config").to_dict()
        given = config.to_dict()
        changed = [k for k in given if k not in _FREE and stored.get(k) != given[k]]
        if changed:
            raise UserError(
                f"resume must use the run's own config ({run.config}); changed fields: {changed}"
            )
    elif resume:
        raise UserError(
            f"--resume: {run.root} holds no run (no config.json); "
            "drop --resume to start a new run there"
        )
    return run


_FREE = ("progress_bar", "out")  # fields a resumed run may change


def prepare_run(config: TrainConfig, resume: bool, rllib_record: dict | None = None) -> RunDir:
    """``check_run_folder``, then write config.json for a new run.

    ``rllib_record`` (the RLlib backend's settings and budget) is written as rllib.json
    at every start; it marks an RLlib run, so resuming one with RLlib needs it.
    """
    run = check_run_folder(config, resume, rllib=rllib_record is not None)
    meta = run.root / "rllib.json"
    if not run.config.exists():
        write_text(run.config, config.to_json())
    if rllib_record is not None:
        write_text(meta, json.dumps(rllib_record, indent=2) + "\n")
    return run


def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed drawn from ``seed`` and ``keys`` (stage, timesteps, ...)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def evaluate_policies(
    config: TrainConfig, local: str, centre: str, centre_params: dict | None = None
) -> list[dict]:
    """A trainer's final evaluation: deterministic episodes on fresh seeds, with learned
    policies labelled by file name so runs in other folders compare (``centre_params``:
    those of a scripted centre)."""
    spec = RolloutSpec(
        scenario=config.scenario,
        design=config.design,
        policy=local,
        centre_policy=centre,
        centre_params=dict(centre_params or {}),
        centre_reward=config.centre_reward,
        episodes=config.eval_episodes,
        seed=derived_seed(config.seed, 1_000_000),
        overrides=dict(config.overrides),
    )
    rows = rollout(spec)
    for row in rows:
        row["policy"], row["centre_policy"] = Path(local).name, Path(centre).name
    return rows


def write_evaluation(run: RunDir, rows: list[dict], log: Callable[[str], None]) -> None:
    """The evaluation's metrics.txt (its table, also logged) and episodes.csv."""
    table = metrics_table(rows)
    write_episodes(run.root, rows, f"evaluation of {run.root}", table)
    log(table)
