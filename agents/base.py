"""The policy protocol and the named views of observations that scripted rules read.

A policy acts for one role ("local" or "centre") of one world (config and
design): ``act`` maps a batch of observations (M, D_obs) to actions
(M, D_act); ``act_one`` does a single observation. Local policies receive
the observations of every local agent stacked, and central policies those of
every central agent, so the same policy drives the ParallelEnv (M = agents)
and the batched core (M = B x agents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from target_gaming.envs.target_gaming import World, WorldConfig, observe

ROLES = ("local", "centre")


@runtime_checkable
class Policy(Protocol):
    name: str
    role: str  # "local" or "centre"

    def act(self, observations: np.ndarray) -> np.ndarray:
        """(M, D_obs) -> (M, D_act) actions in [0, 1]."""
        ...

    def act_one(self, observation: np.ndarray) -> np.ndarray:
        """(D_obs,) -> (D_act,)."""
        ...


class ScriptedPolicy:
    """Base of the scripted rules: holds the world and a seeded generator."""

    name = "scripted"
    role = "local"
    description = ""

    def __init__(self, world: World, seed: int = 0):
        self.world = world
        self.config: WorldConfig = world.config
        self.rng = np.random.default_rng(seed)

    def act(self, observations: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act_one(self, observation: np.ndarray) -> np.ndarray:
        return self.act(np.asarray(observation, dtype=float)[None])[0]


def _indices(names: list[str], prefix: str) -> np.ndarray:
    return np.array([i for i, n in enumerate(names) if n.startswith(prefix + ":")], dtype=int)


@dataclass(frozen=True)
class LocalView:
    """Where each component of a local observation sits, for the agency's kc domains.

    Every agency's layout has the same structure, so the positions of agency 0
    serve all (only the domain names differ).
    """

    true: np.ndarray  # (kc,)
    measured: np.ndarray  # (kc,)
    is_measured: np.ndarray  # (kc,)
    target: np.ndarray  # (kc,)
    effectiveness: np.ndarray  # (kc, R)
    prescribed: np.ndarray  # (kc, R) the centre's prescription (its lever), else (kc, 0)
    capacity: int
    priority: np.ndarray  # (kc,)
    inflation: np.ndarray  # (kc,)
    audited: int
    sanction: int
    agency: np.ndarray  # (K,) one-hot of the agency's domain (per_domain), else empty
    partners: int  # partners' last partnership (per_domain), else -1
    motivation: int  # own intrinsic motivation, -1 if the layout has none
    time_to_review: int
    n_domains: int  # kc
    n_approaches: int
    action_dim: int

    @classmethod
    def build(cls, cfg: WorldConfig) -> LocalView:
        names = [n for n, _, _ in observe.local_observation_layout(cfg, 0)]
        kc, r = cfg.domains_per_agency, cfg.n_approaches
        return cls(
            true=_indices(names, "true"),
            measured=_indices(names, "measured"),
            is_measured=_indices(names, "is_measured"),
            target=_indices(names, "target"),
            effectiveness=_indices(names, "effectiveness").reshape(kc, r),
            prescribed=_indices(names, "prescribed").reshape(kc, -1),
            capacity=names.index("capacity"),
            priority=_indices(names, "priority"),
            inflation=_indices(names, "inflation"),
            audited=names.index("audited"),
            sanction=names.index("sanction"),
            agency=_indices(names, "agency"),
            partners=names.index("partners_partnership") if cfg.per_domain else -1,
            motivation=names.index("motivation") if "motivation" in names else -1,
            time_to_review=names.index("time_to_review"),
            n_domains=kc,
            n_approaches=r,
            action_dim=cfg.local_action_dim,
        )

    # action slices: deliver (kc * R), game (kc), partner, slack
    @property
    def deliver(self) -> slice:
        return slice(0, self.n_domains * self.n_approaches)

    @property
    def game(self) -> slice:
        start = self.n_domains * self.n_approaches
        return slice(start, start + self.n_domains)


def compose_local(
    view: LocalView,
    deliver: np.ndarray,  # (M, kc, R) shares
    game: np.ndarray | None = None,  # (M, kc)
    partner: np.ndarray | float = 0.0,  # (M,) or scalar
    slack: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Assemble a local action (M, D) from its parts (shares; the env normalises)."""
    m = deliver.shape[0]
    out = np.zeros((m, view.action_dim))
    out[:, view.deliver] = deliver.reshape(m, -1)
    if game is not None:
        out[:, view.game] = game
    out[:, -2] = partner
    out[:, -1] = slack
    return out


