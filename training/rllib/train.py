"""Joint training on Ray RLlib: the centre and the local agents learn at once (multi-agent PPO).

``target-gaming train --backend rllib`` runs PPO on RLlib's new API stack over
``BatchedMultiAgentEnv`` (``training/rllib/batched_env.py``: each env runner, or the
driver, steps ``ceil(n_envs / num_env_runners)`` worlds in one call and calls each
module once for all of their agents) with two RLModules:
``centre`` (``centre_0``, or every ``department_<k>``, sharing one module) and
``local`` (shared by every local agent), mapped by role. Both learn together
from the first iteration (the centre's policy only after its ``centre_warmup``, its
value function from the start); the centre decides once per review period (a
semi-MDP, see ``training/rllib/env.py``). Ray starts locally with ``num_cpus`` CPUs, or
joins a running cluster at ``address``.

The mapping of ``TrainConfig`` onto RLlib is in ``training/rllib/config.py``
(one iteration = one SB3 rollout of ``n_envs * ppo.n_steps`` env steps;
``timesteps`` and ``checkpoint_every`` count local agent-steps).

The run's folder::

    config.json                      the TrainConfig
    rllib.json                       the backend, how it samples and learns (``LEARNING``:
                                     a run begun otherwise is not resumed), its settings
                                     and the budget in iterations
    checkpoints/iter_<n>/            algo.save_to_path, renamed into place whole
    progress.csv                     one row per iteration: returns and episode metrics
    local_policy.rllib/, centre_policy.rllib/   the final RLModules (the centre's with
                                     centre_action.json: how its actions map to the world's)
    episodes.csv, metrics.txt        the evaluation (training/runs.py, deterministic)

``resume`` restores the latest complete checkpoint (``restore_from_path``) and
continues to the same number of iterations; the env runners restart their
episodes with a seed drawn from the run's seed and the iteration.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from target_gaming.envs.target_gaming.metrics import metric_set

from ..cluster import ray_session
from ..config import TrainConfig
from ..evaluation.rollout import FRONTLINE
from ..io import write_csv, write_folder
from ..runs import (
    RunDir,
    check_run_folder,
    derived_seed,
    evaluate_policies,
    prepare_run,
    write_evaluation,
)
from .config import (
    CURVE_METRICS,
    ROLES,
    RLlibSettings,
    algorithm_config,
    centre_learns,
    centre_log_std_at,
    checkpoint_interval,
    init_like_sb3,
    init_log_std,
    iterations,
    n_locals,
    set_log_std,
    set_policy_learning,
    train_batch_size,
    worlds_per_runner,
)
from .learned import CENTRE_ACTION_FILE

__all__ = ["RLlibResult", "RLlibSettings", "evaluate", "train_rllib"]

_CHECKPOINT = re.compile(r"^iter_(\d+)$")
STEP_COLUMNS = {"local": "local_timesteps", "centre": "centre_decisions"}  # agent-steps sampled
PROGRESS_COLUMNS = (
    "iteration",
    "seconds",  # the iteration's wall time (sampling and update)
    "env_steps",
    *STEP_COLUMNS.values(),
    "episodes",
    *CURVE_METRICS,
)


@dataclass(frozen=True)
class RLlibResult:
    run: RunDir
    iterations: int
    timesteps: dict[str, int]  # role -> agent-steps sampled (centre: decisions)
    episodes: list[dict]  # the evaluation, one row per episode


# ---- the run's folder --------------------------------------------------------------------
def policy_path(run: RunDir, role: str) -> Path:
    """The final module of ``role``: ``local_policy.rllib`` or ``centre_policy.rllib``."""
    return run.root / f"{role}_policy.rllib"


def checkpoint_path(run: RunDir, iteration: int) -> Path:
    return run.checkpoints / f"iter_{iteration:06d}"


def list_checkpoints(run: RunDir) -> list[tuple[int, Path]]:
    """(iteration, path) of every complete checkpoint, oldest first."""
    if not run.checkpoints.is_dir():
        return []
    found = [(_CHECKPOINT.match(p.name), p) for p in run.checkpoints.iterdir()]
    return sorted((int(m.group(1)), p) for m, p in found if m and p.is_dir())


def latest_checkpoint(run: RunDir) -> tuple[int, Path | None]:
    found = list_checkpoints(run)
    return found[-1] if found else (0, None)


# how the trainer samples and learns; a run is resumed only by the same (rllib.json)
LEARNING = (
    "BatchedEnvRunner, SB3EpochsPPOLearner (per-module minibatches, SB3's Adam, advantages "
    "standardized per minibatch over the kept rows), SB3's orthogonal init, free log-stds, "
    "the centre's annealed over iterations and handed to the runners before they sample"
)


def check_learning(run: RunDir) -> None:
    """Refuse to resume a run begun by a trainer that sampled or learned otherwise: its
    checkpoint would carry on under other rules (a run from before ``LEARNING`` has none)."""
    path = run.root / "rllib.json"
    try:
        stored = json.loads(path.read_text()).get("learning")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"--resume: {path} cannot be read ({err})") from err
    if stored != LEARNING:
        raise ValueError(
            f"--resume: {run.root} was trained with learning = {stored!r}, not this trainer's "
            f"{LEARNING!r}; start a new run in another folder"
        )


def rllib_record(config: TrainConfig, settings: RLlibSettings) -> dict:
    """rllib.json: the backend, how it samples and learns, its settings and the budget in
    iterations."""
    return {
        "backend": "rllib",
        "learning": LEARNING,
        "settings": asdict(settings),
        "worlds_per_runner": worlds_per_runner(config, settings),
        "iterations": iterations(config),
        "train_batch_size": train_batch_size(config),
        "local_agent_steps_per_iteration": train_batch_size(config) * n_locals(config),
        "checkpoint_interval": checkpoint_interval(config),
    }


def _read_progress(run: RunDir, upto: int) -> list[dict]:
    path = run.root / "progress.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [r for r in csv.DictReader(handle) if int(r["iteration"]) <= upto]


def progress_row(iteration: int, result: dict) -> dict:
    """One row of progress.csv from an iteration's result: means over its finished episodes."""
    runners = result.get("env_runners", {})
    sums = runners.get("target_gaming", {})
    episodes = sums.get("episodes", 0)
    episodes = int(episodes) if math.isfinite(episodes) else 0  # NaN: none ended this time
    lifetime = runners.get("num_module_steps_sampled_lifetime", {})
    row = {
        "iteration": iteration,
        "seconds": round(float(result.get("time_this_iter_s", 0.0)), 3),
        "env_steps": int(result.get("num_env_steps_sampled_lifetime", 0)),
        **{column: int(lifetime.get(role, 0)) for role, column in STEP_COLUMNS.items()},
        "episodes": episodes,
    }
    for name in CURVE_METRICS + tuple(n for n in FRONTLINE if n in sums):
        row[name] = float(sums[name]) / episodes if episodes else ""
    return row


