"""Observations, the global state, and the named layout of every vector.

A layout is a list of ``(name, low, high)``; the spaces' bounds and
``action_layout``/``observation_layout`` come from it, so names and arrays
cannot drift apart. Builders return float32 arrays batched over B.
"""

from __future__ import annotations

import functools
import operator

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
        # inflation found in every domain, and with the prescription lever an off-method
        # record of at most 1 (a period's effort shares, each times a strength <= 1)
        "sanction": float(
            cfg.sanction * cfg.n_domains * u_max
            + (cfg.prescription_sanction if cfg.prescription else 0.0)
        ),
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
    """target:<i>:<domain> for its domains (mapped to [target_min, target_max]), audit:<i>,
    then with the prescription lever prescribe:<domain>:<r> for its domains."""
    doms = _centre_domains(cfg, centre)
    names = [f"target:{i}:{d}" for i in range(cfg.n_localities) for d in doms]
    names += [f"audit:{i}" for i in range(cfg.n_localities)]
    if cfg.prescription:
        names += _prescribed_names("prescribe", cfg, doms)
    return [(n, 0.0, 1.0) for n in names]


def _prescribed_names(part: str, cfg: WorldConfig, doms: tuple[str, ...]) -> list[str]:
    return [f"{part}:{d}:{r}" for d in doms for r in range(cfg.n_approaches)]


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
    if cfg.prescription:  # the approach prescribed in each domain, times its strength
        lay += [(n, 0.0, 1.0) for n in _prescribed_names("prescribed", cfg, doms)]
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


def local_observations(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, N, D) observations of every local agent, in agent order."""
    return get_observer(cfg).local(state)


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
    if cfg.prescription:
        lay += [(n, 0.0, 1.0) for n in _prescribed_names("prescribed", cfg, doms)]
    if cfg.departments:
        lay += [(f"department:{d}", 0.0, 1.0) for d in cfg.domains]
    lay += [("time_to_review", 0.0, 1.0), ("time", 0.0, 1.0)]
    return lay


def centre_observations(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, C, D) observations of the central agent(s): measures, never unaudited truth."""
    return get_observer(cfg).centre(state)


