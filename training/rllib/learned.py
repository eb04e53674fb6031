"""Saved RLlib modules as policies: ``load_policy("run/local_policy.rllib", world)``.

``target-gaming train --backend rllib`` exports each trained RLModule with
``module.save_to_path`` into a folder named ``<role>_policy.rllib``. Importing
this module registers the loader for the ``.rllib`` suffix with
``target_gaming.agents.register_loader``
(``target_gaming.agents.load_policy`` imports it on demand, so
nothing imports Ray until such a path is loaded). The policy runs the module's
``forward_inference`` and takes the deterministic action (the mean of the
diagonal Gaussian) as the world's action: clipped to [0, 1], or, for a centre whose folder
records ``centre_action`` ``relative`` (``centre_action.json``, written by the trainer; a
folder without it is ``absolute``), mapped by
``target_gaming.agents.centre_actions.world_action`` as the trainer's env mapped it. The
same ``Policy`` protocol as the scripted rules and the SB3 ``.zip`` models, so rollouts,
evaluations and the comparison treat them alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from target_gaming.agents import register_loader
from target_gaming.agents.base import check_saved_spaces
from target_gaming.agents.centre_actions import check_centre_action, world_action
from target_gaming.envs.target_gaming import World

CENTRE_ACTION_FILE = "centre_action.json"  # in a saved centre's folder: {"centre_action": ...}


class RLlibPolicy:
    """A trained RLModule acting for ``role`` of ``world``: deterministic, in [0, 1]."""

    description = "A policy learned with Ray RLlib (deterministic actions)."

    def __init__(
        self,
        module,
        world: World,
        role: str,
        name: str = "learned",
        centre_action: str = "absolute",
    ):
        shapes = module.observation_space.shape, module.action_space.shape
        check_saved_spaces(world, role, *shapes, name)
        if role != "centre" and centre_action != "absolute":
            raise ValueError(f"policy {name!r}: centre_action {centre_action!r} is a centre's")
        self.module, self.world, self.role, self.name = module, world, role, name
        self.centre_action = check_centre_action(centre_action)
        self._dist = module.get_inference_action_dist_cls()

    def act(self, observations: np.ndarray) -> np.ndarray:
        """(M, D_obs) -> (M, D_act): the Gaussian's mean as the world's action."""
        import torch
        from ray.rllib.core.columns import Columns

        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32))
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: obs})
            dist = self._dist.from_logits(out[Columns.ACTION_DIST_INPUTS])
            actions = dist.to_deterministic().sample().numpy()
        if self.role != "centre":
            return np.clip(actions, 0.0, 1.0).astype(np.float64)
        return world_action(self.world.config, observations, actions, self.centre_action)

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
    centre_action = _centre_action(Path(path)) if role == "centre" else "absolute"
    return RLlibPolicy(module, world, role, name=Path(path).name, centre_action=centre_action)


def _centre_action(folder: Path) -> str:
    """The ``centre_action`` a saved centre's folder records (``absolute`` without one)."""
    record = folder / CENTRE_ACTION_FILE
    if not record.exists():
        return "absolute"
    try:
        data = json.loads(record.read_text())
        return check_centre_action(data["centre_action"], f"{record}: centre_action")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{record} is not a readable centre_action record: {err}") from err


register_loader(".rllib", load_rllib)
