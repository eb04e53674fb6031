"""Environments of target-gaming. Importing this package registers
``target_gaming/target_gaming_v1`` in PettingZoo's AEC and parallel registries."""

from pettingzoo import aec_registry, parallel_registry, register

ENV_ID = "target_gaming/target_gaming_v1"

if ENV_ID.replace("_v1", "-v1") not in parallel_registry:
    register("aec", ENV_ID, entry_point="target_gaming.envs.target_gaming_v1:env")
    register("parallel", ENV_ID, entry_point="target_gaming.envs.target_gaming_v1:parallel_env")

__all__ = ["ENV_ID", "aec_registry", "parallel_registry"]
