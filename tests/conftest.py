"""Shared helpers for the tests."""

from __future__ import annotations

import numpy as np
import pytest

from target_gaming.envs.target_gaming import World, get_scenario

# The default scenario, one with per_domain agencies and departments at the centre, and the
# two target cascades.
SCENARIO_CASES = ["whitehall", "jug_4", "cascade_health", "cascade_education"]


def make_world(scenario: str = "whitehall", design: str = "targets", **overrides) -> World:
    return World(get_scenario(scenario).config(**overrides), design)


def centre_dim(world: World) -> int:
    """Targets and audit weights, and with the prescription lever its columns: the
    prescription's are given the default level too (its strongest approach, the first)."""
    cfg = world.config
    extra = cfg.n_domains // cfg.n_centres * cfg.n_approaches if cfg.prescription else 0
    return cfg.n_localities * cfg.n_domains // cfg.n_centres + cfg.n_localities + extra


def constant_actions(world: World, local: np.ndarray, batch: int = 1):
    """Every local agent plays ``local``; the centre keeps targets at their default."""
    cfg = world.config
    la = np.broadcast_to(np.asarray(local, float), (batch, cfg.n_locals, cfg.local_action_dim))
    ca = np.full((batch, cfg.n_centres, centre_dim(world)), centre_default_level(cfg))
    return la, ca


def centre_default_level(cfg) -> float:
    return (cfg.target_default - cfg.target_min) / (cfg.target_max - cfg.target_min)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
