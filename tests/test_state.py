"""The state's in-place contract: its arrays are read-only, so an edit raises.

The core and the observer keep work keyed by the identity of a state's arrays; an
in-place edit would serve stale observations and rewards without a word.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from target_gaming.envs.target_gaming import World, WorldState, make_config, observe
from tests.conftest import SCENARIO_CASES

FIELDS = [f.name for f in dataclasses.fields(WorldState)]


def _states(scenario: str, design: str):
    """A reset state, then the states of a review period and one more step."""
    cfg = make_config(scenario)
    world = World(cfg, design)
    rng = np.random.default_rng(0)
    state = world.reset(rng, batch_size=3)
    yield state
    centre_dim = len(observe.centre_action_layout(cfg, 0))
    for _ in range(cfg.review_period + 1):
        local = rng.random((3, cfg.n_locals, cfg.local_action_dim))
        centre = rng.random((3, cfg.n_centres, centre_dim))
        state = world.step(state, local, centre, rng).state
        yield state


@pytest.mark.parametrize("scenario", SCENARIO_CASES)
@pytest.mark.parametrize("design", ["targets", "audited_targets", "rotating_basket"])
def test_every_array_a_state_hands_out_is_read_only(scenario, design):
    for state in _states(scenario, design):
        for name in FIELDS:
            array = getattr(state, name)
            with pytest.raises(ValueError, match="read-only"):
                array[...] = 0
        merged = state.where(np.array([True, False, True]), state)
        for source in (merged, state.index(1)):
            assert not any(getattr(source, name).flags.writeable for name in FIELDS)


def test_replace_takes_a_copy_so_the_callers_array_cannot_go_stale():
    cfg = make_config("whitehall")
    state = World(cfg).reset(np.random.default_rng(0), batch_size=2)
    targets = np.full(state.targets.shape, 0.8)
    new = state.replace(targets=targets)
    targets[...] = 0.1  # the caller's array, edited after the call
    np.testing.assert_array_equal(new.targets, 0.8)
    local = observe.local_observations(cfg, new)
    column = [n for n, _, _ in observe.local_observation_layout(cfg, 0)].index("target:health")
    np.testing.assert_allclose(local[..., column], 0.8, rtol=1e-6)
    with pytest.raises(ValueError, match="read-only"):
        new.targets[0, 0, 0] = 0.5
