"""The target-gaming world: config, scenarios, designs, the batched core."""

from .config import CONFIG_FIELDS, DOMAINS, WorldConfig
from .core import StepResult, World
from .designs import CENTRE_REWARDS, DESIGNS, PAY_RULES, Design, get_design
from .metrics import METRICS, EpisodeMetrics
from .scenarios import SCENARIOS, Scenario, get_scenario, make_config
from .state import WorldState

__all__ = [
    "CENTRE_REWARDS",
    "CONFIG_FIELDS",
    "DESIGNS",
    "DOMAINS",
    "METRICS",
    "PAY_RULES",
    "SCENARIOS",
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
