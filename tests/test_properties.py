"""Property tests over random valid configs and random (even out-of-range) actions."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_gaming.envs.target_gaming import DESIGNS, World, WorldConfig, observe

NO_AUDIT_DESIGNS = [n for n, d in DESIGNS.items() if d.audits == "none"]


@st.composite
def configs(draw):
    cap_low = draw(st.floats(0.1, 1.0))
    return WorldConfig(
        n_localities=draw(st.integers(2, 7)),
        agency_mode=draw(st.sampled_from(["unitary", "per_domain"])),
        centre_mode=draw(st.sampled_from(["coordinated", "departments"])),
        horizon=(horizon := draw(st.integers(1, 12))),
        review_period=draw(st.integers(1, min(5, horizon))),  # valid: at most the horizon
        heterogeneity=draw(st.floats(0.0, 1.5)),
        locality_types=draw(st.integers(1, 2)),
        alpha=draw(st.floats(0.0, 1.0)),
        gamma=draw(st.floats(0.0, 1.0)),
        rho=draw(st.floats(0.01, 1.0)),
        eta=draw(st.floats(0.0, 0.5)),
        s1=draw(st.floats(0.0, 5.0)),
        sigma_x=draw(st.floats(0.0, 0.2)),
        sigma_m=draw(st.floats(0.0, 0.2)),
        capacity_low=cap_low,
        capacity_high=draw(st.floats(cap_low, 3.0)),
        knight_share=draw(st.floats(0.0, 1.0)),
        audit_rate=draw(st.floats(0.0, 1.0)),
        audit_budget_share=draw(st.floats(0.0, 1.0)),
    )


actions = st.floats(-2.0, 3.0, allow_nan=False, allow_infinity=False)


def _centre_dim(cfg: WorldConfig) -> int:
    return cfg.n_localities * cfg.n_domains // cfg.n_centres + cfg.n_localities


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), design=st.sampled_from(sorted(DESIGNS)), seed=st.integers(0, 2**16))
def test_world_stays_valid_under_any_actions(cfg, design, seed):
    world = World(cfg, design)
    rng = np.random.default_rng(seed)
    batch = 2
    state = world.reset(rng, batch)
    act_rng = np.random.default_rng(seed + 1)
    for _ in range(cfg.horizon):
        # mix of in-range, out-of-range and all-zero actions
        local = act_rng.uniform(-1.0, 2.0, (batch, cfg.n_locals, cfg.local_action_dim))
        local[:, 0] = 0.0
        centre = act_rng.uniform(-1.0, 2.0, (batch, cfg.n_centres, _centre_dim(cfg)))
        effort = world.decode_local(local, state)
        spent = effort.deliver.sum(axis=(-2, -1)) + effort.game.sum(axis=-1)
        idle = (effort.partner_share + effort.slack_share).sum(axis=-1) / cfg.n_agencies
        np.testing.assert_allclose(spent + idle * state.capacity, state.capacity, rtol=1e-9)
        review = cfg.is_review_step(state.t)
        result = world.step(state, local, centre, rng)
        state = result.state
        for arr in (state.true, state.measured, state.targets):
            assert np.isfinite(arr).all() and (arr >= 0).all() and (arr <= 1).all()
        assert np.isfinite(result.local_rewards).all() and np.isfinite(result.centre_rewards).all()
        assert (state.inflation >= 0).all()
        _check_audit_budget(world, result.state.audited, review)
        assert (result.metrics.national["audits"][~review] == 0).all()  # only at reviews
        for name, value in result.metrics.national.items():
            assert np.isfinite(value).all(), name
        for obs, layout in (
            (observe.local_observations(cfg, state), observe.local_observation_layout(cfg, 0)),
            (observe.centre_observations(cfg, state), observe.centre_observation_layout(cfg, 0)),
            (observe.global_state(cfg, state)[:, None], observe.state_layout(cfg)),
        ):
            low, high = observe.layout_bounds(layout)
            assert obs.shape[-1] == len(layout)
            assert (obs >= low).all() and (obs <= high).all()


def _check_audit_budget(world: World, audited: np.ndarray, review: np.ndarray) -> None:
    cfg, kind = world.config, world.design.audits
    per_column = audited.sum(axis=1)  # (B, K): localities audited, per domain
    if kind == "none":
        assert per_column.sum() == 0
    elif kind == "centre":
        assert (per_column <= cfg.n_audits).all()
    else:
        rate = cfg.audit_rate if kind == "random" else cfg.audit_rate_low
        assert (per_column <= math.ceil(rate * cfg.n_localities - 1e-9)).all()


@settings(max_examples=40, deadline=None)
@given(
    cfg=configs(),
    design=st.sampled_from(NO_AUDIT_DESIGNS),
    seed=st.integers(0, 2**16),
)
def test_measure_is_truth_plus_inflation_plus_noise(cfg, design, seed):
    world = World(cfg, design)
    rng = np.random.default_rng(seed)
    state = world.reset(rng, 3)
    for _ in range(cfg.horizon):
        local = rng.random((3, cfg.n_locals, cfg.local_action_dim))
        result = world.step(state, local, rng.random((3, cfg.n_centres, _centre_dim(cfg))), rng)
        state = result.state
        residual = state.measured - np.clip(state.true + state.inflation, 0, 1)
        assert (np.abs(residual) <= 6 * cfg.sigma_m + 1e-12).all()
        if cfg.sigma_m == 0:
            np.testing.assert_array_equal(
                state.measured, np.clip(state.true + state.inflation, 0, 1)
            )


@settings(max_examples=30, deadline=None)
@given(shape_seed=st.integers(0, 2**16), values=st.lists(actions, min_size=18, max_size=18))
def test_action_decoding_gives_shares_that_sum_to_one(shape_seed, values):
    world = World(WorldConfig())
    state = world.reset(np.random.default_rng(shape_seed), 1)
    local = np.tile(np.asarray(values), (1, 6, 1))
    effort = world.decode_local(local, state)
    total = (
        effort.deliver.sum(axis=(-2, -1))
        + effort.game.sum(axis=-1)
        + (effort.partner_share + effort.slack_share).sum(axis=-1) * state.capacity
    )
    np.testing.assert_allclose(total, state.capacity)
    assert (effort.deliver >= 0).all() and (effort.game >= 0).all()
