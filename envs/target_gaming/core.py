"""The batched world: reset and step B environments as array operations.

``World`` holds only static things (config, design, constant matrices); the
state is a ``WorldState`` passed in and returned, and randomness comes from
the ``numpy.random.Generator`` passed in. One call of ``step`` advances all B
environments with no Python loop over environments or agents.

Step order (docs/model.md): genuine delivery, spillovers, gaming, true
outcome, measurement, pay, audits (review steps), targets (review steps).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import numpy as np

from .config import WorldConfig
from .designs import (
    PAY_RULES,
    CentreInputs,
    PayInputs,
    get_centre_reward,
    get_design,
    political_reward,
    threshold_pay,
)
from .metrics import _ONE, _ZERO, MetricsKernel, StepMetrics, _const, metric_set
from .state import WorldState

_HALF = _const(0.5)


def _clip01(values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``clip(values, 0, 1)`` into ``out``: two ufunc calls, as cheap as numpy's clip ufunc
    (whose Python wrapper ``np.clip`` costs several times more) and equal to it bit for bit.
    NaN stays NaN."""
    np.maximum(values, _ZERO, out=out)
    return np.minimum(out, _ONE, out=out)


@dataclass(frozen=True)
class Effort:
    """A local action decoded into absolute effort (units of capacity)."""

    deliver: np.ndarray  # (B, L, K, R)
    game: np.ndarray  # (B, L, K)
    partner_share: np.ndarray  # (B, L, A)
    slack_share: np.ndarray  # (B, L, A)
    game_share: np.ndarray  # (B, L, A)


@dataclass(frozen=True)
class StepResult:
    state: WorldState
    local_rewards: np.ndarray  # (B, N) N = L * A, agent n = locality n // A, agency n % A
    centre_rewards: np.ndarray  # (B, C)
    metrics: StepMetrics  # per locality (B, L) and national (B,)
    truncated: np.ndarray  # (B,) bool: the horizon is reached

    @classmethod
    def _fast(cls, state, local_rewards, centre_rewards, metrics, truncated) -> StepResult:
        """The same as the constructor, without the frozen dataclass's per-field setattr.

        Skips no check: the dataclass has none.
        """
        result = object.__new__(cls)
        result.__dict__.update(
            state=state,
            local_rewards=local_rewards,
            centre_rewards=centre_rewards,
            metrics=metrics,
            truncated=truncated,
        )
        return result


