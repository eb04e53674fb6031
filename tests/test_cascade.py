"""Target cascades (docs/model.md, "Target cascades"): headline targets translated into M
frontline targets each, under scripted agents. What the source paper says a cascade does,
as world rules: a tighter focus on what is measured, less room for local judgement, more
measures to game (and more to audit)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from target_gaming.envs.target_gaming import World, WorldState, get_scenario, make_config
from target_gaming.envs.target_gaming.metrics import FRONTLINE_METRICS
from target_gaming.envs.target_gaming.reference import frontline_delivery, frontline_metrics
from target_gaming.training.evaluation.rollout import RolloutSpec, rollout
from tests.conftest import centre_dim

METRICS = ("true_welfare", "neglect", "gaming_share", "goodhart_gap", *FRONTLINE_METRICS)


def _means(scenario: str, policy: str, cascade: int, episodes: int = 16, **overrides) -> dict:
    """Episode means of some metrics under a scripted local policy and audited targets."""
    spec = RolloutSpec(
        scenario=scenario,
        design="audited_targets",
        policy=policy,
        episodes=episodes,
        seed=3,
        overrides={"cascade": cascade, **overrides},
    )
    rows = rollout(spec)
    return {name: float(np.mean([r[name] for r in rows])) for name in (*METRICS, "sanctions")}


def _random_episode(cfg, design: str = "audited_targets", steps: int = 12, seed: int = 0):
    """States and results of ``steps`` steps of random actions."""
    world = World(cfg, design)
    rng, actions = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    state = world.reset(rng, 4)
    out = []
    for _ in range(steps):
        local = actions.random((4, cfg.n_locals, cfg.local_action_dim))
        centre = actions.random((4, cfg.n_centres, centre_dim(world)))
        result = world.step(state, local, centre, rng)
        out.append((state, result))
        state = result.state
    return out


def test_a_cascade_of_one_is_the_world_without_a_cascade_plus_its_metrics():
    """M = 1 (headline targets only): phi = 0, so every state, reward and base metric is the
    world's without a cascade, bit for bit; only the two frontline metrics are added."""
    plain, one = make_config("whitehall"), make_config("whitehall", cascade=1)
    assert one.frontline_share == 0.0
    for (_, a), (_, b) in zip(_random_episode(plain), _random_episode(one), strict=True):
        for field in dataclasses.fields(WorldState):
            np.testing.assert_array_equal(
                getattr(a.state, field.name), getattr(b.state, field.name)
            )
        np.testing.assert_array_equal(a.local_rewards, b.local_rewards)
        np.testing.assert_array_equal(a.centre_rewards, b.centre_rewards)
        base = a.metrics.national_array
        np.testing.assert_array_equal(b.metrics.national_array[: len(base)], base)
        assert set(b.metrics.national) - set(a.metrics.national) == set(FRONTLINE_METRICS)
        np.testing.assert_array_equal(b.metrics.national["frontline_targets"], 1.0)


@pytest.mark.parametrize("scenario", ["cascade_health", "jug_2"])
def test_the_frontline_keeps_the_cascaded_delivery_and_spends_phi_of_the_rest_on_targets(
    scenario,
):
    """The frontline re-splits a cascaded domain's delivery without adding or removing any;
    of an unmeasured domain's it delivers ``1 - phi``, the rest being target work, which the
    measured effort share counts as effort on the frontline targets."""
    cfg = get_scenario(scenario).config(cascade=17)
    world = World(cfg, "targets")
    state = world.reset(np.random.default_rng(0), 2)
    actions = np.random.default_rng(1).random((2, cfg.n_locals, cfg.local_action_dim))
    plan = world.decode_local(actions, state).deliver  # (B, L, K, R)
    made = frontline_delivery(cfg, state.revealed, plan)
    phi, headline = cfg.frontline_share, cfg.headline_mask
    kept = made.sum(axis=-1) / plan.sum(axis=-1)  # (B, L, K) delivered / planned
    np.testing.assert_allclose(kept[:, :, headline], 1.0, rtol=1e-12)
    # an agency without frontline targets (jug_2: the unmeasured domain's) keeps its plan
    np.testing.assert_allclose(kept[:, :, ~headline], 1.0 if cfg.per_domain else 1 - phi)
    planned_share = plan[:, :, headline].sum(axis=(-2, -1)) / plan.sum(axis=(-2, -1))
    effort_share = frontline_metrics(cfg, state.revealed, plan)["measured_effort_share"]
    if cfg.per_domain:  # one domain per agency: no agency has an unmeasured domain of its own
        np.testing.assert_allclose(effort_share, planned_share, rtol=1e-12)
    else:
        expected = planned_share + phi * (1 - planned_share)
        np.testing.assert_allclose(effort_share, expected, rtol=1e-12)


