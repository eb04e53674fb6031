"""The centre comparison's settings, its presets, and the one-cell grid of each arm and seed.

``CentreStudyConfig`` is what ``target-gaming centres --config FILE`` reads; ``PRESETS``
are the named ones. The study holds one design and one scenario fixed and compares
*arms*, the ways a centre can govern:

- every scripted centre rule of ``SCRIPTED`` (``target_gaming.agents.CENTRE_POLICIES``);
- ``best_constant``: the best ``constant_rule`` (one target level, an audit rate) of a
  small search over ``search.target_level`` x ``search.audit_rate``, each candidate
  trained and evaluated on ``search.seeds`` first (its arm ``constant_rule@<tau>,<r>``;
  seeds apart from the study's, so the rule is judged on seeds that did not pick it),
  the best by the centre's own mean reward then run on every seed;
- ``two_level``: the centre learns (SB3, ``train --mode two_level``: the locals first,
  then rounds of centre-then-locals), with ``two_level``'s TrainConfig fields; its
  ``centre_policy`` is the scripted centre of phase 1 (default: the design's own);
- ``rllib``: the centre and the locals learn jointly on Ray RLlib, with ``rllib``'s;
- ``stackelberg``: the centre learns its rule as a leader (``stackelberg.py``): CMA-ES
  over the parameters of ``relative_rule`` (ratchet rate, offset, audit focus, and with
  the prescription lever the strength it prescribes the nationally best approach at),
  from the ratchet's targets, each candidate judged by the centre's mean reward after locals
  trained against it on ``stackelberg.seeds`` (arms ``relative_rule@<rate>,<offset>,
  <focus>[,<prescribe>]``); the rule at the strategy's mean after the last generation then runs on
  every seed as ``stackelberg``. Not among the default arms (its search trains
  generations x population x seeds cells).

Every arm's locals are trained against that arm's centre (its cell trains under it, or
with it) and evaluated with it, on fresh seeds and held-out variants: a centre is never
judged against locals trained for another. ``reference`` arms run other designs under
their own centre for scale: ``oracle_outcomes``, which pays on the truth, bounds the
true welfare a centre could hope to reach. Each arm and seed is a one-cell
``CompareConfig`` (``arm_config``) under ``runs/<arm>/`` of the output folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_gaming.agents import CENTRE_POLICIES
from target_gaming.agents.centre import RelativeRule
from target_gaming.envs.target_gaming import CENTRE_REWARDS, DESIGNS, SCENARIOS, make_config

from ..compare.grid import MAX_SEED, Cell, CompareConfig, distinct_seeds
from ..errors import UserError, fields_of, read_json_object
from ..validate.config import check_budget

# the rules a centre governs by: not constant_rule (the search's, as best_constant),
# relative_rule (the stackelberg centre's family; at its defaults, ratchet), random_rule
# (targets drawn at random: a curriculum's first phase, not a rule) nor prescriptive
# (it needs the world's prescription lever: an arm of studies whose overrides set it)
PRESCRIPTIVE = "prescriptive"
SCRIPTED = tuple(
    n
    for n in CENTRE_POLICIES
    if n not in ("constant_rule", "relative_rule", "random_rule", PRESCRIPTIVE)
)
BEST_CONSTANT = "best_constant"
LEARNED = ("two_level", "rllib")
STACKELBERG = "stackelberg"
ARMS = (*SCRIPTED, PRESCRIPTIVE, BEST_CONSTANT, *LEARNED, STACKELBERG)
DEFAULT_ARMS = (*SCRIPTED, BEST_CONSTANT, *LEARNED)
LEARNED_CENTRES = (*LEARNED, STACKELBERG)  # the arms whose centre learns
SEARCH_PREFIX = "constant_rule@"
RULE_PREFIX = "relative_rule@"
# the rule's parameters every stackelberg search learns, and the one it learns too where the
# study's world has the prescription lever (the strength of the nationally best approach)
RULE_PARAMS = ("ratchet_rate", "offset", "audit_focus")
PRESCRIBE = "prescribe"
LEVERED_RULE_PARAMS = (*RULE_PARAMS, PRESCRIBE)
assert set(RelativeRule.PARAMS) == set(LEVERED_RULE_PARAMS)
OFFSET = CompareConfig.eval_seed_offset
_TUPLES = ("seeds", "centres", "references")


@dataclass(frozen=True)
class CentreStudyConfig:
    """One design in one scenario under every arm (see the module docstring)."""

    scenario: str = "whitehall"
    design: str = "targeted_audits"
    centre_reward: str = "welfare"
    # world config fields on top of the scenario's, for every arm (e.g. the prescription
    # lever, {"prescription": true}); the held-out variants' apply on top of them
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    centres: tuple[str, ...] = DEFAULT_ARMS
    references: tuple[str, ...] = ("oracle_outcomes",)
    timesteps: int = 300_000  # the locals' budget (two_level: phase 1's)
    n_envs: int = 64
    checkpoint_every: int = 100_000
    eval_episodes: int = 16
    # a learned centre sets one target and audit weight per locality: its variants keep
    # the localities and vary how unlike each other they are
    held_out: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"held_out": {"heterogeneity": 0.8}}
    )
    search: dict[str, Any] = field(
        default_factory=lambda: {
            "target_level": [0.35, 0.5, 0.65],
            "audit_rate": [0.0, 1 / 6, 1 / 3, 0.5],
            "seeds": [100],
        }
    )
    two_level: dict[str, Any] = field(
        default_factory=lambda: {
            "rounds": 3,
            "round_timesteps": 100_000,
            "centre_timesteps": 50_000,
        }
    )
    rllib: dict[str, Any] = field(default_factory=dict)
    # the stackelberg arm's outer loop: CMA-ES generations of population candidates, each
    # trained and evaluated on seeds (none of the study's or the search's); sigma, the
    # first step in each parameter's range scaled to [0, 1]; seed, the strategy's
    stackelberg: dict[str, Any] = field(
        default_factory=lambda: {
            "generations": 5,
            "population": 8,
            "sigma": 0.2,
            "seeds": [200, 201],
            "seed": 0,
        }
    )
    ppo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value, known in (
            ("scenario", self.scenario, SCENARIOS),
            ("design", self.design, DESIGNS),
            ("centre_reward", self.centre_reward, CENTRE_REWARDS),
        ):
            if not isinstance(value, str) or value not in known:
                _fail(name, value, f"one of {', '.join(known)}")
        if not isinstance(self.overrides, dict):
            _fail("overrides", self.overrides, "a mapping of world config fields")
        try:
            world = make_config(self.scenario, **self.overrides)
        except (ValueError, TypeError) as err:
            raise UserError(f"centre study overrides: {err}") from None
        top = MAX_SEED - OFFSET
        if not distinct_seeds(self.seeds, top):
            _fail("seeds", self.seeds, f"a list of distinct integers in [0, {top}], at least one")
        _names("centres", self.centres, ARMS)
        if PRESCRIPTIVE in self.centres and not world.prescription:
            _fail(
                "centres",
                self.centres,
                f"{PRESCRIPTIVE!r} only with the prescription lever (overrides "
                '{"prescription": true}): without it, it is fixed_targets',
            )
        if DESIGNS[self.design].audits != "centre":
            allocating = [c for c in self.centres if c in ("random_audits", "risk_based_audits")]
            if allocating:
                _fail(
                    "centres",
                    self.centres,
                    f"no {allocating} with design {self.design!r}: it does not let the centre "
                    "allocate audits, so they would repeat fixed_targets",
                )
        if not isinstance(self.references, tuple) or any(
            d not in DESIGNS or d == self.design for d in self.references
        ):
            _fail("references", self.references, f"designs other than {self.design!r}")
        check_budget(self, _fail)
        for name in ("held_out", "search", "two_level", "rllib", "stackelberg", "ppo"):
            if not isinstance(getattr(self, name), dict):
                _fail(name, getattr(self, name), "a mapping")
        self._check_search()
        self._check_stackelberg()

    def _check_search(self) -> None:
        search = self.search
        if BEST_CONSTANT not in self.centres:
            return
        if set(search) != {"target_level", "audit_rate", "seeds"}:
            _fail("search", search, "a mapping with target_level, audit_rate and seeds (lists)")
        world = make_config(self.scenario, **self.overrides)
        ranges = {
            "target_level": (world.target_min, world.target_max),
            "audit_rate": (0.0, min(world.n_audits, world.n_localities) / world.n_localities),
        }
        for key, (low, high) in ranges.items():
            values = search[key]
            if not (
                isinstance(values, (list, tuple))
                and values
                and all(_is_number(v) and low <= v <= high for v in values)
                and len({f"{v:.6g}" for v in values}) == len(values)
            ):
                _fail(f"search.{key}", values, f"a list of distinct numbers in [{low}, {high:.6g}]")
        if DESIGNS[self.design].audits != "centre" and len(search["audit_rate"]) > 1:
            _fail(
                "search.audit_rate",
                search["audit_rate"],
                f"one value: design {self.design!r} does not let the centre allocate audits",
            )
        seeds = search["seeds"]
        if not isinstance(seeds, (list, tuple)) or not distinct_seeds(
            tuple(seeds), MAX_SEED - OFFSET
        ):
            _fail("search.seeds", seeds, "a list of distinct seeds")
        if set(seeds) & set(self.seeds):
            _fail(
                "search.seeds",
                seeds,
                f"seeds other than the study's {list(self.seeds)}: best_constant is judged on "
                "seeds that did not pick it",
            )

    def _check_stackelberg(self) -> None:
        if STACKELBERG not in self.centres:
            return
        outer = self.stackelberg
        keys = {"generations", "population", "sigma", "seeds", "seed"}
        if set(outer) != keys:
            _fail("stackelberg", outer, f"a mapping with {', '.join(sorted(keys))}")
        limits = (("generations", 1, 100), ("population", 2, 100), ("seed", 0, MAX_SEED))
        for name, low, high in limits:
            if not _is_int(outer[name], low, high):
                _fail(f"stackelberg.{name}", outer[name], f"an integer in [{low}, {high}]")
        if not (_is_number(outer["sigma"]) and 0.0 < outer["sigma"] <= 0.5):
            _fail("stackelberg.sigma", outer["sigma"], "a number in (0, 0.5]")
        seeds = outer["seeds"]
        if not isinstance(seeds, (list, tuple)) or not distinct_seeds(
            tuple(seeds), MAX_SEED - OFFSET
        ):
            _fail("stackelberg.seeds", seeds, "a list of distinct seeds")
        taken = set(self.seeds) | (
            set(self.search.get("seeds", ())) if BEST_CONSTANT in self.centres else set()
        )
        if set(seeds) & taken:
            _fail(
                "stackelberg.seeds",
                seeds,
                f"seeds other than the study's and the search's {sorted(taken)}: the learned "
                "rule is judged on seeds that did not train it",
            )

    def rule_space(self) -> tuple[str, ...]:
        """The ``relative_rule`` parameters its stackelberg search learns: ``RULE_PARAMS``,
        and ``prescribe`` where the world has the prescription lever."""
        lever = make_config(self.scenario, **self.overrides).prescription
        return LEVERED_RULE_PARAMS if lever else RULE_PARAMS

    # ---- arms ----------------------------------------------------------------------------
    def candidates(self) -> tuple[str, ...]:
        """The search's arms, ``constant_rule@<target_level>,<audit_rate>``."""
        if BEST_CONSTANT not in self.centres:
            return ()
        return tuple(
            f"{SEARCH_PREFIX}{tau:.6g},{rate:.6g}"
            for tau in self.search["target_level"]
            for rate in self.search["audit_rate"]
        )

    def first_arms(self) -> tuple[str, ...]:
        """The arms that run first: every one but ``best_constant`` and ``stackelberg``
        (whose rules their searches pick), then the references."""
        arms = [a for a in self.centres if a not in (BEST_CONSTANT, STACKELBERG)]
        return (*arms, *self.candidates(), *self.references)

    def seeds_of(self, arm: str) -> tuple[int, ...]:
        if arm.startswith(SEARCH_PREFIX):
            return tuple(self.search["seeds"])
        if arm.startswith(RULE_PREFIX):
            return tuple(self.stackelberg["seeds"])
        return self.seeds

    def design_of(self, arm: str) -> str:
        return arm if arm in self.references else self.design

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CentreStudyConfig:
        return cls(**fields_of(cls, data, "a centre study", _TUPLES))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def constant_params(arm: str) -> dict[str, float]:
    """The parameters of a search arm: ``constant_rule@0.62,0.3333`` -> its two numbers."""
    tau, rate = arm[len(SEARCH_PREFIX) :].split(",")
    return {"target_level": float(tau), "audit_rate": float(rate)}