class World:
    """The target-gaming world for one config, design and centre reward."""

    def __init__(
        self, config: WorldConfig, design: str = "targets", centre_reward: str = "political"
    ):
        self.config = config
        self.design = get_design(design)
        self.centre_reward_name = centre_reward
        self._centre_reward = get_centre_reward(centre_reward)
        cfg = config
        self.own_weights = cfg.agency_domains  # (A, K)
        pooled = self.design.pooling == "locality" or cfg.pooled_localities
        self.pay_weights = np.ones_like(self.own_weights) if pooled else self.own_weights
        self._spill_t = cfg.spillover_matrix.T.copy()  # gain @ S.T
        self._pay_rule = PAY_RULES[self.design.pay]
        fixed = {"headline": cfg.headline_mask.astype(float), "all": np.ones(cfg.n_domains)}
        self._fixed_basket = fixed.get(self.design.measures)  # None: rotating
        self._wbar = cfg.priorities
        # constants for step (sizes, selection and summation matrices)
        k, r, k_per_agency = cfg.n_domains, cfg.n_approaches, cfg.domains_per_agency
        self._n_loc, self._k, self._n_ag, self._d = (
            cfg.n_localities,
            k,
            cfg.n_agencies,
            cfg.local_action_dim,
        )
        # action columns: deliver (k_per_agency * R), game (k_per_agency), partner, slack
        self._n_deliver = k_per_agency * r
        self._n_effort = k_per_agency * (r + 1)
        self._ones_k = np.ones(k)
        # sums of: all, game, slack, partner, partner again (for a unitary locality, the
        # joint partnership J is its partner share: the metrics copy the last four rows)
        rows = np.zeros((5, self._d))
        rows[0] = 1.0
        rows[1, self._n_deliver : self._n_effort] = 1.0
        rows[2, -1] = 1.0
        rows[3:, -2] = 1.0
        self._action_sums = rows
        # alpha * sum over approaches, as a (k_per_agency*R, k_per_agency) matrix
        self._alpha_sum = cfg.alpha * np.kron(np.eye(k_per_agency), np.ones((r, 1)))
        self._keep = _const(1.0 - cfg.rho)
        self._neg_eta, self._delta = _const(-cfg.eta), _const(cfg.delta)
        # spillover factor kappa * (s0 + s1 * J): kappa = the centre's coordination
        self._s0 = _const(cfg.coordination * cfg.s0)
        self._s1 = _const(cfg.coordination * cfg.s1)
        self._geometric = _const(1.0 / cfg.n_agencies)
        self._latent = _const(cfg.latent_partnership)
        # H = (1 - holism) + min(holism, holism / full_partnership * J)
        self._holism = _const(cfg.holism)
        self._holism_slope = _const(cfg.holism / cfg.full_partnership)
        self._holism_floor = _const(1.0 - cfg.holism)
        self._effort_cost = _const(cfg.effort_cost)
        linear = cfg.effort_exponent == 1.0
        self._effort_exponent = None if linear else _const(cfg.effort_exponent)
        self._n_centres = cfg.n_centres
        self._n_target_columns = cfg.n_localities * (k // self._n_centres)
        self._n_planned_columns = self._n_target_columns + cfg.n_localities  # then audit:<i>
        # then, with the prescription lever, prescribe:<d>:<r> for the centre's domains
        self._prescribing = cfg.prescription
        self._centre_action_dim = self._n_planned_columns + (
            (k // self._n_centres) * r if cfg.prescription else 0
        )
        self._target_min = _const(cfg.target_min)
        self._target_span = _const(cfg.target_max - cfg.target_min)
        # mean effectiveness per locality (L, K, R): odd localities reversed with two types
        self._ebar = np.array(np.broadcast_to(cfg.mean_effectiveness, (cfg.n_localities, k, r)))
        if cfg.locality_types == 2:  # odd localities: approaches work in reverse order
            self._ebar[1::2] = self._ebar[1::2, :, ::-1]
        self._noise_scale = np.array([cfg.sigma_x, cfg.sigma_m]).reshape(2, 1, 1, 1)
        self._pay_weights_t = self.pay_weights.T.copy()
        self._own_weights_t = self.own_weights.T.copy()
        if self._fixed_basket is not None:
            self._counted = np.full((1, 1), max(self._fixed_basket.sum(), 1.0))
            self._pay_norm = np.maximum(self._fixed_basket @ self._pay_weights_t, 1.0)  # (A,)
        self._metrics = MetricsKernel(cfg, self._fixed_basket)
        self.metric_set = metric_set(cfg)  # the names of its metrics' rows
        # a target cascade: the frontline's share phi of the delivery of every agency with
        # frontline targets, delivered by the national mix (Ebar^2 normalised), arranged
        # (A, domains per agency, R) like an agency's deliver columns
        self._cascading = cfg.cascade is not None
        self._phi = cfg.frontline_share
        self._national_mix = cfg.national_mix.reshape(cfg.n_agencies, k_per_agency, r)
        self._horizon = cfg.horizon
        self._review_one = np.ones(1, dtype=bool)  # the review mask of one environment
        # threshold pay with every agency paid on every domain is the target hit rate
        self._pay_is_hit_rate = self._pay_rule is threshold_pay and bool(
            np.all(self.pay_weights == 1.0)
        )
        # a coordinated political centre: half the national hit rate plus half the measure
        self._political_total = self._centre_reward is political_reward and not cfg.departments
        # the measured-domains mask (B, 1, K) is needed by a rotating basket's metrics, by
        # pay rules other than the hit rate, and by centre rewards other than the above
        self._needs_mask = not (
            self._fixed_basket is not None and self._pay_is_hit_rate and self._political_total
        )
        self._scratches: dict[tuple[int, int], _Scratch] = {}
        self._zero_arrays: dict[tuple[int, ...], np.ndarray] = {}

    # ---- copies and pickles ----------------------------------------------------
    def __getstate__(self) -> dict:
        """Everything but the work arrays (their views would not survive a copy): a copy
        or an unpickled world makes its own on first use."""
        state = dict(self.__dict__)
        state["_scratches"], state["_zero_arrays"] = {}, {}
        return state

    # ---- sizes ---------------------------------------------------------------
    @property
    def n_locals(self) -> int:
        return self.config.n_locals

    @property
    def n_centres(self) -> int:
        return self.config.n_centres

    # ---- reset ---------------------------------------------------------------
    def reset(self, rng: np.random.Generator, batch_size: int = 1) -> WorldState:
        """Draw B fresh environments from the scenario's distributions."""
        cfg, batch = self.config, batch_size
        n_loc, k = cfg.n_localities, cfg.n_domains
        baseline = rng.uniform(cfg.baseline_low, cfg.baseline_high, (batch, n_loc, k))
        z = np.clip(rng.standard_normal((batch, n_loc, k, cfg.n_approaches)), -3.0, 3.0)
        effectiveness = self._ebar * np.exp(cfg.heterogeneity * z)
        capacity = rng.uniform(cfg.capacity_low, cfg.capacity_high, (batch, n_loc))
        priorities = rng.dirichlet(cfg.priority_concentration * k * self._wbar, (batch, n_loc))
        knights = rng.random((batch, n_loc)) < cfg.knight_share
        motivation = np.where(knights, cfg.psi_knight, cfg.psi_knave)
        basket = self._draw_basket(rng, batch)
        revealed = basket if self._fixed_basket is not None else np.zeros_like(basket)
        zeros = np.zeros((batch, n_loc, k))
        agencies = np.zeros((batch, n_loc, cfg.n_agencies))
        fields = dict(  # new arrays (shared zeros included): the state takes them as they are
            t=np.zeros(batch, dtype=np.int64),
            true=baseline.copy(),
            initial=baseline.copy(),
            baseline=baseline,
            effectiveness=effectiveness,
            capacity=capacity,
            priorities=priorities,
            motivation=motivation,
            inflation=zeros,
            targets=np.full((batch, n_loc, k), cfg.target_default),
            measured=baseline.copy(),
            basket=basket,
            revealed=revealed,
            audited=zeros,
            audited_true=zeros,
            detected=zeros,
            sanction=agencies,
            partnership=agencies,
            prescription=np.zeros((batch, k, cfg.n_approaches)),
            off_method=zeros,
        )
        return WorldState._own(fields)

    def _draw_basket(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """Which domains are measured: fixed by the design, or basket_size drawn at random."""
        if self._fixed_basket is not None:
            return np.broadcast_to(self._fixed_basket, (batch_size, self.config.n_domains))
        order = rng.random((batch_size, self.config.n_domains)).argsort(axis=1).argsort(axis=1)
        return (order < self.config.basket_size).astype(float)

    # ---- actions -------------------------------------------------------------
    def _scratch(self, batch_size: int) -> _Scratch:
        """Reusable work arrays for this thread and batch size (large temporaries only)."""
        key = (threading.get_ident(), batch_size)
        scratch = self._scratches.get(key)
        if scratch is None:
            if len(self._scratches) >= 8:
                self._scratches.pop(next(iter(self._scratches)))
            scratch = self._scratches[key] = _Scratch(self, batch_size)
        return scratch

    def _decode(self, actions: np.ndarray, capacity: np.ndarray, scratch: _Scratch) -> None:
        """Clip, normalise and scale local actions into the scratch, with few operations.

        Fills ``scratch.summary`` (4, B*L*A), the game, slack and partner shares and
        the partner share again, and ``scratch.effort`` (B*L*A, k_per_agency*(R+1)), the
        absolute deliver and game effort.
        """
        _clip01(actions, scratch.actions)
        self._action_sums.dot(scratch.flat_t, scratch.sums)  # total, game, slack, partner x2
        total, summary = scratch.total, scratch.summary
        if np.count_nonzero(total) == total.shape[0]:  # (totals are >= 0: actions are clipped)
            summary /= total  # shares
        else:  # some all-zero action: it is all slack
            idle = total <= 0.0
            total += idle  # the divisor: 1 where idle (the action is all 0 there)
            summary /= total
            scratch.slack_share += idle
        scale = scratch.scale  # (B*L*A,): each agency's capacity / total
        if self._n_ag == 1:
            np.divide(capacity.reshape(-1), total, scale)
        else:
            np.divide(np.repeat(capacity.reshape(-1) / self._n_ag, self._n_ag), total, scale)
        np.multiply(scratch.flat_effort, scratch.scale_column, scratch.effort)

    def decode_local(self, actions: np.ndarray, state: WorldState) -> Effort:
        """Actions (B, N, D) in [0, 1] -> shares of each agency's effort -> absolute effort.

        Shares are the action divided by its sum; an all-zero action is all slack.
        Each agency has capacity ``c[i] / A``.
        """
        cfg = self.config
        batch, n_loc = actions.shape[0], self._n_loc
        scratch = _Scratch(self, batch)  # its own: the arrays returned are its arrays
        self._decode(actions, state.capacity, scratch)
        effort, n_deliver = scratch.effort, self._n_deliver
        per_agency = scratch.shares
        return Effort(
            deliver=effort[:, :n_deliver].reshape(batch, n_loc, cfg.n_domains, cfg.n_approaches),
            game=effort[:, n_deliver:].reshape(batch, n_loc, cfg.n_domains),
            partner_share=per_agency[2],
            slack_share=per_agency[1],
            game_share=per_agency[0],
        )

    def decode_centre(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Central actions (B, C, D) -> targets (B, L, K) and audit weights (B, L, C)."""
        batch, n_centres, n_loc, k = actions.shape[0], self._n_centres, self._n_loc, self._k
        a = _clip01(actions, np.empty(actions.shape))
        raw_targets = a[..., : self._n_target_columns]
        if n_centres > 1:  # department c sets the targets of its domains
            raw_targets = raw_targets.reshape(batch, n_centres, n_loc, -1).transpose(0, 2, 1, 3)
        targets = raw_targets.reshape(batch, n_loc, k) * self._target_span
        targets += self._target_min
        weights = a[..., self._n_target_columns : self._n_planned_columns].transpose(0, 2, 1)
        return targets, weights

    def decode_prescription(self, actions: np.ndarray) -> np.ndarray:
        """Central actions (B, C, D) -> the prescription (B, K, R): in each domain the approach
        of the highest ``prescribe:<d>:<r>`` (the first on ties) at that value, its strength
        q in [0, 1]; 0 elsewhere (q = 0: nothing prescribed). Zeros without the lever."""
        batch, k, r = actions.shape[0], self._k, self.config.n_approaches
        if not self._prescribing:
            return np.zeros((batch, k, r))
        # centre c's columns are its domains' (all K, or department c's own, in domain order)
        columns = actions[..., self._n_planned_columns :]  # (B, C, k_per_centre * R)
        raw = _clip01(columns, np.empty(columns.shape)).reshape(batch, k, r)
        chosen = raw.argmax(axis=-1)[..., None]
        out = np.zeros_like(raw)
        np.put_along_axis(out, chosen, np.take_along_axis(raw, chosen, axis=-1), axis=-1)
        return out

    # ---- step ----------------------------------------------------------------
    def step(
        self,
        state: WorldState,
        local_actions: np.ndarray,  # (B, N, D_local)
        centre_actions: np.ndarray,  # (B, C, D_centre)
        rng: np.random.Generator,
        check: bool = True,
    ) -> StepResult:
        """Advance every environment of ``state`` by one step.

        ``local_actions`` (B, N, D_local) and ``centre_actions`` (B, C, D_centre) are
        real numbers; finite values outside [0, 1] are clipped. With ``check`` (the
        default) the arguments are checked first (types, shapes, real dtypes,
        finiteness; ``benchmarks/bench_env.py`` shows the cost), and a bad one raises
        a ``ValueError`` that names it. ``check=False`` skips that, for callers that
        have checked their arrays already (the PettingZoo env); a bad array then gives
        wrong numbers, not an error.
        """
        if check:
            local_actions, centre_actions = self._checked(state, local_actions, centre_actions, rng)
        batch = local_actions.shape[0]
        scratch = self._scratch(batch)
        self._decode(local_actions, state.capacity, scratch)
        frontline = self._frontline(state, scratch) if self._cascading else None
        true, measured, inflation = self._outcomes(state, scratch, rng)
        t = state.t + 1
        new = {"t": t, "true": true, "measured": measured, "inflation": inflation}
        new["partnership"] = scratch.partner_by_agency.copy()
        if self._prescribing:
            new["off_method"] = self._off_method(state, scratch)
        review, everywhere = self._reviewing(state.t)
        audited = sanction = None
        if review is not None:
            audited, sanction = self._review(
                state, centre_actions, inflation, true, review, everywhere, rng, new
            )
        state2 = state._evolve(new)
        counted, norm, divisors = self._counts(state.basket)
        work = scratch.metrics
        mask = state.basket[:, None, :] if self._needs_mask else None  # (B, 1, K)
        metrics = self._metrics.compute(
            work,
            divisors,
            true,
            measured,
            state,
            mask,
            scratch.shares,
            audited,
            state2.detected,
            sanction,
            frontline,
        )
        pay = self._pay(state, true, measured, mask, work, norm)
        local = self._local_rewards(state, work, pay, sanction, scratch)
        if self._political_total:
            centre = np.add(
                work.nat_column["target_hit_rate"], work.nat_column["measured_performance"]
            )
            centre *= _HALF  # (B, 1)
        else:
            cells = work.cell  # this step's per-cell quantities, by name (not masked)
            centre = self._centre_reward(
                self.config,
                CentreInputs(
                    measured,
                    state.targets,
                    true,
                    mask,
                    audited if audited is not None else np.zeros(true.shape),
                    counted=cells["hit"] * mask,
                    level=cells["measured"] * mask,
                    n_counted=counted,
                ),
            )
        return StepResult._fast(state2, local, centre, metrics, t >= self._horizon)

    def _checked(self, state, local_actions, centre_actions, rng) -> tuple[np.ndarray, np.ndarray]:
        """``step``'s arguments checked (see ``step``); the actions as arrays."""
        if not isinstance(state, WorldState):
            raise ValueError(
                f"state must be a WorldState (from World.reset or a step's result.state), "
                f"not {type(state).__name__}"
            )
        if not isinstance(rng, np.random.Generator):
            raise ValueError(
                f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                f"not {type(rng).__name__}"
            )
        batch = state.t.shape[0]
        local = _checked_actions(
            "local_actions", local_actions, (batch, self.n_locals, self.config.local_action_dim)
        )
        centre = _checked_actions(
            "centre_actions", centre_actions, (batch, self.n_centres, self._centre_action_dim)
        )
        return local, centre

    def _outcomes(self, state, scratch, rng):
        """True outcome, measure and inflation after delivery, spillovers and gaming.

        The terms of the true outcome are written into the rows of
        ``scratch.terms`` and summed in one reduction, in the order
        x + gain + spillover - eta * game - drift + noise.
        """
        x, effort = state.true, scratch.effort
        scratch.start[...] = x  # row 0
        np.multiply(scratch.game, self._neg_eta, scratch.harm)  # -eta * game effort: row 3
        np.sqrt(effort, effort)
        # sqrt(effort) times E (deliver columns) and gamma (game columns), in one product
        np.multiply(effort, self._effort_weights(state, scratch), effort)
        # 1. genuine delivery with diminishing returns: alpha * sum_r E * sqrt(deliver): row 1
        scratch.deliver.dot(self._alpha_sum, scratch.gain)
        scratch.gain_cells *= np.subtract(_ONE, x, scratch.cell)
        # joint partnership J (per_domain: the geometric mean over the agencies of their
        # shares plus the latent partnership l, minus l); per_domain delivery works in full
        # only when they join up (H)
        partner = scratch.partner_share
        if self._n_ag > 1:
            shifted = np.add(partner.reshape(-1, self._n_ag), self._latent)
            partner = np.power(np.multiply.reduce(shifted, axis=-1), self._geometric)
            partner -= self._latent
            holistic = np.multiply(partner, self._holism_slope, scratch.factor)
            np.minimum(holistic, self._holism, out=holistic)
            holistic += self._holism_floor
            scratch.gain_by_locality *= scratch.factor_column
        # 2. joined-up spillovers scaled by partnership: row 2
        scratch.gain_by_locality.dot(self._spill_t, scratch.spill)
        factor = np.multiply(partner, self._s1, scratch.factor)
        factor += self._s0
        scratch.spill *= scratch.factor_column
        # 3. gaming: inflation stock kept up by effort (gamma * sqrt(game)); real harm above
        inflation = self._keep * state.inflation
        by_agency = inflation.reshape(scratch.game.shape)  # a view
        np.add(by_agency, scratch.game, by_agency)
        noise = rng.standard_normal(out=scratch.noise)  # rows 5 and 6 of terms
        noise *= scratch.noise_scale  # sigma_x, sigma_m
        # 4. true outcome drifts to baseline: -delta * (x - baseline): row 4
        drift = np.subtract(state.baseline, x, scratch.drift)
        drift *= self._delta
        true = np.add.reduce(scratch.true_terms, axis=0)
        _clip01(true, true)
        # 5. measurement
        measured = true + inflation
        measured += scratch.measure_noise
        _clip01(measured, measured)
        return true, measured, inflation

    def _frontline(self, state: WorldState, scratch: _Scratch) -> np.ndarray:
        """A target cascade's frontline: rewrites the absolute delivery effort in the scratch
        and returns this step's frontline metrics (3, B, L) (``FRONTLINE_METRICS``).

        An agency with frontline targets (any of its domains known to be measured,
        ``revealed``) keeps its own plan for ``1 - phi`` of each domain's delivery; the
        frontline governs the rest: on the cascaded domains it delivers by the national
        mix, and the share ``phi`` of the unmeasured domains' delivery is target work on
        the frontline targets, which delivers nothing. An agency without frontline
        targets delivers as it chose.
        """
        batch, n_loc, n_ag = state.t.shape[0], self._n_loc, self._n_ag
        k_per_agency, r, phi = self.config.domains_per_agency, self.config.n_approaches, self._phi
        plan = scratch.deliver.reshape(batch, n_loc, n_ag, k_per_agency, r)
        cascaded = state.revealed.reshape(batch, 1, n_ag, k_per_agency)
        governed = phi * cascaded.max(axis=-1, keepdims=True)  # phi, or 0 without targets
        total = plan.sum(axis=-1)  # each domain's planned delivery (B, L, A, k_per_agency)
        on = total * cascaded
        delivered = (1.0 - governed)[..., None] * plan
        delivered += (governed * on)[..., None] * self._national_mix
        scratch.deliver[...] = delivered.reshape(scratch.deliver.shape)
        # the effort on the frontline targets (the cascaded domains' and the target work),
        # and the agencies' own plan on the cascaded domains
        planned_on = on.sum(axis=(-2, -1))
        on_effort = planned_on + (governed * (total - on)).sum(axis=(-2, -1))
        all_effort = total.sum(axis=(-2, -1))
        out = np.zeros((3, batch, n_loc))
        out[0] = self.config.cascade * state.revealed.max(axis=-1, keepdims=True)
        np.divide(on_effort, all_effort, out=out[1], where=all_effort > 0)
        np.divide(planned_on, all_effort, out=out[2], where=all_effort > 0)
        return out

    def _off_method(self, state: WorldState, scratch: _Scratch) -> np.ndarray:
        """(B, L, K): the period's off-method record after this step, ``o + off / P``, where
        ``off[i,k] = sum_r (q[k] - Q[k,r]) share[i,k,r]`` is the agency's effort share on
        approaches other than the one prescribed in k, times the prescription's strength."""
        prescription = state.prescription  # (B, K, R) in force
        batch, k, r = prescription.shape
        share = scratch.actions.reshape(-1, self._d)[:, : self._n_deliver] / scratch.total[:, None]
        share = share.reshape(batch, self._n_loc, k, r)
        strength = prescription.max(axis=-1)  # q (B, K)
        off = strength[:, None, :] * share.sum(axis=-1)
        off -= np.einsum("blkr,bkr->blk", share, prescription)
        off *= 1.0 / self.config.review_period
        off += state.off_method
        return off

    def _effort_weights(self, state: WorldState, scratch: _Scratch) -> np.ndarray:
        """(B*L*A, k_per_agency*(R+1)): E for the deliver columns, gamma for the game columns.

        Kept in the scratch while the state holds the same effectiveness array (a
        state's arrays are never written in place).
        """
        effectiveness = state.effectiveness
        cached = scratch.effort_weights
        if cached is None or cached[0] is not effectiveness:
            weights = np.empty(scratch.effort.shape)
            weights[:, : self._n_deliver] = effectiveness.reshape(-1, self._n_deliver)
            weights[:, self._n_deliver :] = self.config.gamma
            cached = scratch.effort_weights = (effectiveness, weights)
        return cached[1]

    def _reviewing(self, t: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """Which environments review this step: (B,) bool or None (none), and whether all do."""
        is_review_step = self.config.is_review_step
        if t.shape[0] == 1:  # one environment: Python arithmetic is cheaper
            return (self._review_one if is_review_step(int(t[0])) else None), True
        review = is_review_step(t)
        n = np.count_nonzero(review)
        return (review if n else None), n == t.shape[0]

    def _counts(self, basket: np.ndarray):
        """(counted (B or 1, 1), pay norm (.., A), metric divisors or None: the fixed ones)."""
        if self._fixed_basket is not None:
            return self._counted, self._pay_norm, None
        counted = np.maximum(basket @ self._ones_k, 1.0)[:, None]  # (B, 1)
        norm = np.maximum(basket @ self._pay_weights_t, 1.0)[:, None, :]  # (B, 1, A)
        return counted, norm, self._metrics.divisors(counted)

    def _pay(self, state, true, measured, mask, work, norm) -> np.ndarray:
        """Each local agent's pay (B, L, A), or (B, L, 1) when all agencies are paid alike."""
        if self._pay_is_hit_rate:  # threshold pay on all domains: the target hit rate
            return work.loc_column["target_hit_rate"]
        hit = work.cell["hit"] * mask  # 1[m >= tau] on measured domains
        if self._pay_rule is threshold_pay:
            batch, n_loc, k = hit.shape
            pay = hit.reshape(-1, k).dot(self._pay_weights_t).reshape(batch, n_loc, -1)
            pay /= norm
            return pay
        inputs = PayInputs(
            measured,
            state.targets,
            true,
            state.true,
            state.priorities,
            mask,
            self.pay_weights,
            counted=hit,
            norm=norm,
        )
        return self._pay_rule(self.config, inputs)

    def _local_rewards(self, state, work, pay, sanction, scratch):
        """(B, N): pay - sanction - effort cost + motivation * own welfare gain.

        The welfare gain of an agency is sum over its domains of w * (x - baseline),
        divided by its priorities' sum: ``(sum of w * x - offset) * factor`` with the
        per-episode terms of _own_welfare_terms (factor includes the motivation).
        """
        offset, factor = self._own_welfare_terms(state, scratch)
        if self._n_ag == 1:  # sum over all domains: the local_welfare metric
            good = np.subtract(work.loc_column["local_welfare"], offset)
        else:
            welfare = work.cell["local_welfare"].reshape(-1, self._k)  # w * x
            good = welfare.dot(self._own_weights_t).reshape(offset.shape)
            good -= offset
        good *= factor
        local = good
        local += pay
        if self._effort_exponent is None:  # linear: effort_cost per unit of non-slack share
            local += scratch.slack_by_agency * self._effort_cost
            local -= self._effort_cost
        else:  # effort_cost * (1 - slack) ** effort_exponent
            busy = np.subtract(_ONE, scratch.slack_by_agency)
            np.power(busy, self._effort_exponent, busy)
            busy *= self._effort_cost
            local -= busy
        if sanction is not None:
            local -= sanction
        return local.reshape(scratch.rewards_shape)

    def _own_welfare_terms(self, state, scratch) -> tuple[np.ndarray, np.ndarray]:
        """(offset, factor), each (B, L, A), of the welfare term of local rewards.

        They depend only on arrays drawn at reset, so they are kept in the scratch
        while the state holds the very same arrays (a state's arrays are never
        written in place: each step makes new ones).
        """
        priorities, baseline, motivation = state.priorities, state.baseline, state.motivation
        cached = scratch.own_welfare
        if (
            cached is None
            or cached[0] is not priorities
            or cached[1] is not baseline
            or cached[2] is not motivation
        ):
            batch, n_loc, k = priorities.shape
            offset = np.dot((priorities * baseline).reshape(-1, k), self._own_weights_t)
            factor = motivation[..., None] / self._own_norm(priorities)
            offset = offset.reshape(factor.shape)
            cached = scratch.own_welfare = (priorities, baseline, motivation, offset, factor)
        return cached[3], cached[4]

    def _own_norm(self, priorities: np.ndarray) -> np.ndarray:
        """max(priorities @ own_weights.T, 1e-12): (B, L, A)."""
        batch, n_loc, k = priorities.shape
        norm = priorities.reshape(-1, k) @ self._own_weights_t
        return np.maximum(norm, 1e-12, out=norm).reshape(batch, n_loc, -1)

    def _review(self, state, centre_actions, inflation, true, review, everywhere, rng, new):
        """Audits with sanctions that reset inflation; new targets; next basket.

        ``review`` (B,) says which environments review; where ``everywhere``, all of
        them, and no merging with old values is needed.
        Returns (audited, sanction), or (None, None) when nothing can be audited.
        """
        cfg = self.config
        batch = state.t.shape[0]
        targets, audit_weights = self.decode_centre(centre_actions)
        if self.design.audits == "none":
            # Nothing is audited, but the sampler's random draws are still taken, so the
            # stream (and every later draw) is as if it had run with zero probabilities.
            shape = (batch, cfg.n_localities, 1)
            rng.random(shape)
            rng.random((batch, 1, 1))
            audited = sanction = None
            cells, agencies = self._zeros(true.shape), self._zeros(state.sanction.shape)
            zeros = {
                "audited": cells,
                "audited_true": cells,
                "detected": cells,
                "sanction": agencies,
            }
            for name, zero in zeros.items():  # four fields, all zero
                new[name] = (
                    zero
                    if everywhere
                    else np.where(review.reshape(-1, 1, 1), zero, getattr(state, name))
                )
        else:
            probs = self._audit_probabilities(audit_weights)  # (B, L, 1 or K)
            chosen = systematic_sample(probs, rng)
            if not everywhere:
                chosen = chosen * review[:, None, None]
            audited = np.broadcast_to(chosen, true.shape).astype(float)
            found = inflation * audited
            if self._cascading:  # an audit reaches 1 - phi of a cascaded cell's measures
                found *= 1.0 - self._phi * state.revealed[:, None, :]
            k = cfg.n_domains
            sanction = (found.reshape(-1, k) @ self._own_weights_t).reshape(
                batch, cfg.n_localities, -1
            )
            sanction *= cfg.sanction
            if self._prescribing:  # the period's off-method effort found by the audits
                off = (new["off_method"] * audited).reshape(-1, k) @ self._own_weights_t
                sanction += cfg.prescription_sanction * off.reshape(sanction.shape)
            new["inflation"] = inflation - found
            values = {
                "audited": audited,
                "audited_true": true * audited,
                "detected": found,
                "sanction": sanction,
            }
            for name, value in values.items():  # four fields
                new[name] = (
                    value
                    if everywhere
                    else np.where(review.reshape(-1, 1, 1), value, getattr(state, name))
                )
        new["targets"] = (
            targets if everywhere else np.where(review[:, None, None], targets, state.targets)
        )
        if self._prescribing:  # a new prescription; the off-method record starts again
            prescription = self.decode_prescription(centre_actions)
            reviewed = review[:, None, None]
            new["prescription"] = (
                prescription if everywhere else np.where(reviewed, prescription, state.prescription)
            )
            off = new["off_method"]
            new["off_method"] = (
                self._zeros(off.shape) if everywhere else np.where(reviewed, 0.0, off)
            )
        if self._fixed_basket is None:
            if everywhere:
                new["revealed"] = state.basket
                new["basket"] = self._draw_basket(rng, batch)
            else:
                r2 = review[:, None]
                new["revealed"] = np.where(r2, state.basket, state.revealed)
                new["basket"] = np.where(r2, self._draw_basket(rng, batch), state.basket)
        return audited, sanction

    def _zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        """A read-only array of zeros, shared (a state's arrays are never written in place)."""
        zeros = self._zero_arrays.get(shape)
        if zeros is None:
            if len(self._zero_arrays) >= 16:
                self._zero_arrays.pop(next(iter(self._zero_arrays)))
            zeros = self._zero_arrays[shape] = np.zeros(shape)
            zeros.flags.writeable = False
        return zeros

    def _audit_probabilities(self, weights: np.ndarray) -> np.ndarray:
        """Per-locality audit probability: the design's rate or the centre's budget shares."""
        cfg, kind = self.config, self.design.audits
        batch, n_loc = weights.shape[0], cfg.n_localities
        if kind == "none":
            return np.zeros((batch, n_loc, 1))
        if kind in ("random", "random_low"):
            rate = cfg.audit_rate if kind == "random" else cfg.audit_rate_low
            return np.full((batch, n_loc, 1), rate)
        total = weights.sum(axis=1, keepdims=True)
        shares = weights / np.where(total > 0, total, 1.0)
        return np.minimum(1.0, cfg.n_audits * shares)  # (B, L, C), sums to <= n_audits


def _checked_actions(name: str, actions, shape: tuple[int, ...]) -> np.ndarray:
    """``actions`` as an array of ``shape``, real and finite, or a ValueError naming it."""
    array = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
    if array.dtype.kind not in "fiub":  # float, int, unsigned, bool
        raise ValueError(f"{name} must be real numbers; got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(
            f"{name} has shape {array.shape}; expected {shape} (environments, agents, "
            "action components: see the env's action_layout)"
        )
    # finite iff a weighted sum is: every value times 2**-64, summed by BLAS (cheap), can
    # never overflow (|x| <= 1.8e308), while NaN and inf carry through
    if array.dtype.kind == "f" and not math.isfinite(
        array.reshape(-1).dot(_tiny_weights(array.size))
    ):
        where = np.argwhere(~np.isfinite(array))[0].tolist()
        raise ValueError(
            f"{name} contains NaN or inf (first at index {where}); actions must be finite "
            "(finite values outside [0, 1] are clipped)"
        )
    return array


@functools.lru_cache(maxsize=16)
def _tiny_weights(size: int) -> np.ndarray:
    """A read-only vector of ``size`` weights 2**-64 (a finiteness test by one product)."""
    out = np.full(size, 2.0**-64)
    out.flags.writeable = False
    return out


class _Scratch:
    """Work arrays of one batch size, reused step after step (never returned)."""

    def __init__(self, world: World, batch_size: int):
        cfg = world.config
        batch, n_loc, k = batch_size, cfg.n_localities, cfg.n_domains
        n, k_per_agency, n_deliver = batch * cfg.n_locals, cfg.domains_per_agency, world._n_deliver
        # decoding: clipped actions, their sums (total, game, slack, partner, partner again)
        # and shares, their effort columns, capacity / action total
        n_ag = cfg.n_agencies
        self.actions = np.empty((batch, cfg.n_locals, cfg.local_action_dim))
        flat = self.actions.reshape(n, -1)
        self.flat_t, self.flat_effort = flat.T, flat[:, : world._n_effort]
        self.sums = np.empty((5, n))
        self.total, self.summary = self.sums[0], self.sums[1:]
        self.slack_share, self.partner_share = self.sums[2], self.sums[3]
        self.shares = self.summary.reshape(4, batch, n_loc, n_ag)
        self.slack_by_agency, self.partner_by_agency = self.shares[1], self.shares[2]
        self.rewards_shape = (batch, cfg.n_locals)
        self.scale = np.empty(n)
        self.scale_column = self.scale[:, None]
        self.effort = np.empty((n, world._n_effort))  # deliver and game effort
        self.deliver, self.game = self.effort[:, :n_deliver], self.effort[:, n_deliver:]
        self.effort_weights = None  # (effectiveness, E and gamma): see World._effort_weights
        # outcomes: the terms of the true outcome (x, gain, spillover, harm, drift, noise),
        # then the measure's noise
        self.terms = np.empty((7, batch, n_loc, k))
        self.start, self.gain_cells, self.drift = self.terms[0], self.terms[1], self.terms[4]
        self.true_terms, self.measure_noise = self.terms[:6], self.terms[6]
        self.gain = self.terms[1].reshape(n, k_per_agency)
        self.gain_by_locality = self.terms[1].reshape(-1, k)
        self.spill = self.terms[2].reshape(-1, k)
        self.harm = self.terms[3].reshape(n, k_per_agency)
        self.noise = self.terms[5:7]
        self.noise_scale = np.array(np.broadcast_to(world._noise_scale, self.noise.shape))
        self.factor = np.empty(batch * n_loc)
        self.factor_column = self.factor[:, None]
        self.cell = np.empty((batch, n_loc, k))
        self.metrics = world._metrics.new_work(batch)
        self.own_welfare = None  # (its 3 arrays, offset, factor): see World._own_welfare_terms


def systematic_sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw audits along axis 1 with inclusion probabilities ``probs`` (each <= 1).

    Systematic sampling in a random order: each locality is audited with
    exactly its probability, and the number audited never exceeds
    ``ceil(sum of probabilities)``, so a budget is never overspent.
    """
    order = rng.random(probs.shape).argsort(axis=1)
    p = np.take_along_axis(probs, order, axis=1)
    end = np.cumsum(p, axis=1)
    offset = rng.random((probs.shape[0], 1, probs.shape[2]))
    chosen = (np.ceil(end - offset) - np.ceil(end - p - offset)) > 0
    out = np.empty_like(chosen)
    np.put_along_axis(out, order, chosen, axis=1)
    return out