def progress_columns(config: TrainConfig) -> tuple[str, ...]:
    """progress.csv's columns: ``PROGRESS_COLUMNS``, then a cascade's metrics in its worlds."""
    return PROGRESS_COLUMNS + metric_set(config.world_config).extra


# ---- training ----------------------------------------------------------------------------
def build_algorithm(config: TrainConfig, settings: RLlibSettings, run: RunDir, log):
    """A new algorithm (initial log-stds set), or one restored from the latest checkpoint;
    returns (algo, iterations done)."""
    done, path = latest_checkpoint(run)
    algo = algorithm_config(config, settings, derived_seed(config.seed, done)).build_algo()
    if path is None:
        log_std = {"local": config.ppo.log_std_init, "centre": config.centre_ppo.log_std_init}
        algo.learner_group.foreach_learner(partial(init_like_sb3, seed=config.seed))
        algo.learner_group.foreach_learner(partial(init_log_std, log_std=log_std))
        hand_to_runners(algo)
    else:
        algo.restore_from_path(str(path.resolve()))
        log(f"resumed from {path} (iteration {done})")
    return algo, done


def train_rllib(
    config: TrainConfig,
    settings: RLlibSettings = RLlibSettings(),  # noqa: B008 - frozen
    resume: bool = False,
    log: Callable[[str], None] = print,
    on_iteration: Callable[[int, dict], None] | None = None,
) -> RLlibResult:
    """Train the centre and the locals jointly, save the modules, evaluate them (see the
    module docstring). ``on_iteration(iteration, result)`` runs after each iteration and
    its checkpoint."""
    if config.centre_params:
        raise ValueError(
            f"centre_params = {config.centre_params!r}: the rllib backend's centre learns from "
            "the start; centre_params is for a scripted centre of sb3's stages"
        )
    if config.mode != "locals":
        raise ValueError(
            f"mode = {config.mode!r}: the rllib backend trains the centre and the locals "
            "jointly; --mode (and the centre and local policies of its stages) is sb3's"
        )
    # nothing is written until Ray has started and the algorithm is built: a refused
    # command (a folder, an address, a setting) leaves the folder as it was
    run = check_run_folder(config, resume, rllib=True)
    if resume:
        check_learning(run)
    if os.environ.get("PYTHONHASHSEED") in (None, "random"):
        log(
            "note: PYTHONHASHSEED is not set, so this run will not repeat exactly: RLlib "
            "orders agents by hashing their names (the target-gaming command sets it to 0)"
        )
    import torch

    torch.set_num_threads(config.torch_threads)
    with ray_session(settings.address, settings.num_cpus):
        algo, done = build_algorithm(config, settings, run, log)
        try:
            prepare_run(config, resume, rllib_record(config, settings))
            rows = _train_loop(algo, config, run, done, log, on_iteration)
            export_modules(algo, run, config.centre_action)
        finally:
            algo.stop()
    episodes = evaluate(config, run)
    write_evaluation(run, episodes, log)
    last = rows[-1] if rows else {}
    timesteps = {role: int(last.get(STEP_COLUMNS[role], 0)) for role in ROLES}
    return RLlibResult(run, iterations(config), timesteps, episodes)


