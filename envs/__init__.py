"""Environments of target-gaming. Importing this package registers
``target_gaming/target_gaming_v2`` in PettingZoo's AEC and parallel registries, where the
installed PettingZoo has them (1.27 and later); with an older PettingZoo the env is used
through its module (``target_gaming.envs.target_gaming_v2``) alone, and ``REGISTERED`` is
False."""

import pettingzoo

from .target_gaming import WORLD_VERSION

ENV_ID = f"target_gaming/{WORLD_VERSION}"
_MODULE = f"target_gaming.envs.{WORLD_VERSION}"

# PettingZoo's registry (``pettingzoo.register``, ``pettingzoo.make``) arrived in 1.27
REGISTERED = hasattr(pettingzoo, "register")
if REGISTERED:
    from pettingzoo import aec_registry, parallel_registry, register

    if ENV_ID.replace("_v", "-v") not in parallel_registry:
        register("aec", ENV_ID, entry_point=f"{_MODULE}:env")
        register("parallel", ENV_ID, entry_point=f"{_MODULE}:parallel_env")
    __all__ = ["ENV_ID", "REGISTERED", "aec_registry", "parallel_registry"]
else:
    __all__ = ["ENV_ID", "REGISTERED"]
