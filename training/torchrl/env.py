"""A native TorchRL environment over the batched core: B environments in one call.

``TargetGamingTorchEnv`` is a ``torchrl.envs.EnvBase`` with ``batch_size=[B]``: one
``step`` advances the B environments of one ``World`` by a single ``World.step``. Agents
sit in two groups, each with an agent dimension: TorchRL's multi-agent convention, the
layout of VMAS that TorchRL's collectors and losses and BenchMARL's algorithms work with.
Sizes below are the default scenarios' (unitary / per_domain, coordinated / departments):

| key | shape | dtype | what |
|---|---|---|---|
| ``("centre", "observation")`` | (B, C, 106 / 41) | float32 | bounded as the PettingZoo env's |
| ``("centre", "action")`` | (B, C, 30 / 12) | float32 | in [0, 1], as the PettingZoo env's |
| ``("centre", "reward")`` | (B, C, 1) | float32 | the centre reward of the step |
| ``("centre", "review")`` | (B, C, 1) | bool | the step taken from here is a review |
| ``("centre", "info", <metric>)`` | (B, C) | float32 | ``metric_set.national`` |
| ``("local", "observation")`` | (B, N, 42 / 20) | float32 | bounded as the PettingZoo env's |
| ``("local", "action")`` | (B, N, 18 / 6) | float32 | in [0, 1] |
| ``("local", "reward")`` | (B, N, 1) | float32 | the local reward of the step |
| ``("local", "info", <metric>)`` | (B, N) | float32 | ``metric_set.locality``, its locality's |
| ``"done"``, ``"terminated"``, ``"truncated"`` | (B, 1); (B, n, 1) per group | bool | |

C is 1 (``centre_0``) or K (``department_<k>``, ``centre_mode="departments"``); N = L x A
local agents. ``group_map`` names the agents of each group in the PettingZoo env's order:
agent i of a group is row i of its tensors. The metrics are 0.0 at reset, where nothing has
been measured yet, so reset and step carry the same keys.

Episodes end by truncation only (``terminated`` is always False) after ``horizon`` steps.
TorchRL resets ended environments itself (``step_and_maybe_reset``, the collectors): the
``_reset`` masks it passes, at the root or in a group, draw fresh environments where any is
true and leave the others where they are. All B environments start together and share the
horizon, so they truncate and reset together.

``set_seed(seed)`` (``_set_seed``) replaces the generator from which every reset and every
step draws, as the constructor's ``seed`` does: two envs seeded alike give the same
rollout under the same actions.

With ``centre_policy`` (a scripted centre's name, a saved centre's path, or a ``Policy``
for the centre role) the centre acts inside the environment, as in the SB3 trainer's
``LocalVecEnv``: the env has the one group ``local``, and the centre policy sets the
targets and audits of every review from the centre's observations. This is the env of a
design comparison, where the locals learn under a given centre (BenchMARL's task,
``target_gaming.training.benchmarl``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from target_gaming.agents import design_centre, load_policy, review_actions
from target_gaming.envs.target_gaming import World, WorldState, make_config, observe
from target_gaming.envs.target_gaming.metrics import (
    EpisodeMetrics,
)

GROUPS = ("centre", "local")
_CPU = torch.device("cpu")
_DONE_KEYS = ("done", "terminated", "truncated")


class TargetGamingTorchEnv(EnvBase):
    """B target-gaming worlds as one TorchRL environment (groups ``centre`` and ``local``).

    The centre acts on review steps only (``WorldConfig.is_review_step``: the last step of
    each review period, every 4th step at the defaults): its action sets the targets of the
    next period and the audits of the review, and between reviews the world ignores it.
    ``("centre", "review")`` says, for each observation, whether the step taken from it is
    a review: in collected data, ``data["centre", "review"]`` marks the transitions whose
    centre action counted, so that the centre's losses can mask the others out.

    Arguments: ``scenario``, ``design``, ``centre_reward`` and ``overrides`` (fields of
    ``WorldConfig``) make the world, as for the PettingZoo env; ``num_envs`` is B;
    ``seed`` seeds the generator (None: fresh entropy); ``device`` is where the tensors
    live (the world runs on numpy, so another device than the CPU copies each step's
    data). The world checks the actions (shapes, no NaN or inf: a ``ValueError`` names
    ``local_actions`` or ``centre_actions``) and clips them to [0, 1]. The world's state
    after the last call is ``world_state`` (a ``WorldState`` of B environments).
    ``centre_policy`` (None: the centre is the group ``centre``) puts a centre inside the
    env, leaving the group ``local`` alone; ``"design"`` names the design's own centre
    (``Design.centre``); a stochastic scripted centre draws from its own generator, seeded
    with ``seed`` (0 when None) when it is made: ``set_seed`` does not reseed it. With
    ``record_episodes`` the summary of every episode that ends (``EpisodeMetrics``: means
    over its steps, last values or sums, as ``METRICS`` says) is appended to
    ``ended_episodes``, for the reader to empty.
    """

    batch_locked = True

    def __init__(
        self,
        scenario: str = "whitehall",
        design: str = "targets",
        centre_reward: str = "political",
        num_envs: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        overrides: dict[str, Any] | None = None,
        centre_policy: Any = None,
        record_episodes: bool = False,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs = {num_envs!r} is not allowed: an integer >= 1")
        super().__init__(device=device, batch_size=torch.Size([num_envs]))
        self.world = World(make_config(scenario, **(overrides or {})), design, centre_reward)
        cfg = self.config = self.world.config
        self.num_envs = num_envs
        centres = [f"department_{k}" for k in range(cfg.n_domains)] if cfg.departments else []
        self.group_map = {
            "centre": centres or ["centre_0"],  # as the PettingZoo env names its agents
            "local": [f"local_{n}" for n in range(cfg.n_locals)],
        }
        self.centre = None  # the centre inside the env, if any
        if centre_policy is not None:
            self.centre = _centre(self.world, design, centre_policy, seed)
            del self.group_map["centre"]
            self._idle_centre = np.zeros(
                (num_envs, cfg.n_centres, len(observe.centre_action_layout(cfg, 0)))
            )
        self.groups = tuple(self.group_map)
        self._observer = observe.Observer(cfg)  # its own: it keeps the last state's slow part
        self._rng = np.random.default_rng(seed)
        self.world_state: WorldState | None = None
        names = self.world.metric_set  # the world's metrics (a cascade's add two)
        self._metric_names = {"centre": names.national, "local": names.locality}
        self._episode = EpisodeMetrics(num_envs, names)  # each environment's episode so far
        # with record_episodes, the summaries (``EpisodeMetrics``: ``METRICS``' names) of
        # the episodes that ended since a reader last emptied the list: the learning curves
        # of a trainer that collects through the env (the BenchMARL trainer)
        self.record_episodes = bool(record_episodes)
        self.ended_episodes: list[dict[str, float]] = []
        self._make_specs()

    # ---- specs ---------------------------------------------------------------------
    def _layouts(self, group: str) -> tuple[list[observe.Layout], int]:
        """The observation layout of every agent of ``group`` and its action length."""
        cfg = self.config
        if group == "centre":
            layouts = [observe.centre_observation_layout(cfg, c) for c in range(cfg.n_centres)]
            return layouts, len(observe.centre_action_layout(cfg, 0))
        agencies = [n % cfg.n_agencies for n in range(cfg.n_locals)]
        return [observe.local_observation_layout(cfg, a) for a in agencies], cfg.local_action_dim

    def _make_specs(self) -> None:
        device, batch = self.device, tuple(self.batch_size)
        observations, actions, rewards = {}, {}, {}
        dones = {key: _flag((*batch, 1), device) for key in _DONE_KEYS}
        for group in self.groups:
            metrics = self._metric_names[group]
            layouts, action_dim = self._layouts(group)
            shape = (*batch, len(layouts))
            low, high = (np.stack(b) for b in zip(*map(observe.layout_bounds, layouts)))
            observed = {
                "observation": Bounded(
                    torch.from_numpy(low).expand(*shape, -1),
                    torch.from_numpy(high).expand(*shape, -1),
                    dtype=torch.float32,
                    device=device,
                ),
                "info": Composite(
                    {m: Unbounded(shape, dtype=torch.float32, device=device) for m in metrics},
                    shape=shape,
                ),
            }
            if group == "centre":
                observed["review"] = _flag((*shape, 1), device)
            observations[group] = Composite(observed, shape=shape)
            actions[group] = Composite(
                action=Bounded(0.0, 1.0, (*shape, action_dim), dtype=torch.float32, device=device),
                shape=shape,
            )
            rewards[group] = Composite(
                reward=Unbounded((*shape, 1), dtype=torch.float32, device=device), shape=shape
            )
            dones[group] = Composite(
                {key: _flag((*shape, 1), device) for key in _DONE_KEYS}, shape=shape
            )
        self.full_observation_spec = Composite(observations, shape=batch, device=device)
        self.full_action_spec = Composite(actions, shape=batch, device=device)
        self.full_reward_spec = Composite(rewards, shape=batch, device=device)
        self.full_done_spec = Composite(dones, shape=batch, device=device)

    # ---- EnvBase API ----------------------------------------------------------------
    def _set_seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        fresh = self.world.reset(self._rng, self.num_envs)
        mask = self._reset_mask(tensordict)
        if mask is None or self.world_state is None or mask.all():
            self.world_state = fresh
            self._episode.clear()
        else:
            self.world_state = self.world_state.where(mask, fresh)
            self._episode.clear(mask)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._output(self.world_state, None, None, truncated)

    def _reset_mask(self, tensordict: TensorDictBase | None) -> np.ndarray | None:
        """(B,) the environments that a ``_reset`` entry (root or group) asks to reset;
        None where there is none: all of them."""
        if tensordict is None:
            return None
        masks = [tensordict.get("_reset", None)]
        masks += [tensordict.get((group, "_reset"), None) for group in self.groups]
        masks = [m.reshape(self.num_envs, -1).any(-1) for m in masks if m is not None]
        if not masks:
            return None
        return torch.stack(masks).any(0).cpu().numpy()

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        if self.world_state is None:
            raise RuntimeError("call reset() before step()")
        local = tensordict.get(("local", "action")).detach().cpu().numpy()
        if self.centre is None:
            centre = tensordict.get(("centre", "action")).detach().cpu().numpy()
        else:
            centre = review_actions(self.centre, self.config, self.world_state, self._idle_centre)
        result = self.world.step(self.world_state, local, centre, self._rng)
        self.world_state = result.state
        self._episode.add(result.metrics)
        if self.record_episodes and result.truncated.any():
            self.ended_episodes += self._episode.summaries(np.flatnonzero(result.truncated))
        rewards = {"centre": result.centre_rewards, "local": result.local_rewards}
        cfg, metrics = self.config, result.metrics
        info = {  # national metrics for every centre, its locality's for each local agent
            "centre": _per_agent(metrics.national_array[..., None], cfg.n_centres),
            "local": _per_agent(metrics.locality_array, cfg.n_agencies),
        }
        return self._output(result.state, rewards, info, result.truncated)

    def _output(self, state, rewards, info, truncated) -> TensorDict:
        """The tensordict of ``state``'s observations, with the step's rewards, metrics
        (``info``, (M, B, agents) per group) and ends; ``rewards`` and ``info`` are None
        at reset (the metrics are 0.0 there)."""
        local_obs, centre_obs = self._observer.observations(state)
        observations = {"centre": centre_obs, "local": local_obs}
        ended = torch.from_numpy(truncated).reshape(-1, 1)  # (B, 1)
        out = {"done": ended, "truncated": ended.clone(), "terminated": torch.zeros_like(ended)}
        review = torch.from_numpy(self.config.is_review_step(state.t))  # (B,)
        for group in self.groups:
            names = self._metric_names[group]
            obs = torch.from_numpy(observations[group])
            shape = obs.shape[:2]  # (B, agents)
            if info is None:
                values = torch.zeros((len(names), *shape))
            else:
                values = torch.from_numpy(info[group])
            group_ended = ended.unsqueeze(1).expand(*shape, 1)
            part = {
                "observation": obs,
                "info": _tensordict(dict(zip(names, values.unbind(0))), shape),
                "done": group_ended.clone(),
                "truncated": group_ended.clone(),
                "terminated": torch.zeros((*shape, 1), dtype=torch.bool),
            }
            if rewards is not None:
                part["reward"] = torch.from_numpy(rewards[group].astype(np.float32)).unsqueeze(-1)
            if group == "centre":
                part["review"] = review[:, None, None].expand(*shape, 1).clone()
            out[group] = _tensordict(part, shape)
        result = _tensordict(out, self.batch_size)
        return result if self.device == _CPU else result.to(self.device)


def _centre(world: World, design: str, spec: Any, seed: int | None):
    """The centre policy inside the env: a ``Policy`` for the centre role, or loaded from a
    name or path (``"design"``: the design's own centre)."""
    if isinstance(spec, str | Path):
        name = design_centre(design) if spec == "design" else spec
        spec = load_policy(name, world, role="centre", seed=0 if seed is None else seed)
    if getattr(spec, "role", None) != "centre" or not callable(getattr(spec, "act", None)):
        raise ValueError(
            f"centre_policy = {spec!r} is not allowed: a centre policy, a scripted centre's "
            "name, a saved centre's path or 'design' (the design's own centre)"
        )
    return spec


def _tensordict(source: dict, batch_size: torch.Size) -> TensorDict:
    """A TensorDict of ``source`` (CPU tensors) without TensorDict's per-entry checks, as
    TorchRL's own Brax env builds its outputs (the checks cost more than the rest of the
    conversion): the entries are made above with the specs' shapes, and
    ``check_env_specs`` holds them to the specs (tests/test_torchrl.py)."""
    return TensorDict._new_unsafe(source, batch_size=torch.Size(batch_size), device=_CPU)


def _per_agent(metrics: np.ndarray, repeats: int) -> np.ndarray:
    """(M, B, n) float64 metrics -> (M, B, n * repeats) float32, each row ``repeats`` times."""
    values = metrics.astype(np.float32)
    return values if repeats == 1 else np.repeat(values, repeats, axis=2)


def _flag(shape: tuple[int, ...], device: torch.device | None) -> Categorical:
    """A boolean spec of ``shape`` (done, terminated, truncated, review)."""
    return Categorical(n=2, shape=torch.Size(shape), dtype=torch.bool, device=device)
