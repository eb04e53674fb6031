"""The prescription lever (docs/model.md, "Prescription"): the centre prescribes an approach
per domain, audits find and fine the effort spent on other approaches, under scripted
agents."""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.agents.base import compose_centre
from target_gaming.agents.registry import load_policy
from target_gaming.envs.target_gaming import World, get_scenario, observe


def _world(scenario: str, design: str = "audited_targets", **overrides) -> World:
    return World(get_scenario(scenario).config(prescription=True, **overrides), design, "welfare")


def _episode(world: World, centre, local: str, batch: int = 16, seed: int = 1) -> dict:
    """One episode of ``batch`` worlds under a scripted centre (a name, or a function of the
    centre's observations) and one scripted local policy: mean true welfare over the last
    two periods, each locality's fines summed, the states."""
    cfg = world.config
    centre_policy = load_policy(centre, world, "centre", 0) if isinstance(centre, str) else None
    local_policy = load_policy(local, world, "local", 0)
    rng = np.random.default_rng(seed)
    state = world.reset(rng, batch)
    welfare, fines, states = [], np.zeros((batch, cfg.n_localities)), []
    for _ in range(cfg.horizon):
        lo, co = observe.observations(cfg, state)
        la = local_policy.act(lo.reshape(-1, lo.shape[-1])).reshape(batch, cfg.n_locals, -1)
        flat = co.reshape(-1, co.shape[-1])
        ca = centre_policy.act(flat) if centre_policy is not None else centre(flat)
        result = world.step(state, la, ca.reshape(batch, cfg.n_centres, -1), rng)
        state = result.state
        states.append(state)
        welfare.append(result.metrics.national["true_welfare"])
        fines += result.metrics.locality["sanctions"]
    return {"welfare": float(np.mean(welfare[-8:])), "fines": fines, "states": states}


def _prescribing(world: World, approach: int, strength: float = 1.0):
    """A centre with fixed targets and even audits that prescribes ``approach`` everywhere."""
    cfg = world.config
    kg = cfg.n_domains // cfg.n_centres

    def act(obs: np.ndarray) -> np.ndarray:
        m = obs.shape[0]
        prescription = np.zeros((m, kg, cfg.n_approaches))
        prescription[..., approach] = strength
        targets = np.full((m, cfg.n_localities, kg), cfg.target_default)
        return compose_centre(cfg, targets, np.ones((m, cfg.n_localities)), prescription)

    return act


def test_prescription_costs_true_welfare_only_where_localities_differ():
    """Localities that comply (``prescribed``) lose against local choice (``honest``) where
    the best approach differs between places, and tie where every place is alike."""
    differ = _world("coalfield_seaside")
    honest = _episode(differ, "prescriptive", "honest")["welfare"]
    complying = _episode(differ, "prescriptive", "prescribed")["welfare"]
    assert honest > complying + 0.04
    alike = _world("homogeneous")
    honest = _episode(alike, "prescriptive", "honest")["welfare"]
    complying = _episode(alike, "prescriptive", "prescribed")["welfare"]
    assert honest == pytest.approx(complying, abs=0.005)


def test_audits_fine_off_method_effort_and_only_that_of_those_who_depart():
    """Under ``prescriptive`` in ``coalfield_seaside`` the odd localities, whose best approach
    is the national worst, are fined when they follow their own knowledge, far more than
    the even ones (fined only where local effectiveness reorders the first two
    approaches); anyone who complies never is, nor anyone without the lever."""
    world = _world("coalfield_seaside")
    departing = _episode(world, "prescriptive", "honest")["fines"]
    assert departing[:, 1::2].sum(axis=1).min() > 0.5
    assert departing[:, 0::2].sum() < 0.2 * departing[:, 1::2].sum()
    assert _episode(world, "prescriptive", "prescribed")["fines"].max() == 0.0
    without = World(get_scenario("coalfield_seaside").config(), "audited_targets", "welfare")
    assert _episode(without, "fixed_targets", "honest")["fines"].max() == 0.0


def test_the_fine_scales_with_strength_and_needs_an_audit():
    world = _world("coalfield_seaside")
    full = _episode(world, _prescribing(world, 0, 1.0), "honest")["fines"].sum()
    half = _episode(world, _prescribing(world, 0, 0.5), "honest")["fines"].sum()
    assert full > 0 and half == pytest.approx(full / 2, rel=1e-9)
    assert _episode(world, _prescribing(world, 0, 0.0), "honest")["fines"].max() == 0.0
    unaudited = _world("coalfield_seaside", design="targets")  # no audits: nobody inspects
    assert _episode(unaudited, "prescriptive", "honest")["fines"].max() == 0.0


