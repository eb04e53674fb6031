"""The centre's view: one decision per review period; the local agents follow frozen policies.

The world reads a central action only on review steps (the last step of each
period), so the centre faces a semi-MDP: one centre step = one review period.
Its observation is taken just before a review step; its action is applied at
that review (targets for the next period, and audits); then the world runs,
with the local agents acting from a frozen ``Policy`` (scripted or learned,
deterministic), until the step before the next review or the horizon. The
reward is the sum of the central rewards over those world steps. ``reset()``
runs the world to the first decision point (the first P - 1 steps, under the
default targets, count in the episode's metrics but in no centre reward).
With the defaults (T = 40, P = 4) an episode is 10 centre steps; the
discount ``gamma`` applies per review period.

``CentreVecEnv`` is a native SB3 VecEnv over B environments whose slots are
the central agents: slot ``b * C + c`` is centre c of environment b. For
departments (``centre_mode="departments"``) the C departments share one
policy, each with its own observation (which carries its ``department:<d>``
one-hot) and its own reward. That is the sound choice: a department is
rewarded on its own domain, so an env whose action concatenated every
department's and whose reward summed theirs would turn the silo departments
into one coordinated centre and remove the very incentive the scenarios
study. ``CentreEnv`` is the gymnasium view of one environment for a
coordinated centre (one central agent); SB3's and gymnasium's ``check_env`` pass on it.

Infos follow ``LocalVecEnv`` (``terminal_observation``,
``TimeLimit.truncated``, ``episode``; ``episode_metrics`` on the first slot of
an ended environment). ``metrics`` is the national metrics of the period's last
world step; ``last_metrics`` holds all of that step's metrics (``StepMetrics``).
All B environments start together and share the horizon, so they reach decision
points together; the env checks it.

``CentreEnv``'s info is the vector env's first slot's, less the keys of SB3's
vector API: ``metrics`` every step and, at an episode's end, ``episode_metrics``.
It writes no ``episode`` key: that is the episode-statistics wrappers' own
(gymnasium's ``RecordEpisodeStatistics``, SB3's ``Monitor``). Importing
``target_gaming.training.sb3`` registers it with gymnasium as ``CENTRE_ENV_ID``.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from target_gaming.agents import Policy, load_policy
from target_gaming.envs.target_gaming import World, WorldState, make_config, observe
from target_gaming.envs.target_gaming.metrics import StepMetrics
from target_gaming.envs.target_gaming.parallel import RENDER_MODES
from target_gaming.envs.target_gaming.render import ansi_frame, effort_shares

from . import CENTRE_ENV_NAME
from .vec_env import BatchedVecEnv, shared_box


class CentreVecEnv(BatchedVecEnv):
    """Every central agent of B environments is one slot; one step is one review period."""

    def __init__(self, world: World, n_envs: int, locals_policy: Policy, seed: int | None = None):
        if getattr(locals_policy, "role", None) != "local":
            raise ValueError(f"local policy {locals_policy!r} does not act for local agents")
        cfg = world.config
        if cfg.horizon < cfg.review_period:
            raise ValueError(
                f"horizon = {cfg.horizon} < review_period = {cfg.review_period}: "
                "the centre would never act"
            )
        layouts = [observe.centre_observation_layout(cfg, c) for c in range(cfg.n_centres)]
        dim = len(observe.centre_action_layout(cfg, 0))
        action_space = spaces.Box(0.0, 1.0, (dim,), dtype=np.float32)
        super().__init__(
            world, n_envs, cfg.n_centres, shared_box(layouts, "centre"), action_space, seed
        )
        self.locals_policy = locals_policy
        self._obs_dim = self.observation_space.shape[0]
        self._local_shape = (n_envs, cfg.n_locals, cfg.local_action_dim)
        self._idle = np.zeros((n_envs, cfg.n_centres, dim))
        self.last_metrics: StepMetrics | None = None  # of the last world step

    def _observe(self, state: WorldState) -> np.ndarray:
        return observe.centre_observations(self.config, state).reshape(-1, self._obs_dim)

    def _at_decision(self, state: WorldState) -> bool:
        t = state.t
        if t.min() != t.max():
            raise RuntimeError("the environments have drifted out of step; reset() them")
        return bool(self.config.is_review_step(int(t[0])))

    def _world_step(self, state: WorldState, centre_actions: np.ndarray):
        local_obs = observe.local_observations(self.config, state)
        local = self.locals_policy.act(local_obs.reshape(-1, local_obs.shape[-1]))
        result = self.world.step(state, local.reshape(self._local_shape), centre_actions, self._rng)
        self._episodes.add(result.metrics)
        self.last_metrics = result.metrics
        self.last_national_metrics = result.metrics.national_array
        return result

    def _to_decision(self, state: WorldState) -> WorldState:
        """Run fresh environments to their first decision point (no centre reward)."""
        self.last_metrics = None
        while not self._at_decision(state):
            state = self._world_step(state, self._idle).state
        return state

    def reset(self) -> VecEnvObs:
        self.state = self._to_decision(self._reset_world())
        return self._observe(self.state)

    def step_wait(self) -> VecEnvStepReturn:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        centre = self._actions.reshape(self._idle.shape).astype(np.float64)
        state, total = self.state, np.zeros(self._idle.shape[:2])  # (B, C)
        while True:
            result = self._world_step(state, centre)
            total += result.centre_rewards
            state = result.state
            if result.truncated.any() or self._at_decision(state):
                break
        rewards = total.reshape(-1).astype(np.float32)
        self._returns += rewards
        self._lengths += 1
        infos = self._infos(result.metrics.national_array)
        done_env = result.truncated
        if done_env.any():
            if not done_env.all():
                raise RuntimeError("the environments have drifted out of step; reset() them")
            terminal = self._observe(state)
            fresh = self._auto_reset(state, done_env)
            self._end_episodes(done_env, infos, terminal)
            state = self._to_decision(fresh)
        self.state = state
        dones = np.repeat(done_env, self.slots_per_env)
        return self._observe(state), rewards, dones, infos

    def _infos(self, national: np.ndarray) -> list[dict]:
        """Per slot: its environment's national metrics of this world step (shared dict)."""
        names = self.world.metric_set.national
        rows = [dict(zip(names, row, strict=True)) for row in national.T.tolist()]
        return [
            {"metrics": rows[slot // self.slots_per_env], "TimeLimit.truncated": False}
            for slot in range(self.num_envs)
        ]


class CentreEnv(gymnasium.Env):
    """One environment, the coordinated centre acting once per review period (gymnasium API).

    Every step of this env is one review. The world reads the central action only on
    review steps (``WorldConfig.is_review_step``: every ``review_period``-th world
    step), so ``step(action)`` applies the action at the next review and runs the world
    up to the step before the following one (or the horizon); the reward is the sum of
    the central rewards of those world steps. No action is ever ignored, and every
    standard wrapper (``TimeLimit``, ``RecordEpisodeStatistics``, frame stacking)
    counts decisions: an episode is ``horizon // review_period`` steps (10 at the
    defaults). Episodes end by truncation only; call ``reset()`` after one ends.

    Arguments: ``scenario``, ``design``, ``centre_reward`` and ``overrides`` (config
    fields) make the world; ``local_policy`` is a scripted local policy's name or a
    saved one's path, the frozen policy of every local agent; ``seed`` seeds the world's
    generator and the local policy's (``reset(seed=...)`` reseeds the world's only).
    ``render_mode``: as the PettingZoo env's
    (``"human"`` prints the ``"ansi"`` table at every reset and step, ``"ansi"`` returns
    it, ``"rgb_array"`` the dashboard), showing the world at the decision point with the
    effort use of the world step before it.
    """

    metadata = {
        "name": CENTRE_ENV_NAME,
        "render_modes": list(RENDER_MODES),
        "render_fps": 1,  # a frame per review period: 4 world steps at the defaults
    }

    def __init__(
        self,
        scenario: str = "whitehall",
        design: str = "targets",
        centre_reward: str = "political",
        local_policy: str = "honest",
        overrides: dict[str, Any] | None = None,
        seed: int = 0,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode {render_mode!r} is not one of {list(RENDER_MODES)}")
        world = World(make_config(scenario, **(overrides or {})), design, centre_reward)
        if world.n_centres != 1:
            raise ValueError(
                f"CentreEnv needs one central agent; scenario {scenario!r} has "
                f"{world.n_centres} departments: use CentreVecEnv, whose slots are the departments"
            )
        policy = load_policy(local_policy, world, "local", seed=seed)
        self._vec = CentreVecEnv(world, 1, policy, seed=seed)
        self.observation_space = self._vec.observation_space
        self.action_space = self._vec.action_space
        self.render_mode = render_mode
        self._dashboard = None  # the rgb_array figure, made at the first frame

    @property
    def world(self) -> World:
        return self._vec.world

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._vec.seed(seed)
        obs = self._vec.reset()[0]
        if self.render_mode == "human":
            self.render()
        return obs, {}

    def step(self, action):
        obs, rewards, dones, infos = self._vec.step(np.asarray(action, dtype=np.float32)[None])
        info = infos[0]
        truncated = bool(dones[0])
        if truncated:
            obs = info.pop("terminal_observation")[None]
            info.pop("TimeLimit.truncated")
            info.pop("episode")  # the episode-statistics wrappers write their own
        if self.render_mode == "human":
            self.render()
        return obs[0], float(rewards[0]), False, truncated, info

    def render(self):
        """The world at the decision point, as ``render_mode`` asks (see the class doc)."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; returning None")
            return None
        state = self._vec.state
        if state is None:
            raise RuntimeError("call reset() before render()")
        cfg, design = self.world.config, self.world.design.name
        gaming, slack = effort_shares(cfg, self._vec.last_metrics)
        if self.render_mode == "rgb_array":
            if self._dashboard is None:
                from target_gaming.envs.target_gaming.dashboard import Dashboard

                self._dashboard = Dashboard(cfg, design)
            return self._dashboard.frame(state, gaming, slack)
        text = ansi_frame(cfg, state, design, gaming, slack)
        if self.render_mode == "human":
            print(text, end="")
            return None
        return text

    def close(self) -> None:
        if self._dashboard is not None:
            self._dashboard.close()
            self._dashboard = None
        self._vec.close()
