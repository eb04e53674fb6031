"""Train the local agents with a BenchMARL algorithm, under a scripted or saved centre.

``train_benchmarl(config, algorithm)`` runs one BenchMARL ``Experiment`` on the
target-gaming task (``task.py``: the native TorchRL env over the batched core, the
centre inside it) and saves the locals' actor. ``ALGORITHMS`` are the continuous-action
algorithms of BenchMARL it runs: on-policy ``ippo`` and ``mappo`` (a centralised critic),
off-policy ``masac``, ``isac``, ``maddpg`` and ``iddpg``. One actor is shared by every
local agent (``share_policy_params``), as the SB3 trainer's one policy for every slot.

The mapping of ``TrainConfig`` onto BenchMARL (``experiment_config``):

- ``timesteps`` counts local agent-steps, as in SB3's ``locals`` mode: BenchMARL counts
  frames (steps of one environment, each giving N local agent-steps), so the run lasts
  ``max_n_frames = ceil(timesteps / (N * n_envs * ppo.n_steps)) * n_envs * ppo.n_steps``
  frames, in batches of ``n_envs * ppo.n_steps`` frames from ``n_envs`` environments
  (one SB3 rollout each);
- on-policy: ``ppo.n_epochs`` passes over each batch in ``ON_POLICY_MINIBATCHES``
  minibatches (not SB3's minibatches of ``ppo.batch_size``: see ``ON_POLICY_MINIBATCHES``),
  ``gamma``, ``gae_lambda`` (BenchMARL's ``lmbda``), ``clip_range``, ``ent_coef``;
- off-policy: the same batches go into a replay buffer of ``OFF_POLICY_MEMORY`` frames,
  followed by one gradient step per ``OFF_POLICY_FRAMES_PER_STEP`` frames collected, on
  batches of ``OFF_POLICY_BATCH`` frames: BenchMARL's own default replay ratio (1,000
  steps of 128 per 6,000 frames), each sample reused about 21 times. (Reusing each
  sample about ``n_epochs`` times, as PPO does, left MASAC untrained at 1M local
  agent-steps: its curves flat from the first batch and its actions at the middle of
  the box.)
- every algorithm: ``learning_rate``, ``net_arch`` (tanh MLPs, for the actor and the
  critic), ``ppo.normalize_reward`` (a fixed reward scale, ``rllib.config.reward_scale``:
  BenchMARL has no running normalisation), ``seed``;
- ``mode`` must be ``locals``; ``centre_params`` is refused (the centre inside the env is
  a named or saved policy); ``checkpoint_every`` becomes BenchMARL's
  ``checkpoint_interval``.

The run's folder::

    config.json                      the TrainConfig
    benchmarl.json                   the algorithm and the budget in frames and batches
    benchmarl/<experiment>/          BenchMARL's own folder: checkpoints/, its csv logs
    curves.csv                       one row per batch (training/runs.py CURVE_KEYS + metrics)
    local_policy.benchmarl           the final actor (``learned.py`` loads it)
    episodes.csv, metrics.txt        the evaluation (training/runs.py, deterministic)

``resume`` restores BenchMARL's latest readable checkpoint (a damaged one is set aside;
with none yet it trains from the start) and trains on to the same budget. It is not
bit-identical to an uninterrupted run: BenchMARL reseeds from the run's seed and the envs
restart their episodes; an off-policy run's replay buffer is not checkpointed and
refills.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchmarl.experiment.callback import Callback

from ..config import TrainConfig
from ..io import write_bytes, write_csv, write_text
from ..rllib.config import n_locals, reward_scale
from ..runs import (
    CURVE_KEYS,
    RunDir,
    check_run_folder,
    evaluate_policies,
    read_curves,
    write_evaluation,
)
from ..sb3.callbacks import LOGGED_METRICS, logged_metrics
from . import ALGORITHMS, ON_POLICY

# minibatches per pass over an on-policy batch: BenchMARL's cost per gradient step is
# nearly fixed (75 to 110 ms for 170 to 1,024 frames on this machine's CPU, under load),
# so SB3's minibatches of ``ppo.batch_size`` samples (6 per pass at the defaults) would
# make IPPO four times slower (30 steps of 170 frames per batch: 1,900 agent-steps/s;
# 20 steps of 512 frames: 8,100)
ON_POLICY_MINIBATCHES = 2
OFF_POLICY_BATCH = 128  # frames per gradient step of the off-policy algorithms
OFF_POLICY_FRAMES_PER_STEP = 6  # frames collected per gradient step (BenchMARL's default)
OFF_POLICY_MEMORY = 200_000  # frames in their replay buffer
POLICY = "local_policy.benchmarl"
RECORD = "benchmarl.json"


@dataclass(frozen=True)
class BenchMARLResult:
    run: RunDir
    algorithm: str
    frames: int
    episodes: list[dict]  # the evaluation, one row per episode


def check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"algorithm = {algorithm!r} is not allowed: a BenchMARL algorithm, one of "
            f"{', '.join(ALGORITHMS)}"
        )
    return algorithm


def check_config(config: TrainConfig) -> None:
    """What BenchMARL's trainer cannot do with ``config``, refused before any work."""
    if config.mode != "locals":
        raise ValueError(
            f"mode = {config.mode!r}: the benchmarl backend trains the locals under a given "
            "centre (mode locals)"
        )
    if config.centre_params:
        raise ValueError(
            f"centre_params = {config.centre_params!r}: the benchmarl backend's centre is a "
            "named or saved policy without parameters"
        )
    config.refuse_rllib_fields("benchmarl")
    if frames_per_batch(config) < ON_POLICY_MINIBATCHES:
        raise ValueError(
            f"n_envs x ppo.n_steps = {frames_per_batch(config)}: the benchmarl backend needs "
            f"batches of at least {ON_POLICY_MINIBATCHES} frames"
        )