def test_compliant_localities_follow_the_centres_prescription_even_a_bad_one():
    """``prescribed`` follows what the centre prescribes: the national worst approach costs
    true welfare even where every place is alike; the record starts again at each review."""
    world = _world("homogeneous")
    best = _episode(world, _prescribing(world, 0), "prescribed")
    worst = _episode(world, _prescribing(world, 2), "prescribed")
    assert best["welfare"] > worst["welfare"] + 0.05
    assert worst["fines"].max() == 0.0  # it complies, so is never fined
    departing = _episode(world, _prescribing(world, 2), "honest")
    period = world.config.review_period
    for t, state in enumerate(departing["states"], start=1):
        record = state.off_method
        if t % period == 0:  # the state after a review step
            assert record.max() == 0.0
        elif t > period:  # a prescription is in force after the first review
            assert record.min() > 0.0
    assert (departing["states"][period].prescription.argmax(axis=-1) == 2).all()


def test_the_lever_is_in_the_spaces_only_when_asked_for_and_refused_without_it():
    plain = get_scenario("whitehall").config()
    lever = plain.replace(prescription=True)
    assert not any(n.startswith("prescribe") for n, _, _ in observe.centre_action_layout(plain, 0))
    names = [n for n, _, _ in observe.centre_action_layout(lever, 0)]
    assert len(names) - len(observe.centre_action_layout(plain, 0)) == 4 * 3
    with pytest.raises(ValueError, match="prescription"):
        compose_centre(plain, np.full((1, 6, 4), 0.6), np.ones((1, 6)), np.ones((1, 4, 3)))
    with pytest.raises(ValueError, match="config field 'prescription' = 'yes'"):
        plain.replace(prescription="yes")


def test_a_learned_centre_sees_and_pulls_the_lever():
    """The SB3 centre env gives a learning centre the lever: its action space holds the
    prescription's columns and what it prescribes is in force after its decision."""
    import warnings

    from stable_baselines3.common.env_checker import check_env

    from target_gaming.training.sb3.centre_env import CentreEnv

    env = CentreEnv(design="targeted_audits", overrides={"prescription": True}, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its actions live in [0, 1]
        check_env(env)
    names = [n for n, _, _ in observe.centre_action_layout(env.world.config, 0)]
    assert env.action_space.shape == (len(names),)
    env.reset(seed=1)
    action = np.zeros(len(names), dtype=np.float32)
    worst = [i for i, n in enumerate(names) if n.startswith("prescribe:") and n.endswith(":2")]
    action[worst] = 0.8
    env.step(action)  # applied at the review that ends the first period
    prescription = env._vec.state.prescription[0]  # (K, R)
    np.testing.assert_allclose(prescription[:, 2], 0.8, rtol=1e-6)
    assert prescription[:, :2].max() == 0.0


def test_a_relative_centres_zero_output_prescribes_nothing_and_its_positive_part_prescribes():
    from target_gaming.agents.centre_actions import world_action

    cfg = get_scenario("whitehall").config(prescription=True)
    world = World(cfg, "targeted_audits", "welfare")
    obs = observe.centre_observations(cfg, world.reset(np.random.default_rng(0), 2))[:, 0]
    names = [n for n, _, _ in observe.centre_action_layout(cfg, 0)]
    columns = [i for i, n in enumerate(names) if n.startswith("prescribe:")]
    zero = world_action(cfg, obs, np.zeros((2, len(names))), "relative")
    assert zero[:, columns].max() == 0.0
    assert (zero[:, [i for i, n in enumerate(names) if n.startswith("audit:")]] == 0.5).all()
    action = np.full((2, len(names)), -1.0)
    action[:, columns[1]] = 0.6  # the first domain's approach 1
    prescription = world.decode_prescription(world_action(cfg, obs, action, "relative")[:, None])
    np.testing.assert_allclose(prescription[:, 0], [[0.0, 0.6, 0.0]] * 2)
    assert prescription[:, 1:].max() == 0.0


def test_the_prescriptive_centre_is_refused_without_the_lever():
    """Without the lever it would be fixed_targets under another name: a wrong number."""
    plain = World(get_scenario("whitehall").config(), "audited_targets")
    with pytest.raises(ValueError, match="needs the world's prescription lever"):
        load_policy("prescriptive", plain, "centre")


def test_the_relative_rule_prescribes_the_nationally_best_approach_at_its_strength():
    """relative_rule's prescribe: the stackelberg centre's prescription lever."""
    world = _world("whitehall", "targeted_audits")
    cfg = world.config
    obs = observe.centre_observations(cfg, world.reset(np.random.default_rng(0), 2))[:, 0]
    best = int(np.argmax(cfg.approach_effectiveness))
    for strength in (0.0, 0.25, 1.0):
        rule = load_policy("relative_rule", world, "centre", prescribe=strength)
        prescription = world.decode_prescription(rule.act(obs)[:, None])[:, 0]  # (M, K, R)
        want = np.zeros(prescription.shape)
        want[..., best] = strength
        np.testing.assert_allclose(prescription, want)
    plain = World(get_scenario("whitehall").config(), "targeted_audits")
    load_policy("relative_rule", plain, "centre", prescribe=0.0)  # no lever: nothing to pull
    with pytest.raises(ValueError, match="prescribe = 0.5 needs the world's prescription lever"):
        load_policy("relative_rule", plain, "centre", prescribe=0.5)
