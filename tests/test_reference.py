"""The fast core is held to the readable reference world (envs/target_gaming/reference.py).

The reference writes docs/model.md's equations as they read. Here it is stepped
beside ``World.step`` from the same state with generators seeded alike, and
every next state field, reward, metric (by name) and named observation
component must agree.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from target_gaming.envs.target_gaming import World, WorldState, get_scenario, observe
from target_gaming.envs.target_gaming import reference as ref
from target_gaming.envs.target_gaming.core import systematic_sample
from target_gaming.envs.target_gaming.designs import CENTRE_REWARDS, DESIGNS
from target_gaming.envs.target_gaming.metrics import metric_set

# unitary and coordinated; two locality types; per_domain with a coordinated centre
# (pooled and own pay); per_domain with departments (pooled and own pay)
SCENARIOS = ["whitehall", "coalfield_seaside", "jug_1", "jug_2", "jug_3", "jug_4"]
BATCH = 3
ALIGNED_STEPS = 9  # every clock alike: review steps (t = 3, 7) and steps between them
STAGGERED_STEPS = 4  # then clocks one step apart: some environments review, others not
RTOL, ATOL = 1e-9, 1e-12
FLOAT32_RTOL = 2.5e-7  # observations are float32: two units in the last place


def _close(actual, expected, what: str) -> None:
    """assert_allclose, with a cheap check first (it is called some 20 000 times)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape == expected.shape and np.all(
        np.abs(actual - expected) <= ATOL + RTOL * np.abs(expected)
    ):
        return
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what, strict=True)


def _centre_action_dim(cfg) -> int:
    return len(observe.centre_action_layout(cfg, 0))


