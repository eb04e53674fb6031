"""Saved BenchMARL actors as policies: ``load_policy("run/local_policy.benchmarl", world)``.

``train_benchmarl`` saves the locals' actor (BenchMARL's policy for the group ``local``,
one set of parameters shared by every local agent) with its sizes in one torch file.
Importing this module registers the loader for the ``.benchmarl`` suffix with
``target_gaming.agents.register_loader`` (``load_policy`` imports it on demand). The
policy takes the actor's deterministic action (the mode of its TanhNormal, or the
deterministic actor of the DDPG family) clipped to [0, 1]: the ``Policy`` protocol of
the scripted rules and the SB3 and RLlib models, so rollouts and comparisons treat them
alike. The actor is decentralised (each agent's action depends on its own observation
only), so any number of rows can be acted for: they are padded to whole groups of the
trained number of agents. The file is a pickle (``torch.load(weights_only=False)``):
load only files you trust, as with any saved model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from target_gaming.agents import register_loader
from target_gaming.agents.base import check_saved_spaces
from target_gaming.envs.target_gaming import World


class BenchMARLPolicy:
    """A trained BenchMARL actor acting for ``role`` of ``world``: deterministic, in [0, 1]."""

    description = "A policy learned with BenchMARL (deterministic actions)."

    def __init__(self, saved: dict, world: World, role: str, name: str = "learned"):
        check_saved_spaces(world, role, saved["observation_shape"], saved["action_shape"], name)
        self.actor, self.world, self.role, self.name = saved["actor"], world, role, name
        self.group, self.n_agents = saved["group"], int(saved["n_agents"])
        self.algorithm = saved["algorithm"]
        self._act_dim = int(saved["action_shape"][0])

    def act(self, observations: np.ndarray) -> np.ndarray:
        """(M, D_obs) -> (M, D_act): the actor's deterministic action, clipped to [0, 1]."""
        import torch
        from tensordict import TensorDict
        from torchrl.envs.utils import ExplorationType, set_exploration_type

        obs = np.asarray(observations, dtype=np.float32)
        rows, n = obs.shape[0], self.n_agents
        groups = -(-rows // n)  # whole groups of the trained agent count
        padded = np.zeros((groups * n, obs.shape[1]), dtype=np.float32)
        padded[:rows] = obs
        inside = {"observation": torch.from_numpy(padded).reshape(groups, n, -1)}
        data = TensorDict({self.group: TensorDict(inside, [groups, n])}, batch_size=[groups])
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            actions = self.actor(data).get((self.group, "action"))
        actions = actions.reshape(groups * n, self._act_dim)[:rows].numpy()
        return np.clip(actions, 0.0, 1.0).astype(np.float64)

    def act_one(self, observation: np.ndarray) -> np.ndarray:
        return self.act(np.asarray(observation)[None])[0]


def load_benchmarl(path: str | Path, world: World, role: str = "local", seed: int = 0):
    """Load an actor saved by the benchmarl trainer as a policy."""
    try:
        import torch
    except ImportError as err:
        raise ValueError(f"loading {path} needs torch and BenchMARL (the benchmarl extra)") from err
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=False)
    except Exception as err:  # a damaged or foreign file: say which, whatever torch raised
        raise ValueError(f"{path} is not a readable saved BenchMARL actor: {err}") from err
    keys = {"format", "algorithm", "group", "n_agents", "observation_shape", "action_shape"}
    keys.add("actor")
    if not isinstance(saved, dict) or not keys <= set(saved):
        raise ValueError(f"{path} is not a saved BenchMARL actor (no actor and sizes in it)")
    saved["actor"].eval()
    return BenchMARLPolicy(saved, world, role, name=Path(path).name)


register_loader(".benchmarl", load_benchmarl)
