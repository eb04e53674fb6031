"""Saved SB3 models as policies: ``load_policy("run/local_policy.zip", world)``.

Importing this module registers the loader for ``.zip`` files with
``target_gaming.agents.register_loader``
(``target_gaming.agents.load_policy`` imports it on demand when
it is given a ``.zip`` path). The policy acts deterministically (the mean
action), clipped to [0, 1], in the same ``Policy`` protocol as the scripted
rules, so rollouts, evaluations and the vector envs treat them alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from target_gaming.agents import register_loader
from target_gaming.agents.base import check_saved_spaces
from target_gaming.envs.target_gaming import World

from .checkpoints import verify_model


class LearnedPolicy:
    """A trained model acting for ``role`` of ``world``: deterministic, in [0, 1]."""

    description = "A policy learned with stable-baselines3 (deterministic actions)."

    def __init__(self, model: BaseAlgorithm, world: World, role: str, name: str = "learned"):
        shapes = model.observation_space.shape, model.action_space.shape
        check_saved_spaces(world, role, *shapes, name)
        self.model, self.world, self.role, self.name = model, world, role, name

    def act(self, observations: np.ndarray) -> np.ndarray:
        """(M, D_obs) -> (M, D_act)."""
        obs = np.asarray(observations, dtype=np.float32)
        actions, _ = self.model.predict(obs, deterministic=True)
        return np.clip(actions, 0.0, 1.0).astype(np.float64)

    def act_one(self, observation: np.ndarray) -> np.ndarray:
        return self.act(np.asarray(observation)[None])[0]


def load_learned(path: str | Path, world: World, role: str = "local", seed: int = 0):
    """Load a PPO model saved by ``target-gaming train`` as a policy for ``role``; a file
    that is not a whole SB3 model (truncated, say) is refused, naming it, before SB3 reads it."""
    verify_model(path)
    model = PPO.load(str(path), device="cpu")
    return LearnedPolicy(model, world, role, name=Path(path).name)


register_loader(".zip", load_learned)
