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
    lay += [("capacity", 0.0, bd["capacity"])]
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


def local_observations(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, N, D) observations of every local agent, in agent order."""
    return _local_observations(cfg, state, _time_features(cfg, state))


def _local_observations(cfg: WorldConfig, state: WorldState, times) -> np.ndarray:
    b_, n_loc, n_ag, kc = state.t.shape[0], cfg.n_localities, cfg.n_agencies, cfg.domains_per_agency
    r = cfg.n_approaches
    width = kc * (6 + r) + 5 + (1 + n_ag if cfg.per_domain else 0)
    out = np.empty((b_, n_loc, n_ag, width), dtype=np.float32)
    shape = (b_, n_loc, n_ag, kc)
    revealed = state.revealed[:, None, None, :].reshape(b_, 1, n_ag, kc)
    out[..., 0:kc] = state.true.reshape(shape)
    np.multiply(state.measured.reshape(shape), revealed, out=out[..., kc : 2 * kc])
    out[..., 2 * kc : 3 * kc] = revealed
    out[..., 3 * kc : 4 * kc] = state.targets.reshape(shape)
    o = 4 * kc + kc * r
    out[..., 4 * kc : o] = state.effectiveness.reshape(b_, n_loc, n_ag, kc * r)
    out[..., o] = state.capacity[:, :, None]
    out[..., o + 1 : o + 1 + kc] = state.priorities.reshape(shape)
    o += 1 + kc
    out[..., o : o + kc] = state.inflation.reshape(shape)
    o += kc
    audited = state.audited.reshape(shape)
    if kc == 1:
        out[..., o] = audited[..., 0]
    else:
        np.maximum.reduce(audited, axis=-1, out=out[..., o])  # any cell audited
    out[..., o + 1] = state.sanction
    o += 2
    if cfg.per_domain:
        p = state.partnership
        others = np.add.reduce(p, axis=-1, keepdims=True) - p
        others /= n_ag - 1
        out[..., o] = others
        out[..., o + 1 : o + 1 + n_ag] = np.eye(n_ag)
        o += 1 + n_ag
    to_review, time = times
    out[..., o] = to_review[:, None, None]
    out[..., o + 1] = time[:, None, None]
    return out.reshape(b_, n_loc * n_ag, width)


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
    lay += [(f"mean_effectiveness:{d}:{r}", 0.0, bd["effectiveness"]) for d in doms
            for r in range(cfg.n_approaches)]
    lay += [(f"national_priority:{d}", 0.0, 1.0) for d in doms]
    if cfg.departments:
        lay += [(f"department:{d}", 0.0, 1.0) for d in cfg.domains]
    lay += [("time_to_review", 0.0, 1.0), ("time", 0.0, 1.0)]
    return lay


def centre_observations(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, C, D) observations of the central agent(s): measures, never unaudited truth."""
    return _centre_observations(cfg, state, _time_features(cfg, state))


def _centre_observations(cfg: WorldConfig, state: WorldState, times) -> np.ndarray:
    b_, n_loc, n_c = state.t.shape[0], cfg.n_localities, cfg.n_centres
    kg = cfg.n_domains // n_c
    lk = n_loc * kg
    r = cfg.n_approaches
    width = 3 * lk + kg + 2 * n_loc + kg * r + kg + (n_c if cfg.departments else 0) + 2
    out = np.empty((b_, n_c, width), dtype=np.float32)

    def per_centre(arr: np.ndarray) -> np.ndarray:  # (B, L, K) -> (B, C, L, kg) view
        return arr.reshape(b_, n_loc, n_c, kg).transpose(0, 2, 1, 3)

    basket = state.basket.reshape(b_, 1, n_c, kg).transpose(0, 2, 1, 3)  # (B, C, 1, kg)
    cells = (b_, n_c, n_loc, kg)
    np.multiply(per_centre(state.measured), basket, out=out[..., :lk].reshape(cells))
    out[..., lk : lk + kg] = basket[:, :, 0]
    o = lk + kg
    out[..., o : o + lk].reshape(cells)[...] = per_centre(state.targets)
    o += lk
    out[..., o : o + lk].reshape(cells)[...] = per_centre(state.audited_true)
    o += lk
    if kg == 1:
        out[..., o : o + n_loc] = per_centre(state.audited)[..., 0]
        out[..., o + n_loc : o + 2 * n_loc] = per_centre(state.detected)[..., 0]
    else:
        np.maximum.reduce(per_centre(state.audited), axis=-1, out=out[..., o : o + n_loc])
        np.add.reduce(per_centre(state.detected), axis=-1, out=out[..., o + n_loc : o + 2 * n_loc])
    o += 2 * n_loc
    out[..., o : o + kg * r] = cfg.mean_effectiveness.reshape(n_c, -1)
    o += kg * r
    out[..., o : o + kg] = cfg.priorities.reshape(n_c, kg)
    o += kg
    if cfg.departments:
        out[..., o : o + n_c] = np.eye(n_c)
        o += n_c
    to_review, time = times
    out[..., o] = to_review[:, None]
    out[..., o + 1] = time[:, None]
    return out


def observations(cfg: WorldConfig, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    """``(local_observations, centre_observations)``, sharing the work they have in common."""
    times = _time_features(cfg, state)
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