def rule_arm(params: dict[str, float]) -> str:
    """The arm of one ``relative_rule``: ``relative_rule@<rate>,<offset>,<focus>``, and
    ``,<prescribe>`` where ``params`` has it, each to 4 decimals (the rule its cells train
    under)."""
    names = LEVERED_RULE_PARAMS if PRESCRIBE in params else RULE_PARAMS
    return RULE_PREFIX + ",".join(f"{params[k]:.4f}" for k in names)


def rule_params(arm: str) -> dict[str, float]:
    """The parameters of a ``relative_rule`` arm: ``rule_arm``'s inverse."""
    values = arm[len(RULE_PREFIX) :].split(",")
    names = LEVERED_RULE_PARAMS if len(values) > len(RULE_PARAMS) else RULE_PARAMS
    return {k: float(v) for k, v in zip(names, values, strict=True)}


def arm_config(
    config: CentreStudyConfig, arm: str, seed: int, best: str | None = None
) -> CompareConfig:
    """The one-cell grid of ``arm`` and ``seed`` (``best``: for ``best_constant``, the
    search arm it runs; for ``stackelberg``, the learned rule's arm)."""
    train: dict[str, Any] = {
        "timesteps": config.timesteps,
        "n_envs": config.n_envs,
        "checkpoint_every": config.checkpoint_every,
        "centre_reward": config.centre_reward,
    }
    if config.ppo:
        train["ppo"] = dict(config.ppo)
    if config.overrides:
        train["overrides"] = dict(config.overrides)
    centre, trainer = None, "sb3"
    if arm in (BEST_CONSTANT, STACKELBERG):
        if best is None:
            raise ValueError(f"{arm} runs the rule its search picked: pass best")
        arm = best
    if arm.startswith(SEARCH_PREFIX):
        centre, train["centre_params"] = "constant_rule", constant_params(arm)
    elif arm.startswith(RULE_PREFIX):
        centre, train["centre_params"] = "relative_rule", rule_params(arm)
    elif arm in SCRIPTED or arm == PRESCRIPTIVE:
        centre = arm
    elif arm == "two_level":  # phase 1 under two_level's centre_policy, or the design's own
        phase = dict(config.two_level)
        centre = phase.pop("centre_policy", None)
        train |= {"mode": "two_level", **phase}
    elif arm == "rllib":
        trainer, train = "rllib", {**train, **config.rllib}
    try:
        return CompareConfig(
            designs=(config.design_of(arm),),
            seeds=(seed,),
            scenarios=(config.scenario,),
            train=train,
            centre_policy=centre,
            eval_episodes=config.eval_episodes,
            held_out={k: dict(v) for k, v in config.held_out.items()},
            baselines=(),
            trainer=trainer,
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"centre arm {arm} (seed {seed}): {err}") from err


