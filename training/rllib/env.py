"""RLlib's view of the world: a ``MultiAgentEnv`` over the PettingZoo env (B = 1).

A thin adapter of ``target_gaming.envs.target_gaming.parallel.TargetGamingEnv`` for RLlib's
new API stack (not RLlib's PettingZoo wrapper, whose agent list is unordered
and never updated). It is the readable reference: the trainer samples
``BatchedMultiAgentEnv`` (``training/rllib/batched_env.py``), which carries the
agents of B worlds stepped by one ``World.step`` call, keeps these contracts
per world and, with B = 1, gives this adapter's observations, rewards and
episode metrics. It keeps RLlib's contract:

- ``possible_agents``: the env's agents in order (``centre_0`` or
  ``department_<k>``, then ``local_<n>``); ``agents``: the same list while an
  episode runs, ``[]`` once it has ended; ``observation_spaces`` and
  ``action_spaces`` map every agent to its Box.
- The centre is a semi-MDP, as in ``training/sb3/centre_env.py``: the world reads a
  central action only on review steps, so a central agent receives an
  observation (and so acts) only on the steps whose action is read
  (``WorldConfig.is_review_step``: ``t % P == P - 1``) and at the end of the
  episode. Its rewards of the steps in between are passed every step; RLlib
  sums them into its next step, so one centre step is one review period (the
  first ``P - 1`` steps' rewards precede its first observation and count for
  no decision). Between decisions the world is given a fixed, ignored central
  action.
- Local agents observe and act every step.
- ``terminateds`` and ``truncateds`` name every agent and ``"__all__"``; no agent
  terminates, all are truncated together at the horizon.
- ``reset(seed=s)`` reseeds the env's generator; ``reset()`` continues it.
- Actions are clipped to [0, 1] (which the env does anyway, and which keeps an
  infinite Gaussian sample finite); a NaN still raises the env's ``ValueError``.
  With ``centre_action = "relative"`` the central agents act in [-1, 1] and their actions
  become the world's through ``target_gaming.agents.centre_actions.world_action`` on the
  observation they acted on (per-locality departures from the ratchet's next target).
- Infos are empty except at the end of an episode, where every agent's info
  holds ``episode_metrics``: the env's ``episode_metrics()`` and, as in
  ``training/evaluation/rollout.py``, ``local_return`` and ``centre_return`` (the mean over
  the role's agents of the episode's reward sum). The trainer's callback logs
  them as learning curves.

- Rewards handed to RLlib are multiplied by ``reward_scale`` (default 1); the
  returns in ``episode_metrics`` are the env's own.

``env_config`` keys: ``scenario``, ``design``, ``centre_reward``, ``centre_action``
(``absolute``, the default, or ``relative``) and ``overrides`` (world config fields), as in
``TrainConfig``, and ``reward_scale``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium.spaces import Box
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from target_gaming.agents.centre_actions import action_bounds, check_centre_action, world_action
from target_gaming.envs.target_gaming.parallel import TargetGamingEnv

CENTRE, LOCAL = "centre", "local"  # the module ids: one module per role
ENV_CONFIG_KEYS = (
    "scenario",
    "design",
    "centre_reward",
    "centre_action",
    "overrides",
    "reward_scale",
)


def module_for(agent_id: str) -> str:
    """The RLModule of an agent: ``local`` for ``local_<n>`` (or ``w<b>/local_<n>``, local
    agent n of world b of the batched env), else ``centre``."""
    return LOCAL if agent_id.rpartition("/")[2].startswith("local_") else CENTRE


def policy_mapping_fn(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    """RLlib's agent -> module mapping (by role)."""
    return module_for(agent_id)