def best_approach(effectiveness: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(M, kc, R) shares: ``weight`` (M, kc) on each domain's most effective approach."""
    out = np.zeros_like(effectiveness)
    np.put_along_axis(out, effectiveness.argmax(axis=-1)[..., None], weight[..., None], axis=-1)
    return out


@dataclass(frozen=True)
class CentreView:
    """Where each component of a central observation sits (per centre's domains)."""

    measured: np.ndarray  # (L, kg) positions of measured:<i>:<d>
    is_measured: np.ndarray  # (kg,)
    target: np.ndarray  # (L, kg)
    audited_true: np.ndarray  # (L, kg)
    audited: np.ndarray  # (L,)
    detected: np.ndarray  # (L,)
    n_localities: int
    n_domains: int  # kg
    action_dim: int

    @classmethod
    def build(cls, cfg: WorldConfig) -> CentreView:
        names = [n for n, _, _ in observe.centre_observation_layout(cfg, 0)]
        n_loc, kg = cfg.n_localities, cfg.n_domains // cfg.n_centres
        return cls(
            measured=_indices(names, "measured").reshape(n_loc, kg),
            is_measured=_indices(names, "is_measured"),
            target=_indices(names, "target").reshape(n_loc, kg),
            audited_true=_indices(names, "audited_true").reshape(n_loc, kg),
            audited=_indices(names, "audited"),
            detected=_indices(names, "detected"),
            n_localities=n_loc,
            n_domains=kg,
            action_dim=len(observe.centre_action_layout(cfg, 0)),
        )


def compose_centre(
    cfg: WorldConfig,
    targets: np.ndarray,
    audit: np.ndarray,
    prescription: np.ndarray | None = None,
) -> np.ndarray:
    """Central action (M, D) from targets (M, L, kg) in outcome units, audit weights (M, L)
    and, with the prescription lever, the prescription (M, kg, R): each domain's approach
    at its strength in [0, 1] (None: nothing prescribed). A prescription without the
    lever is refused."""
    level = (targets - cfg.target_min) / max(cfg.target_max - cfg.target_min, 1e-12)
    m = targets.shape[0]
    parts = [np.clip(level, 0, 1).reshape(m, -1), np.clip(audit, 0, 1)]
    if prescription is not None and not cfg.prescription:
        raise ValueError(
            "a prescription needs the prescription lever: config field 'prescription' = True"
        )
    if cfg.prescription:
        kg = cfg.n_domains // cfg.n_centres
        if prescription is None:
            prescription = np.zeros((m, kg, cfg.n_approaches))
        parts.append(np.clip(prescription, 0, 1).reshape(m, -1))
    return np.concatenate(parts, axis=1)


def role_dims(world: World, role: str) -> tuple[int, int]:
    """(observation, action) sizes of one agent of ``role`` ("local" or "centre")."""
    cfg = world.config
    if role == "local":
        return len(observe.local_observation_layout(cfg, 0)), cfg.local_action_dim
    return len(observe.centre_observation_layout(cfg, 0)), len(observe.centre_action_layout(cfg, 0))


def check_saved_spaces(world: World, role: str, saved_obs, saved_act, name: str) -> None:
    """Refuse a saved policy whose observation/action shapes do not fit ``role`` here."""
    obs_dim, act_dim = role_dims(world, role)
    if tuple(saved_obs) != (obs_dim,) or tuple(saved_act) != (act_dim,):
        raise ValueError(
            f"policy {name!r} observes {saved_obs} and acts {saved_act}, but a {role} agent "
            f"of this world observes ({obs_dim},) and acts ({act_dim},): it was trained "
            "for another role, scenario or config"
        )