def arm_root(root: Path, arm: str) -> Path:
    """The folder under which ``arm``'s cells live (``runs/<design>/seed<k>/``)."""
    return Path(root) / "runs" / arm.replace("@", "-").replace(",", "_")


def arm_cell(config: CentreStudyConfig, arm: str, seed: int) -> Cell:
    return Cell(config.scenario, config.design_of(arm), seed)


# the stackelberg search of the quick-budget presets: 5 generations of 6, two seeds each
_QUICK_LEADER = {"generations": 5, "population": 6, "sigma": 0.2, "seeds": [200, 201], "seed": 0}

PRESETS: dict[str, dict[str, Any]] = {
    # 3 seeds, 300k local steps: every arm, a 3 x 4 search on one seed of its own
    "quick": {},
    # the goal's grid: 5 seeds, 1M local steps; a 5 x 4 search on two seeds of its own
    "standard": {
        "seeds": (0, 1, 2, 3, 4),
        "timesteps": 1_000_000,
        "eval_episodes": 32,
        "search": {
            "target_level": [0.3, 0.4, 0.5, 0.62, 0.75],
            "audit_rate": [0.0, 1 / 6, 1 / 3, 0.5],
            "seeds": [100, 101],
        },
        "two_level": {"rounds": 4, "round_timesteps": 250_000, "centre_timesteps": 100_000},
    },
    # the standard budget with the RLlib centre's targets departures from the ratchet's
    # next target, locality by locality (centre_action relative), held at the ratchet for
    # the first half of the run while the locals learn (centre_warmup), against the best
    # scripted centre of the standard study and the oracle
    "relative": {
        "seeds": (0, 1, 2, 3, 4),
        "timesteps": 1_000_000,
        "eval_episodes": 32,
        "centres": ("ratchet", "rllib"),
        "rllib": {"centre_action": "relative", "centre_warmup": 0.5},
    },
    # the standard budget with the stackelberg centre (its rule learned by CMA-ES against
    # locals re-trained for each candidate: 5 generations of 6, each candidate on 4 seeds
    # of its own, as the locals' training varies more from seed to seed than candidates
    # near the ratchet differ) against the two scripted rules its family joins (ratchet's
    # targets, risk_based_audits' audits) and the oracle, on 10 seeds: over 5, the
    # ratchet's own interval spans 0.04 of true welfare, the gap to the oracle
    "stackelberg": {
        "seeds": tuple(range(10)),
        "timesteps": 1_000_000,
        "eval_episodes": 32,
        "centres": ("ratchet", "risk_based_audits", STACKELBERG),
        "stackelberg": {
            "generations": 5,
            "population": 6,
            "sigma": 0.2,
            "seeds": [200, 201, 202, 203],
            "seed": 0,
        },
    },
    # the quick budget under the political centre reward (targets hit, measures up): does
    # a centre paid on its measures learn to set easy targets?
    "political": {
        "centre_reward": "political",
        "centres": (
            "fixed_targets",
            "uniform_national",
            "risk_based_audits",
            BEST_CONSTANT,
            *LEARNED,
        ),
        "search": {
            "target_level": [0.35, 0.5, 0.65, 0.8],
            "audit_rate": [0.0, 1 / 3],
            "seeds": [100],
        },
    },
    # the quick budget with the stackelberg centre under the political centre reward: does
    # a leader paid on its measures learn easy targets, and audits away from gaming?
    "stackelberg_political": {
        "centre_reward": "political",
        "centres": ("ratchet", STACKELBERG),
        "stackelberg": dict(_QUICK_LEADER),
    },
    # the prescription lever at the quick budget, where localities differ (coalfield_seaside:
    # the odd ones' best approach is the nationally worst) and where they are alike: local
    # choice (fixed_targets prescribes nothing), the nationally best approach prescribed
    # (prescriptive), and two learned centres that may prescribe (two_level through its
    # action's prescribe columns, stackelberg through relative_rule's prescribe strength)
    **{
        name: {
            "scenario": scenario,
            "overrides": {"prescription": True},
            "centres": ("fixed_targets", PRESCRIPTIVE, "two_level", STACKELBERG),
            "stackelberg": dict(_QUICK_LEADER),
        }
        for name, scenario in (
            ("prescription", "coalfield_seaside"),
            ("prescription_homogeneous", "homogeneous"),
        )
    },
    # vertical joined-up government at the quick budget: one learned coordinated centre
    # over silo agencies (jug_2) against learned departments, each its own domain (jug_4)
    "coordinated": {
        "scenario": "jug_2",
        "centres": ("fixed_targets", "risk_based_audits", *LEARNED),
        "references": (),
    },
    "departments": {
        "scenario": "jug_4",
        "centres": ("fixed_targets", "risk_based_audits", *LEARNED),
        "references": (),
    },
}


