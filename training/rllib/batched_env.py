"""RLlib's fast view of the world: one ``MultiAgentEnv`` that carries the agents of B worlds.

``BatchedMultiAgentEnv`` steps B environments of one ``World`` in a single
``World.step`` call, so RLlib's env runner calls each RLModule once per step
for all B x N local agents (and all B x C central ones). Agent ``a`` of world
``b`` is ``w<b>/a`` (``w3/local_2``, ``w0/centre_0``); ``module_for`` maps it by
its role, as the B = 1 adapter's agents.

Every contract of ``training/rllib/env.py`` (the readable B = 1 adapter over the
PettingZoo env) holds per world. With B = 1 the two give the same observations,
rewards and episode metrics for the same seed and actions; with B > 1 each world
steps as it would alone, up to the rounding of the few metrics the core sums over
the batch (``tests/test_rllib_batched.py``):

- ``possible_agents``: world by world, each world's agents in the PettingZoo
  env's order (centre(s), then ``local_<n>``); ``agents``: the same list while
  an episode runs, ``[]`` once it has ended; each agent's spaces are the
  PettingZoo env's for its name without the world prefix.
- The centre is a semi-MDP: central agents observe (and so act) only on review
  steps (``WorldConfig.is_review_step``) and at the end; their rewards are
  passed every step. Between decisions the world gets a fixed, ignored central
  action. Local agents observe and act every step.
- The B worlds are reset together, so they share the step count ``t``: the
  centres of all worlds decide on the same steps, and every agent of every
  world is truncated at the horizon, at the same step; no agent terminates.
- ``reset(seed=s)`` reseeds the env's one generator, which draws all B worlds
  (B = 1: the PettingZoo env's draws); ``reset()`` continues it.
- Actions are clipped to [0, 1] (central ones to their own bounds: [-1, 1] with
  ``centre_action = "relative"``, mapped to the world's as in the B = 1 adapter); a NaN,
  a missing action or one of the wrong shape raises a ``ValueError`` naming the agents.
- Infos are empty except at the end of an episode, where the info of every
  agent of world ``b`` holds world ``b``'s ``episode_metrics`` (its
  ``EpisodeMetrics`` summary, ``local_return`` and ``centre_return``).
- Rewards handed to RLlib are multiplied by ``reward_scale``; the returns in
  ``episode_metrics`` are the world's own.

Besides the dict API, ``step_arrays`` steps the worlds on stacked actions and
``observe`` and ``episode_summaries`` give the arrays and summaries the dicts are built
from: the trainer's runner (``runner.py``'s ``BatchedEnvRunner``) samples by them.

RLlib's env runner counts one ``step`` as one env step; ``WorldStepsEnvRunner`` (RLlib's
own sampling loop, the reference for ``BatchedEnvRunner``) and ``BatchedEnvRunner``
count it as B world steps, so RLlib's sampling budget, its step metrics and its episode
counts are in world steps and world episodes, as with the B = 1 adapter.

``env_config`` keys: those of the B = 1 adapter and ``worlds`` (B, default 1).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.utils.metrics import (
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
)

from target_gaming.agents.centre_actions import action_bounds, check_centre_action, world_action
from target_gaming.envs.target_gaming import EpisodeMetrics, World, make_config, observe

from .env import ENV_CONFIG_KEYS, checked_env_config

BATCHED_ENV_CONFIG_KEYS = (*ENV_CONFIG_KEYS, "worlds")


def world_agent(world: int, agent: str) -> str:
    """The id of ``agent`` (a PettingZoo name) of world ``world``: ``w<world>/<agent>``."""
    return f"w{world}/{agent}"


def centre_names(config) -> list[str]:
    """The PettingZoo env's central agents: ``department_<k>``, or ``centre_0``."""
    if config.departments:
        return [f"department_{k}" for k in range(config.n_domains)]
    return ["centre_0"]


def _box(layout: observe.Layout):
    from gymnasium.spaces import Box

    low, high = observe.layout_bounds(layout)
    return Box(low, high, dtype=np.float32)


def _action_box(layout: observe.Layout, low: float = 0.0, high: float = 1.0):
    from gymnasium.spaces import Box

    return Box(low, high, (len(layout),), dtype=np.float32)


