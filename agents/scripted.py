"""Scripted policies that act on batches of observations.

A policy is built for one role of one config and maps observations (B, D_obs)
to actions (B, D_act) in the env's layout; ``act_one`` does one observation.
Local policies read their observation by component name (``observation_layout``),
so the same rule works for unitary localities and per_domain agencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.target_gaming import WorldConfig, observe


@dataclass(frozen=True)
class LocalView:
    """Positions of the observation components a local rule needs, and the action size."""

    effectiveness: np.ndarray  # (kc, R) indices into the observation
    priority: np.ndarray  # (kc,)
    is_measured: np.ndarray  # (kc,)
    n_domains: int  # kc, domains the agency controls
    n_approaches: int
    action_dim: int

    @classmethod
    def build(cls, cfg: WorldConfig) -> LocalView:
        names = [n for n, _, _ in observe.local_observation_layout(cfg, 0)]
        kc, r = cfg.domains_per_agency, cfg.n_approaches

        def where(prefix: str) -> np.ndarray:
            return np.array([i for i, n in enumerate(names) if n.startswith(prefix + ":")])

        return cls(
            effectiveness=where("effectiveness").reshape(kc, r),
            priority=where("priority"),
            is_measured=where("is_measured"),
            n_domains=kc,
            n_approaches=r,
            action_dim=cfg.local_action_dim,
        )


class LocalPolicy:
    """A named rule from local observations to local actions."""

    name = "base"
    description = ""

    def __init__(self, cfg: WorldConfig, seed: int = 0):
        self.cfg = cfg
        self.view = LocalView.build(cfg)
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:  # (B, D_obs) -> (B, D_act)
        raise NotImplementedError

    def act_one(self, obs: np.ndarray) -> np.ndarray:
        return self.act(np.asarray(obs)[None])[0]

    # helpers: components of an action batch
    def _blank(self, batch: int) -> np.ndarray:
        return np.zeros((batch, self.view.action_dim))

    def _deliver_best(self, obs: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """(B, kc * R): weight per domain on its locally best approach."""
        v = self.view
        eff = obs[:, v.effectiveness]  # (B, kc, R)
        best = eff.argmax(axis=-1)
        out = np.zeros_like(eff)
        np.put_along_axis(out, best[..., None], weight[..., None], axis=-1)
        return out.reshape(obs.shape[0], -1)


class RandomPolicy(LocalPolicy):
    name = "random"
    description = "uniform random action components (a noise baseline)"

    def act(self, obs):
        return self.rng.random((obs.shape[0], self.view.action_dim))


class HonestPolicy(LocalPolicy):
    name = "honest"
    description = (
        "genuine delivery by the locally best approach in every domain, spread by local "
        "priorities, with 30% of effort in partnership; never games"
    )
    partner = 0.3

    def act(self, obs):
        v, out = self.view, self._blank(obs.shape[0])
        prio = obs[:, v.priority]
        prio = prio / np.maximum(prio.sum(axis=1, keepdims=True), 1e-12)
        out[:, : v.n_domains * v.n_approaches] = self._deliver_best(obs, (1 - self.partner) * prio)
        out[:, -2] = self.partner
        return out


class GamerPolicy(LocalPolicy):
    name = "gamer"
    description = (
        "delivers by the best approach only in domains it knows are measured and puts "
        "40% of its effort into gaming them (all domains while none is known measured)"
    )
    game = 0.4

    def act(self, obs):
        v, out = self.view, self._blank(obs.shape[0])
        measured = obs[:, v.is_measured]
        count = measured.sum(axis=1, keepdims=True)
        # nothing known to be measured (an unannounced basket): spread over every domain
        share = np.where(count > 0, measured / np.maximum(count, 1.0), 1.0 / v.n_domains)
        kr = v.n_domains * v.n_approaches
        out[:, :kr] = self._deliver_best(obs, (1 - self.game) * share)
        out[:, kr : kr + v.n_domains] = self.game * share
        return out


LOCAL_POLICIES: dict[str, Callable[..., LocalPolicy]] = {
    p.name: p for p in (HonestPolicy, GamerPolicy, RandomPolicy)
}


def fixed_targets_action(cfg: WorldConfig, batch: int) -> np.ndarray:
    """(B, C, D) central actions: every target at ``target_default``, audits spread evenly."""
    level = (cfg.target_default - cfg.target_min) / (cfg.target_max - cfg.target_min)
    dim = cfg.n_localities * cfg.n_domains // cfg.n_centres + cfg.n_localities
    action = np.full((batch, cfg.n_centres, dim), level)
    action[..., dim - cfg.n_localities :] = 1.0
    return action


def get_local_policy(name: str, cfg: WorldConfig, seed: int = 0) -> LocalPolicy:
    if name not in LOCAL_POLICIES:
        raise ValueError(
            f"unknown local policy {name!r}; known policies: {', '.join(LOCAL_POLICIES)}"
        )
    return LOCAL_POLICIES[name](cfg, seed)
