"""target_gaming_v2: a centre sets targets and audits; localities deliver, game, partner, idle.

| Import             | ``from target_gaming.envs import target_gaming_v2``                     |
|--------------------|-------------------------------------------------------------------------|
| Actions            | Continuous (Box in [0, 1]^D, normalised to effort shares)               |
| Parallel API       | Yes (native); AEC via ``env()``                                        |
| Agents             | ``centre_0`` or ``department_<k>``, then ``local_<n>``                  |
| Agents (default)   | 7: ``centre_0``, ``local_0`` ... ``local_5``                            |
| Action shape       | local 18 (unitary) / 6 (per_domain); centre 30 / department 12 |
| Observation shape  | local 42 (unitary) / 20 (per_domain); centre 106 / department 41 |
| State shape        | 234 (default scenario)                                                  |
| Registered ids     | ``target_gaming/target_gaming_v2`` (aec and parallel registries)        |

A central agent steers L localities on K interlinked domains (health,
education, safety, economy) by targets on measured ("headline") domains,
audits and pay; each local agent splits its effort between genuine delivery
(by one of R approaches whose effectiveness differs by locality), gaming the
measure, joined-up partnership and slack. The world and its equations are in
``docs/model.md``; all dynamics live in the batched core
``target_gaming.envs.target_gaming.World``, of which this environment is a thin view with
one environment (B = 1).

Arguments
---------
``target_gaming_v2.parallel_env(scenario="whitehall", design="targets",
centre_reward="political", max_cycles=None, render_mode=None, **overrides)``

- ``scenario``: a named preset (``target_gaming.envs.target_gaming.SCENARIOS``):
  ``whitehall`` (default: unitary localities, coordinated centre, headline =
  health and education), ``coalfield_seaside`` (two locality types with
  reversed best approaches), ``homogeneous`` (h = 0), ``capacity_gap``,
  ``gresham`` (half knights, half knaves), ``cascade_health`` and
  ``cascade_education`` (whitehall with 17 and 34 frontline targets per
  headline target: see Target cascades), ``jug_1`` (coordinated centre,
  pooled agencies), ``jug_2`` (coordinated centre, silo agencies), ``jug_3``
  (departments, pooled agencies), ``jug_4`` (departments, silo agencies); the
  four ``jug_*`` scenarios have one agency per domain (``per_domain``).
- ``design``: the reward design (``target_gaming.envs.target_gaming.DESIGNS``), see Rewards.
- ``centre_reward``: ``political`` or ``welfare``, see Rewards.
- ``max_cycles``: episode length in steps (quarters); sets the config field
  ``horizon`` (default 40), which must be at least ``review_period`` (default 4;
  ``max_cycles=2, review_period=2`` for a shorter episode).
- ``render_mode``: ``None``, ``"human"`` (prints the ansi table), ``"ansi"`` or
  ``"rgb_array"``.
- ``**overrides``: any field of ``target_gaming.envs.target_gaming.WorldConfig``, for example
  ``n_localities=8``, ``heterogeneity=0.0``, ``agency_mode="per_domain"``,
  ``centre_mode="departments"``, ``sanction=5.0``. Lists are taken as tuples.

An unknown scenario, design, centre reward or config field raises
``ValueError`` listing what is allowed; an out-of-range value names the field,
the value and the allowed range.

Agents
------
``centre_0`` (``centre_mode="coordinated"``) or ``department_<k>`` for each
domain k (``centre_mode="departments"``: each sets targets and audits for its
own domain and is rewarded on it), then the local agents ``local_<n>``. With
``agency_mode="unitary"`` local n is locality n and controls all K domains;
with ``agency_mode="per_domain"`` there are K agencies per locality and local n
is the agency for domain ``n % K`` in locality ``n // K``. No agent ever
terminates; all are truncated together after ``max_cycles`` steps.

Actions
-------
Every action is a Box in [0, 1]^D of float32. Finite values outside [0, 1]
are clipped; NaN or inf, a wrong shape, or a missing or unknown agent raise
``ValueError`` naming the agent. ``env.unwrapped.action_layout(agent)``
returns the name of every component in order.

Local (per agency): ``deliver:<domain>:<r>`` for its domains and approaches,
``game:<domain>`` for its domains, ``partner``, ``slack``. The action is
divided by its sum to give shares of the agency's effort (an all-zero action
is all slack); the agency's effort is ``c[i] / A`` (A agencies per locality).

Central: ``target:<i>:<domain>`` for every locality and its domain(s), mapped
to ``[target_min, target_max]`` (default [0.3, 0.9]), then ``audit:<i>``, the
locality's share of the audit budget (used only by ``targeted_audits``). The
centre acts on review steps (the last step of every review period, default
every 4th): the targets then apply from the next step. Between reviews its
action is ignored, and its observation says how long until the next review.

The prescription lever (``prescription=True``; off by default, when none of
what follows is in the spaces): the central action ends with
``prescribe:<domain>:<r>`` for its domain(s) and approaches. At a review, in
each domain the approach with the highest value is prescribed for the next
period, at that value as its strength q (0: nothing prescribed). Each step an
agency's effort share on other approaches in a prescribed domain, times q,
adds to the period's off-method record (divided by the period); an audit of
the cell fines it ``prescription_sanction`` (default 10) per unit of the
record, and every review starts the record again.

Target cascades (``cascade=M``, frontline targets per headline target; None by
default): the spaces stay as they are. Each local agent's plan is carried out by
frontline units that govern the share ``phi = 1 - M ** -cascade_elasticity``
(0.51 at 17, 0.59 at 34) of the delivery of an agency with targets it knows of:
in those domains they deliver it by the national mix (the best split at the mean
effectiveness), and of its delivery on the other domains they spend ``phi`` on
target work, which delivers nothing. An audit reaches ``1 - phi`` of a cascaded
cell's inflation (more measures to game than to check). ``M = 1`` is the world
without a cascade, with its metrics (docs/model.md, "Target cascades").

Observations
------------
``env.unwrapped.observation_layout(agent)`` names every component.

Local (its own locality only): ``true:<d>`` (local knowledge of the true
outcome), ``measured:<d>`` and ``is_measured:<d>`` (the published measure of
the domains it knows to be measured; under ``rotating_basket`` that is last
period's basket), ``target:<d>``, ``effectiveness:<d>:<r>`` (its own E),
``capacity``, ``motivation`` (its own psi), ``priority:<d>`` (local
priorities w), ``inflation:<d>`` (its gaming stock u), ``audited`` and
``sanction`` (at the last review), and in
per_domain mode ``partners_partnership`` (the other agencies' mean partner
share last step) and ``agency:<d>`` (its domain, one-hot); then
``time_to_review`` (steps to the next review / period) and ``time`` (t / T).
With the prescription lever, after ``effectiveness``: ``prescribed:<d>:<r>``
(the prescription in force for its domains, times its strength).

Central: ``measured:<i>:<d>`` (0 where unmeasured), ``is_measured:<d>``,
``target:<i>:<d>``, ``audited_true:<i>:<d>`` (the truth found by the last
review's audits, 0 elsewhere), ``audited:<i>``, ``detected:<i>`` (inflation
found), ``mean_effectiveness:<d>:<r>`` (Ebar: the centre does not know local
E), ``national_priority:<d>``, ``prescribed:<d>:<r>`` (the prescription lever
only), ``department:<d>`` (departments only), ``time_to_review``, ``time``.
Never the unaudited true state.

``state()`` (``state_space``): the full true state for centralised critics:
true, measured, target, baseline, priority and inflation of every cell, every
E, capacities, motivations, the measured domains (with the prescription lever,
the prescription and every cell's off-method record) and the time features.

Rewards
-------
Local agency a of locality i, every step:
``pay - sanction - effort_cost * (1 - slack share) ** effort_exponent + psi[i] * good``
(``effort_exponent`` 1 by default: a linear cost), where ``good`` is the
w-weighted true outcome above the structural baseline over the agency's
domains, and the sanction ``F * (inflation found)`` (plus, with the
prescription lever, ``prescription_sanction * (off-method record found)``)
falls on review steps when the locality is audited. ``pay`` is the design's:

| design | pay | measured domains | audits | pooling |
|---|---|---|---|---|
| ``targets`` | share of counted targets hit (``m >= tau``) | headline | none | own |
| ``linear`` | ``linear_slope * (m - tau)`` | headline | none | own |
| ``league_table`` | rank of the measure among localities, in [0, 1] | headline | none | own |
| ``audited_targets`` | threshold | headline | random, ``audit_rate`` | own |
| ``rotating_basket`` | threshold | ``basket_size`` per period, hidden | random, low | own |
| ``targeted_audits`` | threshold | headline | centre's budget ``n_audits`` | own |
| ``local_priorities`` | ``linear_slope * K * w * (m - tau)`` | all | random, low | own |
| ``pooled_budget`` | threshold | all | random, low | locality |
| ``oracle_outcomes`` | ``oracle_scale * K * w * (change in x)`` | all (on truth) | none | own |
| ``flat_pay`` | 0 (a flat budget: the control) | headline | none | own |

"random, low" audits at rate ``audit_rate_low``. Each design names the scripted
centre that runs with it when no other is named (``Design.centre``):
``fixed_targets``, and ``risk_based_audits`` for ``targeted_audits``, whose audits
only a centre that allocates them makes differ from random ones. Pay is averaged over the agency's
counted domains ("own") or over all of its
locality's ("locality"; also whenever the scenario has
``pooled_localities=True``). An agency none of whose domains is counted is paid 0.

Central (``centre_reward``): ``political`` = 0.5 x share of measured targets
hit + 0.5 x mean measure (what the media see); ``welfare`` = true national
welfare ``wbar . mean_i x[i]`` minus ``audit_cost`` x the share of localities
audited. A department gets the same over its own domain.

Metrics
-------
``infos[agent][name]`` every step, each metric under its own name (flat
floats): the central agents get national metrics, each local agent its own
locality's. Reset infos have the same keys, each 0.0 (nothing measured yet), so
clients that build their specs from reset infos (TorchRL) keep every metric.
``env.unwrapped.episode_metrics()`` summarises the episode (means over steps;
the ``*_change`` metrics and ``neglect`` at the last step; ``audits``,
``detections``, ``sanctions`` and ``audit_cost`` summed).

``true_welfare`` (wbar-weighted true x), ``local_welfare`` (w-weighted),
``measured_performance`` (mean measure over measured cells),
``target_hit_rate`` (share of measured cells whose measure meets the target),
``true_hit_rate`` (share whose true outcome does), ``goodhart_gap`` (mean m - x
over measured cells), ``target_margin`` (mean m - tau over measured cells),
``target_level`` (mean target in force over measured cells),
``gaming_share``, ``slack_share`` and ``partnership`` (shares of effort,
averaged over the locality's agencies), ``joint_partnership`` (the locality's
effective partnership J: in per_domain mode the geometric mean of its agencies'
partner shares each raised by ``latent_partnership``, minus it, so one silo
agency holds it low), ``measured_change`` and ``unmeasured_change``
(true x since reset, over the scenario's headline and other domains),
``neglect`` (their difference), ``bunching`` (share of hit targets within
``bunching_band`` above the target), ``perverse_rate`` (share of measured
indicators whose measure rose while the truth fell), ``inequality`` (national
only: standard deviation of local welfare), ``audits``, ``detections``,
``sanctions`` (counts and amounts at reviews), ``audit_cost`` (national only).
With a cascade (``cascade`` set) three more follow: ``frontline_targets`` (M while
the locality knows of a measured domain), ``measured_effort_share`` (the share
of its planned delivery its frontline spends on frontline targets: the measured
domains' and the target work) and ``planned_measured_share`` (the share of its
own plan on the measured domains);
``env.unwrapped.world.metric_set`` names a world's metrics.

Copies and pickles
------------------
``copy.deepcopy(env)``, ``pickle`` and ``cloudpickle`` round trips give an env that
steps exactly like the original from where it was (the world state, the random
generator, the live agents and the episode's metrics travel; the work buffers are
rebuilt), so spawn-based vector envs and ``ray.put`` are safe. Spaces belong to
each env (the same object at every call), and an env is freed once unreferenced.

Rendering
---------
``"human"`` prints the ``"ansi"`` text and returns None.
``"ansi"``: a table per locality of true / measured / target per domain,
gaming, slack, partnership and audits. ``"rgb_array"``: a dashboard drawn
with matplotlib (a (360, 640, 3) uint8 array): per domain, the true outcome
(bars), the measured one (dots, for the domains in the basket) and the target
(ticks) of each locality, and each locality's gaming and slack shares. The first
frame builds the figure and lays it out (some tenths of a second); later frames
redraw only what changed (tens of milliseconds). ``close()`` frees the figure; a
copy of the env builds its own at its first frame.
``target_gaming.envs.target_gaming.render.record_episode(env, actions, path)``
plays an episode of an ``"rgb_array"`` env, under a policy (observations ->
actions) or a list of the actions of each step, and writes its frames to a GIF.

Version History
---------------
- v0: initial release.
- v1: joint partnership J is the geometric mean of the agencies' partner shares
  (was the weakest agency's share); in per_domain mode only ``1 - holism`` (0.5)
  of genuine delivery works without joint working, all of it once J reaches
  ``full_partnership`` (0.25) (the domains are complements); a departmental
  centre lets through only ``departmental_joining`` (0.5) of the spillovers
  between domains (the vertical side of joined-up government); the effort cost may be convex
  (``effort_exponent``, 1 by default: unchanged); new design ``flat_pay`` (no
  performance pay, the control); infos gain ``true_hit_rate``,
  ``target_margin`` and ``target_level``.
- v2: J counts the contact agencies keep without partner effort
  (``latent_partnership``, 0.05): ``J = (prod_a (p_a + l))^(1/A) - l``, so one
  silo agency no longer makes it exactly 0 and every agency's partnership
  raises it; infos are flat: each metric under its own name, with the same keys
  at reset (0.0 there) and at every step.
  Added within v2, off by default so that every configuration without it
  keeps its trajectories bit for bit (the committed results, rerun, give the
  same numbers): the prescription lever (``prescription``; its action and
  observation components and its fines exist only when it is on; the infos
  keep their keys). Its sanction ``prescription_sanction``
  was 3 when the lever was added and is 10 since; no committed result used it.
  Target cascades (``cascade``, ``cascade_elasticity``; scenarios
  ``cascade_health`` and ``cascade_education``): the frontline's delivery, what
  audits reach and the frontline metrics exist only in worlds with a cascade.
  When cascades were added the frontline moved ``phi`` of the unmeasured domains'
  delivery onto the measured ones, and there were two frontline metrics; since,
  that share is target work that delivers nothing, ``measured_effort_share``
  counts it, and ``planned_measured_share`` is the third metric.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils import conversions, wrappers

from target_gaming.envs.target_gaming.parallel import TargetGamingEnv

__all__ = ["env", "parallel_env", "raw_env"]


def parallel_env(**kwargs: Any) -> TargetGamingEnv:
    """The ParallelEnv (native form). Keyword arguments as in the module docstring."""
    return TargetGamingEnv(**kwargs)


def raw_env(**kwargs: Any):
    """The AEC form without PettingZoo's order-enforcing wrapper."""
    return conversions.parallel_to_aec_wrapper(TargetGamingEnv(**kwargs))


def env(**kwargs: Any):
    """The AEC form, wrapped as PettingZoo's own environments are."""
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))
