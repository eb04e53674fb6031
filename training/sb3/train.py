"""Train the local agents, the centre, or both in turn, with stable-baselines3 PPO.

A run is a list of stages (``plan_stages``), each one learner training against a
frozen opponent:

- ``locals``: one stage; the local agents (one policy shared by every local
  agent, ``LocalVecEnv``) learn under the scripted or saved ``centre_policy``.
- ``centre``: one stage; the centre (``CentreVecEnv``, one decision per review
  period) learns against the frozen ``local_policy``.
- ``two_level`` (the AI Economist's two-level curriculum): phase 1 is the
  ``locals`` stage under the scripted centre; then, for each of ``rounds``
  rounds, the centre learns against the frozen locals, and the locals re-learn
  against the new, frozen centre. The centre's exploration is annealed over the
  rounds: at the start of round r its policy's log-std is capped at a level
  falling linearly from ``centre_log_std[0]`` to ``centre_log_std[1]``, and its
  entropy coefficient falls linearly from ``centre_ppo.ent_coef`` to 0, so it
  explores widely while the locals are still adapting and settles later.

Each learner keeps one model across its stages (its timestep count runs on),
reloaded from its latest checkpoint at the start of every stage, so an
uninterrupted run and one resumed at a stage boundary do the same thing. A
frozen learned opponent acts deterministically. Every stage seeds everything
(``set_random_seed``, the env's generator) from the run's seed, the stage and
the learner's timestep count, so a config and seed give identical parameters.
``resume`` continues a killed run from each learner's latest checkpoint to the
same total timesteps; a resumed stage is not bit-identical to an uninterrupted
one (the env restarts its episodes), but no checkpoint is lost. A damaged
checkpoint (truncated, say) is set aside and the learner falls back to its newest
good one (``training/sb3/checkpoints.py``); a final model is never replaced by
bytes that were not verified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from target_gaming.agents import load_policy
from target_gaming.envs.target_gaming import World

from ..config import TrainConfig
from ..io import write_bytes
from ..runs import (
    RunDir,
    check_run_folder,
    derived_seed,
    evaluate_policies,
    prepare_run,
    write_evaluation,
)
from .callbacks import (
    CheckpointCallback,
    EpisodeMetricsCallback,
    logged_metrics,
    save_model_atomic,
)
from .centre_env import CentreVecEnv
from .checkpoints import set_aside_damaged, verify_model
from .vec_env import LocalVecEnv

OTHER = {"local": "centre", "centre": "local"}


@dataclass(frozen=True)
class Stage:
    """One learner's training against a frozen opponent."""

    index: int
    role: str  # who learns: "local" or "centre"
    round: int  # 0: phase 1 (or the only stage); 1..rounds in two_level phase 2
    target: int  # the learner's total timesteps at the end of the stage
    opponent: str | None  # scripted name or path; None: the other learner's latest checkpoint
    ent_coef: float
    log_std_cap: float | None  # cap on the learner's log-std at the stage's start


@dataclass(frozen=True)
class TrainResult:
    run: RunDir
    timesteps: dict[str, int]  # role -> the learner's final timestep count
    episodes: list[dict]  # the final evaluation, one row per episode


def plan_stages(config: TrainConfig) -> list[Stage]:
    """The run's stages in order (see the module docstring)."""
    local_ent, centre_ent = config.ppo.ent_coef, config.centre_ppo.ent_coef
    if config.mode == "centre":
        return [Stage(0, "centre", 0, config.timesteps, config.local_policy, centre_ent, None)]
    stages = [Stage(0, "local", 0, config.timesteps, config.centre, local_ent, None)]
    if config.mode == "locals":
        return stages
    first, last = config.centre_log_std
    for r in range(1, config.rounds + 1):
        done = (r - 1) / (config.rounds - 1) if config.rounds > 1 else 0.0  # 0 .. 1
        centre = Stage(
            len(stages),
            "centre",
            r,
            r * config.centre_timesteps,
            None,
            centre_ent * (1.0 - done),
            first + (last - first) * done,
        )
        local_target = config.timesteps + r * config.round_timesteps
        local = Stage(len(stages) + 1, "local", r, local_target, None, local_ent, None)
        stages += [centre, local]
    return stages


def build_world(config: TrainConfig) -> World:
    return World(config.world_config, config.design, config.centre_reward)


def check_opponents(config: TrainConfig) -> None:
    """Load every scripted or saved opponent the run's stages name, as they will be loaded
    (a missing, damaged or mismatched saved policy is refused before the run starts)."""
    world = build_world(config)
    for stage in plan_stages(config):
        if stage.opponent is not None:
            params = opponent_params(config, stage.role, stage.opponent)
            load_policy(stage.opponent, world, OTHER[stage.role], **params)


def opponent_params(config: TrainConfig, role: str, opponent: str) -> dict:
    """The parameters of a learner's opponent: ``centre_params`` for the scripted centre
    the locals learn under, none for any other."""
    return dict(config.centre_params) if role == "local" and opponent == config.centre else {}


