"""The rgb_array dashboard: its frames, the fast path held to the one-pass reference,
copies and ``close()``, and GIF recordings of an episode."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import numpy as np
import pytest
from PIL import Image

from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming.dashboard import reference_frame
from target_gaming.envs.target_gaming.render import record_episode
from tests.conftest import SCENARIO_CASES

SHAPE = (360, 640, 3)


def _env(**kwargs):
    return target_gaming_v2.parallel_env(render_mode="rgb_array", **kwargs)


def _actions(env, gen: np.random.Generator) -> dict[str, np.ndarray]:
    return {a: gen.random(env.action_space(a).shape).astype(np.float32) for a in env.agents}


def _reference(env) -> np.ndarray:
    metrics = env.last_result.metrics.locality
    shares = (metrics["gaming_share"][0], metrics["slack_share"][0])
    return reference_frame(env.config, env.world_state, env.world.design.name, *shares)


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
def test_rgb_array_frames_are_uint8_images_that_change_after_a_step(scenario):
    env = _env(scenario=scenario)
    env.reset(seed=0)
    first = env.render()
    assert first.shape == SHAPE and first.dtype == np.uint8
    env.step(_actions(env, np.random.default_rng(0)))
    second = env.render()
    assert second.shape == SHAPE and second.dtype == np.uint8
    assert (first != second).any(axis=2).mean() > 0.01  # bars, dots and title moved


def test_the_fast_dashboard_draws_what_the_reference_draws_over_an_episode():
    env = _env(design="rotating_basket")  # the first domain enters and leaves the basket
    env.reset(seed=1)
    gen, compared, first_measured = np.random.default_rng(0), 0, set()
    while env.agents:
        env.step(_actions(env, gen))
        frame = env.render()  # every frame, so that the dashboard goes through each step
        if env.world_state.t[0] % env.config.review_period == 1:
            reference = _reference(env)
            assert frame.shape == reference.shape
            differing = (frame != reference).any(axis=2).mean()
            assert differing < 0.001, f"t={env.world_state.t[0]}: {differing:.2%} pixels differ"
            compared += 1
            first_measured.add(bool(env.world_state.basket[0, 0]))
    assert compared == env.config.horizon // env.config.review_period
    assert first_measured == {True, False}


@pytest.mark.parametrize("copier", ["deepcopy", "pickle"])
def test_a_copy_leaves_the_figure_behind_and_draws_its_own(copier):
    env = _env()
    env.reset(seed=2)
    env.step(_actions(env, np.random.default_rng(0)))
    frame = env.render()
    assert b"matplotlib" not in pickle.dumps(env)  # the figure is no part of its state
    twin = copy.deepcopy(env) if copier == "deepcopy" else pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(twin.render(), frame)
    gen = np.random.default_rng(1)
    actions = _actions(env, gen)
    env.step(actions)
    twin.step(actions)
    np.testing.assert_array_equal(twin.render(), env.render())


def test_close_frees_the_figure_and_a_later_frame_draws_a_new_one():
    env = _env()
    env.reset(seed=3)
    frame = env.render()
    figure = weakref.ref(env._dashboard.figure)
    env.close()
    gc.collect()  # a figure and its artists refer to each other
    assert figure() is None
    np.testing.assert_array_equal(env.render(), frame)


def test_record_episode_writes_a_gif_of_every_frame(tmp_path):
    env = _env(max_cycles=5)
    path = tmp_path / "runs" / "episode.gif"

    def policy(observations):
        return {a: np.full(env.action_space(a).shape, 0.5, np.float32) for a in observations}

    assert record_episode(env, policy, path, seed=0) == path
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.size == SHAPE[1::-1]
        assert gif.n_frames == 1 + 5  # after reset, then after each step
        assert gif.info["duration"] == 1000 // env.metadata["render_fps"]
    assert [p.name for p in path.parent.iterdir()] == ["episode.gif"]  # no temporary left


def test_record_episode_stops_when_the_given_actions_run_out(tmp_path):
    env = _env()
    gen = np.random.default_rng(0)
    env.reset(seed=0)
    actions = [_actions(env, gen) for _ in range(3)]
    record_episode(env, actions, tmp_path / "three.gif", seed=0, fps=10)
    with Image.open(tmp_path / "three.gif") as gif:
        assert gif.n_frames == 4 and gif.info["duration"] == 100


def test_record_episode_asks_for_an_rgb_array_env(tmp_path):
    env = target_gaming_v2.parallel_env(render_mode="ansi")
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        record_episode(env, [], tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()
