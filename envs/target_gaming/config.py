"""The world's configuration: one frozen, validated dataclass.

Every number of the model (docs/model.md) is a field here with its default.
Derived values (sizes, matrices, masks) are properties. Validation happens in
``__post_init__`` and names the field, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

DOMAINS = ("health", "education", "safety", "economy")
AGENCY_MODES = ("unitary", "per_domain")
CENTRE_MODES = ("coordinated", "departments")

# field -> (low, high, integer?) inclusive bounds for scalar fields.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "n_localities": (2, 1000, True),
    "horizon": (1, 100_000, True),
    "review_period": (1, 1000, True),
    "locality_types": (1, 2, True),
    "alpha": (0.0, 1.0, False),
    "delta": (0.0, 1.0, False),
    "gamma": (0.0, 1.0, False),
    "rho": (0.01, 1.0, False),
    "eta": (0.0, 1.0, False),
    "s0": (0.0, 5.0, False),
    "s1": (0.0, 10.0, False),
    "departmental_joining": (0.0, 1.0, False),
    "holism": (0.0, 1.0, False),
    "full_partnership": (0.01, 1.0, False),
    "latent_partnership": (0.0, 1.0, False),
    "sigma_x": (0.0, 0.5, False),
    "sigma_m": (0.0, 0.5, False),
    "heterogeneity": (0.0, 2.0, False),
    "baseline_low": (0.0, 1.0, False),
    "baseline_high": (0.0, 1.0, False),
    "capacity_low": (0.01, 10.0, False),
    "capacity_high": (0.01, 10.0, False),
    "priority_concentration": (0.1, 1e6, False),
    "knight_share": (0.0, 1.0, False),
    "psi_knight": (0.0, 100.0, False),
    "psi_knave": (0.0, 100.0, False),
    "effort_cost": (0.0, 10.0, False),
    "effort_exponent": (1.0, 4.0, False),
    "target_default": (0.0, 1.0, False),
    "target_min": (0.0, 1.0, False),
    "target_max": (0.0, 1.0, False),
    "audit_rate": (0.0, 1.0, False),
    "audit_rate_low": (0.0, 1.0, False),
    "audit_budget_share": (0.0, 1.0, False),
    "sanction": (0.0, 1000.0, False),
    "prescription_sanction": (0.0, 1000.0, False),
    "cascade_elasticity": (0.0, 1.0, False),
    "audit_cost": (0.0, 100.0, False),
    "basket_size": (1, 1000, True),
    "linear_slope": (0.0, 1000.0, False),
    "oracle_scale": (0.0, 1e6, False),
    "bunching_band": (0.0, 1.0, False),
}


def _read_only_array(method: Callable[[Any], np.ndarray]) -> cached_property:
    """A cached derived array, made read-only: a frozen config's arrays never change."""

    @functools.wraps(method)
    def get(self: Any) -> np.ndarray:
        out = np.array(method(self))  # its own copy
        out.flags.writeable = False
        return out

    return cached_property(get)


# ---- validation helpers: the world config's and the training configs' ---------------------
def fail(owner: str | None, field: str, value: Any, allowed: str) -> None:
    """Raise the one form of a bad setting's error, naming the field, the value and what is
    allowed: ``config field 'alpha' = 7 is not allowed: ...`` for a world config field
    (``owner`` None), ``PPOConfig.gamma = 2.0 is not allowed: ...`` for a field of ``owner``."""
    subject = f"config field {field!r}" if owner is None else f"{owner}.{field}"
    raise ValueError(f"{subject} = {value!r} is not allowed: {allowed}")


