"""Scripted policies: every entry builds and acts validly; the rules do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.agents import (
    CENTRE_POLICIES,
    LOCAL_POLICIES,
    Policy,
    load_policy,
    register_loader,
)
from target_gaming.agents.base import CentreView
from target_gaming.agents.centre_actions import RELATIVE_SPAN, world_action
from target_gaming.agents.myopic import MyopicBestResponse
from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming import World, observe
from tests.conftest import SCENARIO_CASES, make_world


def _observations(world: World, batch: int = 3, steps: int = 5):
    rng = np.random.default_rng(0)
    state = world.reset(rng, batch)
    cfg = world.config
    for _ in range(steps):
        local = rng.random((batch, cfg.n_locals, cfg.local_action_dim))
        centre = rng.random((batch, cfg.n_centres, CentreView.build(cfg).action_dim))
        state = world.step(state, local, centre, rng).state
    return state


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
@pytest.mark.parametrize("name", sorted(LOCAL_POLICIES))
def test_every_local_policy_acts_in_range_for_every_agent(scenario, name):
    world = make_world(scenario, "rotating_basket")
    state = _observations(world)
    obs = observe.local_observations(world.config, state)
    obs = obs.reshape(-1, obs.shape[-1])
    policy = load_policy(name, world, "local", seed=1)
    assert isinstance(policy, Policy) and policy.role == "local" and policy.description
    actions = policy.act(obs)
    assert actions.shape == (obs.shape[0], world.config.local_action_dim)
    assert np.isfinite(actions).all() and (actions >= 0).all() and (actions <= 1).all()
    np.testing.assert_allclose(policy.act_one(obs[0]).shape, (world.config.local_action_dim,))


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
@pytest.mark.parametrize("name", sorted(CENTRE_POLICIES))
def test_every_centre_policy_acts_in_range(scenario, name):
    lever = {"prescription": True} if name == "prescriptive" else {}  # it needs the lever
    world = make_world(scenario, "targeted_audits", **lever)
    state = _observations(world)
    obs = observe.centre_observations(world.config, state)
    obs = obs.reshape(-1, obs.shape[-1])
    policy = load_policy(name, world, "centre", seed=1)
    actions = policy.act(obs)
    env = target_gaming_v2.parallel_env(scenario=scenario, **lever)
    assert actions.shape == (obs.shape[0], env.action_space(env.possible_agents[0]).shape[0])
    assert np.isfinite(actions).all() and (actions >= 0).all() and (actions <= 1).all()


def test_scripted_policies_drive_the_parallel_env():
    env = target_gaming_v2.parallel_env(scenario="jug_4", design="pooled_budget")
    world = env.world
    local = load_policy("myopic_best_response", world, "local")
    centre = load_policy("ratchet", world, "centre")
    obs, _ = env.reset(seed=0)
    while env.agents:
        actions = {a: local.act_one(obs[a]) for a in env.local_agents}
        actions.update({a: centre.act_one(obs[a]) for a in env.centre_agents})
        obs, *_ = env.step(actions)
    assert np.isfinite(env.episode_metrics()["true_welfare"])


def test_unknown_policy_names_list_the_known_ones(tmp_path):
    world = make_world()
    with pytest.raises(ValueError, match="honest.*myopic_best_response"):
        load_policy("angel", world, "local")
    with pytest.raises(ValueError, match="ratchet"):
        load_policy("tsar", world, "centre")
    with pytest.raises(ValueError, match="unknown role"):
        load_policy("honest", world, "mayor")
    saved = tmp_path / "policy.weird"
    saved.write_text("x")
    with pytest.raises(ValueError, match="no loader for '.weird'"):
        load_policy(str(saved), world)


def test_saved_policies_load_through_the_loader_registered_for_their_suffix(tmp_path):
    world = make_world()
    saved = tmp_path / "policy.fake"
    saved.write_text("x")
    register_loader(".fake", lambda path, world, role, seed: load_policy("saint", world, role))
    assert load_policy(str(saved), world).name == "saint"


def test_ratchet_moves_each_target_part_way_to_last_performance():
    world = make_world()
    cfg = world.config
    state = _observations(world, batch=2, steps=3)
    obs = observe.centre_observations(cfg, state)[:, 0]
    action = load_policy("ratchet", world, "centre", ratchet_rate=0.25).act(obs)
    view = CentreView.build(cfg)
    tau, m = obs[:, view.target], obs[:, view.measured]
    expected = tau.copy()
    expected[..., :2] = tau[..., :2] + 0.25 * (m[..., :2] - tau[..., :2])  # headline only
    level = (expected - cfg.target_min) / (cfg.target_max - cfg.target_min)
    np.testing.assert_allclose(action[:, : view.target.size], level.reshape(2, -1), atol=1e-6)


def test_relative_rule_is_the_ratchet_moved_by_its_offset_with_focused_audits():
    world = make_world(design="targeted_audits")
    cfg = world.config
    view = CentreView.build(cfg)
    state = _observations(world, batch=2, steps=7)
    obs = observe.centre_observations(cfg, state)[:, 0]
    n_targets = view.target.size
    ratchet = load_policy("ratchet", world, "centre", ratchet_rate=0.3).act(obs)
    same = load_policy("relative_rule", world, "centre", ratchet_rate=0.3).act(obs)
    np.testing.assert_array_equal(same, ratchet)
    moved = load_policy("relative_rule", world, "centre", ratchet_rate=0.3, offset=0.05).act(obs)
    shift = 0.05 / (cfg.target_max - cfg.target_min)
    headline = np.zeros((cfg.n_localities, cfg.n_domains), bool)
    headline[:, :2] = True
    inside = (ratchet[:, :n_targets] + shift < 1.0) & headline.reshape(-1)
    np.testing.assert_allclose(
        moved[:, :n_targets][inside], ratchet[:, :n_targets][inside] + shift, atol=1e-6
    )
    np.testing.assert_array_equal(  # an unmeasured domain keeps its target
        moved[:, :n_targets][:, ~headline.reshape(-1)],
        ratchet[:, :n_targets][:, ~headline.reshape(-1)],
    )
    risk = load_policy("risk_based_audits", world, "centre").act(obs)[:, n_targets:]
    focused = load_policy("relative_rule", world, "centre", audit_focus=1.0).act(obs)
    np.testing.assert_array_equal(focused[:, n_targets:], risk)
    half = load_policy("relative_rule", world, "centre", audit_focus=0.5).act(obs)
    np.testing.assert_allclose(half[:, n_targets:], 0.5 + 0.5 * risk)
    for params in ({"offset": 0.5}, {"audit_focus": -0.1}, {"ratchet_rate": "x"}):
        with pytest.raises(ValueError, match=next(iter(params))):
            load_policy("relative_rule", world, "centre", **params)


def test_risk_based_audits_go_where_measures_look_implausible():
    world = make_world()
    cfg = world.config
    view = CentreView.build(cfg)
    obs = np.zeros(
        (1, observe.centre_observations(cfg, world.reset(np.random.default_rng(0), 1)).shape[-1])
    )
    obs[0, view.is_measured[:2]] = 1.0
    obs[0, view.measured[:, :2]] = 0.5
    obs[0, view.measured[4, :2]] = 0.9  # locality 4 reports a jump
    audits = load_policy("risk_based_audits", world, "centre").act(obs)[0, -cfg.n_localities :]
    assert audits[4] == 1.0 and audits.sum() == cfg.n_audits


def test_myopic_best_response_finds_the_best_allocation_for_its_own_objective():
    for design in ("targets", "linear", "audited_targets", "pooled_budget"):
        world = make_world(design=design)
        state = _observations(world, batch=4, steps=6)
        obs = observe.local_observations(world.config, state)
        obs = obs.reshape(-1, obs.shape[-1]).astype(float)
        myopic = MyopicBestResponse(world, seed=0)
        chosen, _ = myopic._optimise(obs)
        value = myopic.expected_reward(obs, chosen[:, None])[:, 0]
        rivals = myopic.rng.dirichlet(np.ones(myopic.dim), (obs.shape[0], 2000))
        best_rival = myopic.expected_reward(obs, rivals).max(axis=1)
        assert (value >= best_rival - 1e-4).all(), design
        scripted = {
            name: load_policy(name, world, "local").act(obs) for name in ("honest", "gamer")
        }
        for name, action in scripted.items():  # the scripted rules' own allocations, compressed
            kc = world.config.n_domains
            shares = action / action.sum(axis=1, keepdims=True)
            alloc = np.concatenate(
                [shares[:, : kc * 3].reshape(-1, kc, 3).sum(-1), shares[:, kc * 3 :]], axis=1
            )
            assert (value >= myopic.expected_reward(obs, alloc[:, None])[:, 0] - 1e-4).all(), name


def test_the_constant_rule_sets_one_level_and_audits_that_many_random_localities():
    world = make_world("whitehall", "targeted_audits")  # 6 localities, n_audits 3
    cfg = world.config
    rule = load_policy("constant_rule", world, "centre", seed=2, target_level=0.7, audit_rate=1 / 3)
    rng = np.random.default_rng(0)
    state = world.reset(rng, 64)
    targets, weights = world.decode_centre(
        rule.act(observe.centre_observations(cfg, state)[:, 0])[:, None]
    )
    np.testing.assert_allclose(targets, 0.7)
    assert ((weights == 0) | (weights == 1)).all() and (weights.sum(axis=1) == 2).all()
    chosen = weights[..., 0].astype(bool)
    assert 0.2 < chosen.mean(axis=0).min() and len({tuple(c) for c in chosen}) > 5  # random
    for _ in range(cfg.review_period):
        centre = rule.act(observe.centre_observations(cfg, state)[:, 0])[:, None]
        local = np.full((64, cfg.n_locals, cfg.local_action_dim), 0.5)
        result = world.step(state, local, centre, rng)
        state = result.state
    audited = result.metrics.national["audits"]
    np.testing.assert_allclose(audited, 2)  # exactly 2 of 6 localities audited
    default = load_policy("constant_rule", world, "centre")
    assert (default.target_level, default.n_audited) == (cfg.target_default, 3)
    for params, message in (
        ({"target_level": 0.95}, r"target_level = 0.95 must be in \[0.3, 0.9\]"),
        ({"audit_rate": 0.9}, r"audit_rate = 0.9 must be in \[0, 0.5\]"),
        ({"audit_rate": "high"}, "audit_rate = 'high' is not allowed: a number"),
    ):
        with pytest.raises(ValueError, match=message):
            load_policy("constant_rule", world, "centre", **params)


def test_the_random_rule_draws_every_target_and_audit_weight_anew_each_review():
    world = make_world("whitehall", "targeted_audits")
    cfg = world.config
    state = world.reset(np.random.default_rng(0), 256)
    obs = observe.centre_observations(cfg, state)[:, 0]
    rule = load_policy("random_rule", world, "centre", seed=3)
    actions = [rule.act(obs) for _ in range(2)]
    first, second = (world.decode_centre(a[:, None]) for a in actions)
    for targets in (first[0], second[0]):
        assert targets.min() >= cfg.target_min and targets.max() <= cfg.target_max
        assert abs(targets.mean() - (cfg.target_min + cfg.target_max) / 2) < 0.01  # uniform
    assert not np.allclose(first[0], second[0]) and not np.allclose(first[1], second[1])
    assert 0.4 < first[1].mean() < 0.6 and first[1].std() > 0.25  # weights uniform in [0, 1]
    again = load_policy("random_rule", world, "centre", seed=3)  # the same seed, the same draws
    np.testing.assert_array_equal(again.act(obs), actions[0])


def _relative_reference(cfg, layout_obs, layout_act, obs, u):
    """The relative parameterisation component by component, from the layouts' names."""
    where = {name: j for j, (name, _, _) in enumerate(layout_obs)}
    out = np.empty(len(layout_act))
    for j, (name, _, _) in enumerate(layout_act):
        value = min(1.0, max(-1.0, u[j]))
        if name.startswith("audit:"):
            out[j] = (value + 1) / 2
            continue
        _, i, d = name.split(":")
        tau = obs[where[f"target:{i}:{d}"]]
        if obs[where[f"is_measured:{d}"]] > 0:
            m = obs[where[f"measured:{i}:{d}"]]
            target = tau + 0.5 * (m - tau) + RELATIVE_SPAN * value  # the ratchet's step
        else:
            target = tau
        level = (target - cfg.target_min) / (cfg.target_max - cfg.target_min)
        out[j] = min(1.0, max(0.0, level))
    return out


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_a_relative_centre_departs_from_the_ratchet_per_locality(scenario):
    world = make_world(scenario, design="targeted_audits")
    cfg = world.config
    state = _observations(world, batch=2, steps=2 * cfg.review_period)
    obs = observe.centre_observations(cfg, state).astype(np.float64)  # (B, C, D_obs)
    rng = np.random.default_rng(1)
    for c in range(cfg.n_centres):
        layout_obs = observe.centre_observation_layout(cfg, c)
        layout_act = observe.centre_action_layout(cfg, c)
        u = rng.uniform(-1.3, 1.3, (2, len(layout_act)))  # some outside [-1, 1]: clipped
        got = world_action(cfg, obs[:, c], u, "relative")
        for b in range(2):
            expected = _relative_reference(cfg, layout_obs, layout_act, obs[b, c], u[b])
            np.testing.assert_allclose(got[b], expected, atol=1e-12)
        # the network's zero is the ratchet (its default rate) with even audits
        zero = world_action(cfg, obs[:, c], np.zeros_like(u), "relative")
        ratchet = load_policy("ratchet", world, "centre").act(obs[:, c])
        n_targets = len(layout_act) - cfg.n_localities
        np.testing.assert_allclose(zero[:, :n_targets], ratchet[:, :n_targets], atol=1e-6)
        np.testing.assert_allclose(zero[:, n_targets:], 0.5)
    # absolute is the world's action, clipped; a NaN stays (the world refuses it)
    u = np.array([[-0.5, 0.3, 1.7]])
    np.testing.assert_allclose(world_action(cfg, obs[:1, 0], u, "absolute"), [[0.0, 0.3, 1.0]])
    bad = np.zeros((1, len(observe.centre_action_layout(cfg, 0))))
    bad[0, 0] = np.nan
    assert np.isnan(world_action(cfg, obs[:1, 0], bad, "relative")[0, 0])
    with pytest.raises(ValueError, match="centre_action = 'ratio'.*absolute, relative"):
        world_action(cfg, obs[:1, 0], bad, "ratio")
