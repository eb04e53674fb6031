"""RLlib's side of a run: ``TrainConfig`` mapped onto RLlib's ``PPOConfig`` (new API stack).

Two RLModules, ``centre`` and ``local`` (``training/rllib/env.py`` maps each
agent to one by role), with separate policy and value networks.

A run reuses ``TrainConfig`` (scenario, design, centre_reward, seed,
overrides, ...) and maps it onto RLlib:

- one iteration samples ``train_batch_size = n_envs * ppo.n_steps`` env steps
  (world steps; each gives N local agent-steps and, every P steps, one decision
  per central agent): the same rollout as one SB3 update. Each of the
  ``num_env_runners`` runners (or the driver, when it is 0) steps one
  ``BatchedMultiAgentEnv`` (``training/rllib/batched_env.py``) of
  ``ceil(n_envs / runners)`` worlds in one ``World.step`` call with
  ``BatchedEnvRunner`` (``training/rllib/runner.py``), which calls each RLModule
  once per step for all of their agents and keeps the rollout as arrays until it
  hands RLlib its episodes, as the SB3 trainer steps ``LocalVecEnv``. (When the
  runners do not divide ``n_envs``, each runner samples whole steps of its worlds,
  so an iteration may hold a few more world steps.) ``algorithm_config``'s
  ``sampler`` picks the references instead: RLlib's own sampling loop over the same
  env, or the readable B = 1 adapter (``training/rllib/env.py``),
  ``ceil(n_envs / runners)`` of them per runner in RLlib's vectorised env runner.
- ``timesteps`` counts local agent-steps, as in SB3's ``locals`` mode, so a run
  lasts ``iterations = ceil(timesteps / (train_batch_size * N))`` iterations,
  and ``checkpoint_every`` (local agent-steps) becomes a checkpoint every
  ``ceil(checkpoint_every / (train_batch_size * N))`` iterations (0: only the last).
- ``ppo`` sets the algorithm-wide settings (``n_epochs`` -> ``num_epochs``, ``gamma``,
  ``gae_lambda`` -> ``lambda_``) and the local module's (``batch_size`` ->
  ``minibatch_size``, ``learning_rate``, ``ent_coef``, ``clip_range``, ``net_arch``,
  ``log_std_init``); ``centre_ppo`` sets the centre module's minibatch size, learning
  rate, entropy, clip range, layers and initial log-std. RLlib shares discounting
  across modules, so the centre's ``gamma`` applies per review period at the locals'
  value. ``SB3EpochsPPOLearner`` (``training/rllib/learner.py``) gives each module its
  own minibatches (RLlib would cycle the centre's few decisions to fill the locals'
  minibatch size at every step), so every sample of either module takes part in
  ``n_epochs`` gradient steps, as in SB3. As in SB3's PPO there is no KL penalty and
  gradients are clipped to a global norm of 0.5.
- ``ppo.normalize_reward`` scales the rewards the learners see by a fixed
  ``1 / min(horizon, 1 / (1 - gamma))`` (``reward_scale``; SB3 divides by a
  running std of the return instead), so the value heads, which start near 0,
  need not grow to returns of tens; the value loss is not clipped, and the
  policy and value networks are separate.
- Each module's Gaussian has a free log-std per action dimension (SB3's), started at
  its ``log_std_init``. The locals learn theirs. The centre's is not learned (so its
  ``centre_ppo.log_std_init`` and ``ent_coef`` do not act on it): before
  each iteration it is set to ``centre_log_std_at`` the iteration, falling linearly from
  ``centre_log_std[0]`` to ``centre_log_std[1]`` over the run (SB3's two-level rounds
  anneal the same pair). Learned as an output of the network (the earlier heads), the
  centre's standard deviation grew from 0.6 to about 1 (up to 2) on actions in [0, 1]
  over a 1M-step run: its ten decisions an episode act on
  its reward late and through the locals, which then trained against a centre sampling
  nearly at random, unlike the deterministic one they are evaluated with.
- Both modules start from SB3's orthogonal initialisation (``init_like_sb3``), so each
  policy's mean starts at about 0; ``centre_warmup`` holds the centre's policy there for
  the first share of the run (``warmup_iterations``; its value function learns) before it
  learns, its log-std annealed over the rest.
- ``centre_action`` is handed to the env (``env_config``): with ``relative`` the centre
  module acts in [-1, 1], departing from the ratchet's next target per locality
  (``target_gaming.agents.centre_actions``); the saved module records it beside itself
  (``centre_action.json``) and its loader maps its actions the same way.
- ``mode`` must stay ``locals`` (its default); it, ``centre_policy``,
  ``local_policy``, ``rounds``, ``round_timesteps``, ``centre_timesteps`` and
  ``progress_bar`` belong to the SB3 stages.

``RLlibSettings`` says where Ray runs; it is not part of the experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from target_gaming.envs.target_gaming import METRICS

from ..config import PPOConfig, TrainConfig
from ..evaluation.rollout import FRONTLINE, RETURNS

ROLES = ("local", "centre")
SB3_MAX_GRAD_NORM = 0.5  # stable_baselines3.PPO's default max_grad_norm
CURVE_METRICS = RETURNS + tuple(METRICS)  # logged per episode, averaged per iteration


@dataclass(frozen=True)
class RLlibSettings:
    """Where the run's Ray processes live: not part of the experiment, free to change on resume.

    ``num_cpus``: CPUs of the local Ray instance (ignored with ``address``);
    ``address``: a running cluster's address (``ray start --head`` prints it);
    ``num_env_runners``: remote sampling processes (0: the driver samples).
    """

    num_cpus: int = 2
    address: str | None = None
    num_env_runners: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.num_cpus, bool) or not isinstance(self.num_cpus, int):
            raise ValueError(f"num_cpus = {self.num_cpus!r} must be an integer >= 1")
        if self.num_cpus < 1:
            raise ValueError(f"num_cpus = {self.num_cpus!r} must be an integer >= 1")
        if not isinstance(self.num_env_runners, int) or not 0 <= self.num_env_runners <= 10_000:
            raise ValueError(f"num_env_runners = {self.num_env_runners!r} must be in [0, 10000]")
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise ValueError(f"address = {self.address!r} must be a cluster address or None")


# ---- the mapping from TrainConfig --------------------------------------------------------
def n_locals(config: TrainConfig) -> int:
    return config.world_config.n_locals


def worlds_per_runner(config: TrainConfig, settings: RLlibSettings) -> int:
    """Worlds each env runner (or the driver, with no runners) steps: ``ceil(n_envs / runners)``."""
    return math.ceil(config.n_envs / max(1, settings.num_env_runners))


def train_batch_size(config: TrainConfig) -> int:
    """Env steps per iteration: one SB3 rollout (``n_envs * ppo.n_steps``)."""
    return config.n_envs * config.ppo.n_steps


def iterations(config: TrainConfig) -> int:
    """Iterations that cover ``timesteps`` local agent-steps."""
    return math.ceil(config.timesteps / (train_batch_size(config) * n_locals(config)))


def checkpoint_interval(config: TrainConfig) -> int:
    """Iterations between checkpoints (0: only the last)."""
    if config.checkpoint_every == 0:
        return 0
    return math.ceil(config.checkpoint_every / (train_batch_size(config) * n_locals(config)))


def reward_scale(config: TrainConfig) -> float:
    """The factor on the rewards the learners see: 1 / (effective horizon) with
    ``ppo.normalize_reward``, so that values are of the order of one step's reward."""
    if not config.ppo.normalize_reward:
        return 1.0
    horizon = config.world_config.horizon
    gamma = config.ppo.gamma
    return 1.0 / min(horizon, 1.0 / (1.0 - gamma)) if gamma < 1.0 else 1.0 / horizon


