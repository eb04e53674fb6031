"""The PettingZoo ParallelEnv: a thin view of the batched core with B = 1.

All dynamics live in ``core.World``; this class only turns dicts of actions
into arrays (validating them), and arrays back into PettingZoo's dicts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from . import observe
from .core import StepResult, World
from .metrics import EpisodeMetrics, MetricSet
from .scenarios import make_config
from .state import WorldState

RENDER_MODES = ("human", "ansi", "rgb_array")


def _dict_maker(keys: list[str]) -> Callable[[list], dict]:
    """A function ``values -> {keys[i]: values[i]}``.

    It is compiled once for the keys (as the standard library's dataclasses compiles
    its methods): a dict display with constant keys is built about twice as fast as
    ``dict(zip(keys, values))``, and these dicts are built every step.
    """
    items = ", ".join(f"{key!r}: values[{i}]" for i, key in enumerate(keys))
    return eval(f"lambda values: {{{items}}}")  # noqa: S307 - keys are our own names


# infos: each metric under its own name (flat floats, as clients such as TorchRL build their
# specs from them), with the same keys at reset, where no step has been measured: 0.0 there
# (not NaN, which compares unequal to itself, so two seeded resets would differ)
@functools.cache
def _info_makers(names: MetricSet) -> tuple[Callable[[list], dict], Callable[[list], dict]]:
    """The dict builders of a metric set's national and per-locality infos."""
    return _dict_maker(names.national), _dict_maker(names.locality)