def frames_per_batch(config: TrainConfig) -> int:
    """Frames (environment steps) per batch: one SB3 rollout, ``n_envs * ppo.n_steps``."""
    return config.n_envs * config.ppo.n_steps


def batches(config: TrainConfig) -> int:
    """Batches that cover ``timesteps`` local agent-steps."""
    return math.ceil(config.timesteps / (frames_per_batch(config) * n_locals(config)))


def policy_path(run: RunDir) -> Path:
    return run.root / POLICY


def experiment_config(config: TrainConfig, algorithm: str, folder: Path):
    """BenchMARL's ``ExperimentConfig`` for ``config`` (see the module docstring)."""
    from benchmarl.experiment import ExperimentConfig

    ppo, frames = config.ppo, frames_per_batch(config)
    exp = ExperimentConfig.get_from_yaml()
    exp.sampling_device = exp.train_device = exp.buffer_device = "cpu"
    exp.share_policy_params = True
    exp.prefer_continuous_actions = True
    exp.gamma = ppo.gamma
    exp.lr = ppo.learning_rate
    exp.max_n_frames = batches(config) * frames
    exp.max_n_iters = None
    exp.on_policy_collected_frames_per_batch = frames
    exp.on_policy_n_envs_per_worker = config.n_envs
    exp.on_policy_minibatch_size = frames // ON_POLICY_MINIBATCHES
    # BenchMARL's n_minibatch_iters counts passes over the batch, each of every minibatch
    exp.on_policy_n_minibatch_iters = ppo.n_epochs
    exp.off_policy_collected_frames_per_batch = frames
    exp.off_policy_n_envs_per_worker = config.n_envs
    exp.off_policy_train_batch_size = OFF_POLICY_BATCH
    exp.off_policy_n_optimizer_steps = math.ceil(frames / OFF_POLICY_FRAMES_PER_STEP)
    exp.off_policy_memory_size = OFF_POLICY_MEMORY
    exp.off_policy_init_random_frames = 0
    exp.evaluation = False  # the run's own evaluation follows (training/runs.py)
    exp.render = False
    exp.loggers = ["csv"]
    exp.create_json = False
    exp.save_folder = str(folder)
    every = config.checkpoint_every
    exp.checkpoint_interval = (
        0 if every == 0 else max(1, math.ceil(every / (frames * n_locals(config)))) * frames
    )
    exp.checkpoint_at_end = True
    exp.keep_checkpoints_num = 2
    # an off-policy replay buffer (200,000 frames: about 0.5 GB on whitehall) is not kept
    # in checkpoints; a resumed off-policy run refills it
    exp.exclude_buffer_from_checkpoint = True
    return exp


