"""A native stable-baselines3 VecEnv over the batched core: every local agent is a slot.

``LocalVecEnv`` steps B environments of one ``World`` in a single
``World.step`` call. Slot ``b * N + n`` is local agent n of environment b, so
``num_envs = B * N`` and all local agents share one policy (the observation
carries what tells agents apart, e.g. the ``agency:<d>`` one-hot of per_domain
agencies). The central agent(s) act inside the env from a given ``Policy``
(a scripted name or a saved model through ``target_gaming.agents.load_policy``), and only
on review steps, the only steps whose central action the world reads.

Contract (SB3's ``VecEnv``):

- ``reset()`` draws B fresh environments; ``step`` auto-resets those that end
  (``WorldState.where``; in practice all end together at the horizon). Every
  episode end is a time-limit truncation: the slot's info has
  ``terminal_observation`` and ``TimeLimit.truncated = True`` (False on every
  other step), and ``episode = {"r", "l", "t"}`` (return, length, seconds since
  the env was made) as ``Monitor`` would write, so SB3's ``ep_info_buffer``
  works without a Monitor. SB3 then bootstraps from the terminal observation's
  value: the horizon ends the window observed, not the public service.
- ``infos[i]["metrics"]``: the slot's locality metrics this step (a read-only
  mapping name -> float). At an episode end the first slot of the environment
  also carries ``episode_metrics``, the environment's national episode summary
  (as ``EpisodeMetrics``). ``last_national_metrics`` holds the last step's
  national metrics, an array (M, B) in ``national_metric_names`` order.
- ``seed(seed)`` seeds the one generator that drives every slot, from the next
  ``reset()``: the same seed gives the same episodes.
- Slots are not separate objects: ``get_attr`` returns the vector env's
  attribute once per requested slot, ``set_attr`` sets it for all slots (a
  subset of slots is refused), ``env_method`` calls the method once and returns
  its result once per requested slot, and ``env_is_wrapped`` is False for every
  slot (there are no gymnasium wrappers). ``set_options`` is accepted and unused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from target_gaming.agents import Policy, review_actions
from target_gaming.envs.target_gaming import EpisodeMetrics, World, WorldState, observe
from target_gaming.envs.target_gaming.metrics import MetricSet


class SlotMetrics(Mapping):
    """One slot's locality metrics this step: name -> float, read from a shared table."""

    __slots__ = ("_table", "_row", "_names")

    def __init__(self, table: np.ndarray, row: int, names: MetricSet):
        self._table = table  # (rows, M_loc), never written after the step
        self._row = row
        self._names = names  # the world's metrics: its columns are names.locality

    def __getitem__(self, name: str) -> float:
        return float(self._table[self._row, self._names.locality_row[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.locality)

    def __len__(self) -> int:
        return len(self._names.locality)

    def __repr__(self) -> str:
        return f"SlotMetrics({dict(self)!r})"


def shared_box(layouts: Sequence[observe.Layout], what: str) -> spaces.Box:
    """One float32 Box for layouts that differ only in names (all agencies or departments)."""
    low, high = observe.layout_bounds(layouts[0])
    for layout in layouts[1:]:
        other_low, other_high = observe.layout_bounds(layout)
        if other_low.shape != low.shape or (other_low != low).any() or (other_high != high).any():
            raise ValueError(f"{what} observation bounds differ between agents: no shared space")
    return spaces.Box(low, high, dtype=np.float32)


class BatchedVecEnv(VecEnv):
    """What the local and central vector envs share: seeding, slots, episode bookkeeping.

    Subclasses set ``slots_per_env`` and implement ``reset`` and ``step_wait``.
    """

    render_mode = None

    def __init__(
        self,
        world: World,
        n_envs: int,
        slots_per_env: int,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        seed: int | None = None,
    ):
        if not 1 <= n_envs <= 1_000_000:
            raise ValueError(f"n_envs = {n_envs!r} is not allowed: an integer in [1, 1000000]")
        self.world, self.config = world, world.config
        self.batch_size, self.slots_per_env = n_envs, slots_per_env
        self._rng = np.random.default_rng(seed)
        self._pending_seed: int | None = None
        self.state: WorldState | None = None
        self._actions: np.ndarray | None = None
        self._start = time.time()
        super().__init__(n_envs * slots_per_env, observation_space, action_space)
        self._new_episodes(np.ones(n_envs, dtype=bool))
        self.last_national_metrics = np.zeros((len(self.national_metric_names), n_envs))

    @property
    def national_metric_names(self) -> tuple[str, ...]:
        """The rows of ``last_national_metrics``: the world's national metrics."""
        return self.world.metric_set.national

    # ---- seeding and episodes --------------------------------------------------------
    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the generator of every slot from the next ``reset()``; returns it per slot."""
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._pending_seed = int(seed)
        return [self._pending_seed] * self.num_envs

    def _reset_world(self) -> WorldState:
        if self._pending_seed is not None:
            self._rng = np.random.default_rng(self._pending_seed)
            self._pending_seed = None
        self._new_episodes(np.ones(self.batch_size, dtype=bool))
        return self.world.reset(self._rng, self.batch_size)

    def _new_episodes(self, done: np.ndarray) -> None:
        """Start new episodes in the environments where ``done`` (B,) is true."""
        if not hasattr(self, "_returns"):
            self._returns = np.zeros(self.num_envs)
            self._lengths = np.zeros(self.num_envs, dtype=np.int64)
            self._episodes = EpisodeMetrics(self.batch_size, self.world.metric_set)
        slots = np.repeat(done, self.slots_per_env)
        self._returns[slots] = 0.0
        self._lengths[slots] = 0
        self._episodes.clear(done)

    def _auto_reset(self, state: WorldState, done: np.ndarray) -> WorldState:
        """Fresh environments where ``done`` (B,) is true; the others carry on."""
        fresh = self.world.reset(self._rng, self.batch_size)
        return fresh if done.all() else state.where(done, fresh)

    def _end_episodes(self, done: np.ndarray, infos: list[dict], terminal: np.ndarray) -> None:
        """Fill the infos of the slots of ended environments, then start their new episodes."""
        envs = np.flatnonzero(done)
        summaries = self._episodes.summaries(envs)
        elapsed = round(time.time() - self._start, 6)
        s = self.slots_per_env
        for env, summary in zip(envs.tolist(), summaries):
            infos[env * s]["episode_metrics"] = summary
            for slot in range(env * s, (env + 1) * s):
                info = infos[slot]
                info["terminal_observation"] = terminal[slot]
                info["TimeLimit.truncated"] = True
                info["episode"] = {
                    "r": float(self._returns[slot]),
                    "l": int(self._lengths[slot]),
                    "t": elapsed,
                }
        self._new_episodes(done)

    # ---- VecEnv API ------------------------------------------------------------------
    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def reset(self) -> VecEnvObs:  # pragma: no cover - subclasses
        raise NotImplementedError

    def step_wait(self) -> VecEnvStepReturn:  # pragma: no cover - subclasses
        raise NotImplementedError

    def close(self) -> None:
        self.state = None

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        chosen = list(self._get_indices(indices))
        bad = [i for i in chosen if not 0 <= i < self.num_envs]
        if bad:
            raise IndexError(f"slot indices {bad} out of range [0, {self.num_envs})")
        return chosen

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector env's attribute (shared by every slot), once per requested slot."""
        value = getattr(self, attr_name)
        return [value] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute shared by every slot; setting it for a subset is refused."""
        if sorted(self._indices(indices)) != list(range(self.num_envs)):
            raise ValueError(
                f"set_attr({attr_name!r}) for a subset of slots: the slots share one "
                "environment object, so attributes can only be set for all of them"
            )
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        """Call the vector env's method once; its result once per requested slot."""
        chosen = self._indices(indices)
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result] * len(chosen)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """False for every slot: slots are views of the batched core, never gymnasium envs."""
        return [False] * len(self._indices(indices))


class LocalVecEnv(BatchedVecEnv):
    """Every local agent of B environments is one slot; the centre follows ``centre``."""

    def __init__(self, world: World, n_envs: int, centre: Policy, seed: int | None = None):
        if getattr(centre, "role", None) != "centre":
            raise ValueError(f"centre policy {centre!r} does not act for the centre")
        cfg = world.config
        layouts = [observe.local_observation_layout(cfg, a) for a in range(cfg.n_agencies)]
        action_space = spaces.Box(0.0, 1.0, (cfg.local_action_dim,), dtype=np.float32)
        super().__init__(
            world, n_envs, cfg.n_locals, shared_box(layouts, "local"), action_space, seed
        )
        self.centre = centre
        self._obs_dim = self.observation_space.shape[0]
        self._centre_dim = len(observe.centre_action_layout(cfg, 0))
        self._idle_centre = np.zeros((n_envs, cfg.n_centres, self._centre_dim))
        # slot -> row of the (B * L, M) locality metrics table (its locality)
        slots = np.arange(self.num_envs)
        env, agent = slots // cfg.n_locals, slots % cfg.n_locals
        self._metric_rows = (env * cfg.n_localities + agent // cfg.n_agencies).tolist()

    def reset(self) -> VecEnvObs:
        self.state = self._reset_world()
        return self._observe(self.state)

    def _observe(self, state: WorldState) -> np.ndarray:
        return observe.local_observations(self.config, state).reshape(-1, self._obs_dim)

    def _centre_actions(self, state: WorldState) -> np.ndarray:
        """(B, C, D_c): the centre's actions where it is a review step (ignored elsewhere)."""
        return review_actions(self.centre, self.config, state, self._idle_centre)

    def step_wait(self) -> VecEnvStepReturn:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        cfg, state = self.config, self.state
        actions = self._actions.reshape(self.batch_size, cfg.n_locals, cfg.local_action_dim)
        result = self.world.step(state, actions, self._centre_actions(state), self._rng)
        rewards = result.local_rewards.reshape(-1).astype(np.float32)
        self._returns += rewards
        self._lengths += 1
        national = result.metrics.national_array
        self._episodes.add(result.metrics)
        self.last_national_metrics = national
        loc = result.metrics.locality_array  # (M, B, L)
        table = loc.transpose(1, 2, 0).reshape(-1, loc.shape[0])
        infos = [
            {
                "metrics": SlotMetrics(table, row, self.world.metric_set),
                "TimeLimit.truncated": False,
            }
            for row in self._metric_rows
        ]
        done_env = result.truncated
        if done_env.any():
            terminal = self._observe(result.state)
            self.state = self._auto_reset(result.state, done_env)
            self._end_episodes(done_env, infos, terminal)
        else:
            self.state = result.state
        dones = np.repeat(done_env, cfg.n_locals)
        return self._observe(self.state), rewards, dones, infos
