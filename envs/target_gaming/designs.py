"""Reward designs (pay rule x measurement x audit regime x pooling) and centre rewards.

A design is a named entry of ``DESIGNS``; its pay rule is a pure function of
arrays in ``PAY_RULES``. Central rewards are pure functions in
``CENTRE_REWARDS``. Shapes: B environments, L localities, K domains, A
agencies per locality, C central agents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import WorldConfig

MEASURES = ("headline", "all", "rotating")
AUDITS = ("none", "random", "random_low", "centre")
POOLINGS = ("own", "locality")


@dataclass(frozen=True)
class PayInputs:
    """What a pay rule may look at, for one step of B environments."""

    measured: np.ndarray  # (B, L, K) the published measure m
    targets: np.ndarray  # (B, L, K) tau in force this step
    true_now: np.ndarray  # (B, L, K) x after this step
    true_before: np.ndarray  # (B, L, K) x before this step
    priorities: np.ndarray  # (B, L, K) local priorities w
    mask: np.ndarray  # (B, 1, K) 1.0 where the domain counts for pay this step
    weights: np.ndarray  # (A, K) which domains' pay each agency receives (pooling)
    # Optional, already computed by the caller (None: computed here):
    counted: np.ndarray | None = None  # (B, L, K) 1[m >= tau] * mask
    norm: np.ndarray | None = None  # max(1, mask @ weights.T), broadcastable to (B, L, A)


def _flat_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for x (..., K) and w (K, A) as one 2-D product (no loop over batches)."""
    out = x.reshape(-1, x.shape[-1]) @ w
    return out.reshape(x.shape[:-1] + w.shape[-1:])


def _pool_norm(inputs: PayInputs) -> np.ndarray:
    if inputs.norm is not None:
        return inputs.norm
    return np.maximum(inputs.mask @ inputs.weights.T, 1.0)  # (B, 1, A)


def pool(cells: np.ndarray, inputs: PayInputs) -> np.ndarray:
    """Average per-cell pay over the domains an agency is paid on.

    ``pay[b, i, a] = sum_k W[a, k] mask[k] cells[b, i, k] / max(1, sum_k W[a, k] mask[k])``
    so an agency none of whose domains counts is paid 0.
    """
    return _pool_masked(cells * inputs.mask, inputs)  # (B, L, A)


def _pool_masked(masked: np.ndarray, inputs: PayInputs) -> np.ndarray:
    return _flat_matmul(masked, inputs.weights.T) / _pool_norm(inputs)


def threshold_pay(cfg: WorldConfig, inputs: PayInputs) -> np.ndarray:
    """Share of counted targets hit: ``1[m >= tau]`` averaged by ``pool``."""
    counted = inputs.counted
    if counted is None:
        counted = (inputs.measured >= inputs.targets) * inputs.mask
    return _pool_masked(counted, inputs)


def linear_pay(cfg: WorldConfig, inputs: PayInputs) -> np.ndarray:
    """Linear in the distance to target: ``linear_slope * (m - tau)``, pooled."""
    return pool(cfg.linear_slope * (inputs.measured - inputs.targets), inputs)


def priorities_pay(cfg: WorldConfig, inputs: PayInputs) -> np.ndarray:
    """Linear on local priorities: ``linear_slope * K * w[i,k] * (m - tau)``, pooled.

    The factor K makes uniform priorities pay exactly like ``linear``.
    """
    k = inputs.measured.shape[-1]
    return pool(
        cfg.linear_slope * k * inputs.priorities * (inputs.measured - inputs.targets), inputs
    )


def league_table_pay(cfg: WorldConfig, inputs: PayInputs) -> np.ndarray:
    """Rank among localities of the pooled measure, scaled to [0, 1] (top = 1).

    An agency none of whose domains is counted is paid 0, like every other rule.
    """
    score = pool(inputs.measured, inputs)  # (B, L, A)
    ranks = np.argsort(np.argsort(score, axis=1), axis=1)
    counted = (inputs.mask @ inputs.weights.T) > 0  # (B, 1, A)
    return ranks / (score.shape[1] - 1) * counted


def oracle_pay(cfg: WorldConfig, inputs: PayInputs) -> np.ndarray:
    """Change in true welfare: ``oracle_scale * K * w[i,k] * (x_now - x_before)``, pooled."""
    k = inputs.measured.shape[-1]
    change = inputs.true_now - inputs.true_before
    return pool(cfg.oracle_scale * k * inputs.priorities * change, inputs)


def flat_pay(cfg: WorldConfig, inputs: PayInputs) -> np.ndarray:
    """No performance pay: 0 for every agency (a flat budget, whatever is measured)."""
    return np.zeros(inputs.measured.shape[:2] + inputs.weights.shape[:1])


PayRule = Callable[[WorldConfig, PayInputs], np.ndarray]
PAY_RULES: dict[str, PayRule] = {
    "threshold": threshold_pay,
    "linear": linear_pay,
    "league_table": league_table_pay,
    "priorities": priorities_pay,
    "oracle": oracle_pay,
    "flat": flat_pay,
}