def test_a_cascade_focuses_effort_on_the_measured_domains_and_neglects_the_rest():
    """Honest localities plan every domain alike at every depth; their frontline spends phi
    of the unmeasured domains' delivery on target work, more the deeper the cascade, and
    neglect rises. Knights that plan for it (the myopic best response where every locality
    values every domain) move their own plan onto the measured domains: the focus is not
    planned away."""
    depth = {m: _means("whitehall", "honest", m) for m in (1, 17, 34)}
    shares = [depth[m]["measured_effort_share"] for m in (1, 17, 34)]
    neglect = [depth[m]["neglect"] for m in (1, 17, 34)]
    assert shares[0] == pytest.approx(0.5, abs=0.01)  # honest: every domain alike
    assert shares[0] + 0.2 < shares[1] < shares[2]
    assert neglect[0] + 0.05 < neglect[1] < neglect[2]
    for m in (1, 17, 34):  # the plan is the same; the frontline makes the difference
        assert depth[m]["planned_measured_share"] == pytest.approx(shares[0], abs=1e-9)
    knights = {"knight_share": 1.0}
    planner = [_means("whitehall", "myopic_best_response", m, 4, **knights) for m in (1, 17)]
    planned = [p["planned_measured_share"] for p in planner]
    assert planned[1] > planned[0] + 0.03
    assert planner[1]["neglect"] > planner[0]["neglect"] + 0.02


@pytest.mark.slow
def test_a_cascade_gives_more_measures_to_game_than_audits_reach():
    """The same gaming is found and fined at 1 - phi the rate, so the myopic best response
    games more and the headline measures are less genuine."""
    cfg = make_config("cascade_education")
    found = []
    for config in (cfg.replace(cascade=1), cfg):
        audited = [
            (before, result)
            for before, result in _random_episode(config, steps=8)
            if result.state.audited.any()
        ]
        before, result = audited[-1]
        stock = result.state.inflation + result.state.detected  # the stock before the audit
        cells = result.state.audited > 0
        found.append(result.state.detected[cells].sum() / stock[cells].sum())
    assert found[0] == pytest.approx(1.0)
    # an audit of a locality covers all four domains; two of them are cascaded
    assert found[1] < 1.0 - 0.25 * cfg.frontline_share
    plain, deep = (
        _means("whitehall", "myopic_best_response", 1),
        _means("whitehall", "myopic_best_response", 34),
    )
    assert deep["gaming_share"] > plain["gaming_share"] + 0.015
    assert deep["goodhart_gap"] > plain["goodhart_gap"] + 0.01


@pytest.mark.slow
def test_a_cascade_costs_local_judgement_more_where_localities_differ():
    """Within cascaded domains the frontline delivers by the national mix. Where localities
    differ (the odd localities of coalfield_seaside work best with the national worst), that
    costs the myopic best response true welfare on top of what the target work costs; where
    they are alike (h = 0, the national mix is every locality's own best split) only the
    target work costs."""
    differ = [_means("coalfield_seaside", "myopic_best_response", m) for m in (1, 34)]
    alike = [_means("homogeneous", "myopic_best_response", m) for m in (1, 34)]
    cost_differ = differ[0]["true_welfare"] - differ[1]["true_welfare"]
    cost_alike = alike[0]["true_welfare"] - alike[1]["true_welfare"]
    assert cost_alike > 0.005
    assert cost_differ > cost_alike + 0.004


@pytest.mark.parametrize("value", [0, 1001, 2.5, True, "17"])
def test_a_bad_cascade_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match=r"config field 'cascade' = .* None \(no cascade\)"):
        make_config("whitehall", cascade=value)
