"""The BenchMARL task: the target-gaming world as a BenchMARL environment.

``TargetGamingTask`` is a BenchMARL ``Task`` enum with one member per scenario
(``TargetGamingTask.WHITEHALL``, ``.COALFIELD_SEASIDE``, ..., ``.JUG_4``, the names of
``SCENARIOS`` in capitals); ``get_task(config)`` makes its ``TargetGamingClass``, whose
environments are ``TargetGamingTorchEnv`` over the batched core (BenchMARL's
``n_envs_per_worker`` worlds in one call, no ``SerialEnv``). The task's config
(``TASK_DEFAULTS``): ``design``, ``centre_reward``, ``centre_policy``, ``overrides``
(fields of ``WorldConfig``), ``record_episodes`` (``TargetGamingTorchEnv``'s) and
``reward_scale`` (a fixed factor on the rewards the learners see, 1: none). A design
comparison trains the locals under a given centre: ``centre_policy`` (default
``"design"``, the design's own centre, ``Design.centre``) acts inside the env and
BenchMARL sees the one group ``local``; ``centre_policy: None`` exposes the group
``centre`` as well, for algorithms that train both.

BenchMARL's models take the group's ``observation`` entry (the metrics, and the centre's
``review`` flag, are infos: ``info_spec``); actions are continuous in [0, 1]. Episodes
last ``horizon`` steps (``max_steps``) and end by truncation only.

    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models import MlpConfig
    from target_gaming.training.benchmarl import TargetGamingTask

    task = TargetGamingTask.WHITEHALL.get_task({"design": "audited_targets"})
    Experiment(task, MappoConfig.get_from_yaml(), MlpConfig.get_from_yaml(), seed=0,
               config=ExperimentConfig.get_from_yaml()).run()
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from benchmarl.environments.common import Task, TaskClass
from torchrl.data import Composite
from torchrl.envs import EnvBase, RewardScaling, Transform

from target_gaming.envs.target_gaming import DESIGNS, SCENARIOS

from ..torchrl import TargetGamingTorchEnv

ENV_NAME = "target_gaming"
TASK_DEFAULTS: dict[str, Any] = {
    "design": "targets",
    "centre_reward": "political",
    "centre_policy": "design",  # the design's own centre inside the env; None: a group
    "overrides": {},
    "record_episodes": False,  # the envs keep each ended episode's summary (trainers' curves)
    "reward_scale": 1.0,  # a fixed factor on every reward the learners see
}


class TargetGamingClass(TaskClass):
    """A scenario of the target-gaming world, with ``TASK_DEFAULTS``'s config fields."""

    def __init__(self, name: str, config: dict[str, Any]):
        unknown = sorted(set(config) - set(TASK_DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown target-gaming task field(s) {unknown}; allowed: {sorted(TASK_DEFAULTS)}"
            )
        if name.lower() not in SCENARIOS:
            raise ValueError(f"unknown scenario {name.lower()!r}; known: {', '.join(SCENARIOS)}")
        full = {**copy.deepcopy(TASK_DEFAULTS), **config}
        if full["design"] not in DESIGNS:
            raise ValueError(
                f"task field design = {full['design']!r} is not allowed: one of "
                f"{', '.join(DESIGNS)}"
            )
        super().__init__(name=name, config=full)

    @property
    def scenario(self) -> str:
        return self.name.lower()

    def get_env_fun(
        self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
    ) -> Callable[[], EnvBase]:
        if not continuous_actions:
            raise ValueError("the target-gaming task has continuous actions only")
        config = copy.deepcopy(self.config)
        del config["reward_scale"]  # a transform (get_env_transforms), not the env's
        scenario = self.scenario
        return lambda: TargetGamingTorchEnv(
            scenario, num_envs=num_envs, seed=seed, device=device, **config
        )

    def get_env_transforms(self, env: EnvBase) -> list[Transform]:
        scale = float(self.config["reward_scale"])
        if scale == 1.0:
            return []
        keys = [(group, "reward") for group in self.group_map(env)]
        return [RewardScaling(loc=0.0, scale=scale, in_keys=keys)]

    def supports_continuous_actions(self) -> bool:
        return True

    def supports_discrete_actions(self) -> bool:
        return False

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return int(env.config.horizon)

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return env.group_map

    def observation_spec(self, env: EnvBase) -> Composite:
        """Each group's ``observation`` only (what BenchMARL's models read)."""
        spec = env.full_observation_spec_unbatched.clone()
        for group in self.group_map(env):
            for key in list(spec[group].keys()):
                if key != "observation":
                    del spec[(group, key)]
        return spec

    def info_spec(self, env: EnvBase) -> Composite | None:
        """Each group's metrics (``info``) and, for the centre, its ``review`` flag."""
        spec = env.full_observation_spec_unbatched.clone()
        for group in self.group_map(env):
            del spec[(group, "observation")]
        return spec

    def state_spec(self, env: EnvBase) -> Composite | None:
        return None

    def action_mask_spec(self, env: EnvBase) -> Composite | None:
        return None

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec_unbatched

    @staticmethod
    def env_name() -> str:
        return ENV_NAME


class TargetGamingTask(Task):
    """One member per scenario; ``get_task(config)`` with ``TASK_DEFAULTS``'s fields."""

    WHITEHALL = None
    COALFIELD_SEASIDE = None
    HOMOGENEOUS = None
    CAPACITY_GAP = None
    GRESHAM = None
    CASCADE_HEALTH = None
    CASCADE_EDUCATION = None
    JUG_1 = None
    JUG_2 = None
    JUG_3 = None
    JUG_4 = None

    @staticmethod
    def associated_class():
        return TargetGamingClass

    def get_task(self, config: dict[str, Any] | None = None) -> TaskClass:
        """The task with ``config`` over ``TASK_DEFAULTS`` (BenchMARL's own default would
        read a YAML file from its package, where this task has none)."""
        return self.associated_class()(name=self.name, config=dict(config or {}))