@dataclass(frozen=True)
class Design:
    """A reward design: how locals are paid, what is measured, how audits work."""

    name: str
    pay: str  # key of PAY_RULES
    measures: str  # headline: the scenario's headline domains; all; rotating basket
    audits: str  # none; random (audit_rate); random_low (audit_rate_low); centre (budget)
    pooling: str  # own: each agency on its own domains; locality: every agency on all
    stands_for: str
    # The scripted centre that plays the design's part when none is named (a name of
    # ``target_gaming.agents.CENTRE_POLICIES``): a design whose audits the centre
    # allocates needs a centre that allocates them.
    centre: str = "fixed_targets"

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("pay", self.pay, tuple(PAY_RULES)),
            ("measures", self.measures, MEASURES),
            ("audits", self.audits, AUDITS),
            ("pooling", self.pooling, POOLINGS),
        ):
            if value not in allowed:
                raise ValueError(
                    f"design {self.name!r}: {field}={value!r} is not one of {list(allowed)}"
                )

    @property
    def pays_on_truth(self) -> bool:
        return self.pay == "oracle"


DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design("targets", "threshold", "headline", "none", "own", "PSA targets, P/A tables"),
        Design("linear", "linear", "headline", "none", "own", "pay for performance"),
        Design("league_table", "league_table", "headline", "none", "own", "star ratings"),
        Design(
            "audited_targets",
            "threshold",
            "headline",
            "random",
            "own",
            "Delivery Unit plus inspection",
        ),
        Design("rotating_basket", "threshold", "rotating", "random_low", "own", "randomness"),
        Design(
            "targeted_audits",
            "threshold",
            "headline",
            "centre",
            "own",
            "risk-based audits",
            centre="risk_based_audits",
        ),
        Design(
            "local_priorities",
            "priorities",
            "all",
            "random_low",
            "own",
            "local autonomy with accountability",
        ),
        Design("pooled_budget", "threshold", "all", "random_low", "locality", "joined-up budgets"),
        Design("oracle_outcomes", "oracle", "all", "none", "own", "unattainable reference"),
        Design("flat_pay", "flat", "headline", "none", "own", "a flat budget: no performance pay"),
    )
}


def get_design(name: str) -> Design:
    if name not in DESIGNS:
        raise ValueError(f"unknown design {name!r}; known designs: {', '.join(DESIGNS)}")
    return DESIGNS[name]


# ---- central rewards -----------------------------------------------------------


@dataclass(frozen=True)
class CentreInputs:
    measured: np.ndarray  # (B, L, K)
    targets: np.ndarray  # (B, L, K)
    true_now: np.ndarray  # (B, L, K)
    mask: np.ndarray  # (B, 1, K) domains measured this step
    audited: np.ndarray  # (B, L, K) cells audited this step (0/1)
    # Optional, already computed by the caller (None: computed here):
    counted: np.ndarray | None = None  # (B, L, K) 1[m >= tau] * mask
    level: np.ndarray | None = None  # (B, L, K) m * mask
    n_counted: np.ndarray | None = None  # (B, 1) max(1, number of domains measured)


def _sum_localities(arr: np.ndarray) -> np.ndarray:
    """(B, L, K) -> (B, K): the sum over localities as one 2-D product."""
    batch, n_loc, k = arr.shape
    return arr.reshape(batch, n_loc * k) @ _stacked_eye(n_loc, k)


@functools.lru_cache(maxsize=64)
def _stacked_eye(n_loc: int, k: int) -> np.ndarray:  # (L*K, K): L identities stacked
    out = np.tile(np.eye(k), (n_loc, 1))
    out.flags.writeable = False
    return out


def political_reward(cfg: WorldConfig, inputs: CentreInputs) -> np.ndarray:
    """What the media see: ``0.5 * hit rate + 0.5 * mean measure`` over measured cells.

    Coordinated centre: over all measured cells; a department: over its domain
    (0 when its domain is not measured).
    """
    hit, level = inputs.counted, inputs.level
    if hit is None:
        hit = (inputs.measured >= inputs.targets) * inputs.mask
    if level is None:
        level = inputs.measured * inputs.mask
    both = hit + level
    n_loc = both.shape[1]
    if cfg.departments:  # (B, K), half the mean over localities
        return _sum_localities(both) * (0.5 / n_loc)
    counted = inputs.n_counted
    if counted is None:
        counted = np.maximum(inputs.mask[:, 0].sum(axis=1, keepdims=True), 1.0)
    total = np.add.reduce(both.reshape(both.shape[0], -1), axis=1, keepdims=True)  # (B, 1)
    return total * (0.5 / n_loc) / counted  # (B, 1)


def welfare_reward(cfg: WorldConfig, inputs: CentreInputs) -> np.ndarray:
    """True welfare minus audit cost.

    Coordinated: ``wbar . mean_i x[i] - audit_cost * (localities audited) / L``.
    Department k: ``mean_i x[i, k] - audit_cost * (cells of k audited) / L``.
    """
    n_loc = inputs.true_now.shape[1]
    truth = _sum_localities(inputs.true_now) / n_loc  # (B, K), mean over localities
    audited = _sum_localities(inputs.audited) / n_loc  # (B, K)
    if cfg.departments:
        return truth - cfg.audit_cost * audited
    cost = cfg.audit_cost * audited.max(axis=1, keepdims=True)
    return truth @ cfg.priorities[:, None] - cost  # (B, 1)


CentreReward = Callable[[WorldConfig, CentreInputs], np.ndarray]
CENTRE_REWARDS: dict[str, CentreReward] = {
    "political": political_reward,
    "welfare": welfare_reward,
}


def get_centre_reward(name: str) -> CentreReward:
    if name not in CENTRE_REWARDS:
        raise ValueError(
            f"unknown centre_reward {name!r}; known centre rewards: {', '.join(CENTRE_REWARDS)}"
        )
    return CENTRE_REWARDS[name]
