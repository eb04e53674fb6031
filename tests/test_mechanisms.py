"""One test per mechanism of the world, named after its claim, under scripted actions."""

from __future__ import annotations

import numpy as np

from target_gaming.envs.target_gaming import World, get_scenario, observe
from target_gaming.envs.target_gaming.designs import PayInputs, league_table_pay, threshold_pay
from tests.conftest import centre_default_level, constant_actions, make_world


def local_action(world: World, **shares: float) -> np.ndarray:
    """A unitary/per-agency action vector from component names (others 0)."""
    cfg = world.config
    from target_gaming.envs.target_gaming.observe import local_action_layout

    names = [n for n, _, _ in local_action_layout(cfg, 0)]
    vec = np.zeros(len(names))
    for name, value in shares.items():
        vec[names.index(name.replace("__", ":"))] = value
    return vec


def run(world: World, local: np.ndarray, steps: int, batch: int = 64, seed: int = 0, centre=None):
    """Run ``steps`` steps with constant actions; return the list of StepResults."""
    rng = np.random.default_rng(seed)
    state = world.reset(rng, batch)
    la, ca = constant_actions(world, local, batch)
    if centre is not None:
        ca = np.broadcast_to(centre, ca.shape)
    results = []
    for _ in range(steps):
        result = world.step(state, la, ca, rng)
        state = result.state
        results.append(result)
    return results


def final_true(results) -> np.ndarray:
    return results[-1].state.true


def test_gaming_raises_the_measure_but_not_the_truth():
    world = make_world(sigma_x=0.0, sigma_m=0.0)
    honest = local_action(world, deliver__health__0=0.3, slack=0.7)
    gaming = local_action(world, deliver__health__0=0.3, game__health=0.7)
    h, g = run(world, honest, 8), run(world, gaming, 8)
    health = 0
    assert (g[-1].state.measured[..., health] > h[-1].state.measured[..., health] + 0.05).all()
    assert (final_true(g)[..., health] < final_true(h)[..., health]).all()  # real harm
    assert g[-1].metrics.national["goodhart_gap"].mean() > 0.05
    assert abs(h[-1].metrics.national["goodhart_gap"].mean()) < 1e-9


def test_inflation_decays_unless_kept_up():
    world = make_world(sigma_x=0.0, sigma_m=0.0)
    gaming = run(world, local_action(world, game__health=1.0), 5)
    u = gaming[-1].state.inflation[..., 0]
    stopped = world.step(
        gaming[-1].state, *constant_actions(world, np.zeros(18), 64), np.random.default_rng(1)
    )
    np.testing.assert_allclose(stopped.state.inflation[..., 0], (1 - world.config.rho) * u)


def test_an_audit_resets_inflation_and_sanctions_it():
    world = make_world(design="audited_targets", audit_rate=1.0, sigma_m=0.0)
    gaming = local_action(world, game__health=0.5, game__education=0.5)
    results = run(world, gaming, world.config.review_period)
    before = results[-2].state.inflation.copy()
    review = results[-1]
    u_found = (1 - world.config.rho) * before + world.config.gamma * np.sqrt(
        0.5 * results[-1].state.capacity[..., None] * np.array([1, 1, 0, 0])
    )
    assert (review.state.inflation == 0).all()
    np.testing.assert_allclose(
        review.metrics.locality["sanctions"], world.config.sanction * u_found.sum(axis=-1)
    )
    np.testing.assert_allclose(review.state.detected, u_found)
    no_audit = run(make_world(sigma_m=0.0), gaming, world.config.review_period)
    assert (review.local_rewards < no_audit[-1].local_rewards - 0.1).all()


