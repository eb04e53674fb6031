"""Every registered entry builds and runs; the docs name every entry and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from target_gaming.envs import target_gaming_v0
from target_gaming.envs.target_gaming import CONFIG_FIELDS, DESIGNS, METRICS, SCENARIOS, WorldConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_every_scenario_and_design_builds_and_steps(scenario, design):
    env = target_gaming_v0.parallel_env(scenario=scenario, design=design, max_cycles=5)
    obs, _ = env.reset(seed=0)
    while env.agents:
        obs, rewards, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert all(np.isfinite(r) for r in rewards.values())
    assert set(infos[env.possible_agents[0]]["metrics"]) == set(METRICS)
    assert set(env.episode_metrics()) == set(METRICS)


@pytest.mark.parametrize("centre_reward", ["political", "welfare"])
def test_both_centre_rewards_work_for_departments_and_a_coordinated_centre(centre_reward):
    for scenario in ("whitehall", "jug_3"):
        env = target_gaming_v0.parallel_env(scenario=scenario, centre_reward=centre_reward)
        env.reset(seed=1)
        _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
        assert all(np.isfinite(r) for r in rewards.values())


def test_layouts_name_every_component_of_every_space():
    for scenario in ("whitehall", "jug_4"):
        env = target_gaming_v0.parallel_env(scenario=scenario)
        for agent in env.possible_agents:
            layout = env.action_layout(agent)
            assert len(layout) == env.action_space(agent).shape[0]
            assert len(set(layout)) == len(layout)
            names = env.observation_layout(agent)
            assert len(names) == env.observation_space(agent).shape[0]


def test_the_env_docstring_names_every_design_scenario_metric_and_argument():
    doc = target_gaming_v0.__doc__
    for name in [*DESIGNS, *SCENARIOS, *METRICS, "centre_reward", "max_cycles", "render_mode"]:
        assert f"``{name}``" in doc, name


def test_the_env_docstring_shapes_match_the_spaces():
    doc = target_gaming_v0.__doc__
    env = target_gaming_v0.parallel_env()
    dep = target_gaming_v0.parallel_env(scenario="jug_4")
    assert f"local {env.action_space('local_0').shape[0]} (unitary)" in doc
    assert f"local {env.observation_space('local_0').shape[0]} (unitary)" in doc
    assert f"centre {env.observation_space('centre_0').shape[0]}" in doc
    assert f"department {dep.observation_space('department_0').shape[0]}" in doc
    assert f"State shape        | {env.state_space.shape[0]} " in doc


def test_docs_model_lists_every_config_field_with_its_default():
    text = (ROOT / "docs" / "model.md").read_text()
    defaults = WorldConfig()
    for field in CONFIG_FIELDS:
        assert f"`{field}`" in text, field
        value = getattr(defaults, field)
        if isinstance(value, float):
            assert str(value) in text, (field, value)


def test_docs_agents_describes_every_registered_policy():
    from target_gaming.agents import CENTRE_POLICIES, LOCAL_POLICIES

    text = (ROOT / "docs" / "agents.md").read_text()
    for name, cls in {**LOCAL_POLICIES, **CENTRE_POLICIES}.items():
        assert f"| `{name}` | {cls.description} |" in text, name
