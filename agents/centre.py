"""Scripted central policies: how targets are set and where audits go.

Each acts for a coordinated centre or for a department alike (a department's
observation and action cover its own domain). Targets are chosen in outcome
units and mapped to the action range; the world reads them on review steps.
"""

from __future__ import annotations

import numpy as np

from target_gaming.envs.target_gaming import World, WorldState, get_design, observe

from .base import CentreView, ScriptedPolicy, compose_centre


class CentreScripted(ScriptedPolicy):
    role = "centre"
    # Whether the rule sends the audit budget somewhere (``targeted_audits`` reads it);
    # even weights spread it at n_audits / L per locality, the random audits of
    # ``audited_targets`` when that equals audit_rate.
    allocates_audits = False

    def __init__(self, world: World, seed: int = 0):
        super().__init__(world, seed)
        self.view = CentreView.build(self.config)

    def act(self, obs):
        prescription = self.prescription(obs) if self.config.prescription else None
        return compose_centre(self.config, self.targets(obs), self.audits(obs), prescription)

    def targets(self, obs: np.ndarray) -> np.ndarray:  # (M, L, kg) outcome units
        return np.full(
            (obs.shape[0], self.view.n_localities, self.view.n_domains), self.config.target_default
        )

    def audits(self, obs: np.ndarray) -> np.ndarray:  # (M, L) weights
        return np.ones((obs.shape[0], self.view.n_localities))

    def prescription(self, obs: np.ndarray) -> np.ndarray | None:  # (M, kg, R) or None
        """With the prescription lever: the approach prescribed in each of the centre's
        domains, times its strength; None prescribes nothing (every rule but
        ``prescriptive`` and ``relative_rule`` with ``prescribe`` > 0)."""
        return None

    def _measured(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Last measures (M, L, kg) and whether each domain is measured (M, 1, kg)."""
        return obs[:, self.view.measured], obs[:, self.view.is_measured][:, None, :]


class FixedTargets(CentreScripted):
    name = "fixed_targets"
    description = "Targets fixed in advance at target_default for every locality; even audits."


class UniformNational(CentreScripted):
    name = "uniform_national"
    description = (
        "One national target per domain for every locality: the national mean of last "
        "measures (target_default where unmeasured); even audits."
    )

    def targets(self, obs):
        measured, mask = self._measured(obs)
        national = measured.mean(axis=1, keepdims=True)
        target = np.where(mask > 0, national, self.config.target_default)
        return np.broadcast_to(target, measured.shape)


RATCHET_RATE = 0.5  # lambda, the ratchet's default rate


def national_best(config, view: CentreView, m: int) -> np.ndarray:
    """(M, kg, R): 1 on the nationally best approach (highest Ebar) of each of the centre's
    domains, the prescription of full strength."""
    ebar = config.mean_effectiveness[: view.n_domains]  # the same in every domain
    chosen = np.eye(config.n_approaches)[ebar.argmax(axis=-1)]  # (kg, R)
    return np.broadcast_to(chosen, (m, *chosen.shape))


def risk_ranked(view: CentreView, n_audits: int, obs: np.ndarray) -> np.ndarray:
    """(M, L): 1 on the ``n_audits`` localities whose measures most exceed what their last
    audit found (or, unaudited, the national mean), 0 elsewhere: ``risk_based_audits``'s
    choice."""
    measured = obs[:, view.measured]
    mask = obs[:, view.is_measured][:, None, :]
    found = obs[:, view.audited_true]
    audited = obs[:, view.audited][..., None] > 0
    reference = np.where(audited, found, measured.mean(axis=1, keepdims=True))
    excess = ((measured - reference) * mask).sum(axis=-1)  # (M, L)
    n_top = min(n_audits, view.n_localities)
    rank = np.argsort(np.argsort(-excess, axis=1), axis=1)
    return (rank < n_top).astype(float)


class RelativeRule(CentreScripted):
    name = "relative_rule"
    description = (
        "Targets relative to each locality's last measure: tau' = tau + ratchet_rate * (m - tau) "
        "+ offset per locality and measured domain (defaults 0.5 and 0: the ratchet); audit "
        "weights 1 - audit_focus, plus audit_focus on risk_based_audits' choice (0: even, "
        "1: risk_based_audits'); with the prescription lever, the nationally best approach "
        "prescribed at strength prescribe (default 0: none): the rule the stackelberg "
        "centre learns."
    )
    allocates_audits = True
    PARAMS = {
        "ratchet_rate": (0.0, 1.0),
        "offset": (-0.2, 0.2),
        "audit_focus": (0.0, 1.0),
        "prescribe": (0.0, 1.0),
    }

    def __init__(
        self,
        world: World,
        seed: int = 0,
        ratchet_rate: float = RATCHET_RATE,
        offset: float = 0.0,
        audit_focus: float = 0.0,
        prescribe: float = 0.0,
    ):
        super().__init__(world, seed)
        for (name, (low, high)), value in zip(
            self.PARAMS.items(), (ratchet_rate, offset, audit_focus, prescribe), strict=True
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not low <= value <= high
            ):
                raise ValueError(
                    f"{self.name}: {name} = {value!r} must be a number in [{low}, {high}]"
                )
        if prescribe > 0 and not self.config.prescription:
            raise ValueError(
                f"{self.name}: prescribe = {prescribe!r} needs the world's prescription lever "
                "(config field 'prescription' = True); without it, 0"
            )
        self.ratchet_rate, self.offset, self.audit_focus = ratchet_rate, offset, audit_focus
        self.prescribe = prescribe

    def targets(self, obs):
        measured, mask = self._measured(obs)
        tau = obs[:, self.view.target]
        moved = tau + self.ratchet_rate * (measured - tau) + self.offset
        return np.where(mask > 0, moved, tau)

    def audits(self, obs):
        even = np.ones((obs.shape[0], self.view.n_localities))
        if self.audit_focus == 0.0:
            return even
        chosen = risk_ranked(self.view, self.config.n_audits, obs)
        return (1.0 - self.audit_focus) * even + self.audit_focus * chosen

    def prescription(self, obs):
        if self.prescribe == 0.0:
            return None
        return self.prescribe * national_best(self.config, self.view, obs.shape[0])


class Ratchet(RelativeRule):
    name = "ratchet"
    description = (
        "Next target from last performance: tau' = tau + lambda * (m - tau) per locality and "
        "measured domain (lambda = ratchet_rate, default 0.5); even audits."
    )
    allocates_audits = False

    def __init__(self, world: World, seed: int = 0, ratchet_rate: float = RATCHET_RATE):
        super().__init__(world, seed, ratchet_rate=ratchet_rate)


class Stretch(CentreScripted):
    name = "stretch"
    description = (
        "Stretch targets: last measure plus a fixed step (stretch = 0.05) per locality and "
        "measured domain; even audits."
    )
    stretch = 0.05

    def targets(self, obs):
        measured, mask = self._measured(obs)
        tau = obs[:, self.view.target]
        return np.where(mask > 0, measured + self.stretch, tau)


class Prescriptive(CentreScripted):
    name = "prescriptive"
    description = (
        "Fixed targets and even audits, and (with the prescription lever) the nationally "
        "best approach (highest Ebar) prescribed at full strength in every domain: audits "
        "fine the effort spent on any other."
    )

    def __init__(self, world: World, seed: int = 0):
        super().__init__(world, seed)
        if not self.config.prescription:  # it would be fixed_targets under another name
            raise ValueError(
                "centre 'prescriptive' prescribes approaches: it needs the world's "
                "prescription lever (config field 'prescription' = True)"
            )

    def prescription(self, obs):
        return national_best(self.config, self.view, obs.shape[0])


class RandomAudits(CentreScripted):
    name = "random_audits"
    description = "Fixed targets; the audit budget goes to localities drawn at random each review."

    allocates_audits = True

    def audits(self, obs):
        return self.rng.random((obs.shape[0], self.view.n_localities))


class RiskBasedAudits(CentreScripted):
    name = "risk_based_audits"
    description = (
        "Fixed targets; audits go where reported performance looks least plausible: the "
        "localities whose measures most exceed what their last audit found (or, unaudited, "
        "the national mean)."
    )
    allocates_audits = True

    def audits(self, obs):
        return risk_ranked(self.view, self.config.n_audits, obs)


class ConstantRule(CentreScripted):
    name = "constant_rule"
    description = (
        "One target level for every locality and domain (target_level, default target_default); "
        "each review audits round(audit_rate * L) localities drawn at random (audit_rate in "
        "[0, n_audits / L], default n_audits / L): the two-parameter rule a search tunes."
    )
    allocates_audits = True

    def __init__(self, world: World, seed: int = 0, target_level=None, audit_rate=None):
        super().__init__(world, seed)
        cfg = self.config
        for name, value in (("target_level", target_level), ("audit_rate", audit_rate)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ValueError(f"constant_rule: {name} = {value!r} is not allowed: a number")
        self.target_level = cfg.target_default if target_level is None else target_level
        most = min(cfg.n_audits, cfg.n_localities) / cfg.n_localities
        self.audit_rate = most if audit_rate is None else audit_rate
        if not cfg.target_min <= self.target_level <= cfg.target_max:
            raise ValueError(
                f"target_level = {target_level!r} must be in [{cfg.target_min}, {cfg.target_max}]"
            )
        if not 0.0 <= self.audit_rate <= most + 1e-6:  # a rate written to 6 digits
            raise ValueError(
                f"audit_rate = {audit_rate!r} must be in [0, {most:g}] (n_audits / L: the budget "
                "audits at most n_audits localities)"
            )
        self.n_audited = int(round(self.audit_rate * cfg.n_localities))

    def targets(self, obs):
        return np.full(
            (obs.shape[0], self.view.n_localities, self.view.n_domains), self.target_level
        )

    def audits(self, obs):
        """Weight 1 on ``n_audited`` localities drawn at random (each then audited for sure:
        n_audited <= n_audits), 0 elsewhere."""
        draws = self.rng.random((obs.shape[0], self.view.n_localities))
        rank = np.argsort(np.argsort(draws, axis=1), axis=1)
        return (rank < self.n_audited).astype(float)


class RandomRule(CentreScripted):
    name = "random_rule"
    description = (
        "Each review, every locality's target in each domain drawn uniformly in "
        "[target_min, target_max] and its audit weight uniformly in [0, 1]: a centre whose "
        "targets and audits keep changing, for locals to learn to respond to them (the "
        "first phase of a two-level curriculum), not a rule to govern by."
    )
    allocates_audits = True

    def targets(self, obs):
        shape = (obs.shape[0], self.view.n_localities, self.view.n_domains)
        return self.rng.uniform(self.config.target_min, self.config.target_max, shape)

    def audits(self, obs):
        return self.rng.random((obs.shape[0], self.view.n_localities))


CENTRE_POLICIES = {
    p.name: p
    for p in (
        FixedTargets,
        UniformNational,
        Ratchet,
        RelativeRule,
        Stretch,
        Prescriptive,
        RandomAudits,
        RiskBasedAudits,
        ConstantRule,
        RandomRule,
    )
}


def design_centre(design: str, centre: str | None = None) -> str:
    """The centre that runs with ``design``: ``centre`` if one is named, else the design's
    own (``Design.centre``: ``risk_based_audits`` for ``targeted_audits``)."""
    return centre if centre is not None else get_design(design).centre


def centre_problem(design: str, centre: str) -> str | None:
    """Why ``centre`` cannot play ``design``'s part, or None: a design whose audits the
    centre allocates, under a scripted centre that spreads them evenly, repeats the random
    audits of another design. A saved (learned) centre sets its own audit weights."""
    spec = get_design(design)
    rule = CENTRE_POLICIES.get(centre)
    if spec.audits != "centre" or rule is None or rule.allocates_audits:
        return None
    allocating = ", ".join(n for n, p in CENTRE_POLICIES.items() if p.allocates_audits)
    return (
        f"design {design!r} lets the centre allocate its audits, and centre {centre!r} "
        f"spreads them evenly (the random audits of a design without that lever); "
        f"use a centre that allocates them ({allocating}) or a learned one"
    )


def review_actions(centre, config, state: WorldState, idle: np.ndarray) -> np.ndarray:
    """(B, C, D_c): ``centre``'s actions for the B environments of ``state`` when any is
    at a review step, else ``idle`` (the world reads the centre's action at reviews only):
    a centre acting inside a vector env for the locals (``config``: the world's)."""
    if not np.any(config.is_review_step(state.t)):
        return idle
    obs = observe.centre_observations(config, state)
    acts = centre.act(obs.reshape(-1, obs.shape[-1]))
    return np.asarray(acts, dtype=np.float64).reshape(idle.shape)