def make_env(config: TrainConfig, role: str, opponent: str, seed: int) -> VecEnv:
    """The learner's vector env, its opponent loaded by name or path (frozen); rewards
    normalised by a running scale of the return if its PPO settings say so."""
    world = build_world(config)
    params = opponent_params(config, role, opponent)
    policy = load_policy(opponent, world, OTHER[role], seed=seed, **params)
    if role == "local":
        env: VecEnv = LocalVecEnv(world, config.n_envs, policy, seed=seed)
    else:
        env = CentreVecEnv(world, config.n_envs, policy, seed=seed)
    ppo = config.ppo_for(role)
    if ppo.normalize_reward:  # returns of O(1): the value loss cannot swamp the policy's step
        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=ppo.gamma)
    return env


def learner(config: TrainConfig, run: RunDir, stage: Stage, env: VecEnv, seed: int) -> PPO:
    """The stage's learner: a new model, or its latest checkpoint; then the stage's
    exploration settings (entropy coefficient, log-std cap)."""
    _, path = run.latest(stage.role)
    if path is None:
        model = PPO(
            "MlpPolicy",
            env,
            seed=seed,
            device="cpu",
            verbose=0,
            tensorboard_log=str(run.tensorboard),
            **config.ppo_for(stage.role).algorithm_kwargs(),
        )
    else:
        model = PPO.load(str(path), env=env, device="cpu")
        model.tensorboard_log = str(run.tensorboard)
        model.set_random_seed(seed)
    model.ent_coef = stage.ent_coef
    if stage.log_std_cap is not None:
        with torch.no_grad():
            model.policy.log_std.clamp_(max=stage.log_std_cap)
    return model


def run_stage(
    config: TrainConfig,
    run: RunDir,
    stage: Stage,
    callbacks: Sequence[BaseCallback] = (),
    log: Callable[[str], None] = print,
) -> int:
    """Train the stage's learner up to its target from its latest checkpoint; returns its
    timestep count (nothing to do if the checkpoint has reached the target)."""
    steps, _ = run.latest(stage.role)
    if steps >= stage.target:
        return steps
    opponent = stage.opponent or str(run.latest(OTHER[stage.role])[1])
    seed = derived_seed(config.seed, stage.index, steps)
    env = make_env(config, stage.role, opponent, seed)
    model = learner(config, run, stage, env, seed)
    log(
        f"stage {stage.index}: {stage.role} learns (round {stage.round}) against "
        f"{_label(opponent)}, timesteps {steps} -> {stage.target}"
    )

    def save(m: PPO) -> Path:
        return save_model_atomic(m, run.checkpoint(stage.role, m.num_timesteps))

    every = [CheckpointCallback(save, config.checkpoint_every)] if config.checkpoint_every else []
    model.learn(
        stage.target - steps,
        callback=[*every, EpisodeMetricsCallback(**_curves(config, run, stage)), *callbacks],
        reset_num_timesteps=False,
        tb_log_name=stage.role,
        progress_bar=config.progress_bar,
    )
    save(model)
    env.close()
    return model.num_timesteps


def _curves(config: TrainConfig, run: RunDir, stage: Stage) -> dict:
    """Where the stage's learning curve goes (``curves.csv``, one file for every stage),
    and its metrics (``logged_metrics``)."""
    return {
        "names": logged_metrics(config),
        "curves": run.curves,
        "stage": stage.index,
        "role": stage.role,
    }


def _label(spec: str) -> str:
    return Path(spec).name


def evaluate(config: TrainConfig, run: RunDir) -> list[dict]:
    """Deterministic episodes on fresh seeds with the final policies; one row per episode."""
    local = str(run.policy("local")) if "local" in config.roles else config.local_policy
    centre = str(run.policy("centre")) if "centre" in config.roles else config.centre
    return evaluate_policies(config, local, centre, opponent_params(config, "local", centre))


def train(
    config: TrainConfig,
    resume: bool = False,
    callbacks: Sequence[BaseCallback] = (),
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Run every stage, save the final models, evaluate them; see the module docstring.

    Everything is checked before anything is written (the config, the folder, every
    scripted or saved opponent the stages name); a resumed run starts from verified
    checkpoints (``set_aside_damaged``), and a final model is written only from bytes
    just verified."""
    config.refuse_rllib_fields("sb3")
    check_run_folder(config, resume)
    check_opponents(config)
    run = prepare_run(config, resume)
    set_aside_damaged(run, config.roles, log)
    torch.set_num_threads(config.torch_threads)
    for stage in plan_stages(config):
        run_stage(config, run, stage, callbacks, log)
    timesteps = {}
    for role in config.roles:
        timesteps[role], path = run.latest(role)
        data = path.read_bytes()
        verify_model(data, str(path))
        final = run.policy(role)
        if not (final.is_file() and final.read_bytes() == data):
            write_bytes(final, data)
    rows = evaluate(config, run)
    write_evaluation(run, rows, log)
    return TrainResult(run, timesteps, rows)
