"""Scripted local policies, each standing for a behaviour named in the literature.

Each reads its own observation by component name (``LocalView``) and returns
effort shares; the env normalises them. They work for unitary localities
(all K domains) and for per_domain agencies (one domain) alike.
"""

from __future__ import annotations

import numpy as np

from target_gaming.envs.target_gaming import World

from .base import LocalView, ScriptedPolicy, best_approach, compose_local

PARTNER_SHARE = 0.3  # "some partnership" (docs/design-spec.md section 4: best share near 0.4)


class LocalScripted(ScriptedPolicy):
    role = "local"

    def __init__(self, world: World, seed: int = 0):
        super().__init__(world, seed)
        self.view = LocalView.build(self.config)

    def _priorities(self, obs: np.ndarray) -> np.ndarray:
        prio = obs[:, self.view.priority]
        return prio / np.maximum(prio.sum(axis=1, keepdims=True), 1e-12)

    def _known_measured(self, obs: np.ndarray) -> np.ndarray:
        """(M, kc) 1 where the agency knows the domain is measured."""
        return obs[:, self.view.is_measured]


class Honest(LocalScripted):
    name = "honest"
    description = (
        "A professional who delivers genuinely: in every domain the approach that works best "
        "here (own local knowledge), effort spread by local priorities, 30% in partnership, "
        "never games or slacks."
    )

    def act(self, obs):
        eff = obs[:, self.view.effectiveness]
        deliver = best_approach(eff, (1 - PARTNER_SHARE) * self._priorities(obs))
        return compose_local(self.view, deliver, partner=PARTNER_SHARE)


class Saint(LocalScripted):
    name = "saint"
    description = (
        "A knight who maximises the real good done: every approach in proportion to E^2 (the "
        "optimal mix under diminishing returns), domains by local priorities, 40% in "
        "partnership, no gaming, no slack, whatever the pay."
    )
    partner = 0.4

    def act(self, obs):
        eff = obs[:, self.view.effectiveness]
        mix = eff**2 / np.maximum((eff**2).sum(axis=-1, keepdims=True), 1e-12)
        deliver = mix * ((1 - self.partner) * self._priorities(obs))[..., None]
        return compose_local(self.view, deliver, partner=self.partner)


class MeasuredOnly(LocalScripted):
    name = "measured_only"
    description = (
        "Effort substitution: delivers genuinely (best approach) only in the domains it knows "
        "are measured, nothing elsewhere, no partnership, no gaming; slacks when none is."
    )

    def act(self, obs):
        measured = self._known_measured(obs)
        count = measured.sum(axis=1, keepdims=True)
        weight = measured / np.maximum(count, 1.0)
        deliver = best_approach(obs[:, self.view.effectiveness], weight)
        return compose_local(self.view, deliver, slack=(count[:, 0] == 0).astype(float))


class Gamer(LocalScripted):
    name = "gamer"
    description = (
        "Hits the target and misses the point: delivers (best approach) only in the domains "
        "it knows are measured and puts 40% of its effort into gaming them (every domain "
        "while none is known to be measured)."
    )
    game = 0.4

    def act(self, obs):
        measured = self._known_measured(obs)
        count = measured.sum(axis=1, keepdims=True)
        share = np.where(count > 0, measured / np.maximum(count, 1.0), 1.0 / self.view.n_domains)
        deliver = best_approach(obs[:, self.view.effectiveness], (1 - self.game) * share)
        return compose_local(self.view, deliver, game=self.game * share)


class ReactiveGamer(LocalScripted):
    name = "reactive_gamer"
    description = (
        "Honest by default, but games a measured domain whose measure (truth plus its own "
        "inflation) is below target plus a margin, unless it was audited at the last review "
        "(audit risk felt high)."
    )
    margin = 0.03
    game = 0.4

    def act(self, obs):
        v = self.view
        expected = obs[:, v.true] + obs[:, v.inflation]
        below = (expected < obs[:, v.target] + self.margin) & (self._known_measured(obs) > 0)
        safe = (obs[:, v.audited] == 0)[:, None]
        gaming = (below & safe).astype(float)
        any_gaming = gaming.max(axis=1, keepdims=True)
        deliver_total = 1.0 - PARTNER_SHARE - self.game * any_gaming  # (M, 1)
        deliver = best_approach(obs[:, v.effectiveness], deliver_total * self._priorities(obs))
        game = self.game * gaming / np.maximum(gaming.sum(axis=1, keepdims=True), 1.0)
        return compose_local(v, deliver, game=game, partner=PARTNER_SHARE)


class ThresholdSatisficer(LocalScripted):
    name = "threshold_satisficer"
    description = (
        "Just enough to hit the target: in each measured domain, the genuine effort (best "
        "approach) its own model says will put next quarter's truth a small buffer above the "
        "target; the rest is slack. No gaming, no partnership."
    )
    buffer = 0.02

    def act(self, obs):
        v, cfg = self.view, self.config
        x, tau = obs[:, v.true], obs[:, v.target]
        eff = obs[:, v.effectiveness].max(axis=-1)
        need = np.maximum(tau + self.buffer - x, 0.0)  # drift ignored: it lets x sag, then acts
        unit_gain = cfg.alpha * eff * (1.0 - x)  # gain per sqrt(effort)
        capacity = obs[:, [v.capacity]] / cfg.n_agencies
        effort = (need / np.maximum(unit_gain, 1e-9)) ** 2  # absolute effort units
        share = np.minimum(effort / np.maximum(capacity, 1e-9), 1.0) * self._known_measured(obs)
        share = share / np.maximum(share.sum(axis=1, keepdims=True), 1.0)
        deliver = best_approach(obs[:, v.effectiveness], share)
        return compose_local(v, deliver, slack=1.0 - share.sum(axis=1))


class Prescribed(LocalScripted):
    name = "prescribed"
    description = (
        "Delivers the centre's uniform approach: in each domain the approach the centre "
        "prescribes (with the prescription lever), else the nationally best one (highest "
        "Ebar), effort by national priorities, ignoring local knowledge; 30% in "
        "partnership, no gaming."
    )

    def act(self, obs):
        cfg, v = self.config, self.view
        ebar = np.broadcast_to(
            cfg.approach_effectiveness, (obs.shape[0], v.n_domains, v.n_approaches)
        )
        if cfg.prescription:  # where the centre prescribes, its approach ranks first
            prescribed = obs[:, v.prescribed]
            ebar = np.where(prescribed.max(axis=-1, keepdims=True) > 0, prescribed, ebar)
        if cfg.per_domain:
            weight = np.ones((obs.shape[0], 1))
        else:
            weight = np.broadcast_to(cfg.priorities, (obs.shape[0], v.n_domains))
        deliver = best_approach(np.asarray(ebar), (1 - PARTNER_SHARE) * weight)
        return compose_local(v, deliver, partner=PARTNER_SHARE)


class Silo(Honest):
    name = "silo"
    description = "Honest delivery, but never partners: the partnership share goes to delivery."

    def act(self, obs):
        eff = obs[:, self.view.effectiveness]
        return compose_local(self.view, best_approach(eff, self._priorities(obs)))


class RandomLocal(LocalScripted):
    name = "random"
    description = "Uniform random action components: a noise baseline."

    def act(self, obs):
        return self.rng.random((obs.shape[0], self.view.action_dim))


RULES = {
    p.name: p
    for p in (
        Honest,
        Saint,
        MeasuredOnly,
        Gamer,
        ReactiveGamer,
        ThresholdSatisficer,
        Prescribed,
        Silo,
        RandomLocal,
    )
}
