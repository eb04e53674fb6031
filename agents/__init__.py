"""Policies for target-gaming: scripted baselines (learned ones load into the same protocol)."""

from .scripted import LOCAL_POLICIES, LocalPolicy, fixed_targets_action, get_local_policy

__all__ = ["LOCAL_POLICIES", "LocalPolicy", "fixed_targets_action", "get_local_policy"]
