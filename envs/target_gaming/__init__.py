"""The target-gaming world: config, scenarios, designs, the batched core."""

from .config import CONFIG_FIELDS, DOMAINS, WorldConfig
from .core import StepResult, World
from .designs import CENTRE_REWARDS, DESIGNS, PAY_RULES, Design, get_design
from .metrics import METRICS, EpisodeMetrics
from .scenarios import SCENARIOS, Scenario, get_scenario, make_config
from .state import WorldState

# The world's version: the PettingZoo env of these dynamics is ``target_gaming.envs.<it>``.
# Results record it, so that work done in another version is never reused.
WORLD_VERSION = "target_gaming_v2"

__all__ = [
    "CENTRE_REWARDS",
    "CONFIG_FIELDS",
    "DESIGNS",
    "DOMAINS",
    "METRICS",
    "PAY_RULES",
    "SCENARIOS",
    "WORLD_VERSION",
    "Design",
    "EpisodeMetrics",
    "Scenario",
    "StepResult",
    "World",
    "WorldConfig",
    "WorldState",
    "get_design",
    "get_scenario",
    "make_config",
]
