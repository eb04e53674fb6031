"""Policies by name or path.

``load_policy("honest", world)`` builds a scripted policy; a path loads a
saved policy through the loader registered for its file suffix (the trainers
register theirs), so rollouts and evaluations treat scripted and learned
policies alike.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from target_gaming.envs.target_gaming import World

from .base import ROLES, Policy
from .centre import CENTRE_POLICIES
from .local import RULES
from .myopic import MyopicBestResponse

LOCAL_POLICIES: dict[str, type] = {**RULES, MyopicBestResponse.name: MyopicBestResponse}

SCRIPTED: dict[str, dict[str, type]] = {"local": LOCAL_POLICIES, "centre": CENTRE_POLICIES}

# suffix -> loader(path, world, role, seed) -> Policy
LOADERS: dict[str, Callable[..., Policy]] = {}
# suffix -> module that registers its loader when imported (imported on first use, so
# that scripted policies never pull in a deep-learning framework)
LAZY_LOADERS: dict[str, str] = {
    ".zip": "target_gaming.training.sb3.learned",
    ".rllib": "target_gaming.training.rllib.learned",
    ".benchmarl": "target_gaming.training.benchmarl.learned",
}


def register_loader(suffix: str, loader: Callable[..., Policy]) -> None:
    """Let ``load_policy`` open saved policies whose file name ends in ``suffix``."""
    LOADERS[suffix] = loader


def policy_params(cls: type) -> dict[str, Any]:
    """A scripted policy's parameters (beyond world and seed) and their defaults."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name not in ("self", "world", "seed") and p.kind in kinds
    }


def check_params(cls: type, role: str, params: dict[str, Any]) -> None:
    """Refuse parameters a scripted policy does not take, and a non-number where its
    default is a number, naming the policy, the parameter and what it takes."""
    known = policy_params(cls)
    for name, value in params.items():
        if name not in known:
            takes = ", ".join(known) if known else "none"
            raise ValueError(
                f"{role} policy {cls.name!r} has no parameter {name!r}; its parameters: {takes}"
            )
        default = known[name]
        number = (int, float)
        if isinstance(default, number) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, number):
                raise ValueError(
                    f"{role} policy {cls.name!r}: {name} = {value!r} is not allowed: a number"
                )


def load_policy(spec: str, world: World, role: str = "local", seed: int = 0, **params: Any):
    """A policy for ``role`` from a scripted name or a saved file's path."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    known = SCRIPTED[role]
    if isinstance(spec, str) and spec in known:
        check_params(known[spec], role, params)
        return known[spec](world, seed=seed, **params)
    if not isinstance(spec, (str, Path)) or not str(spec):
        raise ValueError(
            f"{role} policy {spec!r} is not allowed: a scripted policy ({', '.join(known)}) "
            "or a saved policy's path"
        )
    path = Path(spec)
    if path.suffix in {*LOADERS, *LAZY_LOADERS} and not path.exists():
        raise ValueError(f"{role} policy file {path} does not exist")
    if path.suffix and path.exists():
        if params:
            raise ValueError(
                f"a saved policy ({path}) takes no parameters; got {', '.join(sorted(params))}"
            )
        if path.suffix not in LOADERS and path.suffix in LAZY_LOADERS:
            importlib.import_module(LAZY_LOADERS[path.suffix])
        if path.suffix not in LOADERS:
            raise ValueError(
                f"no loader for {path.suffix!r} files ({path}); "
                f"loaders are registered for: {', '.join(LOADERS) or 'none'}"
            )
        return LOADERS[path.suffix](path, world, role=role, seed=seed, **params)
    raise ValueError(
        f"unknown {role} policy {spec!r}: not a scripted policy ({', '.join(known)}) "
        "nor an existing saved policy file"
    )