def export_modules(algo, run: RunDir, centre_action: str) -> None:
    """Save the learner's module of each role as ``<role>_policy.rllib`` (atomically); the
    centre's folder records its ``centre_action`` (``CENTRE_ACTION_FILE``)."""
    for role in ROLES:
        write_folder(
            policy_path(run, role), partial(_save_learner_module, algo, role, centre_action)
        )


def _save_learner_module(algo, role: str, centre_action: str, path: str) -> None:
    algo.learner_group.foreach_learner(partial(_save_module, module_id=role, path=path))
    if role == "centre":
        record = json.dumps({"centre_action": centre_action}) + "\n"
        (Path(path) / CENTRE_ACTION_FILE).write_text(record)


def _save_module(learner, module_id: str, path: str) -> None:
    learner.module[module_id].save_to_path(path)


def _train_loop(algo, config: TrainConfig, run: RunDir, done: int, log, on_iteration):
    """Iterations ``done + 1 .. iterations(config)``, checkpointing as configured; returns
    progress.csv's rows."""
    total, every = iterations(config), checkpoint_interval(config)
    rows, columns = _read_progress(run, done), progress_columns(config)
    for iteration in range(done + 1, total + 1):
        anneal_centre(algo, centre_log_std_at(config, iteration), centre_learns(config, iteration))
        result = algo.train()
        rows.append(progress_row(iteration, result))
        write_csv(run.root / "progress.csv", rows, columns)
        if iteration == total or (every and iteration % every == 0):
            write_folder(checkpoint_path(run, iteration), algo.save_to_path)
        row = rows[-1]
        log(
            f"iteration {iteration}/{total}: local agent-steps {row['local_timesteps']}, "
            f"episodes {row['episodes']}, local_return {_fmt(row['local_return'])}, "
            f"gaming_share {_fmt(row['gaming_share'])}"
        )
        if on_iteration is not None:
            on_iteration(iteration, result)
    return rows


def anneal_centre(algo, log_std: float, learns: bool = True) -> None:
    """Set the centre's (frozen) log-std on the learner, let its policy learn or hold it
    (``centre_warmup``), and hand it to the env runners before they sample."""
    algo.learner_group.foreach_learner(
        partial(set_log_std, module_id="centre", value=log_std, frozen=True)
    )
    algo.learner_group.foreach_learner(
        partial(set_policy_learning, module_id="centre", learns=learns)
    )
    hand_to_runners(algo)


def hand_to_runners(algo) -> None:
    """Give every env runner the learner's modules now. (``sync_weights`` alone would not:
    a runner takes weights only of a newer update than its own, so a log-std set between
    updates would reach the runners one iteration late.)"""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    state = algo.learner_group.get_state(
        components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}", inference_only=True
    )[COMPONENT_LEARNER][COMPONENT_RL_MODULE]
    algo.env_runner_group.foreach_env_runner(
        partial(_take_modules, state=state), local_env_runner=True
    )


def _take_modules(runner, state) -> None:
    from ray.rllib.core import COMPONENT_RL_MODULE

    runner.set_state({COMPONENT_RL_MODULE: state})  # no weights seq no: taken whatever its own


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def evaluate(config: TrainConfig, run: RunDir) -> list[dict]:
    """Deterministic episodes on fresh seeds with the saved modules; one row per episode
    (``training/runs.py``, EPISODE_COLUMNS), as the SB3 trainer's evaluation."""
    local, centre = (policy_path(run, role) for role in ROLES)
    return evaluate_policies(config, str(local), str(centre))
