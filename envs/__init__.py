"""Environments of target-gaming. Importing this package registers
``target_gaming/target_gaming_v1`` in PettingZoo's AEC and parallel registries."""

from pettingzoo import aec_registry, parallel_registry, register

from .target_gaming import WORLD_VERSION

ENV_ID = f"target_gaming/{WORLD_VERSION}"
_MODULE = f"target_gaming.envs.{WORLD_VERSION}"

if ENV_ID.replace("_v", "-v") not in parallel_registry:
    register("aec", ENV_ID, entry_point=f"{_MODULE}:env")
    register("parallel", ENV_ID, entry_point=f"{_MODULE}:parallel_env")

__all__ = ["ENV_ID", "aec_registry", "parallel_registry"]