def test_an_audit_reveals_the_truth_to_the_centre_and_nothing_else_does():
    world = make_world(design="audited_targets", audit_rate=0.5)
    results = run(world, local_action(world, deliver__health__0=1.0), 4, batch=8)
    state = results[-1].state
    cfg = world.config
    obs = observe.centre_observations(cfg, state)[:, 0]
    names = [n for n, _, _ in observe.centre_observation_layout(cfg, 0)]
    seen = obs[:, [names.index(f"audited_true:{i}:health") for i in range(cfg.n_localities)]]
    audited = state.audited[..., 0].astype(bool)
    np.testing.assert_allclose(seen[audited], state.true[..., 0][audited], rtol=1e-6)
    assert (seen[~audited] == 0).all()
    assert 0 < audited.sum() <= 8 * cfg.n_audits


def test_diminishing_returns_near_the_ceiling():
    world = make_world(sigma_x=0.0, delta=0.0, s0=0.0, s1=0.0)
    rng = np.random.default_rng(0)
    state = world.reset(rng, 2)
    state = state.replace(true=np.stack([np.full((6, 4), 0.2), np.full((6, 4), 0.8)]))
    state = state.replace(effectiveness=np.broadcast_to(state.effectiveness[:1], (2, 6, 4, 3)))
    state = state.replace(capacity=np.broadcast_to(state.capacity[:1], (2, 6)))
    la, ca = constant_actions(world, local_action(world, deliver__health__0=1.0), 2)
    gain = world.step(state, la, ca, rng).state.true[..., 0] - state.true[..., 0]
    np.testing.assert_allclose(gain[1], gain[0] * (1 - 0.8) / (1 - 0.2))


def test_outcomes_drift_back_to_baseline_without_effort():
    world = make_world(sigma_x=0.0)
    rng = np.random.default_rng(0)
    state = world.reset(rng, 4)
    state = state.replace(true=np.full_like(state.true, 0.9))
    la, ca = constant_actions(world, np.zeros(18), 4)
    for _ in range(200):
        state = world.step(state, la, ca, rng).state
    np.testing.assert_allclose(state.true, state.baseline, atol=1e-3)


def test_local_knowledge_best_local_approach_beats_the_nationally_best_one():
    world = make_world(scenario="coalfield_seaside", sigma_x=0.0)
    national = run(world, local_action(world, deliver__health__0=1.0), 12)
    local_best = run(world, local_action(world, deliver__health__2=1.0), 12)
    seaside = slice(1, None, 2)  # odd localities: approaches work in reverse order
    assert (final_true(local_best)[:, seaside, 0] > final_true(national)[:, seaside, 0]).all()
    assert (final_true(local_best)[:, ::2, 0] < final_true(national)[:, ::2, 0]).all()


def test_spillovers_grow_with_partnership():
    world = make_world(sigma_x=0.0)
    alone = run(world, local_action(world, deliver__economy__0=0.5, slack=0.5), 10)
    joined = run(world, local_action(world, deliver__economy__0=0.5, partner=0.5), 10)
    np.testing.assert_allclose(final_true(alone)[..., 3], final_true(joined)[..., 3], atol=1e-3)
    spilled = final_true(joined)[..., :3] - final_true(alone)[..., :3]
    assert (spilled > 0.01).all()
    assert joined[-1].metrics.national["partnership"].mean() == 0.5


def _silo_runs(**overrides):
    """All four agencies partnering 0.3, the economy agency of every locality in its silo,
    and nobody partnering, in jug_2 with the same delivery: their last steps."""
    world = make_world(scenario="jug_2", sigma_x=0.0, **overrides)
    cfg = world.config
    # deliver:<d>:0..2, game:<d>, partner, slack
    partner = np.array([0.7, 0.0, 0.0, 0.0, 0.3, 0.0])  # deliver by approach 0, partner 0.3
    alone = np.array([0.7, 0.0, 0.0, 0.0, 0.0, 0.3])  # same delivery, the rest slack
    all_in = np.tile(partner, (cfg.n_locals, 1))
    one_silo = all_in.copy()
    one_silo[3 :: cfg.n_agencies] = alone  # the economy agency of every locality stays out
    nobody = np.tile(alone, (cfg.n_locals, 1))
    return cfg, [run(world, acts, 12)[-1] for acts in (all_in, one_silo, nobody)]