class TargetGamingEnv(ParallelEnv):
    """Central target-setting and local delivery, gaming and partnership (see target_gaming_v2)."""

    metadata = {"name": "target_gaming_v2", "render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
        scenario: str = "whitehall",
        design: str = "targets",
        centre_reward: str = "political",
        max_cycles: int | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ):
        if max_cycles is not None:
            overrides["horizon"] = max_cycles
        # what builds this env again: a copy or an unpickled env is rebuilt from it
        self._arguments = dict(
            scenario=scenario,
            design=design,
            centre_reward=centre_reward,
            render_mode=render_mode,
            **overrides,
        )
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode {render_mode!r} is not one of {list(RENDER_MODES)}")
        self.scenario = scenario
        self.config = make_config(scenario, **overrides)
        self.world = World(self.config, design, centre_reward)
        self.render_mode = render_mode
        cfg = self.config
        self.centre_agents = (
            [f"department_{k}" for k in range(cfg.n_domains)] if cfg.departments else ["centre_0"]
        )
        self.local_agents = [f"local_{n}" for n in range(cfg.n_locals)]
        self.possible_agents = self.centre_agents + self.local_agents
        self._agent_set = frozenset(self.possible_agents)
        self._agent_locality = [n // cfg.n_agencies for n in range(cfg.n_locals)]
        self.agents: list[str] = []
        self._layouts = {a: self._make_layouts(a) for a in self.possible_agents}
        # shapes of the stacked actions (every centre, every local agent alike)
        self._centre_shape = (len(self.centre_agents), len(self._layouts[self.centre_agents[0]][1]))
        self._local_shape = (cfg.n_locals, len(self._layouts[self.local_agents[0]][1]))
        self._action_lengths = [len(self._layouts[a][1]) for a in self.possible_agents]
        self._action_buffer = np.empty(sum(self._action_lengths))  # centres', then locals'
        self._action_ones = np.ones_like(self._action_buffer)
        split = self._centre_shape[0] * self._centre_shape[1]
        self._centre_actions = self._action_buffer[:split].reshape(1, *self._centre_shape)
        self._local_actions = self._action_buffer[split:].reshape(1, *self._local_shape)
        self._per_agent = _dict_maker(self.possible_agents)  # centres first, then locals
        self._centre_rows, self._local_rows = range(len(self.centre_agents)), range(cfg.n_locals)
        self._rng = np.random.default_rng()
        self.world_state: WorldState | None = None
        self.last_result: StepResult | None = None
        names = self.world.metric_set  # the world's metrics (a cascade's add two)
        self._episode = EpisodeMetrics(1, names)
        self._national_info, self._locality_info = _info_makers(names)
        self._at_reset = [0.0] * len(names.national), [0.0] * len(names.locality)
        self._observer = observe.Observer(cfg)  # its own: it keeps the last state's slow part
        self._dashboard = None  # the rgb_array figure (a Dashboard), made at the first frame
        low, high = observe.layout_bounds(observe.state_layout(cfg))
        self.state_space = gymnasium.spaces.Box(low, high, dtype=np.float32)
        self._observation_spaces = {a: self._space(a, 0) for a in self.possible_agents}
        self._action_spaces = {a: self._space(a, 1) for a in self.possible_agents}

    # ---- copies and pickles -------------------------------------------------------
    # The action buffer and its views, the compiled dict builders, the world's work
    # arrays and the rgb_array figure are not state: a copy that copied them would read
    # its actions from arrays it no longer shares. A copy or unpickled env is built anew
    # from its arguments and takes over the episode: the world state, the random
    # generator, the live agents, the last step's result and the episode's metrics so far.
    _EPISODE = ("agents", "_rng", "world_state", "last_result", "_episode")

    def __getstate__(self) -> dict[str, Any]:
        return {
            "arguments": self._arguments,
            **{name: getattr(self, name) for name in self._EPISODE},
        }

    def __setstate__(self, saved: dict[str, Any]) -> None:
        arguments = dict(saved["arguments"])
        self.__init__(**arguments)
        for name in self._EPISODE:
            setattr(self, name, saved[name])

    # ---- spaces and layouts -----------------------------------------------------
    def _make_layouts(self, agent: str) -> tuple[observe.Layout, observe.Layout]:
        role, index = self._role(agent)
        cfg = self.config
        if role == "centre":
            return (
                observe.centre_observation_layout(cfg, index),
                observe.centre_action_layout(cfg, index),
            )
        agency = index % cfg.n_agencies
        return (
            observe.local_observation_layout(cfg, agency),
            observe.local_action_layout(cfg, agency),
        )

    def _role(self, agent: str) -> tuple[str, int]:
        if agent in self.centre_agents:
            return "centre", self.centre_agents.index(agent)
        if agent in self.local_agents:
            return "local", int(agent.split("_")[1])
        raise ValueError(f"unknown agent {agent!r}; agents are {self.possible_agents}")

    def _space(self, agent: str, which: int) -> gymnasium.spaces.Box:
        """The agent's observation (0) or action (1) space."""
        if which == 0:
            low, high = observe.layout_bounds(self._layouts[agent][0])
            return gymnasium.spaces.Box(low, high, dtype=np.float32)
        n = len(self._layouts[agent][1])
        return gymnasium.spaces.Box(0.0, 1.0, (n,), dtype=np.float32)

    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        """The agent's observation space (the same object at every call, this env's own)."""
        return self._observation_spaces[self._check(agent)]

    def action_space(self, agent: str) -> gymnasium.spaces.Box:
        """The agent's action space (the same object at every call, this env's own)."""
        return self._action_spaces[self._check(agent)]

    def action_layout(self, agent: str) -> list[str]:
        """Names of the agent's action components, in order."""
        return [name for name, _, _ in self._layouts[self._check(agent)][1]]

    def observation_layout(self, agent: str) -> list[str]:
        """Names of the agent's observation components, in order."""
        return [name for name, _, _ in self._layouts[self._check(agent)][0]]

    def _check(self, agent: str) -> str:
        if agent not in self._layouts:
            raise ValueError(f"unknown agent {agent!r}; agents are {self.possible_agents}")
        return agent

    # ---- API ---------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.world_state = self.world.reset(self._rng, 1)
        self.last_result = None
        self._episode.clear()
        self.agents = list(self.possible_agents)
        national, locality = self._at_reset
        infos = {a: self._national_info(national) for a in self.centre_agents}
        infos.update((a, self._locality_info(locality)) for a in self.local_agents)
        return self._observations(), infos

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode is over (or never began): call reset() first")
        local, centre = self._action_arrays(actions)
        # the actions are checked above: the world need not check them again
        result = self.world.step(self.world_state, local, centre, self._rng, check=False)
        self.world_state, self.last_result = result.state, result
        self._episode.add(result.metrics)
        observations = self._observations()
        rewards = self._per_agent(
            result.centre_rewards[0].tolist() + result.local_rewards[0].tolist()
        )
        truncated = bool(result.truncated[0])
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, truncated)
        infos = self._infos(result)
        if truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _action_arrays(self, actions: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        # Fast path: every agent named, each action 1-D of its length, numeric and finite,
        # joined by one concatenate into a buffer whose views the world reads (it keeps no
        # reference). Anything else goes through _checked_action_arrays, which raises the
        # precise error (or agrees).
        if isinstance(actions, dict) and actions.keys() == self._agent_set:
            values = list(map(actions.__getitem__, self.possible_agents))
            try:  # 1-D actions of the right total length, else an error
                np.concatenate(values, out=self._action_buffer)
            except (TypeError, ValueError):
                pass
            else:
                if list(map(len, values)) == self._action_lengths and math.isfinite(
                    self._action_buffer.dot(self._action_ones)  # the sum, by BLAS
                ):
                    return self._local_actions, self._centre_actions
        return self._checked_action_arrays(actions)

    def _checked_action_arrays(self, actions: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(actions, Mapping):
            raise ValueError(
                f"actions must be a dict of agent name -> action naming every live agent, "
                f"got a {type(actions).__name__}; live agents are {self.agents}"
            )
        missing = [a for a in self.agents if a not in actions]
        unknown = [a for a in actions if a not in self._layouts]
        if missing or unknown:
            raise ValueError(
                f"actions must name every live agent exactly: missing {missing}, "
                f"unknown {unknown}; live agents are {self.agents}"
            )
        centre = np.stack([self._one_action(a, actions[a]) for a in self.centre_agents])
        local = np.stack([self._one_action(a, actions[a]) for a in self.local_agents])
        if not (np.isfinite(centre).all() and np.isfinite(local).all()):
            bad = [a for a in self.agents if not np.isfinite(actions[a]).all()]
            raise ValueError(
                f"action of agent(s) {bad} contains NaN or inf; actions must be finite "
                "(finite values outside [0, 1] are clipped)"
            )
        return local[None], centre[None]

    def _one_action(self, agent: str, action: Any) -> np.ndarray:
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"action of agent {agent!r} is not numeric: {action!r}") from err
        expected = self.action_space(agent).shape
        if arr.shape != expected:
            raise ValueError(
                f"action of agent {agent!r} has shape {arr.shape}; expected {expected} "
                f"(see action_layout({agent!r}))"
            )
        return arr

    def _observations(self) -> dict[str, np.ndarray]:
        local, centre = self._observer.observations(self.world_state)
        # rows by index (iterating an array ends in a caught IndexError: slower)
        rows = [*map(centre[0].__getitem__, self._centre_rows)]
        rows += map(local[0].__getitem__, self._local_rows)
        return self._per_agent(rows)

    def _infos(self, result: StepResult) -> dict[str, dict]:
        # Every agent gets its own fresh dicts (callers may mutate them), built from one
        # .tolist() per block; local agent n reads its locality's row n // n_agencies.
        metrics = result.metrics
        national = metrics.national_array[:, 0].tolist()
        infos = {a: self._national_info(national) for a in self.centre_agents}
        rows = metrics.locality_array[:, 0].T.tolist()  # (L, M)
        by_agent = map(rows.__getitem__, self._agent_locality)
        infos.update(zip(self.local_agents, map(self._locality_info, by_agent)))
        return infos

    def state(self) -> np.ndarray:
        if self.world_state is None:
            raise RuntimeError("call reset() before state()")
        return observe.global_state(self.config, self.world_state)[0]

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far, summarised (means over steps; changes last; counts summed)."""
        return {k: float(v[0]) for k, v in self._episode.summary().items()}

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; returning None")
            return None
        if self.world_state is None:
            raise RuntimeError("call reset() before render()")
        from . import render

        if self.render_mode == "human":
            print(render.ansi(self), end="")
            return None
        if self.render_mode == "ansi":
            return render.ansi(self)
        return render.rgb_array(self)

    def close(self) -> None:
        from . import render

        render.close(self)
