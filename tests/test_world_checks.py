"""The batched core checks its arguments: a bad one raises a ValueError naming it.

``World.step`` is the API researchers use for speed, so it gives the same guarantees
as the ParallelEnv (shape, real dtype, finiteness) unless ``check=False``.
"""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.envs.target_gaming import World, make_config, observe

BATCH = 4


def _world_and_inputs(scenario: str = "whitehall"):
    cfg = make_config(scenario)
    world = World(cfg, "audited_targets")
    rng = np.random.default_rng(0)
    state = world.reset(rng, BATCH)
    local = rng.random((BATCH, cfg.n_locals, cfg.local_action_dim))
    centre = rng.random((BATCH, cfg.n_centres, len(observe.centre_action_layout(cfg, 0))))
    return world, state, local, centre, rng


def _with(array: np.ndarray, index: tuple, value) -> np.ndarray:
    out = array.astype(np.result_type(array, type(value)))
    out[index] = value
    return out


BAD = {
    "NaN local action": ("local_actions", lambda a, c: (_with(a, (1, 2, 3), np.nan), c), "NaN"),
    "inf local action": ("local_actions", lambda a, c: (_with(a, (0, 0, 0), -np.inf), c), "inf"),
    "NaN centre action": ("centre_actions", lambda a, c: (a, _with(c, (2, 0, 5), np.nan)), "NaN"),
    "centre action too wide": (
        "centre_actions",
        lambda a, c: (a, np.concatenate([c, c[..., :1]], axis=-1)),
        "shape",
    ),
    "local action too short": ("local_actions", lambda a, c: (a[..., :-1], c), "shape"),
    "wrong batch": ("local_actions", lambda a, c: (a[:2], c), "shape"),
    "complex local": ("local_actions", lambda a, c: (a + 0j, c), "real numbers"),
    "strings": ("centre_actions", lambda a, c: (a, c.astype(str)), "real numbers"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("scenario", ["whitehall", "jug_4"])
def test_a_bad_action_array_raises_a_value_error_that_names_it(case, scenario):
    world, state, local, centre, rng = _world_and_inputs(scenario)
    name, spoil, says = BAD[case]
    bad_local, bad_centre = spoil(local, centre)
    with pytest.raises(ValueError, match=rf"^{name} .*{says}"):
        world.step(state, bad_local, bad_centre, rng)


def test_a_bad_state_or_generator_raises_a_value_error_that_names_it():
    world, state, local, centre, rng = _world_and_inputs()
    with pytest.raises(ValueError, match="^state must be a WorldState"):
        world.step({"t": state.t}, local, centre, rng)
    with pytest.raises(ValueError, match="^rng must be a numpy.random.Generator"):
        world.step(state, local, centre, 0)


def test_checked_and_unchecked_steps_agree_and_huge_finite_values_pass():
    world, state, local, centre, _ = _world_and_inputs()
    local = _with(local, (0, 0, 0), 1e308)  # finite values whose sum overflows: clipped
    local = _with(local, (0, 0, 1), 1e308)
    checked = world.step(state, local, centre, np.random.default_rng(1))
    unchecked = world.step(state, local, centre, np.random.default_rng(1), check=False)
    np.testing.assert_array_equal(checked.local_rewards, unchecked.local_rewards)
    np.testing.assert_array_equal(checked.state.true, unchecked.state.true)
    as_lists = world.step(state, local.tolist(), centre.tolist(), np.random.default_rng(1))
    np.testing.assert_array_equal(as_lists.local_rewards, checked.local_rewards)
