"""The training run's configuration: typed, frozen dataclasses validated on construction.

``TrainConfig`` says what to train (mode, scenario, design, opponents), for how
long, and where to write; ``PPOConfig`` holds one learner's PPO settings (the
local agents' ``ppo`` and the centre's ``centre_ppo``). Both load from plain
dicts (``from_dict``, JSON files) and fail on unknown fields or bad values with
a message that names the field, the value and what is allowed.

Budgets are counted in SB3 timesteps, i.e. slot-steps: a local timestep is one
step of one local agent (B x N per world step); a centre timestep is one
decision (one review period) of one central agent.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_gaming.agents import CENTRE_POLICIES, LOCAL_POLICIES, design_centre
from target_gaming.agents.centre_actions import CENTRE_ACTIONS
from target_gaming.envs.target_gaming import CENTRE_REWARDS, DESIGNS, SCENARIOS, make_config
from target_gaming.envs.target_gaming.config import (
    WorldConfig,
    check_known,
    check_number,
    check_ranges,
    fail,
    is_number,
)

from .errors import UserError, read_json_object

MODES = ("locals", "centre", "two_level")
RLLIB_FIELDS = ("centre_action", "centre_warmup")  # how the rllib backend's centre learns


# Validation uses the world config's helpers (``fail``, ``check_ranges``, ...), with Python
# numbers only (``numpy=False``): these configs are written as JSON.
_PPO_RANGES = {
    "n_steps": (1, 100_000, True),
    "batch_size": (2, 10_000_000, True),
    "n_epochs": (1, 1000, True),
    "learning_rate": (1e-8, 1.0, False),
    "gamma": (0.0, 1.0, False),
    "gae_lambda": (0.0, 1.0, False),
    "ent_coef": (0.0, 1.0, False),
    "clip_range": (1e-4, 10.0, False),
    "log_std_init": (-10.0, 2.0, False),
}


@dataclass(frozen=True)
class PPOConfig:
    """One learner's PPO settings (SB3 names); ``n_steps`` is per slot per rollout."""

    n_steps: int = 16  # x B x N slots: 6144 samples per rollout at the defaults
    batch_size: int = 1024
    n_epochs: int = 5
    learning_rate: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    clip_range: float = 0.2
    net_arch: tuple[int, ...] = (64, 64)
    log_std_init: float = -0.5  # initial exploration: std ~0.6 over actions in [0, 1]
    normalize_reward: bool = True  # scale rewards by a running std of the return (VecNormalize)

    def __post_init__(self) -> None:
        check_ranges(type(self).__name__, self, _PPO_RANGES, numpy=False)
        if not isinstance(self.normalize_reward, bool):
            fail("PPOConfig", "normalize_reward", self.normalize_reward, "true or false")
        arch = self.net_arch
        if not (
            isinstance(arch, tuple)
            and 1 <= len(arch) <= 8
            and all(isinstance(u, int) and not isinstance(u, bool) and 1 <= u <= 4096 for u in arch)
        ):
            fail("PPOConfig", "net_arch", arch, "a tuple of 1-8 layer sizes, each in [1, 4096]")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        check_known(cls.__name__, data, [f.name for f in dataclasses.fields(cls)])
        fixed = dict(data)
        if isinstance(fixed.get("net_arch"), list):
            fixed["net_arch"] = tuple(fixed["net_arch"])
        return cls(**fixed)

    def algorithm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``stable_baselines3.PPO`` (with ``policy_kwargs``)."""
        kwargs = {n: getattr(self, n) for n in _PPO_RANGES if n != "log_std_init"}
        kwargs["policy_kwargs"] = {
            "net_arch": list(self.net_arch),
            "log_std_init": self.log_std_init,
        }
        return kwargs


# The centre decides once per review period over B environments, so its rollouts are
# short in steps and its batches small.
CENTRE_PPO = PPOConfig(n_steps=20, batch_size=320, n_epochs=10, ent_coef=0.001, gamma=0.95)

SAVED = (".zip", ".rllib")  # the suffixes of saved policies (SB3's, RLlib's)

_TRAIN_RANGES = {
    "seed": (0, 2**32 - 1, True),
    "timesteps": (1, 10**10, True),
    "rounds": (0, 1000, True),
    "round_timesteps": (1, 10**10, True),
    "centre_timesteps": (1, 10**10, True),
    "n_envs": (1, 100_000, True),
    "checkpoint_every": (0, 10**10, True),
    "eval_episodes": (1, 100_000, True),
    "torch_threads": (1, 256, True),
    "centre_warmup": (0.0, 1.0, False),
}


@dataclass(frozen=True)
class TrainConfig:
    """One training run (``target-gaming train``); see README "Training".

    - ``mode``: ``locals`` (the local agents learn under the scripted or saved
      ``centre_policy``), ``centre`` (the centre learns against the frozen
      ``local_policy``), ``two_level`` (phase 1 as ``locals``; then ``rounds``
      rounds in which the centre learns against the frozen locals for
      ``centre_timesteps``, then the locals re-learn against the frozen centre for
      ``round_timesteps``; the centre's exploration is annealed over rounds).
    - ``timesteps``: the learner's budget in ``locals`` and ``centre`` mode, and the
      locals' phase-1 budget in ``two_level`` mode.
    - ``centre_log_std``: (first round, last round) caps on the centre's policy
      log-std in ``two_level`` mode, interpolated linearly over rounds; the centre's
      ``ent_coef`` falls linearly from ``centre_ppo.ent_coef`` to 0 over the same rounds.
      On the rllib backend, the centre's log-std itself, (first iteration, last
      iteration), interpolated linearly over the iterations after ``centre_warmup``.
    - ``centre_warmup``: on the rllib backend, the share of the run's iterations in which
      the centre's policy does not learn (its value function does): it acts on its
      initial output (zero: the world's starting rule, ``ratchet`` for ``relative``) with
      no noise while the locals learn against it, the AI Economist's phase 1; then it
      learns jointly with them. 1 holds it all run (a control); 0 (default): it learns
      from the start.
    - ``centre_action``: how a learned centre's action becomes the world's
      (``target_gaming.agents.centre_actions``): ``absolute`` (the world's own) or
      ``relative`` (per-locality departures from the ratchet's next target). The rllib
      backend's; sb3's and benchmarl's runs keep ``absolute``.
    - ``checkpoint_every``: save each learner every so many of its timesteps (0: only
      at the end of each stage).
    - ``overrides``: world config fields on top of the scenario's.
    """

    scenario: str = "whitehall"
    design: str = "targets"
    centre_reward: str = "political"
    mode: str = "locals"
    centre_policy: str | None = None  # scripted name or saved .zip/.rllib; None: the design's own
    centre_params: dict[str, Any] = field(default_factory=dict)  # of a scripted centre_policy
    local_policy: str = "honest"  # the frozen locals of ``centre`` mode
    seed: int = 0
    timesteps: int = 1_000_000
    rounds: int = 2
    round_timesteps: int = 500_000
    centre_timesteps: int = 100_000
    n_envs: int = 64
    ppo: PPOConfig = field(default_factory=PPOConfig)
    centre_ppo: PPOConfig = CENTRE_PPO
    centre_log_std: tuple[float, float] = (-0.5, -1.5)
    centre_action: str = "absolute"
    centre_warmup: float = 0.0
    checkpoint_every: int = 100_000
    eval_episodes: int = 32
    out: str = "runs/train"
    overrides: dict[str, Any] = field(default_factory=dict)
    torch_threads: int = 1
    progress_bar: bool = True

    def __post_init__(self) -> None:
        check_ranges(type(self).__name__, self, _TRAIN_RANGES, numpy=False)
        own = "TrainConfig"
        for name, known in (
            ("scenario", SCENARIOS),
            ("design", DESIGNS),
            ("centre_reward", CENTRE_REWARDS),
            ("mode", MODES),
        ):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in known:
                fail(own, name, value, f"one of {', '.join(known)}")
        for name, known in (("centre_policy", CENTRE_POLICIES), ("local_policy", LOCAL_POLICIES)):
            value = getattr(self, name)
            if name == "centre_policy" and value is None:
                continue  # the design's own centre
            if not isinstance(value, str) or not (value in known or value.endswith(SAVED)):
                fail(
                    own,
                    name,
                    value,
                    f"one of {', '.join(known)}, or a saved policy's path (.zip or .rllib)",
                )
        if not isinstance(self.centre_action, str) or self.centre_action not in CENTRE_ACTIONS:
            fail(own, "centre_action", self.centre_action, f"one of {', '.join(CENTRE_ACTIONS)}")
        for name in ("ppo", "centre_ppo"):
            if not isinstance(getattr(self, name), PPOConfig):
                fail(own, name, getattr(self, name), "a PPOConfig")
        pair = self.centre_log_std
        if not (isinstance(pair, tuple) and len(pair) == 2):
            fail(own, "centre_log_std", pair, "a pair (first round, last round)")
        for value in pair:
            check_number(own, "centre_log_std", value, -10.0, 2.0, False, numpy=False)
        if not isinstance(self.out, str) or not self.out:
            fail(own, "out", self.out, "a non-empty folder path")
        if not isinstance(self.progress_bar, bool):
            fail(own, "progress_bar", self.progress_bar, "true or false")
        if not isinstance(self.overrides, dict):
            fail(own, "overrides", self.overrides, "a mapping of world config fields")
        if not isinstance(self.centre_params, dict):
            fail(own, "centre_params", self.centre_params, "a mapping of the centre's parameters")
        if self.centre_params and self.centre not in CENTRE_POLICIES:
            fail(own, "centre_params", self.centre_params, "none: a saved centre takes none")
        if self.centre_params and self.mode == "centre":
            fail(own, "centre_params", self.centre_params, "none in mode centre: it learns")
        try:
            make_config(self.scenario, **self.overrides)
        except (ValueError, TypeError) as err:
            raise ValueError(f"TrainConfig.overrides: {err}") from err

    # ---- derived -------------------------------------------------------------------
    @property
    def world_config(self) -> WorldConfig:
        """The world the run trains in: its scenario with its overrides."""
        return make_config(self.scenario, **self.overrides)

    @property
    def centre(self) -> str:
        """The centre of ``locals`` mode and phase 1: ``centre_policy``, or the design's own
        (``Design.centre``) when it is None."""
        return design_centre(self.design, self.centre_policy)

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    def ppo_for(self, role: str) -> PPOConfig:
        """The PPO settings of the learner of ``role`` ("local" or "centre")."""
        return self.ppo if role == "local" else self.centre_ppo

    @property
    def roles(self) -> tuple[str, ...]:
        """The learners of this run: "local", "centre" or both."""
        return {"locals": ("local",), "centre": ("centre",), "two_level": ("local", "centre")}[
            self.mode
        ]

    # ---- dicts and JSON ------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        check_known(cls.__name__, data, [f.name for f in dataclasses.fields(cls)])
        fixed = dict(data)
        for name in ("ppo", "centre_ppo"):
            if isinstance(fixed.get(name), dict):
                base = dataclasses.asdict(cls._defaults()[name])
                fixed[name] = PPOConfig.from_dict({**base, **fixed[name]})
        if isinstance(fixed.get("centre_log_std"), list):
            fixed["centre_log_std"] = tuple(fixed["centre_log_std"])
        return cls(**fixed)

    @staticmethod
    def _defaults() -> dict[str, PPOConfig]:
        return {"ppo": PPOConfig(), "centre_ppo": CENTRE_PPO}

    @classmethod
    def from_json(cls, path: str | Path, what: str = "config") -> TrainConfig:
        """The config in a JSON file; every failure names the file (``what`` says what it
        is: ``"--config"``, ``"the run's config"``)."""
        data = read_json_object(path, what, "TrainConfig fields")
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise UserError(f"{what} {path}: {err}") from err

    def refuse_rllib_fields(self, backend: str) -> None:
        """Refuse, for ``backend``, a run that sets a field only the rllib backend's learned
        centre reads (``RLLIB_FIELDS``), naming the field and its value."""
        for name in RLLIB_FIELDS:
            value = getattr(self, name)
            if value != getattr(TrainConfig, name):
                raise ValueError(
                    f"{name} = {value!r} is the rllib backend's; {backend}'s centre keeps "
                    f"{name} {getattr(TrainConfig, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


# ---- the command line ----------------------------------------------------------------
# flag -> TrainConfig field, for the flags that set one field each
_FLAGS = {
    "scenario": str,
    "design": str,
    "centre_reward": str,
    "mode": str,
    "centre_policy": str,
    "local_policy": str,
    "centre_action": str,
    "centre_warmup": float,
    "seed": int,
    "timesteps": int,
    "rounds": int,
    "round_timesteps": int,
    "centre_timesteps": int,
    "n_envs": int,
    "checkpoint_every": int,
    "eval_episodes": int,
    "out": str,
    "torch_threads": int,
}
_FLAG_HELP = {
    "scenario": f"one of {', '.join(SCENARIOS)}",
    "design": f"one of {', '.join(DESIGNS)}",
    "centre_reward": f"one of {', '.join(CENTRE_REWARDS)}",
    "mode": f"one of {', '.join(MODES)}",
    "rounds": "two_level: rounds of centre-then-locals learning after phase 1",
    "round_timesteps": "two_level: the locals' budget per round",
    "centre_timesteps": "two_level: the centre's budget (decisions) per round",
    "checkpoint_every": "save each learner every so many of its timesteps (0: stage ends)",
    "eval_episodes": "episodes of the final deterministic evaluation",
    "out": "the run's folder (default runs/train)",
    "centre_policy": "the centre in locals mode and phase 1: a scripted name, a .zip or .rllib "
    "path (default: the design's own, fixed_targets but risk_based_audits for targeted_audits)",
    "local_policy": "the frozen locals in centre mode: a scripted name, a .zip or .rllib path",
    "centre_action": f"how a learned centre's action sets targets: {', '.join(CENTRE_ACTIONS)} "
    "(relative: departures from ratchet's next target; the rllib backend's; docs/agents.md)",
    "centre_warmup": "rllib: the share of the run before the centre's policy learns (it "
    "holds its starting rule meanwhile; 1: all run)",
    "timesteps": "the learner's budget (locals: local agent-steps; centre: decisions)",
    "n_envs": "B, environments stepped together",
}


def parse_assignment(text: str) -> tuple[str, Any]:
    """``field=value``; the value is read as a Python literal when it is one."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected field=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer in [low, high], else the flag's one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not is_number(value, low, high, integer=True, numpy=False):
            raise argparse.ArgumentTypeError(
                f"{value} is not allowed: an integer in [{low}, {high}]"
            )
        return value

    parse.__name__ = "int"
    return parse


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``target-gaming train``; each overrides --config's value."""
    parser.add_argument("--config", type=Path, help="a JSON file of TrainConfig fields")
    for name, kind in _FLAGS.items():
        flags = ["--" + name.replace("_", "-")] + (["--centre"] if name == "centre_policy" else [])
        if kind is int:  # the range is checked as the flag is read, naming the flag
            kind = int_in(*_TRAIN_RANGES[name][:2])
        parser.add_argument(*flags, dest=name, type=kind, default=None, help=_FLAG_HELP.get(name))
    for name in ("ppo", "centre_ppo"):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=parse_assignment,
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help=f"a PPO setting of the {'locals' if name == 'ppo' else 'centre'}, "
            "e.g. n_steps=128 or net_arch=(64,64)",
        )
    parser.add_argument(
        "--set",
        dest="overrides",
        type=parse_assignment,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a world config field, e.g. --set n_localities=8",
    )
    parser.add_argument(
        "--centre-param",
        dest="centre_params",
        type=parse_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the scripted centre, e.g. --centre-param target_level=0.7",
    )
    parser.add_argument("--progress-bar", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its latest checkpoints (its config.json)",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then --config (or, with --resume, the run's config.json), then flags.

    ``--resume`` without ``--config`` needs a run in the folder (``--out``, default
    runs/train): a folder without one is refused, not started afresh. An error in the file
    names it; one from a flag names the field.
    """
    data: dict[str, Any] = {}
    folder = Path(args.out or TrainConfig.out)
    source, what = None, "--config"
    if args.config is not None:
        source = args.config
    elif args.resume:
        source, what = folder / "config.json", "the run's config"
        if not source.is_file():
            raise UserError(
                f"--resume: {folder} holds no run (no config.json); "
                "drop --resume to start a new run there"
            )
    if source is not None:
        data = read_json_object(source, what, "TrainConfig fields")
    given = dict(data)
    data.update({n: getattr(args, n) for n in _FLAGS if getattr(args, n) is not None})
    for name in ("ppo", "centre_ppo", "overrides", "centre_params"):
        if getattr(args, name):
            base = data.get(name, {})
            if isinstance(base, dict):  # else the file's bad value is refused below
                data[name] = {**base, **dict(getattr(args, name))}
    if args.progress_bar is not None:
        data["progress_bar"] = args.progress_bar
    try:
        return TrainConfig.from_dict(data)
    except ValueError as err:
        if source is not None and _same_error(given, err):  # the file's own error
            raise UserError(f"{what} {source}: {err}") from err
        raise


def _same_error(data: dict[str, Any], err: ValueError) -> bool:
    """Whether ``data`` alone fails as the merged config did (so the file is at fault)."""
    try:
        TrainConfig.from_dict(data)
    except ValueError as own:
        return str(own) == str(err)
    return False