def _actions(cfg, gen: np.random.Generator, step: int):
    """Random actions, some outside [0, 1] (clipped), some all zero, some with no audits."""
    local = gen.uniform(-0.25, 1.25, (BATCH, cfg.n_locals, cfg.local_action_dim))
    local[0, 0] = 0.0  # all zero: all slack
    local[1, -1] = -gen.random(cfg.local_action_dim)  # all zero once clipped
    centre = gen.uniform(-0.25, 1.25, (BATCH, cfg.n_centres, _centre_action_dim(cfg)))
    audit_columns = slice(cfg.n_localities * cfg.n_domains // cfg.n_centres, None)
    if step == 3:
        centre[0, 0, audit_columns] = -0.2  # centre 0 of env 0 weights no locality
    if step == 7:
        centre[1, :, audit_columns] = 0.0  # no central agent of env 1 audits
    return local, centre


def _assert_named(actual: np.ndarray, expected: np.ndarray, names: list[str], what: str):
    """float32 components (..., D) against their float64 values, failing with the names."""
    expected32 = expected.astype(np.float32)
    good = np.isclose(actual, expected32, rtol=FLOAT32_RTOL, atol=0.0)
    bad = ~good.reshape(-1, good.shape[-1]).all(axis=0)
    if bad.any():
        wrong = [
            f"{names[j]}: core {actual[..., j].ravel()} expected {expected32[..., j].ravel()}"
            for j in np.flatnonzero(bad)[:5]
        ]
        raise AssertionError(
            f"{what}: components differ from the state they name:\n" + "\n".join(wrong)
        )


def _assert_observations_name_the_state(cfg, state: WorldState) -> None:
    """Every component of the core's observations is what its layout name says it is."""
    local, centre = observe.local_observations(cfg, state), observe.centre_observations(cfg, state)
    n_ag = cfg.n_agencies
    for agency in range(n_ag):
        names = [name for name, _, _ in observe.local_observation_layout(cfg, agency)]
        expected = np.stack([ref.local_component(cfg, state, agency, n) for n in names], -1)
        _assert_named(local[:, agency::n_ag], expected, names, f"local agency {agency}")
    for c in range(cfg.n_centres):
        names = [name for name, _, _ in observe.centre_observation_layout(cfg, c)]
        expected = np.stack([ref.centre_component(cfg, state, c, n) for n in names], -1)
        _assert_named(centre[:, c], expected, names, f"centre {c}")
    names = [name for name, _, _ in observe.state_layout(cfg)]
    expected = np.stack([ref.state_component(cfg, state, n) for n in names], -1)
    _assert_named(observe.global_state(cfg, state), expected, names, "global state")


def _assert_same_step(cfg, core, mine: ref.ReferenceStep, where: str) -> None:
    for field in dataclasses.fields(WorldState):
        _close(
            getattr(core.state, field.name),
            getattr(mine.state, field.name),
            f"{where}: {field.name}",
        )
    _close(core.local_rewards, mine.local_rewards, f"{where}: local rewards")
    _close(core.centre_rewards, mine.centre_rewards, f"{where}: centre rewards")
    names = metric_set(cfg)  # the base metrics, and a cascade's frontline metrics
    assert core.metrics.names is names
    assert set(mine.locality_metrics) == set(names.locality)
    assert set(mine.national_metrics) == set(names.national)
    for name in names.locality:
        _close(
            core.metrics.locality[name], mine.locality_metrics[name], f"{where}: locality {name}"
        )
    for name in names.national:
        _close(
            core.metrics.national[name], mine.national_metrics[name], f"{where}: national {name}"
        )


@pytest.mark.parametrize("centre_reward", list(CENTRE_REWARDS))
@pytest.mark.parametrize("design", list(DESIGNS))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_fast_core_steps_as_the_readable_reference(scenario, design, centre_reward):
    """Same state and draws in: same next state, rewards, metrics and observations out."""
    _assert_core_steps_as_reference(get_scenario(scenario).config(), design, centre_reward)


@pytest.mark.parametrize(
    "scenario, overrides",
    [
        ("whitehall", {"effort_exponent": 2.0}),
        ("jug_2", {"effort_exponent": 1.5, "effort_cost": 0.7}),
        ("jug_4", {"departmental_joining": 0.2, "s1": 5.0, "holism": 0.9}),
        ("jug_1", {"holism": 0.0}),
        ("jug_2", {"full_partnership": 1.0}),
        ("jug_3", {"departmental_joining": 1.0}),
    ],
)
def test_the_fast_core_steps_as_the_reference_off_the_default_calibration(scenario, overrides):
    """The branches the defaults do not take: a convex effort cost, other spillover shares."""
    cfg = get_scenario(scenario).config(**overrides)
    for design in ("targets", "pooled_budget"):
        _assert_core_steps_as_reference(cfg, design, "political")


@pytest.mark.parametrize("design", ["targets", "targeted_audits", "audited_targets"])
@pytest.mark.parametrize("scenario", ["whitehall", "coalfield_seaside", "jug_2", "jug_4"])
def test_the_fast_core_steps_as_the_reference_with_the_prescription_lever(scenario, design):
    """The centre prescribes approaches; audits find and fine off-method effort."""
    cfg = get_scenario(scenario).config(prescription=True)
    _assert_core_steps_as_reference(cfg, design, "political")
    _assert_core_steps_as_reference(cfg, design, "welfare")


@pytest.mark.parametrize(
    "design", ["targets", "audited_targets", "rotating_basket", "pooled_budget", "targeted_audits"]
)
@pytest.mark.parametrize(
    "scenario, overrides",
    [
        ("cascade_health", {}),
        ("cascade_education", {"locality_types": 2}),
        ("cascade_health", {"cascade": 1}),  # headline targets only, with the metrics
        ("jug_2", {"cascade": 17}),  # one domain per agency: judgement, no target work
        ("jug_3", {"cascade": 34, "prescription": True}),
    ],
)
def test_the_fast_core_steps_as_the_reference_with_a_target_cascade(scenario, overrides, design):
    """The frontline governs part of the delivery; audits reach part of its measures."""
    cfg = get_scenario(scenario).config(**overrides)
    _assert_core_steps_as_reference(cfg, design, "political")


def _assert_core_steps_as_reference(cfg, design, centre_reward) -> None:
    world = World(cfg, design, centre_reward)
    gen = np.random.default_rng(7)
    state = world.reset(np.random.default_rng(11), BATCH)
    # the centre reward changes no state: its two runs pass through the same states, whose
    # observations are checked once
    check_observations = centre_reward == "political"
    if check_observations:
        _assert_observations_name_the_state(cfg, state)
    for step in range(ALIGNED_STEPS + STAGGERED_STEPS):
        if step == ALIGNED_STEPS:  # clocks apart: one environment reviews at a time
            state = state.replace(t=state.t + np.arange(BATCH))
        local, centre = _actions(cfg, gen, step)
        core_rng, ref_rng = np.random.default_rng([5, step]), np.random.default_rng([5, step])
        core = world.step(state, local, centre, core_rng)
        mine = ref.reference_step(cfg, design, centre_reward, state, local, centre, ref_rng)
        where = f"step {step} (t = {state.t.tolist()})"
        _assert_same_step(cfg, core, mine, where)
        assert core_rng.bit_generator.state == ref_rng.bit_generator.state, (
            f"{where}: the core and the reference took different draws"
        )
        state = core.state
        if check_observations:
            _assert_observations_name_the_state(cfg, state)


@pytest.mark.parametrize("design", ["targets", "rotating_basket"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_core_resets_as_the_readable_reference(scenario, design):
    cfg = get_scenario(scenario).config()
    core = World(cfg, design).reset(np.random.default_rng(3), BATCH)
    mine = ref.reference_reset(cfg, design, np.random.default_rng(3), BATCH)
    for field in dataclasses.fields(WorldState):
        _close(getattr(core, field.name), getattr(mine, field.name), field.name)


def test_the_readable_audit_draw_is_the_cores_systematic_sample():
    gen = np.random.default_rng(0)
    for shape in [(4, 6, 1), (4, 6, 4), (2, 11, 3)]:
        pi = gen.random(shape) * gen.integers(0, 2, shape)  # some zero probabilities
        pi[0] = 1.0  # every unit certain
        core = systematic_sample(pi, np.random.default_rng(1))
        mine = ref.systematic_audit_draw(pi, np.random.default_rng(1))
        np.testing.assert_array_equal(core, mine)


@pytest.mark.parametrize("scenario", ["whitehall", "jug_1", "jug_2"])
def test_league_table_ties_get_distinct_ranks_and_unmeasured_agencies_nothing(scenario):
    """Every measure saturated at 1, so every score ties: core and reference still agree,
    each counted agency column pays the ranks 0, 1/(L-1), ..., 1 once each, and an agency
    none of whose domains is measured is paid 0."""
    cfg = get_scenario(scenario).config()
    world = World(cfg, "league_table")
    state = world.reset(np.random.default_rng(0), BATCH)
    state = state.replace(
        true=np.full(state.true.shape, 0.99), inflation=np.full(state.true.shape, 0.8)
    )
    local, centre = _actions(cfg, np.random.default_rng(1), 0)
    core = world.step(state, local, centre, np.random.default_rng(2))
    mine = ref.reference_step(
        cfg, "league_table", "political", state, local, centre, np.random.default_rng(2)
    )
    assert np.all(core.state.measured == 1.0)
    _assert_same_step(cfg, core, mine, "saturated")
    weights = ref.pay_weights(cfg, world.design)
    pay = ref.league_table_pay(cfg, core.state.measured, state.basket, weights)  # (B, L, A)
    counted = (weights @ state.basket[0]) > 0  # (A,)
    ranks = np.sort(np.rint(pay * (cfg.n_localities - 1)), axis=1)
    for a in range(cfg.n_agencies):
        expected = np.arange(cfg.n_localities) if counted[a] else np.zeros(cfg.n_localities)
        np.testing.assert_array_equal(ranks[:, :, a], np.broadcast_to(expected, ranks.shape[:2]))


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_the_envs_infos_carry_each_metric_under_its_own_name(scenario):
    """The ParallelEnv's infos (built from the stacked metrics) against the reference's
    metrics by name: the centres get national values, local n its locality's."""
    from target_gaming.envs import target_gaming_v2

    env = target_gaming_v2.parallel_env(scenario=scenario, design="audited_targets")
    env.reset(seed=3)
    for agent in env.possible_agents:
        env.action_space(agent).seed(4)
    cfg = env.config
    for _ in range(cfg.review_period + 1):
        actions = {a: env.action_space(a).sample() for a in env.agents}
        state, rng = env.world_state, copy.deepcopy(env._rng)
        local = np.stack([actions[a] for a in env.local_agents])[None].astype(float)
        centre = np.stack([actions[a] for a in env.centre_agents])[None].astype(float)
        expected = ref.reference_step(
            cfg, "audited_targets", "political", state, local, centre, rng
        )
        *_, infos = env.step(actions)
        for agent in env.centre_agents:
            for name, value in expected.national_metrics.items():
                _close(infos[agent][name], value[0], f"{agent} {name}")
        for n, agent in enumerate(env.local_agents):
            locality = n // cfg.n_agencies
            for name, value in expected.locality_metrics.items():
                _close(infos[agent][name], value[0, locality], f"{agent} {name}")