class BatchedMultiAgentEnv(MultiAgentEnv):
    """The agents of B worlds as one RLlib ``MultiAgentEnv``; see the module docstring."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        config, self.reward_scale = checked_env_config(config, BATCHED_ENV_CONFIG_KEYS)
        self.n_worlds = config.get("worlds", 1)
        if isinstance(self.n_worlds, bool) or not isinstance(self.n_worlds, int):
            raise ValueError(f"worlds = {self.n_worlds!r} must be an integer in [1, 100000]")
        if not 1 <= self.n_worlds <= 100_000:
            raise ValueError(f"worlds = {self.n_worlds!r} must be an integer in [1, 100000]")
        overrides = dict(config.get("overrides") or {})
        self.config = cfg = make_config(config.get("scenario", "whitehall"), **overrides)
        self.world = World(
            cfg, config.get("design", "targets"), config.get("centre_reward", "political")
        )
        self._observer = observe.Observer(cfg)  # its own: it keeps the last state's slow part
        self.centre_action = check_centre_action(config.get("centre_action", "absolute"))
        self._centre_bounds = action_bounds(self.centre_action)
        self._make_agents()
        self._rng = np.random.default_rng()
        self.state = None  # the WorldState of the B worlds
        self._episodes = EpisodeMetrics(self.n_worlds, self.world.metric_set)
        self._returns = np.zeros((self.n_worlds, cfg.n_centres + cfg.n_locals))  # (B, C + N)

    def _make_agents(self) -> None:
        cfg, worlds = self.config, range(self.n_worlds)
        centres = centre_names(cfg)
        locals_ = [f"local_{n}" for n in range(cfg.n_locals)]
        spaces = {
            name: (
                _box(observe.centre_observation_layout(cfg, c)),
                _action_box(observe.centre_action_layout(cfg, c), *self._centre_bounds),
            )
            for c, name in enumerate(centres)
        }
        for n, name in enumerate(locals_):
            agency = n % cfg.n_agencies
            spaces[name] = (
                _box(observe.local_observation_layout(cfg, agency)),
                _action_box(observe.local_action_layout(cfg, agency)),
            )
        self.centre_agents = [world_agent(b, a) for b in worlds for a in centres]  # (B * C)
        self.local_agents = [world_agent(b, a) for b in worlds for a in locals_]  # (B * N)
        self.possible_agents = [world_agent(b, a) for b in worlds for a in centres + locals_]
        self.agents = []
        self.observation_spaces = {a: spaces[a.partition("/")[2]][0] for a in self.possible_agents}
        self.action_spaces = {a: spaces[a.partition("/")[2]][1] for a in self.possible_agents}
        centre_dim = len(observe.centre_action_layout(cfg, 0))
        self._centre_shape = (self.n_worlds, cfg.n_centres, centre_dim)
        self._local_shape = (self.n_worlds, cfg.n_locals, cfg.local_action_dim)
        self._idle = np.zeros(self._centre_shape)
        self._world_of = {a: int(a[1 : a.index("/")]) for a in self.possible_agents}

    def centre_decides(self) -> bool:
        """Whether the central actions of the coming step are read (a review step)."""
        return bool(self.config.is_review_step(self._t))

    @property
    def _t(self) -> int:
        return int(self.state.t[0])  # the worlds share t (reset together)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = self.world.reset(self._rng, self.n_worlds)
        self._episodes.clear()
        self._returns[:] = 0.0
        self.agents = list(self.possible_agents)
        obs = self._visible(done=False)
        return obs, {a: {} for a in obs}

    def step(self, action_dict: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode is over (or never began): call reset() first")
        local = self._actions(action_dict, self.local_agents, self._local_shape)
        centre = None
        if self.centre_decides():  # ignored between reviews
            centre = self._actions(
                action_dict, self.centre_agents, self._centre_shape, *self._centre_bounds
            )
        rewards, done = self._advance(local, centre)
        rewards_dict = dict(zip(self.possible_agents, rewards.ravel().tolist()))
        terminateds = dict.fromkeys(self.possible_agents, False)
        truncateds = dict.fromkeys(self.possible_agents, done)
        terminateds["__all__"], truncateds["__all__"] = False, done
        obs = self._visible(done)
        if done:
            infos = self._final_infos()
            self.agents = []
        else:
            infos = {a: {} for a in obs}
        return obs, rewards_dict, terminateds, truncateds, infos

    def step_arrays(self, local: np.ndarray, centre: np.ndarray | None = None):
        """``step`` on stacked actions, for a runner that keeps its own arrays
        (``BatchedEnvRunner``): ``local`` (B, N, D) in ``local_agents``' order, ``centre``
        (B, C, D) or None (required on review steps, ignored between them). The actions
        are checked and clipped as in ``step``. Returns the rewards handed to RLlib, (B,
        C + N) in ``possible_agents``' order (scaled), and whether the episode ended; the
        observations are then ``observe()``, and at the end ``episode_summaries()``."""
        if not self.agents:
            raise RuntimeError("the episode is over (or never began): call reset() first")
        local = self._checked(local, self.local_agents, self._local_shape)
        if self.centre_decides():
            if centre is None:
                raise ValueError("central actions are required on a review step")
            centre = self._checked(
                centre, self.centre_agents, self._centre_shape, *self._centre_bounds
            )
        else:
            centre = None
        rewards, done = self._advance(local, centre)
        if done:
            self.agents = []
        return rewards, done

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Every agent's observation of the current state: (B, N, D) local, (B, C, D)
        central (what the central agents see when they decide, or at the end)."""
        return self._observer.observations(self.state)

    def _advance(self, local: np.ndarray, centre: np.ndarray | None):
        """Step the worlds on checked actions (``centre`` None: between reviews).
        Returns the rewards (B, C + N) handed to RLlib and whether the episode ended."""
        centre = self._idle if centre is None else self._world_centre(centre)
        # the actions are checked by the caller: the world need not check them again
        result = self.world.step(self.state, local, centre, self._rng, check=False)
        self.state = result.state
        self._episodes.add(result.metrics)
        rewards = np.concatenate([result.centre_rewards, result.local_rewards], axis=1)  # (B, C+N)
        self._returns += rewards
        done = bool(result.truncated[0])  # the worlds share t: all or none
        if self.reward_scale != 1.0:
            rewards = rewards * self.reward_scale
        return rewards, done

    def _world_centre(self, centre: np.ndarray) -> np.ndarray:
        """Checked central actions (B, C, D) as the world's, on what the centres saw."""
        if self.centre_action == "absolute":
            return centre
        obs = self._observer.centre(self.state)  # (B, C, D_obs): what they acted on
        flat = world_action(
            self.config,
            obs.reshape(-1, obs.shape[-1]),
            centre.reshape(-1, centre.shape[-1]),
            self.centre_action,
        )
        return flat.reshape(centre.shape)

    def _actions(
        self, action_dict: dict[str, Any], agents: list[str], shape, low=0.0, high=1.0
    ) -> np.ndarray:
        """The named agents' actions, checked, clipped to [low, high] and stacked to
        ``shape`` (B, agents per world, D)."""
        missing = [a for a in agents if a not in action_dict]
        if missing:
            raise ValueError(f"actions must name every acting agent: missing {missing}")
        try:
            stacked = np.array([action_dict[a] for a in agents], dtype=np.float64)
        except (TypeError, ValueError):
            stacked = None
        if stacked is None or stacked.shape != (len(agents), shape[-1]):
            bad = [a for a in agents if np.shape(action_dict[a]) != shape[-1:]]
            raise ValueError(f"action of agent(s) {bad} must be numbers of shape {shape[-1:]}")
        return self._checked(stacked, agents, shape, low, high)

    @staticmethod
    def _checked(actions, agents: list[str], shape, low=0.0, high=1.0) -> np.ndarray:
        """``actions`` ((B x agents per world, D) or ``shape``) as a float64 array of
        ``shape``, clipped to [low, high]; a NaN raises a ``ValueError`` naming the
        agents."""
        try:
            stacked = np.array(actions, dtype=np.float64)  # a copy: clipped in place
        except (TypeError, ValueError):
            stacked = None
        if stacked is None or stacked.shape not in (tuple(shape), (len(agents), shape[-1])):
            raise ValueError(
                f"actions must be numbers of shape {tuple(shape)}, got {np.shape(actions)}"
            )
        stacked = stacked.reshape(len(agents), shape[-1])
        np.clip(stacked, low, high, out=stacked)
        finite = np.isfinite(stacked).all(axis=-1)
        if not finite.all():
            bad = [agents[i] for i in np.flatnonzero(~finite)]
            raise ValueError(f"action of agent(s) {bad} contains NaN; actions must be finite")
        return stacked.reshape(shape)

    def episode_summaries(self) -> list[dict]:
        """World by world, the ``episode_metrics`` of the episode so far: its
        ``EpisodeMetrics`` summary, ``local_return`` and ``centre_return`` (the world's own
        returns, unscaled)."""
        n_centres = self.config.n_centres
        summaries = self._episodes.summaries(np.arange(self.n_worlds))
        for b, summary in enumerate(summaries):
            summary["local_return"] = float(self._returns[b, n_centres:].mean())
            summary["centre_return"] = float(self._returns[b, :n_centres].mean())
        return summaries

    def _final_infos(self) -> dict[str, dict]:
        """Every agent's info at the end: its world's ``episode_metrics``."""
        summaries = self.episode_summaries()
        return {
            a: {"episode_metrics": dict(summaries[self._world_of[a]])} for a in self.possible_agents
        }

    def _visible(self, done: bool) -> dict[str, np.ndarray]:
        """Every local agent; the central agents only when they decide or at the end."""
        local, centre = self._observer.observations(self.state)  # (B, N, D), (B, C, D)
        obs = dict(zip(self.local_agents, local.reshape(-1, local.shape[-1])))
        if done or self.centre_decides():
            obs.update(zip(self.centre_agents, centre.reshape(-1, centre.shape[-1])))
        return obs