def checked_env_config(
    config: dict[str, Any] | None, allowed: tuple[str, ...]
) -> tuple[dict[str, Any], float]:
    """An ``env_config`` (a copy) whose keys are all ``allowed``, and its ``reward_scale``
    (default 1), which must be a positive number."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"unknown env_config key(s) {unknown}; allowed: {', '.join(allowed)}")
    reward_scale = float(config.get("reward_scale", 1.0))
    if not (math.isfinite(reward_scale) and reward_scale > 0):
        raise ValueError(f"reward_scale = {reward_scale!r} must be a positive number")
    return config, reward_scale


class TargetGamingMultiAgentEnv(MultiAgentEnv):
    """``TargetGamingEnv`` as an RLlib ``MultiAgentEnv``; see the module docstring."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        config, self.reward_scale = checked_env_config(config, ENV_CONFIG_KEYS)
        self.env = TargetGamingEnv(
            scenario=config.get("scenario", "whitehall"),
            design=config.get("design", "targets"),
            centre_reward=config.get("centre_reward", "political"),
            **dict(config.get("overrides") or {}),
        )
        self.possible_agents = list(self.env.possible_agents)
        self.agents = []
        self.centre_agents = list(self.env.centre_agents)
        self.local_agents = list(self.env.local_agents)
        self.observation_spaces = {a: self.env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: self.env.action_space(a) for a in self.possible_agents}
        self.centre_action = check_centre_action(config.get("centre_action", "absolute"))
        low, high = action_bounds(self.centre_action)
        for a in self.centre_agents:
            space = self.action_spaces[a]
            self.action_spaces[a] = Box(low, high, space.shape, dtype=space.dtype)
        self._centre_obs: dict[str, np.ndarray] = {}  # what each central agent last saw
        self._idle = {a: np.zeros(self.action_spaces[a].shape) for a in self.centre_agents}
        self._t = 0
        self._returns = np.zeros(len(self.possible_agents))  # this episode's, by agent

    def centre_decides(self) -> bool:
        """Whether the central action of the coming step is read (a review step)."""
        return bool(self.env.config.is_review_step(self._t))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, _ = self.env.reset(seed=seed, options=options)
        self._t = 0
        self._returns[:] = 0.0
        self.agents = list(self.possible_agents)
        obs = self._visible(obs, done=False)
        return obs, {a: {} for a in obs}

    def step(self, action_dict: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode is over (or never began): call reset() first")
        actions = {
            a: self._world_centre_action(a, v) if a in self._centre_obs else np.clip(v, 0, 1)
            for a, v in action_dict.items()
        }
        for agent in self.centre_agents:  # ignored between reviews
            actions.setdefault(agent, self._idle[agent])
        obs, rewards, terminations, truncations, _ = self.env.step(actions)
        self._t += 1
        self._returns += [rewards[a] for a in self.possible_agents]
        done = any(truncations.values()) or any(terminations.values())
        terminateds = {a: bool(v) for a, v in terminations.items()}
        truncateds = {a: bool(v) for a, v in truncations.items()}
        terminateds["__all__"] = all(terminations.values())
        truncateds["__all__"] = done and not terminateds["__all__"]
        obs = self._visible(obs, done)
        if self.reward_scale != 1.0:
            rewards = {a: r * self.reward_scale for a, r in rewards.items()}
        infos = {a: {} for a in obs}
        if done:
            infos = {a: {"episode_metrics": self._episode_summary()} for a in obs}
            self.agents = []
        return obs, rewards, terminateds, truncateds, infos

    def _episode_summary(self) -> dict[str, float]:
        n_centres = len(self.centre_agents)
        return {
            "local_return": float(self._returns[n_centres:].mean()),
            "centre_return": float(self._returns[:n_centres].mean()),
            **self.env.episode_metrics(),
        }

    def _world_centre_action(self, agent: str, action) -> np.ndarray:
        """A central agent's action as the world's, on the observation it acted on."""
        obs = self._centre_obs[agent][None]
        return world_action(self.env.config, obs, np.asarray(action)[None], self.centre_action)[0]

    def _visible(self, obs: dict[str, np.ndarray], done: bool) -> dict[str, np.ndarray]:
        """Every local agent; the central agents only when they decide or at the end."""
        shown = self.possible_agents if done or self.centre_decides() else self.local_agents
        visible = {a: np.asarray(obs[a], dtype=np.float32) for a in shown}
        self._centre_obs = {a: obs[a] for a in self.centre_agents if a in visible and not done}
        return visible

    def render(self):
        return self.env.render()

    def close(self) -> None:
        if self.env.render_mode is not None:  # only a render holds resources
            self.env.close()
