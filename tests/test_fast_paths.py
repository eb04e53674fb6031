"""The core's fast paths give what the readable registry rules say.

``World.step`` computes rewards and metrics with stacked, precomputed arrays; these
tests recompute every reward of every design from ``PAY_RULES``,
``CENTRE_REWARDS`` and the reward equation of docs/model.md, step by step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from target_gaming.envs.target_gaming import World, make_config, observe
from target_gaming.envs.target_gaming.designs import (
    CENTRE_REWARDS,
    DESIGNS,
    PAY_RULES,
    CentreInputs,
    PayInputs,
)

BATCH = 4


def _reference_rewards(world: World, before, after, local_actions, reviewing):
    """(local (B, N), centre (B, C)) from the registry rules, without the core's shortcuts."""
    cfg = world.config
    mask = before.basket[:, None, :]
    pay_inputs = PayInputs(
        after.measured,
        before.targets,
        after.true,
        before.true,
        before.priorities,
        mask,
        world.pay_weights,
    )
    pay = PAY_RULES[world.design.pay](cfg, pay_inputs)  # (B, L, A) or (B, L, 1)
    own = cfg.agency_domains  # (A, K)
    w = before.priorities
    gain = ((w * (after.true - before.baseline)) @ own.T) / (w @ own.T)  # (B, L, A)
    slack = world.decode_local(local_actions, before).slack_share
    local = before.motivation[..., None] * gain + pay - cfg.effort_cost * (1.0 - slack)
    audited = after.audited * reviewing[:, None, None]
    local = local - after.sanction * reviewing[:, None, None]
    centre_inputs = CentreInputs(after.measured, before.targets, after.true, mask, audited)
    centre = CENTRE_REWARDS[world.centre_reward_name](cfg, centre_inputs)
    return local.reshape(local.shape[0], -1), centre


@pytest.mark.parametrize("scenario", ["whitehall", "gresham", "jug_1", "jug_2", "jug_4"])
@pytest.mark.parametrize("design", list(DESIGNS))
def test_the_cores_rewards_are_the_registry_rules(scenario, design):
    cfg = make_config(scenario)
    centre_dim = len(observe.centre_action_layout(cfg, 0))
    for centre_reward in CENTRE_REWARDS:
        world = World(cfg, design, centre_reward)
        rng, actions = np.random.default_rng(0), np.random.default_rng(1)
        state = world.reset(rng, BATCH)
        for _ in range(2 * cfg.review_period + 1):
            local_actions = actions.random((BATCH, cfg.n_locals, cfg.local_action_dim))
            local_actions[0, 0] = 0.0  # an all-zero action: all slack
            centre_actions = actions.random((BATCH, cfg.n_centres, centre_dim))
            reviewing = cfg.is_review_step(state.t)
            result = world.step(state, local_actions, centre_actions, rng)
            local, centre = _reference_rewards(world, state, result.state, local_actions, reviewing)
            np.testing.assert_allclose(result.local_rewards, local, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(result.centre_rewards, centre, rtol=1e-12, atol=1e-12)
            state = result.state


@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
@pytest.mark.parametrize("design", ["targets", "rotating_basket", "targeted_audits"])
def test_a_step_issues_no_warnings(scenario, design):
    """Deprecated numpy calls warn on every step and cost time; the core makes none."""
    from target_gaming.envs import target_gaming_v2

    env = target_gaming_v2.parallel_env(scenario=scenario, design=design)
    env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3 * env.config.review_period):
            env.step({a: env.action_space(a).sample() for a in env.agents})