class WorldStepsEnvRunner(MultiAgentEnvRunner):
    """RLlib's multi-agent env runner for ``BatchedMultiAgentEnv``: it counts world steps.

    One step of the batched env is B world steps, and RLlib's sampling budget
    (``train_batch_size_per_learner``), its ``num_env_steps_sampled`` metrics and the
    episode counts are in world steps and world episodes, as with B = 1. Agent and
    module step counts are logged once per step for each agent name and module
    (``local_3`` counts local agent 3 of every world) rather than once per agent id.
    """

    @property
    def _worlds(self) -> int:
        return self.config.env_config.get("worlds", 1)

    def _increase_sampled_metrics(self, num_steps, next_obs, episode):
        names = Counter(agent.rpartition("/")[2] for agent in next_obs)
        return self._log_world_steps(names, episode.is_done, num_steps)

    def _log_world_steps(self, names: dict[str, int], done: bool, num_steps: int = 1) -> int:
        """Log ``num_steps`` steps of the batched env in which each agent name observed
        ``names[name]`` times (once per world it observed in); returns the world steps."""
        worlds = self._worlds
        steps = num_steps * worlds
        log = self.metrics.log_value
        log(NUM_ENV_STEPS_SAMPLED, steps, reduce="sum")
        log(NUM_ENV_STEPS_SAMPLED_LIFETIME, steps, reduce="lifetime_sum", with_throughput=True)
        if done:
            log(NUM_EPISODES, worlds, reduce="sum")
            log(NUM_EPISODES_LIFETIME, worlds, reduce="lifetime_sum")
        modules = Counter()
        for name, count in names.items():
            log((NUM_AGENT_STEPS_SAMPLED, name), count, reduce="sum")
            log((NUM_AGENT_STEPS_SAMPLED_LIFETIME, name), count, reduce="lifetime_sum")
            modules[self.config.policy_mapping_fn(name, None)] += count
        for module_id, count in modules.items():
            log((NUM_MODULE_STEPS_SAMPLED, module_id), count, reduce="sum")
            log((NUM_MODULE_STEPS_SAMPLED_LIFETIME, module_id), count, reduce="lifetime_sum")
        return steps

    def _log_episode_metrics(self, length, ret, sec, agents=None, modules=None, agent_steps=None):
        """RLlib's episode metrics per world: the means over the worlds of each agent name's
        return and steps, each module's return and the episode's return."""
        worlds = self._worlds
        if agents is not None:
            agents, agent_steps = _by_name(agents, worlds), _by_name(agent_steps, worlds)
            modules = {module_id: value / worlds for module_id, value in modules.items()}
        super()._log_episode_metrics(length, ret / worlds, sec, agents, modules, agent_steps)


def _by_name(values: dict[str, float], worlds: int) -> dict[str, float]:
    """Agent id -> value summed by agent name (``w3/local_2`` -> ``local_2``) over ``worlds``."""
    sums: dict[str, float] = {}
    for agent, value in values.items():
        name = agent.rpartition("/")[2]
        sums[name] = sums.get(name, 0.0) + value
    return {name: value / worlds for name, value in sums.items()}
