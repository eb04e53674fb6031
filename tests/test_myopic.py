"""The myopic best response's one-step prediction is the world's own step.

``MyopicBestResponse.predict`` restates the world's equations and pay rules to
value an allocation one step ahead. Here each prediction is checked against
``World.step`` from the same state, with the same action, in a world where the
prediction can be exact:

- no noise (``sigma_x = sigma_m = 0``), and one structural baseline for every
  cell (``baseline_low = baseline_high``), since a locality does not observe its
  baseline and guesses the middle of the range;
- states rounded to float32, so that the observation (float32) carries the
  state's values exactly; the policy then predicts from the float64 copy of the
  observation (and, in one test, from the float32 observation as the env gives
  it, to within float32 rounding);
- per_domain agencies: the agency under test plays the allocation, its partners
  play what it believes they play (half their effort in genuine delivery, no
  gaming, its own partner share), and the domains of a locality are alike, as it
  believes them to be: ``heterogeneity = 0``, one baseline, uniform priorities,
  and before the tested step every agency plays the same (without gaming) under
  a uniform spillover matrix, so the domains stay alike.

What is not a one-step identity is checked as what it is: threshold pay is the
probability ``P(m' >= tau)``, a step of width 1e-3 without measurement noise,
so it is compared only where the predicted measure is 0.01 or more from the
target; audits are random, so a review step is tested with every locality
audited (``audit_rate = 1``), and between reviews the predicted sanction (the
expected fine at the next review) is not part of the world's reward; a rotating
basket is random, so the prediction is compared with the world's pay averaged
over every basket; league-table pay is a rank among localities, which the
policy values by its own measure, so only the dynamics and the other terms of
the reward are compared there.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from target_gaming.agents.myopic import MyopicBestResponse
from target_gaming.envs.target_gaming import World, get_scenario, observe
from tests.conftest import centre_default_level

EXACT = {"sigma_x": 0.0, "sigma_m": 0.0, "baseline_low": 0.5, "baseline_high": 0.5}
OBSERVED = ("true", "inflation", "targets", "capacity", "priorities", "effectiveness")
UNIFORM_S = tuple(tuple(0.0 if i == j else 0.15 for j in range(4)) for i in range(4))
MARGIN = 0.01  # threshold pay is compared where |m' - tau| >= MARGIN in every counted cell


def _world(scenario: str, design: str, **overrides) -> World:
    cfg = get_scenario(scenario).config(**{**EXACT, **overrides})
    if cfg.per_domain:
        cfg = cfg.replace(heterogeneity=0.0)
    return World(cfg, design)


def _float32(state):
    """The state with the arrays the locals observe rounded to float32 values."""
    changes = {f: getattr(state, f).astype(np.float32).astype(float) for f in OBSERVED}
    return state.replace(motivation=state.motivation.astype(np.float32).astype(float), **changes)


def _centre(world: World, rng, random_targets: bool) -> np.ndarray:
    cfg = world.config
    names = [name for name, _, _ in observe.centre_action_layout(cfg, 0)]
    action = np.full((1, cfg.n_centres, len(names)), centre_default_level(cfg))
    targets = [j for j, name in enumerate(names) if name.startswith("target:")]
    if random_targets:  # targets that differ by cell (only a unitary locality sees them all)
        action[..., targets] = rng.uniform(0.2, 0.8, len(targets))
    action[..., [j for j, name in enumerate(names) if name.startswith("prescribe:")]] = 0.0
    return action


def _warm_up(world: World, steps: int, rng):
    """A state after ``steps`` steps of one action for every local agent.

    Unitary: random targets, deliver, game and partner. per_domain: every agency
    plays the same action without gaming, so the domains of a locality stay alike.
    """
    cfg = world.config
    state = world.reset(rng)
    per_domain = cfg.per_domain
    kr = cfg.domains_per_agency * cfg.n_approaches
    act = np.zeros(cfg.local_action_dim)
    act[:kr] = 0.5 / kr
    if per_domain and cfg.cascade is not None:  # by the national mix: the frontline keeps it,
        act[:kr] = 0.5 * np.tile(cfg.national_mix[0], cfg.domains_per_agency)  # domains alike
    if not per_domain:
        act[kr : kr + cfg.domains_per_agency] = 0.3 / cfg.domains_per_agency
    act[-2:] = (0.2, 0.3 if per_domain else 0.0)
    actions = np.broadcast_to(act, (1, cfg.n_locals, cfg.local_action_dim))
    centre = _centre(world, rng, random_targets=not per_domain)
    for _ in range(steps):
        state = world.step(state, actions, centre, rng).state
    if per_domain:  # priorities alike too: an agency believes its partners' are its own
        state = state.replace(priorities=np.full(state.priorities.shape, 1.0 / cfg.n_domains))
    return _float32(state), centre


def _allocations(policy: MyopicBestResponse, n_agents: int, n: int, rng) -> np.ndarray:
    """(M, n, 2kc+2) allocations: random points of the simplex and its vertices.

    The partner share stays <= 0.5, so a partner can match it (it delivers half).
    """
    dim = policy.dim
    cands = rng.dirichlet(np.full(dim, 0.7), (n_agents, n))
    cands[..., -2] = np.minimum(cands[..., -2], 0.5 * cands[..., -2:].sum(axis=-1))
    cands[..., -1] = 1.0 - cands[..., :-1].sum(axis=-1)
    vertices = np.broadcast_to(np.eye(dim)[: dim - 2], (n_agents, dim - 2, dim))
    cands = np.concatenate([cands, vertices], axis=1)
    assert np.allclose(cands.sum(axis=-1), 1.0) and (cands >= 0).all()
    return cands


def _belief_partner(policy: MyopicBestResponse, obs: np.ndarray, partner: np.ndarray, mix=None):
    """A partner as a per_domain agency believes it: half its effort delivered (split over
    approaches as its own), no gaming."""
    alloc = np.zeros((obs.shape[0], policy.dim))
    alloc[:, 0] = 0.5  # its one domain
    alloc[:, -2] = partner
    alloc[:, -1] = 0.5 - partner
    return policy.to_action(obs, alloc, mix)


def _tested(world: World) -> np.ndarray:
    """Agents under test: every local (unitary), one agency per locality (per_domain)."""
    cfg = world.config
    if not cfg.per_domain:
        return np.arange(cfg.n_locals)
    loc = np.arange(cfg.n_localities)
    return loc * cfg.n_agencies + loc % cfg.n_agencies


def _step_each(world, state, centre, policy, obs, cands, rng, baskets=None, mix=None):
    """World.step for every allocation: rewards (C, N) and true, inflation, measure (C, L, K).

    With ``baskets``, pay is averaged over the states with each basket in force.
    """
    cfg = world.config
    tested = _tested(world)
    out = {"reward": [], "true": [], "inflation": [], "measured": [], "detected": []}
    for c in range(cands.shape[1]):
        actions = np.zeros((cfg.n_locals, cfg.local_action_dim))
        if cfg.per_domain:
            for n in tested:  # partners as the agency believes them
                first = n - n % cfg.n_agencies
                partners = [m for m in range(first, first + cfg.n_agencies) if m != n]
                share = np.full(len(partners), cands[n, c, -2])
                # its partners split their delivery as it does (it believes them like it)
                believed = None if mix is None else np.repeat(mix[[n]], len(partners), axis=0)
                actions[partners] = _belief_partner(policy, obs[partners], share, believed)
        own_mix = None if mix is None else mix[tested]
        actions[tested] = policy.to_action(obs[tested], cands[tested, c], own_mix)
        runs = [state] if baskets is None else [state.replace(basket=b) for b in baskets]
        results = [world.step(s, actions[None], centre, rng) for s in runs]
        out["reward"].append(np.mean([r.local_rewards[0] for r in results], axis=0))
        for key in ("true", "inflation", "measured", "detected"):
            out[key].append(getattr(results[0].state, key)[0])
    return {k: np.array(v) for k, v in out.items()}


def _check(
    world, state, centre, *, seed=0, review=False, baskets=None, float32_obs=False, mix=None
):
    cfg = world.config
    rng = np.random.default_rng(seed)
    policy = MyopicBestResponse(world, seed=seed)
    obs32 = observe.local_observations(cfg, state)[0]
    obs = obs32 if float32_obs else obs32.astype(float)
    cands = _allocations(policy, cfg.n_locals, 24, rng)
    mixes = None if mix is None else mix(policy, obs)
    pred = policy.predict(obs, cands, mixes)  # (M, C, K) and (M, C)
    world_ = _step_each(world, state, centre, policy, obs, cands, rng, baskets, mixes)
    tol = {"atol": 1e-6, "rtol": 0} if float32_obs else {"atol": 1e-12, "rtol": 0}
    tested = _tested(world)
    loc = tested // cfg.n_agencies
    rows, own = np.arange(len(tested)), tested % cfg.n_agencies  # own: per_domain only
    pooled = bool(world.pay_weights.all())
    # on a review step with every cell audited, the new inflation is what was found (all of
    # it, or what a cascade's audit reaches) and what is left
    if review:
        world_["inflation"] = world_["inflation"] + world_["detected"]
    for key in ("true", "inflation", "measured"):
        got = world_[key][:, loc].transpose(1, 0, 2)  # (M, C, K)
        want = pred[key][tested]
        # per_domain: only its own domain matters to it unless it is paid on all of them;
        # its partners' inflation it leaves out (they never game, it believes)
        if cfg.per_domain and (not pooled or key == "inflation"):
            got, want = got[rows, :, own], want[rows, :, own]
        np.testing.assert_allclose(want, got, err_msg=key, **tol)
    expected = pred["reward"][tested]
    if not review:  # the predicted sanction is the expected fine at the next review
        expected = expected + pred["sanction"][tested]
    got = world_["reward"][:, tested].T  # (M, C)
    if world.design.pay == "threshold":  # where the smooth step is 0 or 1
        tau = obs[:, None, policy.view.target]  # per_domain: its own, believed everywhere
        clear = ~(np.abs(pred["measured"] - tau) < MARGIN)[tested].any(axis=-1)
        assert clear.mean() > 0.3, "too few allocations clear of the target to compare"
        expected, got = expected[clear], got[clear]
    np.testing.assert_allclose(expected, got, err_msg="reward", **tol)


DESIGNS = ["targets", "linear", "oracle_outcomes", "local_priorities", "pooled_budget"]


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("steps", [0, 5])
def test_unitary_prediction_is_the_world_step(design, steps):
    """whitehall: from reset (t = 0) and mid-period (t = 5, inflation in stock)."""
    world = _world("whitehall", design)
    state, centre = _warm_up(world, steps, np.random.default_rng(steps))
    _check(world, state, centre, seed=steps)


@pytest.mark.parametrize("design", ["targets", "linear", "oracle_outcomes", "pooled_budget"])
@pytest.mark.parametrize("scenario", ["jug_2", "jug_1"])
@pytest.mark.parametrize("steps", [0, 5])
def test_per_domain_prediction_is_the_world_step(scenario, design, steps):
    """jug_2 (silo agencies) and jug_1 (pooled), with partners as the agency believes."""
    world = _world(scenario, design, spillover=UNIFORM_S)
    state, centre = _warm_up(world, steps, np.random.default_rng(steps))
    _check(world, state, centre, seed=steps)


@pytest.mark.parametrize("scenario", ["whitehall", "jug_2"])
@pytest.mark.parametrize("design", ["audited_targets", "local_priorities"])
def test_the_sanction_on_a_review_step_with_every_locality_audited(scenario, design):
    """t = 3 and t = 7 are review steps; audit_rate(_low) = 1 makes the fine certain."""
    for steps in (3, 7):
        world = _world(scenario, design, audit_rate=1.0, audit_rate_low=1.0, spillover=UNIFORM_S)
        state, centre = _warm_up(world, steps, np.random.default_rng(steps))
        assert world.config.is_review_step(int(state.t[0]))
        _check(world, state, centre, seed=steps, review=True)


@pytest.mark.parametrize("design", ["targets", "linear", "pooled_budget"])
@pytest.mark.parametrize("scenario, cascade", [("cascade_health", 17), ("jug_2", 34)])
@pytest.mark.parametrize("steps", [0, 5])
def test_the_prediction_is_the_world_step_under_a_target_cascade(scenario, cascade, design, steps):
    """The frontline remakes its delivery: part by the national mix, part of the
    unmeasured domains' lost to target work (unitary; per_domain agencies have one domain
    each)."""
    world = _world(scenario, design, cascade=cascade, spillover=UNIFORM_S)
    state, centre = _warm_up(world, steps, np.random.default_rng(steps))
    _check(world, state, centre, seed=steps)


@pytest.mark.parametrize("scenario", ["cascade_education", "jug_2"])
def test_the_sanction_under_a_target_cascade_is_on_what_the_audit_reaches(scenario):
    """Every locality audited at a review: the fine is on 1 - phi of the cascaded cells'
    inflation (all of an unmeasured cell's)."""
    for steps in (3, 7):
        world = _world(scenario, "audited_targets", audit_rate=1.0, cascade=34, spillover=UNIFORM_S)
        state, centre = _warm_up(world, steps, np.random.default_rng(steps))
        _check(world, state, centre, seed=steps, review=True)


@pytest.mark.parametrize("scenario", ["whitehall", "jug_2"])
def test_rotating_basket_pay_is_the_mean_over_baskets(scenario):
    world = _world(scenario, "rotating_basket", spillover=UNIFORM_S)
    k, size = world.config.n_domains, world.config.basket_size
    baskets = [
        np.isin(np.arange(k), chosen).astype(float)[None]
        for chosen in itertools.combinations(range(k), size)
    ]
    for steps in (0, 5):
        state, centre = _warm_up(world, steps, np.random.default_rng(steps))
        _check(world, state, centre, seed=steps, baskets=baskets)


def test_league_table_dynamics_and_other_terms():
    """The rank is valued by the measure itself; the dynamics, cost and good are the world's."""
    world = _world("whitehall", "league_table")
    state, centre = _warm_up(world, 5, np.random.default_rng(5))
    rng = np.random.default_rng(0)
    policy = MyopicBestResponse(world, seed=0)
    obs = observe.local_observations(world.config, state)[0].astype(float)
    cands = _allocations(policy, world.config.n_locals, 8, rng)
    pred = policy.predict(obs, cands)
    got = _step_each(world, state, centre, policy, obs, cands, rng)
    for key in ("true", "inflation", "measured"):
        np.testing.assert_allclose(pred[key], got[key].transpose(1, 0, 2), atol=1e-12, rtol=0)
    # the world's pay is the reward less the other terms, a rank i / (L - 1) per candidate
    pay = got["reward"].T - (pred["reward"] - pred["pay"])
    ranks = np.arange(world.config.n_localities) / (world.config.n_localities - 1)
    np.testing.assert_allclose(
        np.sort(pay, axis=0), np.broadcast_to(ranks[:, None], pay.shape), atol=1e-12
    )


def test_the_float32_observation_predicts_to_float32_precision():
    world = _world("whitehall", "linear")
    state, centre = _warm_up(world, 5, np.random.default_rng(5))
    _check(world, state, centre, seed=5, float32_obs=True)


def test_act_plays_the_allocation_it_values_most():
    """``act`` is ``to_action`` of the optimum of ``expected_reward`` (= predict's reward)."""
    world = _world("whitehall", "targets")
    state, _ = _warm_up(world, 5, np.random.default_rng(5))
    obs = observe.local_observations(world.config, state)[0].astype(float)
    a, b = MyopicBestResponse(world, seed=3), MyopicBestResponse(world, seed=3)
    np.testing.assert_array_equal(a.act(obs), b.to_action(obs, b._optimise(obs)[0]))
    cands = _allocations(a, world.config.n_locals, 8, np.random.default_rng(1))
    np.testing.assert_array_equal(a.expected_reward(obs, cands), a.predict(obs, cands)["reward"])


def _prescribing(world: World, state, domains: slice = slice(None)):
    """The state with the first approach prescribed at strength 0.75 in ``domains`` (the
    others unprescribed) and an empty off-method record (the record before the step is
    not observed, so not predicted)."""
    prescription = np.zeros(state.prescription.shape)
    prescription[:, domains, 0] = 0.75  # a float32 value: the observation carries it exactly
    return state.replace(prescription=prescription, off_method=np.zeros(state.off_method.shape))


@pytest.mark.parametrize("scenario", ["whitehall", "jug_2"])
@pytest.mark.parametrize("split", ["own", "complying"])
@pytest.mark.parametrize("domains", [slice(None), slice(0, 1)], ids=["all", "first"])
def test_the_prescription_fine_on_a_review_step_with_every_locality_audited(
    scenario, split, domains
):
    """With the lever, the fine on the off-method effort of the step is the world's, for its
    own split (off method in part) and for the complying one (none off method), with every
    domain prescribed or only the first (complying keeps its own split in the others)."""
    mix = {"own": MyopicBestResponse.own_mix, "complying": MyopicBestResponse.complying_mix}
    world = _world(
        scenario, "audited_targets", audit_rate=1.0, spillover=UNIFORM_S, prescription=True
    )
    state, centre = _warm_up(world, 3, np.random.default_rng(3))
    assert world.config.is_review_step(int(state.t[0]))
    state = _prescribing(world, state, domains)
    _check(world, state, centre, seed=3, review=True, mix=lambda p, obs: mix[split](p, obs))


def test_it_complies_with_a_prescription_where_defying_costs_more_than_it_gains():
    """coalfield_seaside's odd localities rank the approaches the other way: under a full
    prescription of the nationally best approach, where it is not fined (F_p = 0) those that
    deliver put most of it on their own best approach, the even ones on the prescribed one;
    where it is fined (F_p = 10) none puts more than a trace of its effort off method (the
    odd ones deliver almost nothing: the prescribed approach is their worst, and gaming
    pays more)."""
    on, delivered = {}, {}
    for fine in (0.0, 10.0):
        cfg = get_scenario("coalfield_seaside").config(
            prescription=True, prescription_sanction=fine
        )
        world = World(cfg, "audited_targets")
        state = world.reset(np.random.default_rng(0))
        best = int(np.argmax(cfg.approach_effectiveness))  # the nationally best approach
        prescription = np.zeros(state.prescription.shape)
        prescription[..., best] = 1.0
        obs = observe.local_observations(cfg, state.replace(prescription=prescription))[0]
        policy = MyopicBestResponse(world, seed=0)
        act = policy.act(obs.astype(float))
        deliver = act[:, policy.view.deliver].reshape(cfg.n_locals, cfg.n_domains, -1)
        on[fine], delivered[fine] = deliver[..., best].sum(axis=-1), deliver.sum(axis=(1, 2))
    odd = np.arange(cfg.n_localities) % 2 == 1
    assert (delivered[10.0] - on[10.0] < 2e-3).all(), delivered[10.0] - on[10.0]
    share = on[0.0] / np.maximum(delivered[0.0], 1e-12)
    active = delivered[0.0] > 0.05
    assert (share[odd & active] < 0.5).all() and (share[~odd & active] > 0.5).all(), share
    assert (odd & active).sum() >= 2 and (~odd & active).sum() >= 2
