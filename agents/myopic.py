"""The myopic best response: the model-based reference for learned local agents.

Each step, every agency chooses the effort allocation that maximises its
expected reward for this step under the active design, predicted from its
own observation with the world's equations (docs/model.md):

- decision: shares of its effort over per-domain delivery ``d[k]``, gaming
  ``g[k]``, ``partner`` and ``slack`` (a point of the simplex). Within a
  domain, delivery is split over approaches in proportion to ``E[k, r]^2``,
  the optimal split under diminishing returns, so the effect is
  ``sqrt(effort * d[k]) * ||E[k]||``;
- prediction: ``x' = x + gain + spill - harm - delta * (x - b_hat)`` with the
  baseline guessed as the middle of its range (a locality does not observe it),
  ``u' = (1 - rho) u + gamma sqrt(effort * g)`` and ``m' ~ N(x' + u', sigma_m)``;
  in per_domain mode it believes its partners' domains are like its own, that
  they deliver half their effort without gaming, and that they match its
  partnership (``J = partner``: the assurance belief of a stag hunt), so under
  pooled pay its partnership lifts every domain it is paid on while its own
  delivery and gaming lift only one; with a target cascade, its delivery as
  the frontline makes it (``phi`` of each domain's delivery by the national
  mix on the domains it knows are measured, ``phi`` of the others' lost to
  target work), its partners' as without one;
- expected pay: threshold ``P(m' >= tau)`` (a normal probability), linear and
  priorities on ``E[m'] - tau``, league table on ``E[m']``, oracle on the
  predicted change in truth; counted domains as the agency knows them
  (``is_measured``; under a rotating basket, the mean over baskets: every
  domain alike, in the basket with probability ``basket_size / K``);
- minus the expected sanction on the inflation it carries into the next
  review (the design's audit probability x F x ``u'`` decayed by
  ``(1 - rho)`` per quarter until then, times ``1 - phi`` on a cascade's
  domains, what an audit reaches) and, with the prescription lever, on
  the off-method effort this step adds to the period's record (the audit
  probability x ``F_p`` x ``q[k] d[k] (1 - mix[k, r*]) / P``), minus effort cost, plus the
  intrinsic term (motivation x the w-weighted ``x'`` above ``b_hat``) when the
  observation carries the agency's motivation.

The optimisation over the simplex is vectorised over all agents: the best of
Dirichlet candidates and the simplex's vertices, then rounds of pairwise
transfers (move up to a shrinking step of effort from one component to
another, keep the best move when it improves). Where a prescription is in force it
optimises twice, with its own split and complying (every prescribed domain's delivery on
the prescribed approach, ``sqrt(effort * d[k]) * E[k, r*]``), and keeps the better
(all prescribed domains comply or none). ``predict`` gives the one-step
prediction term by term; ``tests/test_myopic.py`` holds it to ``World.step``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from target_gaming.envs.target_gaming import World

from .local import LocalScripted


class MyopicBestResponse(LocalScripted):
    name = "myopic_best_response"
    description = (
        "Maximises its expected one-step reward under the active design from its own "
        "observation (numerical optimisation over the effort simplex)."
    )
    n_candidates = 128
    n_rounds = 16

    def __init__(self, world: World, seed: int = 0):
        super().__init__(world, seed)
        cfg, kc = self.config, self.view.n_domains
        self.dim = 2 * kc + 2
        self._vertices = np.eye(self.dim)
        # _transfers[i, j, :] = e_j - e_i: moving effort from component i to j (i != j)
        eye = np.eye(self.dim)
        self._transfers = (eye[None, :, :] - eye[:, None, :])[None]  # (1, D, D, D)
        self._spill = cfg.spillover_matrix
        self._b_hat = 0.5 * (cfg.baseline_low + cfg.baseline_high)
        self._national_mix = cfg.national_mix[0]  # (R,): Ebar is the same in every domain
        self._audit_prob = {
            "none": 0.0,
            "random": cfg.audit_rate,
            "random_low": cfg.audit_rate_low,
            "centre": min(1.0, cfg.n_audits / cfg.n_localities),
        }[world.design.audits]

    def act(self, obs):
        best, value = self._optimise(obs)
        if not self.config.prescription:
            return self.to_action(obs, best)
        mix = self.own_mix(obs)
        rows = np.flatnonzero(obs[:, self.view.prescribed].max(axis=(1, 2)) > 0)
        if rows.size:  # where a prescription is in force: complying, if that is better
            comply = self.complying_mix(obs[rows])
            best_c, value_c = self._optimise(obs[rows], comply)
            better = value_c > value[rows]
            best[rows[better]] = best_c[better]
            mix[rows[better]] = comply[better]
        return self.to_action(obs, best, mix)

    def own_mix(self, obs: np.ndarray) -> np.ndarray:
        """(M, kc, R): its own split of each domain's delivery, ``E[k, r]^2`` normalised."""
        eff = obs[:, self.view.effectiveness]
        return eff**2 / np.maximum((eff**2).sum(axis=-1, keepdims=True), 1e-12)

    def complying_mix(self, obs: np.ndarray) -> np.ndarray:
        """(M, kc, R): the prescribed approach where a domain's prescription is in force,
        its own split elsewhere."""
        prescribed = obs[:, self.view.prescribed]
        on = prescribed.max(axis=-1, keepdims=True) > 0
        return np.where(on, prescribed > 0, self.own_mix(obs)).astype(float)

    def to_action(
        self, obs: np.ndarray, alloc: np.ndarray, mix: np.ndarray | None = None
    ) -> np.ndarray:
        """(M, D_obs), (M, 2kc+2) allocations -> (M, D_act) env actions.

        Delivery in domain k is split over approaches by ``mix`` (M, kc, R) (default
        ``own_mix``: in proportion to ``E[k, r]^2``).
        """
        v = self.view
        kc = v.n_domains
        mix = self.own_mix(obs) if mix is None else mix
        deliver = mix * alloc[:, :kc, None]
        out = np.zeros((obs.shape[0], v.action_dim))
        out[:, v.deliver] = deliver.reshape(obs.shape[0], -1)
        out[:, v.game] = alloc[:, kc : 2 * kc]
        out[:, -2:] = alloc[:, -2:]
        return out

    def _optimise(
        self, obs: np.ndarray, mix: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best allocation per agent and its value, delivering by ``mix``: a random start
        set, then pairwise transfers of effort."""
        m = obs.shape[0]
        cands = self.rng.dirichlet(np.full(self.dim, 0.5), (m, self.n_candidates))
        starts = [cands, np.broadcast_to(self._vertices, (m, self.dim, self.dim))]
        best, value = self._pick(obs, np.concatenate(starts, axis=1), mix)
        for step in np.geomspace(0.25, 0.002, self.n_rounds):
            # move up to `step` of effort from component i to component j, for every pair
            moved = np.minimum(best, step)[:, :, None, None] * self._transfers  # (M, D, D, D)
            cand = (best[:, None, None, :] + moved).reshape(m, -1, self.dim)
            cand_best, cand_value = self._pick(obs, cand, mix)
            improved = cand_value > value
            best = np.where(improved[:, None], cand_best, best)
            value = np.where(improved, cand_value, value)
        return best, value

    def _pick(self, obs, cands, mix=None):
        values = self.expected_reward(obs, cands, mix)  # (M, C)
        idx = values.argmax(axis=1)
        rows = np.arange(obs.shape[0])
        return cands[rows, idx], values[rows, idx]

    def expected_reward(
        self, obs: np.ndarray, cands: np.ndarray, mix: np.ndarray | None = None
    ) -> np.ndarray:
        """(M, D_obs), (M, C, 2kc+2) allocations -> (M, C) expected one-step reward."""
        return self.predict(obs, cands, mix)["reward"]

    def predict(
        self, obs: np.ndarray, cands: np.ndarray, mix: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """The one-step prediction behind ``expected_reward``, term by term.

        (M, D_obs), (M, C, 2kc+2) allocations -> ``true``, ``inflation`` and
        ``measured`` after the step (M, C, K), over the K domains of the locality,
        and ``pay``, ``sanction`` (expected at the next review), ``cost``, ``good``
        and ``reward`` (M, C). A per_domain agency believes its partners' domains
        are like its own, that they deliver half their effort without gaming, and
        that they match its partnership. ``mix`` (M, kc, R) splits delivery over
        approaches as in ``to_action``.
        """
        cfg, v = self.config, self.view
        kc = v.n_domains
        o = obs[:, None, :]
        own = self._own_domains(obs)  # (M, 1, K)
        x, tau, u, w = (o[..., idx] for idx in (v.true, v.target, v.inflation, v.priority))
        effort = o[..., [v.capacity]] / cfg.n_agencies
        eff = obs[:, v.effectiveness]
        if mix is None:  # its own split: the effect of sqrt(effort) in domain k is ||E[k]||
            mix = self.own_mix(obs)
            norm_e = np.sqrt((eff**2).sum(axis=-1))[:, None, :]
        else:  # sum_r E[k, r] sqrt(mix[k, r])
            norm_e = (eff * np.sqrt(mix)).sum(axis=-1)[:, None, :]
        d, g, p, s = cands[..., :kc], cands[..., kc : 2 * kc], cands[..., -2], cands[..., -1]
        off_method = 0.0  # the off-method effort share this step adds, times q (the lever)
        if cfg.prescription:
            prescribed = obs[:, v.prescribed]  # (M, kc, R) Q: q on the prescribed approach
            off = prescribed.max(axis=-1) - (prescribed * mix).sum(axis=-1)  # (M, kc)
            off_method = (d * off[:, None, :]).sum(axis=-1)  # (M, C)
        if cfg.cascade is not None:  # a cascade's frontline remakes its delivery
            returns = self._frontline_returns(obs, d, mix)  # (M, C, kc) per sqrt(effort)
        if cfg.per_domain:  # own choice on its domain, the partners' reference elsewhere
            d, g = own * d + (1 - own) * 0.5, own * g
        if cfg.cascade is None:
            gain = cfg.alpha * norm_e * np.sqrt(effort * d) * (1.0 - x)
        else:  # partners (per_domain) as without a cascade
            partners = norm_e * np.sqrt(d) if cfg.per_domain else 0.0
            effect = own * returns + (1 - own) * partners
            gain = cfg.alpha * effect * np.sqrt(effort) * (1.0 - x)
        gain = gain * cfg.holistic_factor(p)[..., None]  # it believes J = its partnership
        spill = (cfg.coordination * (cfg.s0 + cfg.s1 * p))[..., None] * (gain @ self._spill.T)
        x_next = np.clip(
            x + gain + spill - cfg.eta * effort * g - cfg.delta * (x - self._b_hat), 0, 1
        )
        u_next = (1 - cfg.rho) * u * own + cfg.gamma * np.sqrt(effort * g)
        m_next = np.clip(x_next + u_next, 0, 1)
        counted = self._counted(obs, own)  # (M, 1, K) domains its pay averages over
        pay = self._pay(m_next, tau, x_next, x, w, counted, self.world.design.pay)
        # the expected sanction on the inflation it carries into the next review
        steps = np.rint(obs[:, v.time_to_review] * cfg.review_period)
        liability = self._audit_prob * cfg.sanction * (1 - cfg.rho) ** steps
        found = u_next * own
        if cfg.cascade is not None:  # an audit reaches 1 - phi of a cascaded domain's measures
            found = found * (1.0 - cfg.frontline_share * self._cascaded(obs, own))
        sanction = liability[:, None] * found.sum(axis=-1)
        # and the expected fine at the next review on the off-method effort it adds
        rate = self._audit_prob * cfg.prescription_sanction / cfg.review_period
        sanction = sanction + rate * off_method
        cost = cfg.effort_cost * (1.0 - s) ** cfg.effort_exponent
        reward = pay - sanction - cost
        good = np.zeros_like(reward)
        if v.motivation >= 0:
            above = w * (x_next - self._b_hat) * own  # x above the (guessed) baseline
            good = above.sum(axis=-1) / np.maximum((w * own).sum(axis=-1), 1e-12)
            reward = reward + obs[:, [v.motivation]] * good
        return {
            "true": x_next,
            "inflation": u_next,
            "measured": m_next,
            "pay": pay,
            "sanction": sanction,
            "cost": cost,
            "good": good,
            "reward": reward,
        }

    def _cascaded(self, obs: np.ndarray, own: np.ndarray) -> np.ndarray:
        """(M, 1, K) 1 on its domains that have frontline targets (those it knows are
        measured: ``is_measured``)."""
        known = obs[:, self.view.is_measured][:, None, :]  # (M, 1, kc)
        return own * known if self.config.per_domain else known

    def _frontline_returns(self, obs: np.ndarray, d: np.ndarray, mix: np.ndarray) -> np.ndarray:
        """(M, C, kc): ``sum_r E[k, r] sqrt(d'[k, r])``, the effect per unit of
        ``sqrt(effort)`` of its delivery shares ``d`` (M, C, kc) split by ``mix`` once a
        cascade's frontline has remade them (``World._frontline``): it keeps ``1 - phi``
        of each domain's plan and delivers ``phi`` of the cascaded domains' by the
        national mix; ``phi`` of the others' is target work, which delivers nothing."""
        cfg, v = self.config, self.view
        cascaded = obs[:, None, v.is_measured]  # (M, 1, kc)
        governed = cfg.frontline_share * cascaded.max(axis=-1, keepdims=True)
        shares = (1.0 - governed)[..., None] * d[..., None] * mix[:, None]
        shares = shares + (governed * d * cascaded)[..., None] * self._national_mix
        return (obs[:, None, v.effectiveness] * np.sqrt(shares)).sum(axis=-1)

    def _own_domains(self, obs: np.ndarray) -> np.ndarray:
        """(M, 1, K) 1 on the domains the agency controls."""
        if not self.config.per_domain:
            return np.ones((obs.shape[0], 1, self.config.n_domains))
        return obs[:, None, self.view.agency]

    def _counted(self, obs: np.ndarray, own: np.ndarray) -> np.ndarray:
        """(M, 1, K) the domains its pay averages over, as far as it knows."""
        cfg, measures = self.config, self.world.design.measures
        if measures in ("all", "rotating"):  # a rotating basket: every domain alike
            counted = np.ones_like(own)
        elif cfg.per_domain:  # its own domain's status it observes; the headline it knows
            known = obs[:, self.view.is_measured][:, None, :]  # (M, 1, 1)
            counted = own * known + (1 - own) * cfg.headline_mask
        else:
            counted = obs[:, None, self.view.is_measured]
        if self.world.pay_weights.all():  # every agency paid on all domains
            return counted
        if measures == "rotating" and cfg.per_domain:  # its domain counts with this probability
            return counted * own * (cfg.basket_size / cfg.n_domains)
        return counted * own

    def _pay(self, m, tau, x_next, x, w, counted, rule):
        cfg = self.config
        if rule == "threshold":
            sigma = max(cfg.sigma_m, 1e-3)
            cells = ndtr((m - tau) / sigma)
        elif rule == "linear":
            cells = cfg.linear_slope * (m - tau)
        elif rule == "priorities":
            cells = cfg.linear_slope * cfg.n_domains * w * (m - tau)
        elif rule == "league_table":
            cells = m  # its rank rises with its measure
        elif rule == "flat":
            cells = np.zeros_like(m)  # no performance pay
        else:  # oracle: change in true outcome (every domain counts: see _counted)
            cells = cfg.oracle_scale * cfg.n_domains * w * (x_next - x)
        return (cells * counted).sum(axis=-1) / np.maximum(counted.sum(axis=-1), 1.0)