# ---- RLlib's config --------------------------------------------------------------------
def _module_spec(ppo: PPOConfig):
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    # a log-std per action dimension, not an output of the network: SB3's Gaussian policy
    model = DefaultModelConfig(
        fcnet_hiddens=list(ppo.net_arch), vf_share_layers=False, free_log_std=True
    )
    return RLModuleSpec(model_config=model)


SAMPLERS = ("arrays", "episodes", "adapter")


def algorithm_config(
    config: TrainConfig, settings: RLlibSettings, seed: int, sampler: str = "arrays"
):
    """RLlib's ``PPOConfig`` for ``config`` (see the module docstring for the mapping).

    ``sampler`` says how each runner samples its ``worlds_per_runner`` worlds: ``arrays``
    (the trainer's) steps one ``BatchedMultiAgentEnv`` with ``BatchedEnvRunner``, which
    keeps the rollout as arrays; ``episodes`` steps the same env through RLlib's own
    sampling loop (``WorldStepsEnvRunner``), and ``adapter`` steps that many B = 1
    adapters in RLlib's vectorised runner: the two references the fast path is held to
    and measured against (``tests/test_rllib_runner.py``, ``benchmarks/bench_training.py``).
    """
    from ray.rllib.algorithms.ppo import PPOConfig as RLlibPPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from .batched_env import BatchedMultiAgentEnv, WorldStepsEnvRunner
    from .env import TargetGamingMultiAgentEnv, policy_mapping_fn
    from .learner import SB3EpochsPPOLearner
    from .runner import BatchedEnvRunner

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler = {sampler!r} must be one of {SAMPLERS}")
    local, centre = config.ppo, config.centre_ppo
    worlds = worlds_per_runner(config, settings)
    env_config = {
        "scenario": config.scenario,
        "design": config.design,
        "centre_reward": config.centre_reward,
        "centre_action": config.centre_action,
        "overrides": dict(config.overrides),
        "reward_scale": reward_scale(config),
    }
    if sampler == "adapter":  # `worlds` B = 1 envs per runner
        env, runner, envs_per_runner = TargetGamingMultiAgentEnv, {}, worlds
    else:  # one env of `worlds` worlds per runner
        runner_cls = BatchedEnvRunner if sampler == "arrays" else WorldStepsEnvRunner
        env, runner = BatchedMultiAgentEnv, {"env_runner_cls": runner_cls}
        env_config["worlds"], envs_per_runner = worlds, 1
    specs = {"local": _module_spec(local), "centre": _module_spec(centre)}
    return (
        RLlibPPOConfig()
        .environment(
            env,
            env_config=env_config,
            normalize_actions=False,  # the env clips; the loader takes the clipped mean
            clip_actions=False,
        )
        .env_runners(
            num_env_runners=settings.num_env_runners,
            num_envs_per_env_runner=envs_per_runner,
            **runner,
        )
        .learners(num_learners=0, learner_class=SB3EpochsPPOLearner)
        .training(
            train_batch_size_per_learner=train_batch_size(config),
            minibatch_size=local.batch_size,
            num_epochs=local.n_epochs,
            gamma=local.gamma,
            lambda_=local.gae_lambda,
            **_learner_settings(local),
        )
        .multi_agent(
            policies=list(ROLES),  # in order: a set's order follows the hash seed
            policy_mapping_fn=policy_mapping_fn,
            algorithm_config_overrides_per_module={
                "centre": RLlibPPOConfig.overrides(
                    minibatch_size=centre.batch_size, **_learner_settings(centre)
                )
            },
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .callbacks(on_episode_end=log_episode_metrics)
        .debugging(seed=seed)
    )


def _learner_settings(ppo: PPOConfig) -> dict:
    return {
        "lr": ppo.learning_rate,
        "entropy_coeff": ppo.ent_coef,
        "clip_param": ppo.clip_range,
        "vf_clip_param": float("inf"),  # SB3 does not clip the value loss either
        "use_kl_loss": False,  # SB3's PPO has no KL penalty, only the clipped ratio
        "grad_clip": SB3_MAX_GRAD_NORM,
        "grad_clip_by": "global_norm",
    }


def log_episode_metrics(*, episode, metrics_logger, **kwargs) -> None:
    """RLlib callback: sums of the episode's returns and metrics (a cascade's too, in its
    worlds), for per-iteration means; each world of a batched env's episode counts as one
    episode."""
    summaries = {}  # world -> its episode_metrics (every agent of a world holds the same)
    for agent, info in episode.get_infos(-1).items():
        if "episode_metrics" in info:
            summaries.setdefault(str(agent).rpartition("/")[0], info["episode_metrics"])
    if not summaries:
        return
    metrics_logger.log_value(("target_gaming", "episodes"), len(summaries), reduce="sum")
    first = next(iter(summaries.values()))  # every world of a run has the same metrics
    for name in CURVE_METRICS + tuple(n for n in FRONTLINE if n in first):
        total = sum(summary[name] for summary in summaries.values())
        metrics_logger.log_value(("target_gaming", name), total, reduce="sum")


SB3_GAINS = {"encoder": math.sqrt(2), "pi": 0.01, "vf": 1.0}  # ActorCriticPolicy's ortho_init


def init_like_sb3(learner, seed: int) -> None:
    """Initialise every module's layers as SB3's ``ActorCriticPolicy`` does (``ortho_init``):
    orthogonal weights of gain sqrt(2) in the hidden layers, 0.01 in the policy's output
    layer and 1 in the value's, biases 0. RLlib's default (torch's uniform init) starts each
    policy's mean at offsets of up to 0.3 that depend on the observation; SB3's starts it at
    0 (a relative centre's start is then the ratchet with even audits). The weights come from
    a generator seeded by ``seed``, one module after another in name order."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module_id in sorted(learner.module.keys()):
            module = learner.module[module_id]
            for part, gain in SB3_GAINS.items():
                for layer in getattr(module, part).modules():
                    if isinstance(layer, torch.nn.Linear):
                        torch.nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
                        layer.bias.zero_()


def init_log_std(learner, log_std: dict[str, float]) -> None:
    """Set each module's initial log-std (its policy head's free log-std), as SB3's
    ``log_std_init``."""
    for module_id, value in log_std.items():
        set_log_std(learner, module_id, value)


def set_log_std(learner, module_id: str, value: float, frozen: bool = False) -> None:
    """Set the log-std of ``module_id``'s policy to ``value`` in every action dimension;
    ``frozen``: no longer learned (the centre's, which follows ``centre_log_std_at``)."""
    import torch

    log_std = learner.module[module_id].pi.log_std
    with torch.no_grad():
        log_std.fill_(value)
    log_std.requires_grad_(not frozen)


HELD_LOG_STD = -10.0  # the centre's log-std while it holds its starting rule: no noise


def warmup_iterations(config: TrainConfig) -> int:
    """The first iterations, ``round(centre_warmup * iterations)``, in which the centre's
    policy holds its initial output (``centre_warmup``)."""
    return round(config.centre_warmup * iterations(config))


def centre_learns(config: TrainConfig, iteration: int) -> bool:
    """Whether the centre's policy learns in iteration ``iteration`` (1-based)."""
    return iteration > warmup_iterations(config)


def centre_log_std_at(config: TrainConfig, iteration: int) -> float:
    """The centre's log-std while it samples iteration ``iteration`` (1-based):
    ``HELD_LOG_STD`` through the warm-up, then falling linearly from ``centre_log_std[0]``
    at the first iteration after it to ``centre_log_std[1]`` at the last, as SB3's
    two-level rounds anneal it, so the centre explores widely while the locals are still
    learning and the locals end the run against a nearly deterministic centre, the one
    they are evaluated with."""
    warm, total = warmup_iterations(config), iterations(config)
    if iteration <= warm:
        return HELD_LOG_STD
    first, last = config.centre_log_std
    span = total - warm
    done = (iteration - warm - 1) / (span - 1) if span > 1 else 1.0
    return first + (last - first) * done


def set_policy_learning(learner, module_id: str, learns: bool) -> None:
    """Let ``module_id``'s policy (its actor encoder and policy head) learn or hold it; its
    value function learns either way, and its free log-std is set apart (``set_log_std``)."""
    module = learner.module[module_id]
    for param in [*module.encoder.actor_encoder.parameters(), *module.pi.net.parameters()]:
        param.requires_grad_(learns)
