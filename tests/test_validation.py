"""Bad input fails fast with a message naming the field or agent; nothing makes the state NaN."""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming import WorldConfig


def _actions(env, **changes):
    acts = {a: env.action_space(a).sample() for a in env.agents}
    acts.update(changes)
    return acts


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"scenario": "narnia"}, ["narnia", "whitehall", "jug_4"]),
        ({"design": "bribes"}, ["bribes", "targets", "oracle_outcomes"]),
        ({"centre_reward": "votes"}, ["votes", "political", "welfare"]),
        ({"n_localitees": 3}, ["n_localitees", "n_localities"]),
        ({"render_mode": "screen"}, ["screen", "ansi"]),
        ({"agency_mode": "federal"}, ["agency_mode", "federal", "per_domain"]),
    ],
)
def test_unknown_names_fail_listing_what_is_allowed(kwargs, words):
    with pytest.raises(ValueError) as err:
        target_gaming_v2.parallel_env(**kwargs)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("n_localities", 1, "[2, 1000]"),
        ("alpha", -0.1, "[0.0, 1.0]"),
        ("sigma_m", float("nan"), "[0.0, 0.5]"),
        ("rho", 0.0, "[0.01, 1.0]"),
        ("horizon", 2.5, "an integer"),
        ("target_default", 0.95, "target_max"),
        ("capacity_low", 2.0, "capacity_high"),
        ("headline", ("health", "wealth"), "domains among"),
        ("basket_size", 9, "at most the 4 domains"),
        ("spillover", ((0.0,),), "4x4"),
    ],
)
def test_out_of_range_config_names_field_value_and_range(field, value, allowed):
    with pytest.raises(ValueError) as err:
        WorldConfig(**{field: value})
    message = str(err.value)
    assert field in message and repr(value) in message and allowed in message


def test_max_cycles_out_of_range_is_refused():
    with pytest.raises(ValueError, match="horizon"):
        target_gaming_v2.parallel_env(max_cycles=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_names_the_agent(bad):
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    action = np.full(env.action_space("local_3").shape, 0.5)
    action[2] = bad
    with pytest.raises(ValueError, match="local_3.*NaN or inf"):
        env.step(_actions(env, local_3=action))


def test_wrong_shape_names_the_agent_and_expected_shape():
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"centre_0.*\(3,\).*\(30,\)"):
        env.step(_actions(env, centre_0=np.zeros(3)))


def test_missing_and_unknown_agents_are_named():
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    acts = _actions(env)
    del acts["local_2"]
    acts["local_99"] = np.zeros(18)
    with pytest.raises(ValueError, match=r"missing \['local_2'\].*unknown \['local_99'\]"):
        env.step(acts)


def test_non_numeric_action_is_refused():
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="local_0.*not numeric"):
        env.step(_actions(env, local_0="deliver everything"))


def test_step_after_the_episode_or_before_reset_is_refused():
    env = target_gaming_v2.parallel_env(max_cycles=1, review_period=1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset(seed=0)
    env.step(_actions(env))
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_unknown_agent_in_layout_queries_is_named():
    env = target_gaming_v2.parallel_env()
    with pytest.raises(ValueError, match="local_42"):
        env.action_layout("local_42")


def test_out_of_range_finite_actions_are_clipped_not_refused():
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    huge = {a: np.full(env.action_space(a).shape, 1e30) for a in env.agents}
    negative = {a: np.full(env.action_space(a).shape, -5.0) for a in env.agents}
    for acts in (huge, negative, huge):
        obs, rewards, *_ = env.step(acts)
        assert all(np.isfinite(o).all() for o in obs.values())
        assert all(np.isfinite(r) for r in rewards.values())
    assert np.isfinite(env.state()).all()


def test_a_review_period_longer_than_the_horizon_is_refused_naming_both_fields():
    with pytest.raises(ValueError, match=r"'review_period' = 9 .*at most horizon = 8"):
        WorldConfig(horizon=8, review_period=9)
    with pytest.raises(ValueError, match="review_period.*horizon = 2"):
        target_gaming_v2.parallel_env(max_cycles=2)  # the default review period is 4
    assert WorldConfig(horizon=8, review_period=8).review_period == 8  # one review: allowed
    target_gaming_v2.parallel_env(max_cycles=2, review_period=2)


@pytest.mark.parametrize("container", [list, tuple])
def test_actions_in_a_list_instead_of_a_dict_are_refused_saying_what_is_expected(container):
    env = target_gaming_v2.parallel_env()
    env.reset(seed=0)
    acts = container(_actions(env).values())
    with pytest.raises(ValueError, match=rf"must be a dict .*got a {container.__name__}"):
        env.step(acts)