def algorithm_config(config: TrainConfig, algorithm: str):
    from benchmarl import algorithms

    name = {"ippo": "Ippo", "mappo": "Mappo", "masac": "Masac", "isac": "Isac"}
    name |= {"maddpg": "Maddpg", "iddpg": "Iddpg"}
    algo = getattr(algorithms, f"{name[algorithm]}Config").get_from_yaml()
    ppo = config.ppo
    if algorithm in ON_POLICY:
        algo.clip_epsilon = ppo.clip_range
        algo.entropy_coef = ppo.ent_coef
        algo.lmbda = ppo.gae_lambda
    return algo


def model_config(config: TrainConfig):
    import torch
    from benchmarl.models import MlpConfig

    model = MlpConfig.get_from_yaml()
    model.num_cells = list(config.ppo.net_arch)
    model.activation_class = torch.nn.Tanh
    return model


def task(config: TrainConfig):
    """The BenchMARL task of the run: its world, with its centre inside."""
    from .task import TargetGamingTask

    member = TargetGamingTask[config.scenario.upper()]
    return member.get_task(
        {
            "design": config.design,
            "centre_reward": config.centre_reward,
            "centre_policy": config.centre,
            "overrides": dict(config.overrides),
            "record_episodes": True,
            "reward_scale": reward_scale(config),
        }
    )


def latest_checkpoint(folder: Path, log: Callable[[str], None] = print) -> Path | None:
    """BenchMARL's newest readable checkpoint under ``folder`` (``<experiment>/checkpoints/``).
    BenchMARL writes checkpoints in place, so a run killed while saving leaves a damaged
    newest file: such files are set aside as ``<name>.damaged``, saying so, and the next
    newest is taken."""
    found = sorted(
        folder.glob("*/checkpoints/checkpoint_*.pt"),
        key=lambda p: int(p.stem.rsplit("_", 1)[1]),
    )
    for path in reversed(found):
        if zipfile.is_zipfile(path):  # torch.save's format; a truncated file is not one
            return path
        path.rename(path.with_name(path.name + ".damaged"))
        log(f"set aside damaged checkpoint {path} (as {path.name}.damaged)")
    return None


