"""The world of docs/model.md written as its equations read: the readable twin of the core.

``core.World``, ``metrics.MetricsKernel`` and ``observe.Observer`` are fast and
therefore hard to read: index tables, stacked work arrays reused step after
step, caches keyed by array identity. This module computes the same step, the
same rewards, metrics and observations in plain numpy, one short function per
model concept, with no caches, no work arrays and nothing taken from those
modules' internals. The tests (tests/test_reference.py) step it beside the core
and hold the core to it. It is never on the hot path.

Everything is batched over B environments. Shapes: L localities, K domains, R
approaches, A agencies per locality (1 unitary, K per_domain), C central agents
(1 coordinated, K departments), N = L * A local agents (agent n is agency
``n % A`` of locality ``n // A``).

Randomness. To be compared draw for draw with the core, a step takes the random
numbers in the core's order: the noise of outcome and measure as one standard
normal array (2, B, L, K) (row 0 for the true outcome, row 1 for the measure);
then, on a review step, the audit draw (the order of the localities, then the
offset; taken even when the design has no audits, as a draw with zero
probabilities); then, with a rotating basket, the next basket. Every
environment's draws are taken when any of them reviews.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import WorldConfig
from .designs import Design, get_design
from .state import WorldState

# Inflation found by an audit counts as a detection above this (docs/model.md section 4).
DETECTION_FLOOR = 0.005


# ---- 2. agents and actions -----------------------------------------------------------


@dataclass(frozen=True)
class LocalEffort:
    """A local action decoded: absolute effort per cell and each agency's shares."""

    deliver: np.ndarray  # (B, L, K, R) effort on each approach, in units of capacity
    deliver_share: np.ndarray  # (B, L, K, R) the same as a share of the agency's effort
    game: np.ndarray  # (B, L, K) gaming effort, in units of capacity
    game_share: np.ndarray  # (B, L, A) the agency's summed game shares
    partner_share: np.ndarray  # (B, L, A) p
    slack_share: np.ndarray  # (B, L, A) s


def decode_local_action(cfg: WorldConfig, actions: np.ndarray, capacity: np.ndarray) -> LocalEffort:
    """``a <- clip(a, 0, 1)``, ``share = a / sum(a)`` (all-zero: all slack), effort = share c/A.

    The action's columns: ``deliver:<d>:<r>`` for the agency's domains and
    approaches, ``game:<d>`` for its domains, then ``partner`` and ``slack``.
    """
    batch, n_loc, n_ag = actions.shape[0], cfg.n_localities, cfg.n_agencies
    k, r, kc = cfg.n_domains, cfg.n_approaches, cfg.domains_per_agency
    a = np.clip(actions, 0.0, 1.0).reshape(batch, n_loc, n_ag, -1)  # (B, L, A, D)
    total = a.sum(axis=-1, keepdims=True)
    all_slack = np.zeros(a.shape[-1])
    all_slack[-1] = 1.0
    share = np.where(total > 0.0, a / np.where(total > 0.0, total, 1.0), all_slack)
    effort = share * (capacity[:, :, None, None] / n_ag)  # absolute effort of each agency
    deliver = effort[..., : kc * r].reshape(batch, n_loc, k, r)  # agency a's domains are its own
    game = effort[..., kc * r : kc * (r + 1)].reshape(batch, n_loc, k)
    return LocalEffort(
        deliver=deliver,
        deliver_share=share[..., : kc * r].reshape(batch, n_loc, k, r),
        game=game,
        game_share=share[..., kc * r : kc * (r + 1)].sum(axis=-1),
        partner_share=share[..., -2],
        slack_share=share[..., -1],
    )


