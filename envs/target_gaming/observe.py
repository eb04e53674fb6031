"""Observations, the global state, and the named layout of every vector.

A layout is a list of ``(name, low, high)``; the spaces' bounds and
``action_layout``/``observation_layout`` come from it, so names and arrays
cannot drift apart. Builders return float32 arrays batched over B.
"""

from __future__ import annotations

import numpy as np

from .config import WorldConfig
from .state import WorldState

Layout = list[tuple[str, float, float]]


def _bounds(cfg: WorldConfig) -> dict[str, float]:
    # inflation's fixed point with all effort gamed, plus 1% headroom for float32 rounding
    u_max = 1.01 * cfg.gamma * np.sqrt(cfg.capacity_high) / cfg.rho
    return {
        "effectiveness": float(max(cfg.approach_effectiveness) * np.exp(3 * cfg.heterogeneity)),
        "capacity": cfg.capacity_high,
        "inflation": float(u_max),
        "sanction": float(cfg.sanction * cfg.n_domains * u_max),
        "motivation": float(max(cfg.psi_knight, cfg.psi_knave)),
    }


# ---- actions ---------------------------------------------------------------------


def local_action_layout(cfg: WorldConfig, agency: int) -> Layout:
    """deliver:<domain>:<r> for its domains, game:<domain>, partner, slack."""
    doms = _agency_domains(cfg, agency)
    names = [f"deliver:{d}:{r}" for d in doms for r in range(cfg.n_approaches)]
    names += [f"game:{d}" for d in doms] + ["partner", "slack"]
    return [(n, 0.0, 1.0) for n in names]


def centre_action_layout(cfg: WorldConfig, centre: int) -> Layout:
    """target:<i>:<domain> for its domains (mapped to [target_min, target_max]), audit:<i>."""
    doms = _centre_domains(cfg, centre)
    names = [f"target:{i}:{d}" for i in range(cfg.n_localities) for d in doms]
    names += [f"audit:{i}" for i in range(cfg.n_localities)]
    return [(n, 0.0, 1.0) for n in names]


def _agency_domains(cfg: WorldConfig, agency: int) -> tuple[str, ...]:
    return (cfg.domains[agency],) if cfg.per_domain else cfg.domains


def _centre_domains(cfg: WorldConfig, centre: int) -> tuple[str, ...]:
    return (cfg.domains[centre],) if cfg.departments else cfg.domains


# ---- local observations ------------------------------------------------------------


def local_observation_layout(cfg: WorldConfig, agency: int) -> Layout:
    bd = _bounds(cfg)
    doms = _agency_domains(cfg, agency)
    lay: Layout = []
    for part, high in (("true", 1.0), ("measured", 1.0), ("is_measured", 1.0), ("target", 1.0)):
        lay += [(f"{part}:{d}", 0.0, high) for d in doms]
    lay += [
        (f"effectiveness:{d}:{r}", 0.0, bd["effectiveness"])
        for d in doms
        for r in range(cfg.n_approaches)
    ]
    lay += [("capacity", 0.0, bd["capacity"]), ("motivation", 0.0, bd["motivation"])]
    lay += [(f"priority:{d}", 0.0, 1.0) for d in doms]
    lay += [(f"inflation:{d}", 0.0, bd["inflation"]) for d in doms]
    lay += [("audited", 0.0, 1.0), ("sanction", 0.0, bd["sanction"])]
    if cfg.per_domain:
        lay += [("partners_partnership", 0.0, 1.0)]
        lay += [(f"agency:{d}", 0.0, 1.0) for d in cfg.domains]
    lay += [("time_to_review", 0.0, 1.0), ("time", 0.0, 1.0)]
    return lay