def observations(cfg: WorldConfig, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    """``(local_observations, centre_observations)``, sharing the work they have in common."""
    return get_observer(cfg).observations(state)


@functools.lru_cache(maxsize=16)
def get_observer(cfg: WorldConfig) -> Observer:
    """The (cached) observation builder of a config."""
    return Observer(cfg)


class Observer:
    """Builds every agent's observation for one config by one gather.

    Each call flattens the state's arrays (and the few derived ones) into one
    float32 *source* vector with ``concatenate(axis=None)``; the observations
    are then ``source[index]`` for index arrays precomputed from the layouts,
    one pair per batch size. Constant parts (one-hot ids, national means) sit
    once at the end of the source.

    The source's *slow* parts, the arrays that change only at reviews and those
    that change only at reset (with the constants), are flattened once and kept
    while the state holds the very same arrays: the state is never written in
    place (``World.step`` returns new arrays), so the same array objects mean
    the same values.

    While building the indices, a source entry is named by its *virtual id*:
    its position in the source of a batch of one. ``_Source`` maps those ids
    to positions at any batch size.
    """

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        n_loc, k, n_ag, n_centres = cfg.n_localities, cfg.n_domains, cfg.n_agencies, cfg.n_centres
        self._k_per_agency, self._k_per_centre = cfg.domains_per_agency, k // n_centres
        self._per_domain = cfg.per_domain
        # audited summarised per locality
        self._any_audited = self._k_per_agency > 1 or self._k_per_centre > 1
        src = self._source = _Source()
        cell = (n_loc, k)
        # the order of these blocks is the order of the arrays in _source_vector: every
        # step's first (_fast_parts), then those that change only at reviews (targets and
        # the basket, then the audits' results: _review_part_of), then those that change
        # only at reset
        for name, shape in (
            ("true", cell),
            ("measured_seen", cell),  # m * revealed (what localities see)
            ("measured_counted", cell),  # m * basket (what the centre sees)
            ("inflation", cell),
            ("times", (2,)),
            ("others_partnership", (n_loc, n_ag) if self._per_domain else (0,)),
            ("prescription", (k, cfg.n_approaches) if cfg.prescription else (0,)),
            ("revealed", (k,)),
            ("targets", cell),
            ("basket", (k,)),
            ("audited", cell),
            ("sanction", (n_loc, n_ag)),
            ("audited_true", cell),
            ("detected", cell),
            ("audited_any", (n_loc,) if self._any_audited else (0,)),  # max over domains
            ("detected_sum", (n_loc,) if self._k_per_centre > 1 else (0,)),  # sum over domains
            ("effectiveness", (n_loc, k, cfg.n_approaches)),
            ("capacity", (n_loc,)),
            ("motivation", (n_loc,)),
            ("priorities", cell),
        ):
            src.block(name, shape)
        src.constant("mean_effectiveness", cfg.mean_effectiveness)
        src.constant("national_priority", cfg.priorities)
        src.constant("eye_agencies", np.eye(n_ag))
        src.constant("eye_centres", np.eye(n_centres))
        self._local_ids = self._local_layout_ids()
        self._centre_ids = self._centre_layout_ids()
        self._indices: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        p, horizon = cfg.review_period, cfg.horizon
        self._horizon = horizon
        self._time_table = _times(p, horizon, np.arange(horizon + 1))  # rows t = 0..T
        self._empty = np.empty(0)  # the part of an absent block
        # (the state's arrays, their flattened part), replaced in one assignment each so
        # an Observer can be shared between threads; none yet
        self._review_part: tuple = ((None,) * 7, self._empty, None, None)
        self._audits_part: tuple[tuple, np.ndarray] = ((None,) * 4, self._empty)
        self._episode_part: tuple[tuple, np.ndarray] = ((None,) * 4, self._empty)

    # ---- indices (built once per batch size) -------------------------------------
    def _local_layout_ids(self) -> np.ndarray:
        """(N, D) virtual ids of local_observation_layout, agent by agent."""
        cfg, ids = self.cfg, self._source.ids
        n_loc, n_ag = cfg.n_localities, cfg.n_agencies
        every_agent = np.zeros((n_loc, n_ag, 1), dtype=np.intp)  # broadcasts by addition

        def per_agency(arr: np.ndarray) -> np.ndarray:  # (L, K, ...) -> (L, A, k_per_agency*...)
            return arr.reshape(n_loc, n_ag, -1)

        if self._k_per_agency > 1:  # any of the agency's cells (here: all K) audited
            audited = ids("audited_any")[:, None, None] + every_agent
        else:
            audited = per_agency(ids("audited"))
        parts = [
            per_agency(ids("true")),
            per_agency(ids("measured_seen")),
            per_agency(np.broadcast_to(ids("revealed"), (n_loc, cfg.n_domains))),
            per_agency(ids("targets")),
            per_agency(ids("effectiveness")),
        ]
        if cfg.prescription:  # the prescription of the agency's domains, in every locality
            prescribed = np.broadcast_to(ids("prescription"), (n_loc, *ids("prescription").shape))
            parts.append(per_agency(prescribed))
        parts += [
            ids("capacity")[:, None, None] + every_agent,
            ids("motivation")[:, None, None] + every_agent,
            per_agency(ids("priorities")),
            per_agency(ids("inflation")),
            audited,
            ids("sanction")[..., None],
        ]
        if self._per_domain:
            parts += [ids("others_partnership")[..., None], ids("eye_agencies") + every_agent]
        parts.append(ids("times") + every_agent)  # time_to_review, time
        return np.concatenate(parts, axis=-1).reshape(n_loc * n_ag, -1)

    def _centre_layout_ids(self) -> np.ndarray:
        """(C, D) virtual ids of centre_observation_layout, centre by centre."""
        cfg, ids, k_per_centre = self.cfg, self._source.ids, self._k_per_centre
        n_loc, n_centres = cfg.n_localities, cfg.n_centres
        every_centre = np.zeros((n_centres, 1), dtype=np.intp)

        def per_centre(arr: np.ndarray) -> np.ndarray:  # (L, K) -> (C, L*k_per_centre)
            by_centre = arr.reshape(n_loc, n_centres, k_per_centre).transpose(1, 0, 2)
            return by_centre.reshape(n_centres, -1)

        if k_per_centre > 1:  # per locality: any cell audited, inflation found summed over domains
            audited = ids("audited_any")[None] + every_centre
            detected = ids("detected_sum")[None] + every_centre
        else:
            audited, detected = per_centre(ids("audited")), per_centre(ids("detected"))
        parts = [
            per_centre(ids("measured_counted")),
            ids("basket").reshape(n_centres, k_per_centre),
            per_centre(ids("targets")),
            per_centre(ids("audited_true")),
            audited,
            detected,
            ids("mean_effectiveness").reshape(n_centres, -1),
            ids("national_priority").reshape(n_centres, k_per_centre),
        ]
        if cfg.prescription:
            parts.append(ids("prescription").reshape(n_centres, -1))
        if cfg.departments:
            parts.append(ids("eye_centres"))
        parts.append(ids("times")[None] + every_centre)  # time_to_review, time
        return np.concatenate(parts, axis=-1)

    def _index(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the source of (local (B, N, D), centre (B, C, D)) observations."""
        index = self._indices.get(batch_size)
        if index is None:
            if len(self._indices) >= 8:
                self._indices.pop(next(iter(self._indices)))
            index = self._indices[batch_size] = (
                self._source.positions(self._local_ids, batch_size),
                self._source.positions(self._centre_ids, batch_size),
            )
        return index

    # ---- observations --------------------------------------------------------------
    def observations(self, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
        """``(local (B, N, D), centre (B, C, D))`` float32 observations."""
        source = self._source_vector(state)
        local_index, centre_index = self._index(state.t.shape[0])
        return source[local_index], source[centre_index]

    def local(self, state: WorldState) -> np.ndarray:
        """(B, N, D) float32 observations of the local agents."""
        return self._source_vector(state)[self._index(state.t.shape[0])[0]]

    def centre(self, state: WorldState) -> np.ndarray:
        """(B, C, D) float32 observations of the central agent(s)."""
        return self._source_vector(state)[self._index(state.t.shape[0])[1]]

    def _source_vector(self, state: WorldState) -> np.ndarray:
        review = (
            state.revealed,
            state.targets,
            state.basket,
            state.audited,
            state.sanction,
            state.audited_true,
            state.detected,
        )
        cached = self._review_part
        if not all(map(operator.is_, review, cached[0])):
            cached = self._review_part = self._review_part_of(review)
        _, flat_review, revealed_cells, basket_cells = cached
        episode = (state.effectiveness, state.capacity, state.motivation, state.priorities)
        cached, flat_episode = self._episode_part
        if not all(map(operator.is_, episode, cached)):
            parts = [*episode, *self._source.constants]
            flat_episode = np.concatenate(parts, axis=None, dtype=np.float32)
            self._episode_part = (episode, flat_episode)
        parts = self._fast_parts(state, revealed_cells, basket_cells)
        parts += (flat_review, flat_episode)
        return np.concatenate(parts, axis=None, dtype=np.float32)

    def _fast_parts(self, state: WorldState, revealed_cells, basket_cells) -> list[np.ndarray]:
        """The arrays of the per-step blocks (see __init__)."""
        seen = state.measured * revealed_cells
        counted = seen if basket_cells is revealed_cells else state.measured * basket_cells
        parts = [state.true, seen, counted, state.inflation, self._times(state.t)]
        if self._per_domain:
            partnership = state.partnership
            others = partnership.sum(axis=-1, keepdims=True) - partnership
            others /= partnership.shape[-1] - 1
            parts.append(others)
        if self.cfg.prescription:
            parts.append(state.prescription)
        return parts

    def _review_part_of(self, review: tuple[np.ndarray, ...]) -> tuple:
        """(review arrays, their flat part, revealed and basket broadcast to (B, L, K)).

        The audits' results (and their per-locality summaries) are flattened apart and
        kept while unchanged: without audits, reviews share the same zero arrays.
        """
        revealed, targets, basket, audits = review[0], review[1], review[2], review[3:]
        cached, flat_audits = self._audits_part
        if not all(map(operator.is_, audits, cached)):
            audited, detected = audits[0], audits[3]
            audited_any = np.maximum.reduce(audited, axis=-1) if self._any_audited else self._empty
            several = self._k_per_centre > 1
            detected_sum = np.add.reduce(detected, axis=-1) if several else self._empty
            parts = [*audits, audited_any, detected_sum]
            flat_audits = np.concatenate(parts, axis=None, dtype=np.float32)
            self._audits_part = (audits, flat_audits)
        parts = [revealed, targets, basket, flat_audits]
        flat_review = np.concatenate(parts, axis=None, dtype=np.float32)
        # with a fixed basket reset() makes revealed and basket one array
        revealed_cells = np.repeat(revealed[:, None, :], targets.shape[1], axis=1)
        basket_cells = (
            revealed_cells
            if basket is revealed
            else np.repeat(basket[:, None, :], targets.shape[1], axis=1)
        )
        return review, flat_review, revealed_cells, basket_cells

    def _times(self, t: np.ndarray) -> np.ndarray:
        """(B, 2): time_to_review and time (from a table for one environment)."""
        if t.shape[0] == 1:
            step = int(t[0])
            if 0 <= step <= self._horizon:
                return self._time_table[step]
        return _times(self.cfg.review_period, self._horizon, t)


def _times(review_period: int, horizon: int, t: np.ndarray) -> np.ndarray:
    """(B, 2): time_to_review ((p - 1 - t % p) / p) and time (min(t / T, 1)) of steps t (B,)."""
    p = review_period
    out = np.empty((t.shape[0], 2))
    np.divide((p - 1) - t % p, p, out=out[:, 0])
    np.minimum(t / horizon, 1.0, out=out[:, 1])
    return out


class _Source:
    """The blocks of an observation source and the positions of their entries.

    A per-environment block of size s at offset O (sum of the sizes before it)
    is flattened from (B, ...) into B * s entries starting at B * O: entry i of
    environment b sits at ``B * O + b * s + i``. Constant blocks follow all
    per-environment ones, once. A virtual id (the position at B = 1) is mapped
    to a position at batch size B through the tables ``_offset``, ``_stride``
    and ``_inner``: ``B * offset + b * stride + inner``.
    """

    def __init__(self):
        self._ids: dict[str, np.ndarray] = {}
        self._offset: list[int] = []  # per virtual id
        self._stride: list[int] = []
        self._inner: list[int] = []
        self.constants: list[np.ndarray] = []
        self._per_env = 0  # size of the per-environment blocks
        self._n_constant = 0

    def block(self, name: str, shape: tuple[int, ...]) -> None:
        assert not self.constants, "per-environment blocks come first"
        size = int(np.prod(shape, dtype=int))
        self._add(name, shape, [self._per_env] * size, [size] * size, range(size))
        self._per_env += size

    def constant(self, name: str, value: np.ndarray) -> None:
        size = value.size
        inner = range(self._n_constant, self._n_constant + size)
        self._add(name, value.shape, [-1] * size, [0] * size, inner)  # offset -1: see positions
        self.constants.append(value)
        self._n_constant += size

    def _add(self, name, shape, offset, stride, inner) -> None:
        first = len(self._offset)
        self._ids[name] = np.arange(first, first + len(offset)).reshape(shape)
        self._offset += offset
        self._stride += stride
        self._inner += inner

    def ids(self, name: str) -> np.ndarray:
        return self._ids[name]

    def positions(self, ids: np.ndarray, batch_size: int) -> np.ndarray:
        """(B, *ids.shape) positions in the source of batch size B."""
        offset = np.array(self._offset)
        offset[offset < 0] = self._per_env  # constants: after B * (per-environment size)
        env = np.arange(batch_size).reshape((-1,) + (1,) * ids.ndim)
        return (
            batch_size * offset[ids]
            + env * np.array(self._stride)[ids]
            + np.array(self._inner)[ids]
        )


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
    if cfg.prescription:
        lay += [(n, 0.0, 1.0) for n in _prescribed_names("prescribed", cfg, cfg.domains)]
        lay += [(f"off_method:{i}:{d}", 0.0, 1.0) for i, d in cells]
    lay += [("time_to_review", 0.0, 1.0), ("time", 0.0, 1.0)]
    return lay


def global_state(cfg: WorldConfig, state: WorldState) -> np.ndarray:
    """(B, S) the full true state, for centralised critics."""
    batch = state.t.shape[0]
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
    ]
    if cfg.prescription:
        parts += [state.prescription, state.off_method]
    parts += [
        to_review[:, None],
        time[:, None],
    ]
    return np.concatenate([p.reshape(batch, -1) for p in parts], axis=1, dtype=np.float32)


def layout_bounds(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([lo for _, lo, _ in layout], dtype=np.float32)
    high = np.array([hi for _, _, hi in layout], dtype=np.float32)
    return low, high