def preset(name: str) -> CentreStudyConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return CentreStudyConfig.from_dict(PRESETS[name])


def config_and_folder(
    preset_name: str | None, config_path: Path | None, out: Path | None
) -> tuple[CentreStudyConfig, Path]:
    """The study to run, a preset (default ``quick``) or a JSON file, and its output folder
    (default ``runs/centres-<preset>``, or ``runs/centres-custom`` for a file)."""
    name = preset_name or ("custom" if config_path else "quick")
    if config_path:
        data = read_json_object(config_path, "--config", "centre-study fields")
        try:
            config = CentreStudyConfig.from_dict(data)
        except (ValueError, TypeError) as err:
            raise UserError(f"--config {config_path}: {err}") from err
    else:
        config = preset(name)
    return config, out or Path("runs") / f"centres-{name}"


def _fail(name: str, value: Any, allowed: str) -> None:
    text = repr(value)
    text = text if len(text) <= 120 else text[:117] + "..."
    raise ValueError(f"centre-study field {name} = {text} is not allowed: {allowed}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _names(field_name: str, values: Any, known: tuple[str, ...]) -> None:
    if not (
        isinstance(values, tuple)
        and values
        and all(isinstance(v, str) and v in known for v in values)
        and len(set(values)) == len(values)
    ):
        _fail(field_name, values, f"a list of distinct names from: {', '.join(known)}")