def _time_features(cfg: WorldConfig, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    p = cfg.review_period
    to_review = ((p - 1) - state.t % p) / p  # (B,)
    return to_review, np.minimum(state.t / cfg.horizon, 1.0)


def _times(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, 2): time_to_review and time, as _time_features."""
    p, t = cfg.review_period, state.t
    out = np.empty((t.shape[0], 2))
    np.divide((p - 1) - t % p, p, out=out[:, 0])
    np.minimum(t / cfg.horizon, 1.0, out=out[:, 1])
    return out


def local_observations(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, N, D) observations of every local agent, in agent order."""
    return _local_observations(cfg, state, _times(cfg, state))


def _local_observations(cfg: WorldConfig, state: WorldState, times: np.ndarray) -> np.ndarray:
    b_, n_loc, n_ag, kc = state.t.shape[0], cfg.n_localities, cfg.n_agencies, cfg.domains_per_agency

    def per_agency(arr: np.ndarray) -> np.ndarray:  # (B, L, K, ...) -> (B, L, A, kc*...)
        return arr.reshape(b_, n_loc, n_ag, -1)

    every_agent = np.ones((b_, n_loc, n_ag, 1))  # broadcasts parts by arithmetic
    revealed = state.revealed[:, None, :] * np.ones((1, n_loc, 1))  # (B, L, K)
    audited = per_agency(state.audited)
    if kc > 1:  # any of the agency's cells audited
        audited = np.maximum.reduce(audited, axis=-1, keepdims=True)
    capacity = state.capacity[:, :, None, None]
    motivation = state.motivation[:, :, None, None]
    if n_ag > 1:
        capacity = capacity * every_agent
        motivation = motivation * every_agent
    parts = [
        per_agency(state.true),
        per_agency(state.measured * revealed),
        per_agency(revealed),
        per_agency(state.targets),
        per_agency(state.effectiveness),
        capacity,
        motivation,
        per_agency(state.priorities),
        per_agency(state.inflation),
        audited,
        state.sanction[..., None],
    ]
    if cfg.per_domain:
        others = (state.partnership.sum(axis=-1, keepdims=True) - state.partnership) / (n_ag - 1)
        parts += [others[..., None], np.eye(n_ag) * every_agent]
    parts.append(times[:, None, None, :] * every_agent)  # time_to_review, time
    return np.concatenate(parts, axis=-1, dtype=np.float32).reshape(b_, n_loc * n_ag, -1)


# ---- central observations -------------------------------------------------------


def centre_observation_layout(cfg: WorldConfig, centre: int) -> Layout:
    bd = _bounds(cfg)
    doms = _centre_domains(cfg, centre)
    loc_dom = [(i, d) for i in range(cfg.n_localities) for d in doms]
    lay: Layout = [(f"measured:{i}:{d}", 0.0, 1.0) for i, d in loc_dom]
    lay += [(f"is_measured:{d}", 0.0, 1.0) for d in doms]
    lay += [(f"target:{i}:{d}", 0.0, 1.0) for i, d in loc_dom]
    lay += [(f"audited_true:{i}:{d}", 0.0, 1.0) for i, d in loc_dom]
    lay += [(f"audited:{i}", 0.0, 1.0) for i in range(cfg.n_localities)]
    lay += [(f"detected:{i}", 0.0, bd["inflation"] * len(doms)) for i in range(cfg.n_localities)]
    lay += [
        (f"mean_effectiveness:{d}:{r}", 0.0, bd["effectiveness"])
        for d in doms
        for r in range(cfg.n_approaches)
    ]
    lay += [(f"national_priority:{d}", 0.0, 1.0) for d in doms]
    if cfg.departments:
        lay += [(f"department:{d}", 0.0, 1.0) for d in cfg.domains]
    lay += [("time_to_review", 0.0, 1.0), ("time", 0.0, 1.0)]
    return lay


def centre_observations(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, C, D) observations of the central agent(s): measures, never unaudited truth."""
    return _centre_observations(cfg, state, _times(cfg, state))


def _centre_observations(cfg: WorldConfig, state: WorldState, times: np.ndarray) -> np.ndarray:
    b_, n_loc, n_c = state.t.shape[0], cfg.n_localities, cfg.n_centres
    kg = cfg.n_domains // n_c

    def per_centre(arr: np.ndarray) -> np.ndarray:  # (B, L, K) -> (B, C, L, kg)
        return arr.reshape(b_, n_loc, n_c, kg).transpose(0, 2, 1, 3)

    def flat(arr: np.ndarray) -> np.ndarray:  # (B, C, L, kg) -> (B, C, L*kg)
        return arr.reshape(b_, n_c, -1)

    every_env = np.ones((b_, 1, 1))  # broadcasts constant parts by arithmetic
    audited, detected = per_centre(state.audited), per_centre(state.detected)
    parts = [
        flat(per_centre(state.measured * state.basket[:, None, :])),
        state.basket.reshape(b_, n_c, kg),
        flat(per_centre(state.targets)),
        flat(per_centre(state.audited_true)),
        audited[..., 0] if kg == 1 else np.maximum.reduce(audited, axis=-1),
        detected[..., 0] if kg == 1 else np.add.reduce(detected, axis=-1),
        cfg.mean_effectiveness.reshape(n_c, -1) * every_env,
        cfg.priorities.reshape(n_c, kg) * every_env,
    ]
    if cfg.departments:
        parts.append(np.eye(n_c) * every_env)
    parts.append(times[:, None, :] * np.ones((1, n_c, 1)))  # time_to_review, time
    return np.concatenate(parts, axis=-1, dtype=np.float32)


def observations(cfg: WorldConfig, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    """``(local_observations, centre_observations)``, sharing the work they have in common."""
    times = _times(cfg, state)
    return _local_observations(cfg, state, times), _centre_observations(cfg, state, times)


# ---- global state -----------------------------------------------------------------


def state_layout(cfg: WorldConfig) -> Layout:
    bd = _bounds(cfg)
    cells = [(i, d) for i in range(cfg.n_localities) for d in cfg.domains]
    lay: Layout = []
    for part, high in (
        ("true", 1.0),
        ("measured", 1.0),
        ("target", 1.0),
        ("baseline", 1.0),
        ("priority", 1.0),
        ("inflation", bd["inflation"]),
    ):
        lay += [(f"{part}:{i}:{d}", 0.0, high) for i, d in cells]
    lay += [
        (f"effectiveness:{i}:{d}:{r}", 0.0, bd["effectiveness"])
        for i, d in cells
        for r in range(cfg.n_approaches)
    ]
    lay += [(f"capacity:{i}", 0.0, bd["capacity"]) for i in range(cfg.n_localities)]
    high_psi = max(cfg.psi_knight, cfg.psi_knave)
    lay += [(f"motivation:{i}", 0.0, high_psi) for i in range(cfg.n_localities)]
    lay += [(f"is_measured:{d}", 0.0, 1.0) for d in cfg.domains]
    lay += [("time_to_review", 0.0, 1.0), ("time", 0.0, 1.0)]
    return lay


def global_state(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, S) the full true state, for centralised critics."""
    b_ = state.t.shape[0]
    to_review, time = _time_features(cfg, state)
    parts = [
        state.true,
        state.measured,
        state.targets,
        state.baseline,
        state.priorities,
        state.inflation,
        state.effectiveness,
        state.capacity,
        state.motivation,
        state.basket,
        to_review[:, None],
        time[:, None],
    ]
    return np.concatenate([p.reshape(b_, -1) for p in parts], axis=1, dtype=np.float32)


def layout_bounds(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([lo for _, lo, _ in layout], dtype=np.float32)
    high = np.array([hi for _, _, hi in layout], dtype=np.float32)
    return low, high