def is_number(
    value: Any, low: float, high: float, integer: bool = False, numpy: bool = True
) -> bool:
    """Whether ``value`` is a finite number in [low, high] (an integer if ``integer``); a bool
    is not one. ``numpy``: numpy scalars count too (world configs); the training configs,
    written as JSON, take Python numbers only."""
    if integer:
        types: Any = (int, np.integer) if numpy else int
    else:
        types = (int, float, np.integer, np.floating) if numpy else (int, float)
    return (
        isinstance(value, types)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def check_number(
    owner: str | None,
    field: str,
    value: Any,
    low: float,
    high: float,
    integer: bool,
    numpy: bool = True,
) -> None:
    """Fail unless ``value`` is a number in [low, high] (``is_number``)."""
    if not is_number(value, low, high, integer, numpy):
        kind = "an integer" if integer else "a number"
        fail(owner, field, value, f"{kind} in [{low}, {high}]")


def check_ranges(
    owner: str | None,
    obj: Any,
    ranges: dict[str, tuple[float, float, bool]],
    numpy: bool = True,
) -> None:
    """``check_number`` on each field of ``obj`` in ``ranges`` (field -> low, high, integer)."""
    for field, (low, high, integer) in ranges.items():
        check_number(owner, field, getattr(obj, field), low, high, integer, numpy)


def check_known(owner: str | None, data: Any, allowed: tuple[str, ...] | list[str]) -> None:
    """Fail unless ``data`` is a dict whose keys are all ``allowed`` field names (``owner``
    as in ``fail``)."""
    if not isinstance(data, dict):
        raise ValueError(f"{owner or 'config'} expects a mapping of fields, got {data!r}")
    unknown = sorted(set(data) - set(allowed))
    if unknown and owner is None:
        raise ValueError(f"unknown config field(s) {unknown}; allowed fields: {', '.join(allowed)}")
    if unknown:
        raise ValueError(f"unknown {owner} field(s) {unknown}; allowed: {', '.join(allowed)}")


def _fail(field: str, value: Any, allowed: str) -> None:
    fail(None, field, value, allowed)


@dataclass(frozen=True)
class WorldConfig:
    """All parameters of the target-gaming world (see docs/model.md for meaning)."""

    # sizes
    n_localities: int = 6
    domains: tuple[str, ...] = DOMAINS
    approach_effectiveness: tuple[float, ...] = (1.0, 0.6, 0.3)  # Ebar[r], every domain
    horizon: int = 40
    review_period: int = 4
    agency_mode: str = "unitary"
    centre_mode: str = "coordinated"
    headline: tuple[str, ...] | None = None  # None: the first two domains
    pooled_localities: bool = False  # agencies paid on their locality whatever the design
    # genuine delivery and dynamics
    alpha: float = 0.12
    delta: float = 0.05
    s0: float = 0.2
    s1: float = 2.0
    departmental_joining: float = 0.5  # spillovers kept under departmental silos at the centre
    holism: float = 0.5  # per_domain: share of delivery that works only when agencies join up
    full_partnership: float = 0.25  # per_domain: J at which the holistic share fully works
    latent_partnership: float = 0.05  # per_domain: the contact agencies keep without partner effort
    spillover: tuple[tuple[float, ...], ...] | None = None  # S[k, k']; None: default
    sigma_x: float = 0.01
    # gaming and measurement
    gamma: float = 0.2
    rho: float = 0.5
    eta: float = 0.03
    sigma_m: float = 0.02
    # localities
    heterogeneity: float = 0.5
    locality_types: int = 1
    baseline_low: float = 0.3
    baseline_high: float = 0.6
    capacity_low: float = 0.7
    capacity_high: float = 1.3
    national_priorities: tuple[float, ...] | None = None  # wbar; None: uniform
    priority_concentration: float = 20.0
    knight_share: float = 0.0
    psi_knight: float = 1.0
    psi_knave: float = 0.1
    effort_cost: float = 0.1
    effort_exponent: float = 1.0  # the cost is effort_cost * (busy share) ** effort_exponent
    # targets, audits, pay
    target_default: float = 0.62
    target_min: float = 0.3
    target_max: float = 0.9
    audit_rate: float = 0.5
    audit_rate_low: float = 0.25
    audit_budget_share: float = 0.5
    sanction: float = 3.0
    audit_cost: float = 0.1
    # prescription: the centre may prescribe an approach per domain (prescribe:<d>:<r>),
    # inspected at audits, fined per unit of off-method effort share found; 10 makes a
    # prescription bind where it costs a locality most (docs/model.md, "Prescription")
    prescription: bool = False
    prescription_sanction: float = 10.0
    # target cascades: M frontline targets per headline target (None: targets reach the
    # locality and stop there); the frontline governs a share 1 - M ** -cascade_elasticity
    # of each cascaded domain's delivery and an audit reaches the rest (docs/model.md,
    # "Target cascades")
    cascade: int | None = None
    cascade_elasticity: float = 0.25
    basket_size: int = 2
    linear_slope: float = 4.0
    oracle_scale: float = 10.0
    bunching_band: float = 0.05

    def __post_init__(self) -> None:
        check_ranges(None, self, _RANGES)
        if self.cascade is not None and not is_number(self.cascade, 1, 1000, integer=True):
            _fail("cascade", self.cascade, "None (no cascade) or an integer in [1, 1000]")
        self._check_names()  # first: the pairs' checks count the domains
        self._check_pairs()
        self._check_vectors()

    def _check_pairs(self) -> None:
        for low, high in (
            ("baseline_low", "baseline_high"),
            ("capacity_low", "capacity_high"),
            ("target_min", "target_max"),
        ):
            if getattr(self, low) > getattr(self, high):
                _fail(low, getattr(self, low), f"at most {high} = {getattr(self, high)}")
        if not self.target_min <= self.target_default <= self.target_max:
            _fail(
                "target_default",
                self.target_default,
                f"within [target_min, target_max] = [{self.target_min}, {self.target_max}]",
            )
        if self.review_period > self.horizon:  # else no review, audit or new target ever
            _fail(
                "review_period",
                self.review_period,
                f"at most horizon = {self.horizon}: no review would happen in an episode "
                "(set review_period <= horizon)",
            )
        if self.basket_size > self.n_domains:
            _fail("basket_size", self.basket_size, f"at most the {self.n_domains} domains")

    def _check_names(self) -> None:
        for flag in ("pooled_localities", "prescription"):
            if not isinstance(getattr(self, flag), bool):
                _fail(flag, getattr(self, flag), "True or False")
        if self.agency_mode not in AGENCY_MODES:
            _fail("agency_mode", self.agency_mode, f"one of {list(AGENCY_MODES)}")
        if self.centre_mode not in CENTRE_MODES:
            _fail("centre_mode", self.centre_mode, f"one of {list(CENTRE_MODES)}")
        if not isinstance(self.domains, tuple) or not self.domains:
            _fail("domains", self.domains, "a non-empty tuple of distinct names")
        if len(set(self.domains)) != len(self.domains) or len(self.domains) > 64:
            _fail("domains", self.domains, "distinct names, at most 64")
        for name in self.domains:
            if not isinstance(name, str) or not name.isidentifier():
                _fail("domains", self.domains, "names that are Python identifiers")
        if self.headline is not None:
            if not isinstance(self.headline, tuple) or not self.headline:
                _fail("headline", self.headline, f"a non-empty tuple of {list(self.domains)}")
            unknown = [d for d in self.headline if d not in self.domains]
            if unknown:
                _fail("headline", self.headline, f"domains among {list(self.domains)}")

    def _check_vectors(self) -> None:
        eff = self.approach_effectiveness
        if not isinstance(eff, tuple) or not 1 <= len(eff) <= 32:
            _fail("approach_effectiveness", eff, "a tuple of 1 to 32 numbers in [0, 10]")
        if not all(_finite_in(v, 0.0, 10.0) for v in eff):
            _fail("approach_effectiveness", eff, "numbers in [0, 10]")
        if self.national_priorities is not None:
            wbar = self.national_priorities
            if (
                not isinstance(wbar, tuple)
                or len(wbar) != self.n_domains
                or not all(_finite_in(v, 0.0, 1e6) for v in wbar)
                or sum(wbar) <= 0
            ):
                _fail(
                    "national_priorities",
                    wbar,
                    f"{self.n_domains} non-negative numbers with a positive sum",
                )
        if self.spillover is not None:
            s = self.spillover
            k = self.n_domains
            if (
                not isinstance(s, tuple)
                or len(s) != k
                or any(not isinstance(row, tuple) or len(row) != k for row in s)
                or not all(_finite_in(v, 0.0, 1.0) for row in s for v in row)
            ):
                _fail("spillover", s, f"a {k}x{k} tuple of tuples of numbers in [0, 1]")

    # ---- derived sizes -------------------------------------------------------
    @property
    def n_domains(self) -> int:
        return len(self.domains)

    @property
    def n_approaches(self) -> int:
        return len(self.approach_effectiveness)

    @property
    def per_domain(self) -> bool:
        return self.agency_mode == "per_domain"

    @property
    def departments(self) -> bool:
        return self.centre_mode == "departments"

    @property
    def coordination(self) -> float:
        """kappa: the share of the spillovers a centre lets through (1 if coordinated,
        ``departmental_joining`` with departmental silos)."""
        return self.departmental_joining if self.departments else 1.0

    def joint_partnership(self, partner_share):
        """``J = (prod_a (p[a] + l))^(1/A) - l`` over the last axis (the A agencies of a
        locality), ``l`` = ``latent_partnership``: the geometric mean of the shares, each
        raised by the contact agencies keep without partner effort (the plain geometric mean
        at ``l = 0``). ``J = p`` when every agency partners ``p``; it stays low while any
        agency stays in its silo, but each agency's partnership raises it even then."""
        share = np.asarray(partner_share)
        if share.shape[-1] == 1:
            return share[..., 0]
        latent = self.latent_partnership
        shifted = share + latent
        return np.prod(shifted, axis=-1) ** (1.0 / shifted.shape[-1]) - latent

    def holistic_factor(self, joint):
        """``H = 1 - holism + holism * min(1, J / full_partnership)`` for a locality of several
        agencies (1 for a locality of one, e.g. unitary: one organisation holds every domain)."""
        if self.n_agencies == 1:
            return np.ones_like(joint)
        return 1.0 - self.holism + self.holism * np.minimum(1.0, joint / self.full_partnership)

    @property
    def n_agencies(self) -> int:
        """Agencies per locality: 1 (unitary) or one per domain."""
        return self.n_domains if self.per_domain else 1

    @property
    def domains_per_agency(self) -> int:
        return 1 if self.per_domain else self.n_domains

    @property
    def n_locals(self) -> int:
        return self.n_localities * self.n_agencies

    @property
    def n_centres(self) -> int:
        return self.n_domains if self.departments else 1

    @property
    def frontline_share(self) -> float:
        """phi = 1 - M ** -cascade_elasticity: the share of a cascaded domain's delivery its
        frontline targets govern, the share of an uncascaded domain's delivery (in an agency
        with frontline targets) spent on target work, and the share of a cascaded cell's
        frontline measures an audit does not reach (0 without a cascade, and at M = 1:
        headline targets only)."""
        if self.cascade is None:
            return 0.0
        return 1.0 - float(self.cascade) ** -self.cascade_elasticity

    @property
    def n_audits(self) -> int:
        """Audit budget per review (localities, or cells per department)."""
        return max(1, round(self.audit_budget_share * self.n_localities))

    def is_review_step(self, t: Any) -> Any:
        """Whether the step taken from time ``t`` (steps so far: an int or an int array)
        is a review step: the last step of its period, ``t % P == P - 1``.

        The one statement of the review timing: the core, the observations and every
        adapter ask it.
        """
        return t % self.review_period == self.review_period - 1

    # ---- derived arrays (cached, read-only: the config is frozen) -----------
    @_read_only_array
    def headline_mask(self) -> np.ndarray:  # (K,)
        names = self.headline if self.headline is not None else self.domains[:2]
        return np.array([d in names for d in self.domains])

    @_read_only_array
    def priorities(self) -> np.ndarray:  # (K,) wbar, sums to 1
        if self.national_priorities is None:
            return np.full(self.n_domains, 1.0 / self.n_domains)
        wbar = np.asarray(self.national_priorities, dtype=float)
        return wbar / wbar.sum()

    @_read_only_array
    def mean_effectiveness(self) -> np.ndarray:  # (K, R) Ebar
        return np.tile(np.asarray(self.approach_effectiveness, float), (self.n_domains, 1))

    @_read_only_array
    def national_mix(self) -> np.ndarray:  # (K, R) Ebar^2 / sum_r Ebar^2
        """The split of a domain's delivery over approaches that is best at the mean
        effectiveness (the national view): a cascade's frontline delivers by it."""
        squares = self.mean_effectiveness**2
        return squares / np.maximum(squares.sum(axis=-1, keepdims=True), 1e-12)

    @_read_only_array
    def spillover_matrix(self) -> np.ndarray:  # (K, K), S[k, k'] = help to k from k'
        if self.spillover is not None:
            return np.asarray(self.spillover, dtype=float)
        k = self.n_domains
        s = np.full((k, k), 0.1 if self.domains == DOMAINS else 0.15)
        if self.domains == DOMAINS:
            health, education, safety, economy = range(4)
            s[:, economy] = 0.3  # the economy helps every domain
            s[economy, education] = 0.3  # education helps the economy
            s[education, health] = 0.2
            s[education, safety] = 0.2
        np.fill_diagonal(s, 0.0)
        return s

    @_read_only_array
    def agency_domains(self) -> np.ndarray:  # (A, K) which domains each agency controls
        if self.per_domain:
            return np.eye(self.n_domains)
        return np.ones((1, self.n_domains))

    @property
    def local_action_dim(self) -> int:
        k_per_agency = self.domains_per_agency
        return k_per_agency * self.n_approaches + k_per_agency + 2

    def replace(self, **overrides: Any) -> WorldConfig:
        """A copy with some fields changed (validated); unknown fields fail clearly."""
        check_fields(overrides)
        return dataclasses.replace(self, **overrides)


def _finite_in(value: Any, low: float, high: float) -> bool:
    return is_number(value, low, high)


CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(WorldConfig))


def check_fields(overrides: dict[str, Any]) -> None:
    check_known(None, overrides, CONFIG_FIELDS)
