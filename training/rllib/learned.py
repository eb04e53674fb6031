"""Saved RLlib modules as policies: ``load_policy("run/local_policy.rllib", world)``.

``target-gaming train --backend rllib`` exports each trained RLModule with
``module.save_to_path`` into a folder named ``<role>_policy.rllib``. Importing
this module registers the loader for the ``.rllib`` suffix with
``target_gaming.agents.register_loader``
(``target_gaming.agents.load_policy`` imports it on demand, so
nothing imports Ray until such a path is loaded). The policy runs the module's
``forward_inference`` and takes the deterministic action (the mean of the
diagonal Gaussian) clipped to [0, 1]: the same ``Policy`` protocol as the
scripted rules and the SB3 ``.zip`` models, so rollouts, evaluations and the
comparison treat them alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from target_gaming.agents import register_loader
from target_gaming.agents.base import check_saved_spaces
from target_gaming.envs.target_gaming import World


class RLlibPolicy:
    """A trained RLModule acting for ``role`` of ``world``: deterministic, in [0, 1]."""

    description = "A policy learned with Ray RLlib (deterministic actions)."

    def __init__(self, module, world: World, role: str, name: str = "learned"):
        shapes = module.observation_space.shape, module.action_space.shape
        check_saved_spaces(world, role, *shapes, name)
        self.module, self.world, self.role, self.name = module, world, role, name
        self._dist = module.get_inference_action_dist_cls()

    def act(self, observations: np.ndarray) -> np.ndarray:
        """(M, D_obs) -> (M, D_act): the Gaussian's mean, clipped to [0, 1]."""
        import torch
        from ray.rllib.core.columns import Columns

        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32))
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: obs})
            dist = self._dist.from_logits(out[Columns.ACTION_DIST_INPUTS])
            actions = dist.to_deterministic().sample().numpy()
        return np.clip(actions, 0.0, 1.0).astype(np.float64)

    def act_one(self, observation: np.ndarray) -> np.ndarray:
        return self.act(np.asarray(observation)[None])[0]


def load_rllib(path: str | Path, world: World, role: str = "local", seed: int = 0):
    """Load an RLModule saved by ``target-gaming train --backend rllib`` as a policy."""
    try:
        from ray.rllib.core.rl_module.rl_module import RLModule
    except ImportError as err:
        raise ValueError(
            f"loading {path} needs Ray RLlib: pip install '.[ray]' (the ray extra)"
        ) from err
    if not Path(path).is_dir():
        raise ValueError(f"{path} is not a saved RLlib module (a .rllib folder)")
    try:
        module = RLModule.from_checkpoint(str(Path(path).resolve()))
    except (OSError, ValueError, KeyError, EOFError, RuntimeError) as err:  # a damaged folder
        raise ValueError(f"{path} is not a readable saved RLlib module: {err}") from err
    module.eval()
    return RLlibPolicy(module, world, role, name=Path(path).name)


register_loader(".rllib", load_rllib)
