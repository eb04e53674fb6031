"""The default calibration reproduces the phenomena of docs/design-spec.md section 7.

Scripted agents, many episodes per cell; cells share seeds, so their episodes
are paired (the same localities and noise), and every claim asserts a margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.training.evaluation.rollout import RolloutSpec, rollout

EPISODES = 32


def metric(design, policy, key, scenario="whitehall", seed=1, **overrides) -> np.ndarray:
    spec = RolloutSpec(
        scenario=scenario,
        design=design,
        policy=policy,
        episodes=EPISODES,
        seed=seed,
        overrides=overrides,
    )
    return np.array([row[key] for row in rollout(spec)])


def test_gaming_pays_under_targets_and_not_under_audited_targets():
    for design, sign in (("targets", 1.0), ("audited_targets", -1.0)):
        gamer = metric(design, "gamer", "local_return")
        honest = metric(design, "honest", "local_return")
        focused = metric(design, "measured_only", "local_return")  # the same focus, no gaming
        assert sign * (gamer.mean() - honest.mean()) > 0.05 * honest.mean(), design
        assert sign * (gamer.mean() - focused.mean()) > 0.03 * focused.mean(), design


def test_audits_shrink_the_goodhart_gap_of_agents_that_respond():
    for policy in ("reactive_gamer", "myopic_best_response"):
        free = metric("targets", policy, "goodhart_gap").mean()
        audited = metric("audited_targets", policy, "goodhart_gap").mean()
        assert audited < 0.7 * free, policy
    assert metric("targets", "honest", "goodhart_gap").mean() == pytest.approx(0.0, abs=0.002)


def test_measured_only_out_earns_honest_while_unmeasured_domains_fall_behind():
    gain = metric("targets", "measured_only", "local_return") - metric(
        "targets", "honest", "local_return"
    )
    assert gain.mean() > 3 * gain.std() / np.sqrt(EPISODES) and gain.mean() > 0.3
    neglect = metric("targets", "measured_only", "neglect")
    assert neglect.mean() > 0.2
    assert abs(metric("targets", "honest", "neglect").mean()) < 0.05
    welfare = metric("targets", "measured_only", "true_welfare")
    assert welfare.mean() < metric("targets", "honest", "true_welfare").mean() - 0.05


def test_myopic_best_response_bunches_above_the_target_under_threshold_pay_only():
    threshold = metric("targets", "myopic_best_response", "bunching").mean()
    linear = metric("linear", "myopic_best_response", "bunching").mean()
    assert threshold > 0.15 and threshold > 2.5 * linear


@pytest.mark.slow
def test_myopic_best_response_games_less_with_random_measures_or_audits():
    targets = metric("targets", "myopic_best_response", "gaming_share").mean()
    rotating = metric("rotating_basket", "myopic_best_response", "gaming_share").mean()
    audited = metric("audited_targets", "myopic_best_response", "gaming_share").mean()
    assert targets > 0.1
    assert rotating < 0.9 * targets
    assert audited < 0.5 * targets


@pytest.mark.slow
def test_myopic_best_response_partners_more_under_pooled_budgets():
    for scenario in ("jug_2", "jug_4"):
        own = metric("targets", "myopic_best_response", "partnership", scenario).mean()
        pooled = metric("pooled_budget", "myopic_best_response", "partnership", scenario).mean()
        assert pooled > own + 0.05, scenario


def test_local_knowledge_beats_a_prescribed_approach_only_where_places_differ():
    honest = metric("targets", "honest", "true_welfare", "coalfield_seaside").mean()
    prescribed = metric("targets", "prescribed", "true_welfare", "coalfield_seaside").mean()
    assert honest > prescribed + 0.04
    honest = metric("targets", "honest", "true_welfare", "homogeneous").mean()
    prescribed = metric("targets", "prescribed", "true_welfare", "homogeneous").mean()
    assert honest == pytest.approx(prescribed, abs=0.005)


def test_all_agencies_partnering_beats_none_and_one_silo_costs_the_partners():
    all_in = metric("targets", "honest", "true_welfare", "jug_2").mean()
    nobody = metric("targets", "silo", "true_welfare", "jug_2").mean()
    mixed = ("honest", "honest", "honest", "silo") * 6  # the economy agency stays in its silo
    one_silo = metric("targets", mixed, "true_welfare", "jug_2")
    assert all_in > nobody + 0.05  # the holistic half of delivery needs joint working
    # the partners' partnership buys little more than half the joint working it buys when
    # all four partner, and the locality loses a third of joined-up working's gain
    assert metric("targets", mixed, "joint_partnership", "jug_2").max() < 0.6 * 0.3
    assert one_silo.mean() < all_in - 0.25 * (all_in - nobody)
    # without the latent partnership (v1's J), the partners' partnership buys nothing at all
    v1 = {"latent_partnership": 0.0}
    assert metric("targets", mixed, "joint_partnership", "jug_2", **v1).max() == 0.0
    nobody_v1 = metric("targets", "silo", "true_welfare", "jug_2", **v1).mean()
    assert metric("targets", mixed, "true_welfare", "jug_2", **v1).mean() < nobody_v1 - 0.008


@pytest.mark.slow
def test_targets_raise_true_outcomes_where_gaming_is_audited_or_costly():
    # no incentive: targets so low that they are met without effort
    idle = metric("targets", "myopic_best_response", "measured_change", target_default=0.3)
    audited = metric("audited_targets", "myopic_best_response", "measured_change")
    costly = metric("targets", "myopic_best_response", "measured_change", gamma=0.05)
    assert abs(idle.mean()) < 0.03
    assert audited.mean() > idle.mean() + 0.1
    gain = costly - idle  # paired: the same localities and noise
    assert gain.mean() > 0.03 and gain.mean() > 5 * gain.std() / np.sqrt(EPISODES)


def test_departmental_silos_at_the_centre_cost_true_welfare():
    # the same localities and noise (paired seeds); departments let through half the spillovers
    for coordinated, departmental in (("jug_1", "jug_3"), ("jug_2", "jug_4")):
        for policy, floor in (("honest", 0.015), ("silo", 0.004)):
            gain = metric("targets", policy, "true_welfare", coordinated) - metric(
                "targets", policy, "true_welfare", departmental
            )
            assert gain.mean() > floor, (coordinated, policy)
            assert gain.mean() > 5 * gain.std() / np.sqrt(EPISODES), (coordinated, policy)


def test_joint_partnership_is_the_geometric_mean_of_the_agencies_shares():
    honest = metric("targets", "honest", "joint_partnership", "jug_2")
    assert honest == pytest.approx(0.3)  # every agency partners 0.3
    assert metric("targets", "honest", "joint_partnership", "whitehall") == pytest.approx(0.3)


def test_a_flat_budget_buys_no_improvement_where_targets_with_audits_do():
    flat = metric("flat_pay", "myopic_best_response", "measured_change")
    audited = metric("audited_targets", "myopic_best_response", "measured_change")
    assert abs(flat.mean()) < 0.02
    gain = audited - flat  # paired
    assert gain.mean() > 0.1 and gain.mean() > 5 * gain.std() / np.sqrt(EPISODES)
