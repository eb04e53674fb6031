"""Training with stable-baselines3 PPO: the local agents, the centre, or both in turn.

``vec_env`` (the local agents as SB3 vector-env slots), ``centre_env`` (the centre,
one decision per review period), ``callbacks`` (metrics, checkpoints), ``train``
(the stages of a run) and ``learned`` (saved ``.zip`` models as policies).

Importing this package registers the coordinated centre's gymnasium env,
``centre_env.CentreEnv``, as ``CENTRE_ENV_ID`` (``target_gaming/centre-v2``: its version
is the world's), so that ``gymnasium.make(CENTRE_ENV_ID, design=..., local_policy=...)``
builds it with CentreEnv's arguments; ``gymnasium.make("target_gaming.training.sb3:"
"target_gaming/centre-v2")`` imports this package itself. Importing it twice registers
the env once.
"""

import gymnasium

from target_gaming.envs.target_gaming import WORLD_VERSION

_WORLD, _VERSION = WORLD_VERSION.rsplit("_v", 1)  # "target_gaming", "1"
CENTRE_ENV_ID = f"{_WORLD}/centre-v{_VERSION}"
CENTRE_ENV_NAME = f"{_WORLD}_centre_v{_VERSION}"  # the env's metadata["name"]

if CENTRE_ENV_ID not in gymnasium.registry:
    gymnasium.register(CENTRE_ENV_ID, entry_point=f"{__name__}.centre_env:CentreEnv")

__all__ = ["CENTRE_ENV_ID", "CENTRE_ENV_NAME"]