def test_a_silo_agency_wastes_its_partners_partnership_effort_without_latent_partnership():
    _, (w_all, w_silo, w_none) = _silo_runs(latent_partnership=0.0)  # v1's J
    assert w_silo.metrics.national["joint_partnership"].max() == 0.0
    assert w_silo.metrics.national["partnership"].min() > 0.2  # three of four agencies tried
    np.testing.assert_allclose(w_silo.state.true, w_none.state.true)  # the effort bought nothing
    assert (w_all.state.true.mean(axis=(1, 2)) > w_none.state.true.mean(axis=(1, 2)) + 0.02).all()
    assert (w_silo.local_rewards[:, :3] < w_none.local_rewards[:, :3]).all()  # paid effort cost


def test_a_silo_agency_holds_joint_partnership_low_and_its_partners_effort_buys_part():
    cfg, (w_all, w_silo, w_none) = _silo_runs()
    latent = cfg.latent_partnership
    expected = ((0.3 + latent) ** 3 * latent) ** 0.25 - latent  # about 0.165 of 0.3
    np.testing.assert_allclose(w_silo.metrics.national["joint_partnership"], expected)
    np.testing.assert_allclose(w_all.metrics.national["joint_partnership"], 0.3)
    true = [w.state.true.mean(axis=(1, 2)) for w in (w_all, w_silo, w_none)]
    assert (true[0] > true[1] + 0.01).all() and (true[1] > true[2] + 0.01).all()


def test_per_domain_agencies_with_equal_splits_match_one_unitary_agent():
    """Joined up (J = full_partnership, so H = 1), K agencies deliver what one unitary agent
    does; in their silos (J = 0) their delivery falls to 1 - holism of it."""
    unitary = make_world(sigma_x=0.0)
    split = make_world(scenario="jug_2", sigma_x=0.0)
    full = split.config.full_partnership
    deliver = {f"deliver__{d}__0": (1.0 - full) / 4 for d in unitary.config.domains}
    vec = local_action(unitary, partner=full, **deliver)
    agency = np.array([1.0 - full, 0, 0, 0, full, 0])
    np.testing.assert_allclose(
        final_true(run(unitary, vec, 6)), final_true(run(split, agency, 6)), rtol=1e-12
    )
    # in silos, without spillovers to tell them apart: the holistic share is lost
    alone = make_world(scenario="jug_2", sigma_x=0.0, s0=0.0)
    unitary_alone = make_world(sigma_x=0.0, s0=0.0, alpha=0.12 * (1 - alone.config.holism))
    vec = local_action(unitary_alone, **{f"deliver__{d}__0": 1.0 for d in unitary.config.domains})
    np.testing.assert_allclose(
        final_true(run(unitary_alone, vec, 6)),
        final_true(run(alone, np.array([1.0, 0, 0, 0, 0, 0]), 6)),
        rtol=1e-12,
    )


def test_threshold_pay_counts_only_measured_targets_hit():
    measured = np.array([[[0.6, 0.4, 0.9, 0.9]]])
    inputs = PayInputs(
        measured=measured,
        targets=np.full((1, 1, 4), 0.5),
        true_now=measured,
        true_before=measured,
        priorities=np.full((1, 1, 4), 0.25),
        mask=np.array([[[1.0, 1.0, 0.0, 0.0]]]),
        weights=np.ones((1, 4)),
    )
    cfg = get_scenario("whitehall").config()
    assert threshold_pay(cfg, inputs)[0, 0, 0] == 0.5
    per_domain = PayInputs(**{**inputs.__dict__, "weights": np.eye(4)})
    np.testing.assert_array_equal(threshold_pay(cfg, per_domain)[0, 0], [1.0, 0.0, 0.0, 0.0])


def test_league_table_pays_the_top_locality_one_and_the_bottom_zero():
    measured = np.array([[[0.2] * 4, [0.9] * 4, [0.5] * 4]])
    inputs = PayInputs(
        measured, measured, measured, measured, measured, np.ones((1, 1, 4)), np.ones((1, 4))
    )
    pay = league_table_pay(get_scenario("whitehall").config(), inputs)[0, :, 0]
    np.testing.assert_array_equal(pay, [0.0, 1.0, 0.5])


