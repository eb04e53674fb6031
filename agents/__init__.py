"""Policies for target-gaming: the protocol, scripted baselines, and loading by name or path."""

from .base import Policy, ScriptedPolicy
from .centre import CENTRE_POLICIES, centre_problem, design_centre, review_actions
from .registry import LOCAL_POLICIES, SCRIPTED, load_policy, register_loader

__all__ = [
    "CENTRE_POLICIES",
    "LOCAL_POLICIES",
    "SCRIPTED",
    "centre_problem",
    "review_actions",
    "design_centre",
    "Policy",
    "ScriptedPolicy",
    "load_policy",
    "register_loader",
]
