"""Named scenarios: presets of config overrides (docs/design-spec.md, section 9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import WorldConfig, check_fields


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def config(self, **overrides: Any) -> WorldConfig:
        check_fields(overrides)
        return WorldConfig(**{**self.overrides, **overrides})


_JUG = {"agency_mode": "per_domain"}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "whitehall",
            "Default: unitary localities, a coordinated centre, headline = health and education.",
        ),
        Scenario(
            "coalfield_seaside",
            "Two locality types whose best approaches are reversed (ex-coalfield vs seaside).",
            {"locality_types": 2, "heterogeneity": 0.3},
        ),
        Scenario(
            "homogeneous",
            "No local knowledge: every locality's approaches work alike (h = 0).",
            {"heterogeneity": 0.0},
        ),
        Scenario(
            "capacity_gap",
            "Local capability varies widely (capacity in [0.4, 1.6]).",
            {"capacity_low": 0.4, "capacity_high": 1.6},
        ),
        Scenario(
            "gresham",
            "Mixed intrinsic motivation: half the localities are knights, half knaves.",
            {"knight_share": 0.5, "psi_knight": 1.0, "psi_knave": 0.0},
        ),
        Scenario(
            "cascade_health",
            "Whitehall with target cascades: 17 frontline targets per headline target "
            "(the source paper's figure for health).",
            {"cascade": 17},
        ),
        Scenario(
            "cascade_education",
            "Whitehall with target cascades: 34 frontline targets per headline target "
            "(the source paper's figure for education).",
            {"cascade": 34},
        ),
        Scenario(
            "jug_1",
            "Joined-up: a coordinated centre and agencies paid on their locality (pooled).",
            {**_JUG, "centre_mode": "coordinated", "pooled_localities": True},
        ),
        Scenario(
            "jug_2",
            "A coordinated centre and silo agencies (per_domain, own pay).",
            {**_JUG, "centre_mode": "coordinated"},
        ),
        Scenario(
            "jug_3",
            "Departmental silos at the centre and pooled localities.",
            {**_JUG, "centre_mode": "departments", "pooled_localities": True},
        ),
        Scenario(
            "jug_4",
            "Departmental silos at the centre and silo agencies.",
            {**_JUG, "centre_mode": "departments"},
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def make_config(scenario: str = "whitehall", **overrides: Any) -> WorldConfig:
    """The scenario's config with ``overrides`` on top (lists and arrays become tuples).

    The one way to build a world's config from a scenario name and user overrides:
    the PettingZoo env, the vector envs, training and evaluation all call it.
    """
    fixed = {k: _as_tuple(v) for k, v in overrides.items()}
    return get_scenario(scenario).config(**fixed)


def _as_tuple(value: Any) -> Any:
    if isinstance(value, (list, np.ndarray)):
        return tuple(_as_tuple(v) for v in value)
    return value