def train_benchmarl(
    config: TrainConfig,
    algorithm: str,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> BenchMARLResult:
    """Train the locals with ``algorithm``, save the actor, evaluate it (module docstring)."""
    check_algorithm(algorithm)
    check_config(config)
    run = check_run_folder(config, resume, backend="benchmarl")
    record = {
        "backend": "benchmarl",
        "algorithm": algorithm,
        "frames_per_batch": frames_per_batch(config),
        "batches": batches(config),
        "local_agent_steps_per_batch": frames_per_batch(config) * n_locals(config),
    }
    if resume:
        try:
            stored = json.loads((run.root / RECORD).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{run.root / RECORD} cannot be read ({err})") from err
        if not isinstance(stored, dict) or stored.get("algorithm") != algorithm:
            raise ValueError(
                f"resume: {run.root} was trained with "
                f"{stored.get('algorithm') if isinstance(stored, dict) else None!r}, "
                f"not {algorithm!r}"
            )
    import torch
    from benchmarl.experiment import Experiment

    torch.set_num_threads(config.torch_threads)
    the_task = task(config)
    the_task.get_env_fun(1, True, config.seed, "cpu")()  # the world and its centre, checked
    folder = run.root / "benchmarl"
    exp_config = experiment_config(config, algorithm, folder)
    restore = None
    if resume:
        restore = latest_checkpoint(folder, log)
        if restore is None:  # killed before its first checkpoint: nothing to lose
            log(f"{folder} holds no readable checkpoint yet: training from the start")
    exp_config.restore_file = None if restore is None else str(restore)
    model = model_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    if not run.config.exists():
        write_text(run.config, config.to_json())
    write_text(run.root / RECORD, json.dumps(record, indent=2) + "\n")
    curves = CurveRecorder(
        run.curves,
        frames_per_batch(config) * n_locals(config),
        reward_scale(config),
        restoring=restore is not None,
        names=logged_metrics(config),
    )
    experiment = Experiment(
        task=the_task,
        algorithm_config=algorithm_config(config, algorithm),
        model_config=model,
        critic_model_config=model,
        seed=config.seed,
        config=exp_config,
        callbacks=[curves],
    )
    if restore is not None:
        log(f"resumed from {restore} ({experiment.total_frames} frames)")
    experiment.run()
    save_actor(experiment, run, algorithm)
    episodes = evaluate_policies(config, str(policy_path(run)), config.centre)
    write_evaluation(run, episodes, log)
    return BenchMARLResult(run, algorithm, int(experiment.total_frames), episodes)


def save_actor(experiment, run: RunDir, algorithm: str) -> None:
    """The locals' actor (deterministic at evaluation) and its sizes, as one torch file."""
    import io

    import torch

    env = experiment.test_env
    obs = env.full_observation_spec_unbatched["local", "observation"].shape
    act = env.full_action_spec_unbatched["local", "action"].shape
    saved = {
        "format": 1,
        "algorithm": algorithm,
        "group": "local",
        "n_agents": int(obs[0]),
        "observation_shape": (int(obs[-1]),),
        "action_shape": (int(act[-1]),),
        "actor": experiment.group_policies["local"],
    }
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    write_bytes(policy_path(run), buffer.getvalue())


def _base_env(env):
    while hasattr(env, "base_env"):
        env = env.base_env
    return env


class CurveRecorder(Callback):
    """curves.csv: one row per collected batch in which episodes ended, the mean over
    those episodes of the locals' return (unscaled) and the curve metrics, at the local
    agent-steps collected so far; a restored run keeps the rows up to its checkpoint."""

    def __init__(
        self,
        path: Path,
        steps_per_batch: int,
        scale: float,
        restoring: bool,
        names: tuple[str, ...] = LOGGED_METRICS,
    ):
        super().__init__()
        self.path, self.steps_per_batch, self.scale = Path(path), steps_per_batch, scale
        self.restoring, self.names = restoring, names
        self.rows: list[dict] = []
        self.batches = 0

    def on_setup(self):
        if not self.restoring:  # a restored run's rows stay until its checkpoint has loaded
            write_csv(self.path, [], CURVE_KEYS + self.names)

    def on_load_state_dict(self, state_dict):
        """A restored run: the rows up to its checkpoint."""
        self.batches = int(state_dict["state"]["n_iters_performed"])
        upto = self.batches * self.steps_per_batch
        self.rows = [r for r in read_curves(self.path) if r["timesteps"] <= upto]
        write_csv(self.path, self.rows, CURVE_KEYS + self.names)

    def on_batch_collected(self, batch):
        self.batches += 1
        env = _base_env(self.experiment.collector.env)
        ended, env.ended_episodes = env.ended_episodes, []
        if not ended:
            return
        done = batch.get(("next", "local", "done"))[..., 0, 0]
        sums = batch.get(("next", "local", "episode_reward")).mean(-2)[..., 0]
        returns = (sums[done] / self.scale).tolist()
        row = {
            "stage": 0,
            "role": "local",
            "timesteps": self.batches * self.steps_per_batch,
            "episodes": len(ended),
            "return": float(np.mean(returns)) if returns else float("nan"),
        }
        row |= {m: float(np.mean([e[m] for e in ended])) for m in self.names}
        self.rows.append(row)
        write_csv(self.path, self.rows, CURVE_KEYS + self.names)