def test_effort_costs_and_slack_saves_it():
    world = make_world(target_default=0.9, psi_knave=0.0)
    idle = run(world, np.zeros(18), 1)[0].local_rewards
    busy = run(world, local_action(world, deliver__safety__1=1.0), 1)[0].local_rewards
    np.testing.assert_allclose(idle, 0.0)
    np.testing.assert_allclose(busy, -world.config.effort_cost)


def test_intrinsic_motivation_rewards_true_good_done():
    knave = make_world(target_default=0.9, psi_knave=0.0)
    knight = make_world(target_default=0.9, psi_knave=0.0, knight_share=1.0, psi_knight=2.0)
    act = local_action(knave, deliver__safety__0=1.0)
    r_knave, r_knight = run(knave, act, 6)[-1], run(knight, act, 6)[-1]
    state = r_knight.state
    good = (state.priorities * (state.true - state.baseline)).sum(axis=-1)
    np.testing.assert_allclose(r_knight.local_rewards - r_knave.local_rewards, 2.0 * good)
    assert (good > 0).all()


def test_targets_change_only_at_reviews_and_only_the_departments_own_domain():
    world = make_world(scenario="jug_4")
    cfg = world.config
    centre = np.full((1, cfg.n_centres, 2 * cfg.n_localities), centre_default_level(cfg))
    centre[:, 2, : cfg.n_localities] = 1.0  # the safety department asks for the maximum
    results = run(world, np.zeros(6), cfg.review_period + 1, batch=2, centre=centre)
    for step, result in enumerate(results):
        targets = result.state.targets
        expected_safety = cfg.target_max if step >= cfg.review_period - 1 else cfg.target_default
        np.testing.assert_allclose(targets[..., 2], expected_safety)
        np.testing.assert_allclose(targets[..., [0, 1, 3]], cfg.target_default)


def test_targeted_audits_follow_the_centres_allocation():
    world = make_world(design="targeted_audits")
    cfg = world.config
    centre = np.zeros((1, 1, cfg.n_localities * cfg.n_domains + cfg.n_localities))
    centre[..., : cfg.n_localities * cfg.n_domains] = centre_default_level(cfg)
    centre[..., -cfg.n_localities :] = [1, 1, 1, 0, 0, 0]  # audit the first three only
    results = run(world, np.zeros(18), cfg.review_period, batch=16, centre=centre)
    audited = results[-1].state.audited[..., 0]
    assert (audited[:, :3] == 1).all() and (audited[:, 3:] == 0).all()


def test_the_centre_never_sees_unmeasured_domains_and_localities_never_see_the_hidden_basket():
    world = make_world(design="rotating_basket")
    cfg = world.config
    results = run(world, np.full(18, 0.5), cfg.review_period + 1, batch=4)
    first, later = results[0].state, results[-1].state
    assert (first.revealed == 0).all()  # the first period's basket is not announced
    np.testing.assert_array_equal(later.revealed, results[cfg.review_period - 2].state.basket)
    obs = observe.centre_observations(cfg, later)[:, 0, : cfg.n_localities * cfg.n_domains]
    hidden = np.broadcast_to(later.basket[:, None, :] == 0, later.true.shape).reshape(4, -1)
    assert (obs[hidden] == 0).all()
    assert (later.basket.sum(axis=1) == cfg.basket_size).all()


def test_welfare_centre_pays_for_audits():
    political = World(get_scenario("whitehall").config(audit_rate=1.0), "audited_targets")
    welfare = World(political.config, "audited_targets", "welfare")
    cfg = political.config
    r = run(welfare, np.zeros(18), cfg.review_period)
    state = r[-1].state
    expected = state.true.mean(axis=1) @ cfg.priorities - cfg.audit_cost
    np.testing.assert_allclose(r[-1].centre_rewards[:, 0], expected)
    assert np.isfinite(run(political, np.zeros(18), 4)[-1].centre_rewards).all()