def decode_centre_action(cfg: WorldConfig, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central actions (B, C, D) -> targets tau (B, L, K) and audit weights (B, L, C).

    The columns of centre c: ``target:<i>:<d>`` for every locality and each of
    its domains (locality-major), then ``audit:<i>``. Targets map
    ``[0, 1] -> [target_min, target_max]``.
    """
    batch, n_c, n_loc, k = actions.shape[0], cfg.n_centres, cfg.n_localities, cfg.n_domains
    own = k // n_c  # domains per centre
    a = np.clip(actions, 0.0, 1.0)
    raw = a[..., : n_loc * own].reshape(batch, n_c, n_loc, own)  # [b, c, i, d of c]
    raw = np.moveaxis(raw, 1, 2).reshape(batch, n_loc, k)  # centre c holds domains c*own ...
    targets = cfg.target_min + (cfg.target_max - cfg.target_min) * raw
    weights = np.moveaxis(a[..., n_loc * own : n_loc * own + n_loc], 1, 2)  # (B, L, C)
    return targets, weights


def decode_prescription(cfg: WorldConfig, actions: np.ndarray) -> np.ndarray:
    """Central actions (B, C, D) -> the prescription Q (B, K, R), with the lever.

    After ``audit:<i>``, centre c's columns are ``prescribe:<d>:<r>`` for its
    domains. In each domain the approach ``r*`` with the highest value (the first
    on ties) is prescribed with strength ``q`` = that value:
    ``Q[k, r] = q[k] * 1[r = r*[k]]``; ``q = 0`` prescribes nothing.
    """
    batch, k, r = actions.shape[0], cfg.n_domains, cfg.n_approaches
    if not cfg.prescription:
        return np.zeros((batch, k, r))
    start = cfg.n_localities * (k // cfg.n_centres) + cfg.n_localities
    raw = np.clip(actions[..., start:], 0.0, 1.0).reshape(batch, k, r)  # centres hold domains
    best = raw.argmax(axis=-1)
    strength = raw.max(axis=-1)
    return strength[..., None] * (np.arange(r) == best[..., None])


def off_method_effort(cfg: WorldConfig, prescription: np.ndarray, share: np.ndarray):
    """``off[i,k] = q[k] * sum_{r != r*[k]} share[i,k,r]`` (B, L, K): the effort share spent
    on approaches other than the one prescribed in domain k, times its strength."""
    strength = prescription.max(axis=-1)  # q (B, K)
    on_method = (share * prescription[:, None]).sum(axis=-1)  # q * share on r*
    return strength[:, None, :] * share.sum(axis=-1) - on_method


# ---- 3. one step: outcomes ------------------------------------------------------------


def delivery_gain(cfg: WorldConfig, state: WorldState, deliver: np.ndarray) -> np.ndarray:
    """``gain[i,k] = alpha * sum_r E[i,k,r] * sqrt(dlv[i,k,r]) * (1 - x[i,k])``."""
    returns = (state.effectiveness * np.sqrt(deliver)).sum(axis=-1)
    return cfg.alpha * returns * (1.0 - state.true)


def frontline_delivery(cfg: WorldConfig, revealed: np.ndarray, deliver: np.ndarray) -> np.ndarray:
    """A target cascade: the delivery (B, L, K, R) the frontline makes of the agencies'
    plan ``deliver`` (docs/model.md, "Target cascades"); the plan itself without one.

    An agency with frontline targets (one of its domains in ``revealed`` (B, K), what
    the localities know is measured) keeps its plan for ``1 - phi`` of each of its
    domains' delivery, ``phi = frontline_share``. The frontline governs the rest: a
    cascaded domain's share ``phi`` is delivered by the national mix, and the share
    ``phi`` of an unmeasured domain's delivery is target work, which delivers nothing.
    """
    if cfg.cascade is None:
        return deliver
    phi, mix = cfg.frontline_share, cfg.national_mix  # mix[k,r] = Ebar^2 / sum_r Ebar^2
    out = deliver.copy()
    for domains in cfg.agency_domains.astype(bool):  # each agency: the domains it holds
        plan = deliver[:, :, domains]  # (B, L, k_a, R)
        cascaded = revealed[:, None, domains, None]  # (B, 1, k_a, 1)
        has_targets = cascaded.any(axis=-2, keepdims=True)  # (B, 1, 1, 1)
        by_frontline = phi * plan.sum(axis=-1, keepdims=True) * mix[domains]
        made = (1.0 - phi) * plan + cascaded * by_frontline
        out[:, :, domains] = np.where(has_targets, made, plan)
    return out


def audit_reach(cfg: WorldConfig, revealed: np.ndarray) -> np.ndarray:
    """(B, 1, K): the share of a cell's inflation an audit finds: ``1 - phi`` in a cascaded
    domain (the audit checks the headline measure and as many frontline measures however
    many there are), 1 elsewhere and without a cascade."""
    return 1.0 - cfg.frontline_share * revealed[:, None, :]


def joint_partnership(cfg: WorldConfig, partner_share: np.ndarray) -> np.ndarray:
    """``J[i] = (prod_a (p[i,a] + l)) ** (1/A) - l`` over the agencies (B, L), ``l`` the
    ``latent_partnership``; the share itself for a locality of one agency."""
    if partner_share.shape[-1] == 1:
        return partner_share[..., 0]
    shifted = partner_share + cfg.latent_partnership
    return np.prod(shifted, axis=-1) ** (1.0 / shifted.shape[-1]) - cfg.latent_partnership


def spillovers(cfg: WorldConfig, gain: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """``spill[i,k] = kappa (s0 + s1 J[i]) * sum_k' S[k,k'] gain[i,k']``."""
    helped = np.einsum("kj,bij->bik", cfg.spillover_matrix, gain)
    return (cfg.coordination * (cfg.s0 + cfg.s1 * joint))[..., None] * helped


def gaming(cfg: WorldConfig, inflation: np.ndarray, game: np.ndarray):
    """``u <- (1 - rho) u + gamma sqrt(gam)`` (not clipped), and the real harm ``eta gam``."""
    new_inflation = (1.0 - cfg.rho) * inflation + cfg.gamma * np.sqrt(game)
    harm = cfg.eta * game
    return new_inflation, harm


def true_outcome(cfg, state, gain, spill, harm, eps):
    """``x <- clip(x + gain + spill - harm - delta (x - b) + sigma_x eps, 0, 1)``."""
    x = state.true
    drift = cfg.delta * (x - state.baseline)
    return np.clip(x + gain + spill - harm - drift + cfg.sigma_x * eps, 0.0, 1.0)


def measure(cfg: WorldConfig, true: np.ndarray, inflation: np.ndarray, eps: np.ndarray):
    """``m = clip(x_new + u_new + sigma_m eps, 0, 1)`` for every cell."""
    return np.clip(true + inflation + cfg.sigma_m * eps, 0.0, 1.0)


def is_review_step(cfg: WorldConfig, t: np.ndarray) -> np.ndarray:
    """(B,) bool: ``t % P == P - 1``, the last step of each period (t counted before it)."""
    return t % cfg.review_period == cfg.review_period - 1


# ---- 4. measurement, audits and targets --------------------------------------------------


def basket_of_design(cfg: WorldConfig, design: Design) -> np.ndarray | None:
    """(K,) the fixed basket ``mu`` of a design, or None for a rotating one."""
    if design.measures == "headline":
        return cfg.headline_mask.astype(float)
    if design.measures == "all":
        return np.ones(cfg.n_domains)
    return None


def draw_rotating_basket(cfg: WorldConfig, rng: np.random.Generator, batch: int) -> np.ndarray:
    """(B, K): ``basket_size`` domains drawn uniformly (those of the lowest uniform keys)."""
    keys = rng.random((batch, cfg.n_domains))
    rank = keys.argsort(axis=1).argsort(axis=1)  # 0 for the smallest key
    return (rank < cfg.basket_size).astype(float)


def audit_probabilities(cfg: WorldConfig, design: Design, weights: np.ndarray) -> np.ndarray:
    """``pi``, (B, L, 1) per locality or (B, L, C) per cell of each centre's domain.

    ``none``: 0; ``random``: audit_rate; ``random_low``: audit_rate_low;
    ``centre``: ``min(1, n_audits * a_audit[i] / sum_j a_audit[j])``, 0 if all
    weights are 0 (a department allocates its own budget over its domain's cells).
    """
    batch, n_loc = weights.shape[0], cfg.n_localities
    if design.audits == "none":
        return np.zeros((batch, n_loc, 1))
    if design.audits == "random":
        return np.full((batch, n_loc, 1), cfg.audit_rate)
    if design.audits == "random_low":
        return np.full((batch, n_loc, 1), cfg.audit_rate_low)
    total = weights.sum(axis=1, keepdims=True)
    shares = np.where(total > 0.0, weights / np.where(total > 0.0, total, 1.0), 0.0)
    return np.minimum(1.0, cfg.n_audits * shares)


def systematic_audit_draw(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which units are audited (bool, the shape of ``pi``), along axis 1 (localities).

    The localities are visited in a random order (the order of uniform keys);
    their ``pi`` are laid end to end on a line, unit j taking the segment
    ``[start_j, end_j)``; the sampling points are ``u, u + 1, u + 2, ...`` for one
    uniform offset ``u``. A unit is audited when a point falls in its segment,
    which happens with probability exactly ``pi_j``; there are ``floor`` or
    ``ceil`` of ``sum pi`` points on the line.
    """
    keys = rng.random(pi.shape)
    order = keys.argsort(axis=1)  # visiting order
    pi_in_order = np.take_along_axis(pi, order, axis=1)
    end = np.cumsum(pi_in_order, axis=1)
    start = end - pi_in_order
    u = rng.random((pi.shape[0], 1, pi.shape[2]))
    # the number of points u + n (n integer) in [start, end) is ceil(end - u) - ceil(start - u)
    points = np.ceil(end - u) - np.ceil(start - u)
    audited = np.empty(pi.shape, dtype=bool)
    np.put_along_axis(audited, order, points > 0, axis=1)
    return audited


def audit_cells(cfg: WorldConfig, chosen: np.ndarray) -> np.ndarray:
    """(B, L, K) 0/1: a chosen locality has all its K cells audited; a chosen cell, itself."""
    batch = chosen.shape[0]
    return np.broadcast_to(chosen, (batch, cfg.n_localities, cfg.n_domains)).astype(float)


def agency_sum(cfg: WorldConfig, cells: np.ndarray) -> np.ndarray:
    """(B, L, K) -> (B, L, A): each agency's sum over its own domains."""
    return np.einsum("ak,bik->bia", cfg.agency_domains, cells)


def sanctions(cfg: WorldConfig, found: np.ndarray, off_found: np.ndarray) -> np.ndarray:
    """``sanction[i,a] = F * sum_{k of a} found[i,k] + F_p * sum_{k of a} off_found[i,k]``
    (B, L, A), never pooled: inflation found, and (with the prescription lever) the
    period's off-method record found, ``F_p`` = ``prescription_sanction``."""
    out = cfg.sanction * agency_sum(cfg, found)
    if cfg.prescription:
        out = out + cfg.prescription_sanction * agency_sum(cfg, off_found)
    return out


# ---- 5. rewards -----------------------------------------------------------------------


def pay_weights(cfg: WorldConfig, design: Design) -> np.ndarray:
    """``W`` (A, K): the agency's own domains, or all K under locality pooling."""
    if design.pooling == "locality" or cfg.pooled_localities:
        return np.ones((cfg.n_agencies, cfg.n_domains))
    return cfg.agency_domains


def pool(cells: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``pay[i,a] = sum_k W[a,k] mu[k] cell[i,k] / max(1, sum_k W[a,k] mu[k])`` (B, L, A)."""
    counts = weights[None] * mu[:, None, :]  # (B, A, K): W[a,k] mu[k]
    paid = np.einsum("bak,bik->bia", counts, cells)
    return paid / np.maximum(1.0, counts.sum(axis=-1))[:, None, :]


def rank_among_localities(score: np.ndarray) -> np.ndarray:
    """(B, L, A) rank of each locality's score among the localities (0 = lowest).

    The position of the locality in the scores sorted by numpy's default
    ``argsort``, so tied scores get distinct ranks in the order that sort leaves
    them (not always locality order: docs/model.md section 5).
    """
    return score.argsort(axis=1).argsort(axis=1)


def league_table_pay(cfg, measured, mu, weights) -> np.ndarray:
    """``rank_i(pooled m) / (L - 1)`` per agency column; 0 for an agency with no counted domain.

    (Like every other rule; docs/model.md once said ``i / (L - 1)`` for the latter.)
    """
    score = pool(measured, mu, weights)
    counted = (weights[None] * mu[:, None, :]).sum(axis=-1) > 0  # (B, A)
    return rank_among_localities(score) / (cfg.n_localities - 1) * counted[:, None, :]


def cell_pay(cfg, rule, measured, targets, true_now, true_before, priorities) -> np.ndarray:
    """Pay per cell (B, L, K) of the rules other than league_table."""
    k = cfg.n_domains
    if rule == "threshold":
        return (measured >= targets).astype(float)
    if rule == "linear":
        return cfg.linear_slope * (measured - targets)
    if rule == "priorities":
        return cfg.linear_slope * k * priorities * (measured - targets)
    if rule == "oracle":
        return cfg.oracle_scale * k * priorities * (true_now - true_before)
    if rule == "flat":
        return np.zeros_like(measured)
    raise ValueError(f"unknown pay rule {rule!r}")


def design_pay(cfg, design, state, true_now, measured) -> np.ndarray:
    """Each agency's pay (B, L, A): the design's rule, on the targets in force and ``mu``."""
    mu, weights = state.basket, pay_weights(cfg, design)
    if design.pay == "league_table":
        return league_table_pay(cfg, measured, mu, weights)
    cells = cell_pay(
        cfg, design.pay, measured, state.targets, true_now, state.true, state.priorities
    )
    return pool(cells, mu, weights)


def good_done(cfg: WorldConfig, state: WorldState, true_now: np.ndarray) -> np.ndarray:
    """``good[i,a] = sum_{k of a} w (x_new - b) / sum_{k of a} w`` (B, L, A)."""
    w = state.priorities
    above = agency_sum(cfg, w * (true_now - state.baseline))
    return above / np.maximum(agency_sum(cfg, w), 1e-12)


def local_reward(cfg, state, pay, sanction, slack_share, good) -> np.ndarray:
    """``r[i,a] = pay - sanction - effort_cost (1 - s)^effort_exponent + psi[i] good``
    as (B, N)."""
    r = pay - sanction - cfg.effort_cost * (1.0 - slack_share) ** cfg.effort_exponent
    r = r + state.motivation[..., None] * good
    return r.reshape(r.shape[0], -1)


def political_by_domain(measured, targets, mu) -> np.ndarray:
    """``P[k] = 0.5 mean_i(1[m >= tau] mu[k] + m mu[k])`` (B, K)."""
    hit = (measured >= targets) * mu[:, None, :]
    level = measured * mu[:, None, :]
    return 0.5 * (hit + level).mean(axis=1)


def political_reward(cfg, measured, targets, mu) -> np.ndarray:
    """Centre: ``sum_k P[k] / max(1, sum_k mu[k])`` (B, 1); department k: ``P[k]`` (B, K)."""
    p = political_by_domain(measured, targets, mu)
    if cfg.departments:
        return p
    return (p.sum(axis=1) / np.maximum(1.0, mu.sum(axis=1)))[:, None]


def welfare_reward(cfg, true_now, audited) -> np.ndarray:
    """Centre: ``wbar . mean_i x - audit_cost max_k(n audited in k) / L`` (B, 1).

    Department k: ``mean_i x[i,k] - audit_cost (cells of k audited) / L`` (B, K).
    """
    mean_truth = true_now.mean(axis=1)  # (B, K)
    audited_share = audited.sum(axis=1) / cfg.n_localities  # (B, K)
    if cfg.departments:
        return mean_truth - cfg.audit_cost * audited_share
    welfare = mean_truth @ cfg.priorities - cfg.audit_cost * audited_share.max(axis=1)
    return welfare[:, None]


def centre_reward(cfg, name, state, true_now, measured, audited) -> np.ndarray:
    if name == "political":
        return political_reward(cfg, measured, state.targets, state.basket)
    if name == "welfare":
        return welfare_reward(cfg, true_now, audited)
    raise ValueError(f"unknown centre reward {name!r}")


# ---- 6. metrics -----------------------------------------------------------------------


def masked_mean(cells: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """(B, L): mean over the counted domains (0 if none count)."""
    return (cells * mu[:, None, :]).sum(axis=-1) / np.maximum(1.0, mu.sum(axis=-1))[:, None]


def mean_over(cells: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """(B, L): mean over the domains where ``domains`` (K,) is true (0 if there are none)."""
    return (cells * domains).sum(axis=-1) / max(1.0, float(domains.sum()))


def frontline_metrics(cfg: WorldConfig, revealed: np.ndarray, plan: np.ndarray) -> dict:
    """A cascade's metrics (B, L): ``frontline_targets``, M while the locality knows of a
    measured domain (0 before, in a rotating basket's first period);
    ``measured_effort_share``, the share of its planned delivery effort ``plan``
    (B, L, K, R) that its frontline spends on frontline targets: the cascaded domains'
    delivery and, in every agency with frontline targets, the target work ``phi`` of
    its unmeasured domains'; and ``planned_measured_share``, the share of the plan
    itself on the cascaded domains (both 0 if it plans no delivery)."""
    phi = cfg.frontline_share
    effort = plan.sum(axis=-1)  # (B, L, K)
    on = np.zeros_like(effort)
    for domains in cfg.agency_domains.astype(bool):  # each agency: the domains it holds
        cascaded = revealed[:, None, domains]  # (B, 1, k_a)
        governed = phi * cascaded.any(axis=-1, keepdims=True)  # phi, or 0 without targets
        on[:, :, domains] = effort[:, :, domains] * (cascaded + governed * (1.0 - cascaded))
    total = effort.sum(axis=-1)
    planned = (effort * revealed[:, None, :]).sum(axis=-1)
    known = np.broadcast_to(revealed.any(axis=-1)[:, None], total.shape)

    def share(part: np.ndarray) -> np.ndarray:
        return np.divide(part, total, out=np.zeros_like(total), where=total > 0)

    return {
        "frontline_targets": cfg.cascade * known.astype(float),
        "measured_effort_share": share(on.sum(axis=-1)),
        "planned_measured_share": share(planned),
    }


def locality_metrics(cfg, before, true, measured, effort, audited, found, sanction):
    """Every per-locality metric, name -> (B, L), as docs/model.md section 6 writes it.

    ``before`` is the state before the step (targets in force, basket, the last
    step's x and m); ``audited``, ``found`` and ``sanction`` are this step's
    (zeros on a step without audits); ``effort`` is the agencies' plan (before a
    cascade's frontline).
    """
    mu = before.basket
    headline = cfg.headline_mask.astype(float)
    hit = (measured >= before.targets).astype(float)
    counted = hit * mu[:, None, :]
    near = counted * (measured < before.targets + cfg.bunching_band)
    perverse = (measured > before.measured) & (true < before.true)
    change = true - before.initial
    out = {
        "true_welfare": true @ cfg.priorities,
        "local_welfare": (before.priorities * true).sum(axis=-1),
        "measured_performance": masked_mean(measured, mu),
        "target_hit_rate": masked_mean(hit, mu),
        "true_hit_rate": masked_mean((true >= before.targets).astype(float), mu),
        "goodhart_gap": masked_mean(measured - true, mu),
        "target_margin": masked_mean(measured - before.targets, mu),
        "target_level": masked_mean(before.targets, mu),
        "gaming_share": effort.game_share.mean(axis=-1),
        "slack_share": effort.slack_share.mean(axis=-1),
        "partnership": effort.partner_share.mean(axis=-1),
        "joint_partnership": joint_partnership(cfg, effort.partner_share),
        "measured_change": mean_over(change, headline),
        "unmeasured_change": mean_over(change, 1.0 - headline),
    }
    out["neglect"] = out["measured_change"] - out["unmeasured_change"]
    out["bunching"] = near.sum(axis=-1) / np.maximum(1.0, counted.sum(axis=-1))
    out["perverse_rate"] = masked_mean(perverse.astype(float), mu)
    out["audits"] = audited.mean(axis=-1)
    out["detections"] = (found > DETECTION_FLOOR).mean(axis=-1)
    out["sanctions"] = sanction.sum(axis=-1)
    if cfg.cascade is not None:
        out.update(frontline_metrics(cfg, before.revealed, effort.deliver))
    # the raw counts national bunching pools (not metrics themselves)
    return out, near.sum(axis=-1), counted.sum(axis=-1)


def national_metrics(cfg, local: dict, near_count, hit_count) -> dict:
    """Every national metric, name -> (B,): means over localities, except as marked."""
    summed = ("audits", "detections", "sanctions")
    out = {
        name: (value.sum(axis=1) if name in summed else value.mean(axis=1))
        for name, value in local.items()
    }
    out["bunching"] = near_count.sum(axis=1) / np.maximum(1.0, hit_count.sum(axis=1))
    out["inequality"] = local["local_welfare"].std(axis=1)
    out["audit_cost"] = cfg.audit_cost * out["audits"] / cfg.n_localities
    return out


# ---- the step -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceStep:
    state: WorldState
    local_rewards: np.ndarray  # (B, N)
    centre_rewards: np.ndarray  # (B, C)
    locality_metrics: dict[str, np.ndarray]  # name -> (B, L)
    national_metrics: dict[str, np.ndarray]  # name -> (B,)


def reference_step(
    cfg: WorldConfig,
    design_name: str,
    centre_reward_name: str,
    state: WorldState,
    local_actions: np.ndarray,  # (B, N, D_local)
    centre_actions: np.ndarray,  # (B, C, D_centre)
    rng: np.random.Generator,
) -> ReferenceStep:
    """One step of docs/model.md section 3, in its order."""
    design = get_design(design_name)
    batch, n_loc, k = state.t.shape[0], cfg.n_localities, cfg.n_domains
    effort = decode_local_action(cfg, local_actions, state.capacity)
    # 1-5: delivery, spillovers, gaming, true outcome, measure
    joint = joint_partnership(cfg, effort.partner_share)
    delivered = frontline_delivery(cfg, state.revealed, effort.deliver)
    gain = delivery_gain(cfg, state, delivered) * cfg.holistic_factor(joint)[..., None]
    spill = spillovers(cfg, gain, joint)
    inflation, harm = gaming(cfg, state.inflation, effort.game)
    eps = rng.standard_normal((2, batch, n_loc, k))
    true = true_outcome(cfg, state, gain, spill, harm, eps[0])
    measured = measure(cfg, true, inflation, eps[1])
    # 7: review (audits, targets, rotating basket) where t % P == P - 1
    review = is_review_step(cfg, state.t)
    cells = review[:, None, None]  # broadcast over (L, K) and (L, A)
    audited = np.zeros((batch, n_loc, k))
    targets, basket, revealed = state.targets, state.basket, state.revealed
    prescription = state.prescription
    # the period's off-method record, the prescription in force (zero without the lever)
    off_method = (
        state.off_method
        + off_method_effort(cfg, state.prescription, effort.deliver_share) / cfg.review_period
    )
    if review.any():
        new_targets, weights = decode_centre_action(cfg, centre_actions)
        chosen = systematic_audit_draw(audit_probabilities(cfg, design, weights), rng)
        audited = audit_cells(cfg, chosen) * cells  # only where reviewing
        targets = np.where(cells, new_targets, state.targets)
        prescription = np.where(
            review[:, None, None], decode_prescription(cfg, centre_actions), prescription
        )
        if basket_of_design(cfg, design) is None:
            drawn = draw_rotating_basket(cfg, rng, batch)
            revealed = np.where(review[:, None], state.basket, state.revealed)
            basket = np.where(review[:, None], drawn, state.basket)
    found = inflation * audited * audit_reach(cfg, state.revealed)
    sanction = sanctions(cfg, found, off_method * audited)
    new_state = state.replace(
        t=state.t + 1,
        true=true,
        measured=measured,
        inflation=inflation - found,
        targets=targets,
        basket=basket,
        revealed=revealed,
        audited=np.where(cells, audited, state.audited),
        audited_true=np.where(cells, true * audited, state.audited_true),
        detected=np.where(cells, found, state.detected),
        sanction=np.where(cells, sanction, state.sanction),
        partnership=effort.partner_share,
        prescription=prescription,
        off_method=np.where(cells, 0.0, off_method),  # a review closes the period's record
    )
    # 6 and 8: pay on the targets in force before the step and this period's basket
    pay = design_pay(cfg, design, state, true, measured)
    local = local_reward(cfg, state, pay, sanction, effort.slack_share, good_done(cfg, state, true))
    centre = centre_reward(cfg, centre_reward_name, state, true, measured, audited)
    loc, near_count, hit_count = locality_metrics(
        cfg, state, true, measured, effort, audited, found, sanction
    )
    return ReferenceStep(
        new_state, local, centre, loc, national_metrics(cfg, loc, near_count, hit_count)
    )


def reference_reset(
    cfg: WorldConfig, design_name: str, rng: np.random.Generator, batch_size: int
) -> WorldState:
    """B fresh environments drawn as docs/model.md section 1 says, in the core's draw order."""
    batch, n_loc, k, r = batch_size, cfg.n_localities, cfg.n_domains, cfg.n_approaches
    baseline = rng.uniform(cfg.baseline_low, cfg.baseline_high, (batch, n_loc, k))
    z = np.clip(rng.standard_normal((batch, n_loc, k, r)), -3.0, 3.0)
    ebar = np.broadcast_to(cfg.mean_effectiveness, (n_loc, k, r)).copy()
    if cfg.locality_types == 2:  # odd localities: the approach order reversed
        ebar[1::2] = ebar[1::2, :, ::-1]
    capacity = rng.uniform(cfg.capacity_low, cfg.capacity_high, (batch, n_loc))
    priorities = rng.dirichlet(cfg.priority_concentration * k * cfg.priorities, (batch, n_loc))
    knight = rng.random((batch, n_loc)) < cfg.knight_share
    fixed = basket_of_design(cfg, get_design(design_name))
    if fixed is None:  # localities see nothing measured in the first period
        basket, revealed = draw_rotating_basket(cfg, rng, batch), np.zeros((batch, k))
    else:
        basket = revealed = np.broadcast_to(fixed, (batch, k))
    return WorldState(
        t=np.zeros(batch, dtype=np.int64),
        true=baseline,
        initial=baseline,
        baseline=baseline,
        effectiveness=ebar * np.exp(cfg.heterogeneity * z),
        capacity=capacity,
        priorities=priorities,
        motivation=np.where(knight, cfg.psi_knight, cfg.psi_knave),
        inflation=np.zeros((batch, n_loc, k)),
        targets=np.full((batch, n_loc, k), cfg.target_default),
        measured=baseline,
        basket=basket,
        revealed=revealed,
        audited=np.zeros((batch, n_loc, k)),
        audited_true=np.zeros((batch, n_loc, k)),
        detected=np.zeros((batch, n_loc, k)),
        sanction=np.zeros((batch, n_loc, cfg.n_agencies)),
        partnership=np.zeros((batch, n_loc, cfg.n_agencies)),
        prescription=np.zeros((batch, k, r)),
        off_method=np.zeros((batch, n_loc, k)),
    )


# ---- observations, named ---------------------------------------------------------------


def time_to_review(cfg: WorldConfig, t: np.ndarray) -> np.ndarray:
    """``((P - 1) - t % P) / P``: 0 just before a review step (B,)."""
    p = cfg.review_period
    return ((p - 1) - t % p) / p


def time_elapsed(cfg: WorldConfig, t: np.ndarray) -> np.ndarray:
    """``t / T`` (at most 1) (B,)."""
    return np.minimum(t / cfg.horizon, 1.0)


def local_component(cfg: WorldConfig, state: WorldState, agency: int, name: str) -> np.ndarray:
    """(B, L) the named component of agency ``agency``'s observation in every locality.

    Names as in ``observe.local_observation_layout``.
    """
    batch, n_loc = state.t.shape[0], cfg.n_localities
    part, *rest = name.split(":")
    if part == "capacity":
        return state.capacity
    if part == "motivation":
        return state.motivation
    if part == "sanction":
        return state.sanction[..., agency]
    if part == "audited":  # any of the agency's cells audited at the last review
        return (state.audited * cfg.agency_domains[agency]).max(axis=-1)
    if part == "partners_partnership":  # the other agencies' mean partner share
        others = state.partnership.sum(axis=-1) - state.partnership[..., agency]
        return others / (cfg.n_agencies - 1)
    if part in ("time_to_review", "time"):
        clock = time_to_review if part == "time_to_review" else time_elapsed
        return np.repeat(clock(cfg, state.t)[:, None], n_loc, axis=1)
    k = cfg.domains.index(rest[0])
    if part == "agency":  # one-hot of the agency's domain
        return np.full((batch, n_loc), float(k == agency))
    if part == "effectiveness":
        return state.effectiveness[:, :, k, int(rest[1])]
    if part == "prescribed":  # the centre's prescription, the same in every locality
        return np.repeat(state.prescription[:, None, k, int(rest[1])], n_loc, axis=1)
    revealed = state.revealed[:, None, k]  # localities see what they know is measured
    if part == "measured":
        return state.measured[:, :, k] * revealed
    if part == "is_measured":
        return np.repeat(revealed, n_loc, axis=1)
    field = {"target": "targets", "priority": "priorities"}.get(part, part)  # true, inflation
    return getattr(state, field)[:, :, k]


def centre_component(cfg: WorldConfig, state: WorldState, centre: int, name: str) -> np.ndarray:
    """(B,) the value of the named component of centre ``centre``'s observation
    (names as in ``observe.centre_observation_layout``)."""
    batch = state.t.shape[0]
    part, *rest = name.split(":")
    if part == "time_to_review":
        return time_to_review(cfg, state.t)
    if part == "time":
        return time_elapsed(cfg, state.t)
    per_domain = ("is_measured", "national_priority", "department", "mean_effectiveness")
    if part in (*per_domain, "prescribed"):
        k = cfg.domains.index(rest[0])
        if part == "prescribed":  # the prescription in force
            return state.prescription[:, k, int(rest[1])]
        if part == "is_measured":  # the centre sees the current basket
            return state.basket[:, k]
        if part == "national_priority":
            return np.full(batch, cfg.priorities[k])
        if part == "department":
            return np.full(batch, float(k == centre))
        return np.full(batch, cfg.mean_effectiveness[k, int(rest[1])])
    i = int(rest[0])
    # the centre's domains: all of them, or department k's own
    own = np.eye(cfg.n_domains)[centre] if cfg.departments else np.ones(cfg.n_domains)
    if part == "audited":  # any of the centre's cells of locality i audited
        return (state.audited[:, i] * own).max(axis=-1)
    if part == "detected":  # inflation found in the centre's cells of locality i
        return (state.detected[:, i] * own).sum(axis=-1)
    k = cfg.domains.index(rest[1])
    per_cell = {
        "measured": state.measured * state.basket[:, None, :],  # only what is measured
        "target": state.targets,
        "audited_true": state.audited_true,
    }
    return per_cell[part][:, i, k]


def state_component(cfg: WorldConfig, state: WorldState, name: str) -> np.ndarray:
    """(B,) the value of the named component of the global state (``observe.state_layout``)."""
    part, *rest = name.split(":")
    if part == "time_to_review":
        return time_to_review(cfg, state.t)
    if part == "time":
        return time_elapsed(cfg, state.t)
    if part == "is_measured":
        return state.basket[:, cfg.domains.index(rest[0])]
    if part == "prescribed":
        return state.prescription[:, cfg.domains.index(rest[0]), int(rest[1])]
    i = int(rest[0])
    if part in ("capacity", "motivation"):
        return getattr(state, part)[:, i]
    k = cfg.domains.index(rest[1])
    if part == "effectiveness":
        return state.effectiveness[:, i, k, int(rest[2])]
    field = {"target": "targets", "priority": "priorities"}.get(part, part)
    return getattr(state, field)[:, i, k]
