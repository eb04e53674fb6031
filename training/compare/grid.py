"""The comparison's grid: designs x seeds (x scenarios), its presets and its output folder.

``CompareConfig`` is a grid (``target-gaming compare --config grid.json`` takes its
fields); ``PRESETS`` are the named ones (``--preset quick``, ``standard``, ``full``).
A cell is one (scenario, design, seed) of the grid; it lives in
``runs/<design>/seed<k>/`` (``runs/<scenario>/<design>/seed<k>/`` with several
scenarios) under the output folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_gaming.agents import centre_problem, design_centre
from target_gaming.envs.target_gaming import DESIGNS, SCENARIOS

from ..benchmarl import ALGORITHMS as BENCHMARL_ALGORITHMS

BASELINES = ("honest", "myopic_best_response")
LEARNED = "learned"  # the agent name of a cell's trained locals in its tables
FRESH = "fresh"  # the variant name of the unchanged (trained) world
MAX_SEED = 2**32 - 1  # training and evaluation seeds are 32-bit
PATTERN = "+"  # joins the elements of a per-agent baseline pattern ("honest+silo")
# TrainConfig fields that every cell sets itself, and what a grid uses instead
GRID_OWNED = {
    "scenario": "use the grid field scenarios instead",
    "design": "use the grid field designs instead",
    "seed": "use the grid field seeds instead",
    "centre_policy": "use the grid field centre_policy instead",
    "eval_episodes": "use the grid field eval_episodes instead",
    "out": "each cell trains into runs/<design>/seed<k>/ under --out; remove it",
}
_TUPLES = ("designs", "seeds", "scenarios", "baselines")
# how a cell trains: sb3 (mode locals: the locals under the cell's centre; two_level: the
# centre learns too, and the cell is evaluated under it), rllib (the centre and the
# locals learn jointly on Ray RLlib) or benchmarl (the locals under the cell's centre,
# with the grid's BenchMARL ``algorithm``)
TRAINERS = ("sb3", "rllib", "benchmarl")
SB3_MODES = ("locals", "two_level")


@dataclass(frozen=True)
class CompareConfig:
    """A comparison grid. ``train`` holds TrainConfig fields shared by every cell."""

    designs: tuple[str, ...] = ("targets", "audited_targets")
    seeds: tuple[int, ...] = (0, 1, 2)
    scenarios: tuple[str, ...] = ("whitehall",)
    train: dict[str, Any] = field(default_factory=dict)
    # None: each design with its own centre (Design.centre); a name or saved path: that
    # centre for every design; a mapping design -> centre: those, the others their own
    centre_policy: str | dict[str, str] | None = None
    eval_episodes: int = 32
    eval_seed_offset: int = 10_000  # evaluation seeds: seed + offset, never a training seed
    held_out: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"held_out": {"n_localities": 10, "heterogeneity": 0.8}}
    )
    baselines: tuple[str, ...] = BASELINES
    # scenario -> {"designs": [...], "train": {...}}: that scenario's own designs (instead
    # of ``designs``) and training fields (on top of ``train``)
    per_scenario: dict[str, dict[str, Any]] = field(default_factory=dict)
    trainer: str = "sb3"
    # the learning algorithm: ppo with trainers sb3 and rllib (None: ppo); one of
    # BENCHMARL_ALGORITHMS with benchmarl
    algorithm: str | None = None

    def __post_init__(self) -> None:
        """The grid's own fields, their types and values; ``specs.check_grid`` goes on to
        build every cell's training config, world and policies."""
        _check_names("designs", self.designs, DESIGNS)
        _check_names("scenarios", self.scenarios, SCENARIOS)
        if not _is_int(self.eval_seed_offset, 1, MAX_SEED):
            _fail("eval_seed_offset", self.eval_seed_offset, f"an integer in [1, {MAX_SEED}]")
        top = MAX_SEED - self.eval_seed_offset  # evaluation seeds are seed + offset
        if not distinct_seeds(self.seeds, top):
            _fail("seeds", self.seeds, f"a list of distinct integers in [0, {top}], at least one")
        if not _is_int(self.eval_episodes, 1, 10_000):
            _fail("eval_episodes", self.eval_episodes, "an integer in [1, 10000]")
        if self.trainer not in TRAINERS:
            _fail("trainer", self.trainer, f"one of {', '.join(TRAINERS)}")
        if self.trainer == "benchmarl" and self.algorithm not in BENCHMARL_ALGORITHMS:
            _fail(
                "algorithm",
                self.algorithm,
                f"with trainer benchmarl one of {', '.join(BENCHMARL_ALGORITHMS)}",
            )
        if self.trainer != "benchmarl" and self.algorithm not in (None, "ppo"):
            _fail("algorithm", self.algorithm, f"ppo (or null) with trainer {self.trainer}")
        self._check_train()
        self._check_per_scenario()
        for scenario in self.scenarios:
            mode = self.train_for(scenario).get("mode", "locals")
            modes = SB3_MODES if self.trainer == "sb3" else ("locals",)
            if mode not in modes:
                where = (
                    "train.mode"
                    if scenario not in self.per_scenario
                    else (f"train.mode (scenario {scenario})")
                )
                why = {
                    "sb3": "locals (the locals learn under the cell's centre) or two_level "
                    "(the centre learns as well)",
                    "rllib": "locals: with trainer rllib the centre and the locals learn jointly",
                    "benchmarl": "locals: with trainer benchmarl the locals learn under the "
                    "cell's centre",
                }[self.trainer]
                _fail(where, mode, why)
        if self.trainer == "rllib":
            for name in ("centre_policy", "train.centre_params"):
                given = self.centre_policy if name == "centre_policy" else self.train.get(name[6:])
                if given:
                    _fail(name, given, "none with trainer rllib: its centre learns from the start")
        if self.trainer == "benchmarl":
            for scenario in self.scenarios:
                given = self.train_for(scenario).get("centre_params")
                if given:
                    _fail(
                        "train.centre_params",
                        given,
                        "none with trainer benchmarl: its centre is a named or saved policy",
                    )
        self._check_centres()
        if not (
            isinstance(self.baselines, tuple)
            and all(isinstance(b, str) and all(pattern(b)) for b in self.baselines)
            and len(set(self.baselines)) == len(self.baselines)
            and not any(set(pattern(b)) == {LEARNED} for b in self.baselines)
        ):
            _fail(
                "baselines",
                self.baselines,
                f"a list of distinct local policies (scripted names, saved paths, or per-agent "
                f"patterns such as 'learned+silo'), not {LEARNED!r} alone",
            )
        self._check_held_out()

    def _check_per_scenario(self) -> None:
        if not isinstance(self.per_scenario, dict):
            _fail("per_scenario", self.per_scenario, "a mapping scenario -> {designs, train}")
        for scenario, settings in self.per_scenario.items():
            where = f"per_scenario[{scenario!r}]"
            if scenario not in self.scenarios:
                _fail("per_scenario", scenario, f"a scenario of the grid ({self.scenarios})")
            if (
                not isinstance(settings, dict)
                or not settings
                or set(settings)
                - {
                    "designs",
                    "train",
                }
            ):
                _fail(where, settings, "a mapping with the keys designs and/or train")
            if "designs" in settings:
                designs = settings["designs"]
                if isinstance(designs, list):
                    designs = tuple(designs)
                _check_names(f"{where}.designs", designs, DESIGNS)
            if "train" in settings:
                self._check_train(settings["train"], f"{where}.train")

    def designs_for(self, scenario: str) -> tuple[str, ...]:
        """The designs that run in ``scenario``."""
        return tuple(self.per_scenario.get(scenario, {}).get("designs", self.designs))

    def train_for(self, scenario: str) -> dict[str, Any]:
        """The training fields of ``scenario``'s cells: ``train``, then the scenario's own."""
        return {**self.train, **self.per_scenario.get(scenario, {}).get("train", {})}

    @property
    def all_designs(self) -> tuple[str, ...]:
        """Every design of the grid, in order of first appearance."""
        names = (d for scenario in self.scenarios for d in self.designs_for(scenario))
        return tuple(dict.fromkeys(names))

    def _check_centres(self) -> None:
        """The centre of each design: named, and able to play the design's part."""
        allowed = (
            "null (each design's own centre), a scripted centre's name or a saved path, "
            "or a mapping design -> centre"
        )
        given = self.centre_policy
        if isinstance(given, dict):
            for design, centre in given.items():
                if design not in self.all_designs:
                    _fail("centre_policy", given, f"{allowed}; {design!r} is not in designs")
                if not isinstance(centre, str) or not centre:
                    _fail(f"centre_policy[{design!r}]", centre, "a centre's name or a saved path")
        elif given is not None and (not isinstance(given, str) or not given):
            _fail("centre_policy", given, allowed)
        learned = all(self.learns_centre(s) for s in self.scenarios)
        for design in self.all_designs if len(self.all_designs) > 1 and not learned else ():
            # beside other designs its rows would pass for a design they repeat (a grid of
            # one design, a comparison of centres, may hold any centre)
            problem = centre_problem(design, self.centre_for(design))
            if problem:
                raise ValueError(f"comparison field centre_policy: {problem}")
        for scenario in self.scenarios if not learned else ():
            seen: dict[tuple, str] = {}
            for design in self.designs_for(scenario):  # two rows of one experiment
                spec = DESIGNS[design]
                centre = self.centre_for(design)
                key = (spec.pay, spec.measures, spec.audits, spec.pooling, centre)
                if key in seen:
                    raise ValueError(
                        f"comparison field designs: {seen[key]!r} and {design!r} under centre "
                        f"{centre!r} are the same experiment (same pay, measures, audits and "
                        "pooling); keep one"
                    )
                seen[key] = design

    def learns_centre(self, scenario: str) -> bool:
        """Whether ``scenario``'s cells train the centre too (and are evaluated under it)."""
        return self.trainer == "rllib" or self.train_for(scenario).get("mode") == "two_level"

    def centre_for(self, design: str) -> str:
        """The scripted or saved centre that runs with ``design`` in this grid (with a
        learned centre: the centre of the first stage, before it learns)."""
        given = self.centre_policy
        if isinstance(given, dict):
            given = given.get(design)
        return design_centre(design, given)

    def _check_train(self, train: Any = None, where: str = "train") -> None:
        train = self.train if train is None else train
        if not isinstance(train, dict):
            _fail(where, train, "a mapping of TrainConfig fields")
        for name, instead in GRID_OWNED.items():
            if name in train:
                _fail(f"{where}.{name}", train[name], f"every cell sets it; {instead}")
        for name in ("centre_reward", "local_policy"):
            if name in train and not isinstance(train[name], str):
                _fail(f"{where}.{name}", train[name], "a string")
        if "overrides" in train and not isinstance(train["overrides"], dict):
            _fail(f"{where}.overrides", train["overrides"], "a mapping of world config fields")

    def _check_held_out(self) -> None:
        if not isinstance(self.held_out, dict):
            _fail("held_out", self.held_out, "a mapping of variant name -> world config fields")
        for name, overrides in self.held_out.items():
            if not isinstance(name, str) or not name or name == FRESH:
                _fail("held_out", name, f"variant names are non-empty strings other than {FRESH!r}")
            if not isinstance(overrides, dict):
                _fail(f"held_out[{name!r}]", overrides, "a mapping of world config fields")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareConfig:
        if not isinstance(data, dict):
            raise ValueError(
                f"a comparison grid is a JSON object of CompareConfig fields, "
                f"not {type(data).__name__} {_short(data)}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown comparison field(s) {unknown}; allowed: {sorted(known)}")
        fixed = {}
        for key, value in data.items():
            if key in _TUPLES:
                if not isinstance(value, (list, tuple)):
                    _fail(key, value, "a list")
                value = tuple(value)
            fixed[key] = value
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def cells(self) -> list[Cell]:
        return [
            Cell(scenario, design, seed)
            for scenario in self.scenarios
            for design in self.designs_for(scenario)
            for seed in self.seeds
        ]

    def cell_dir(self, root: Path, cell: Cell) -> Path:
        base = root / "runs"
        if len(self.scenarios) > 1:
            base = base / cell.scenario
        return base / cell.design / f"seed{cell.seed}"


def pattern(name: str) -> tuple[str, ...]:
    """The elements of a baseline: ``("honest",)`` for a policy, or those of a per-agent
    pattern, ``"learned+learned+learned+silo"`` (local agent n plays element
    ``n % len(pattern)``; ``learned`` is the cell's trained policy)."""
    return tuple(name.split(PATTERN))


def _fail(field_name: str, value: Any, allowed: str) -> None:
    """The one form of a bad grid field's error: its name, its value, what is allowed."""
    raise ValueError(f"comparison field {field_name} = {_short(value)} is not allowed: {allowed}")


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def distinct_seeds(seeds: Any, top: int) -> bool:
    """Whether ``seeds`` is a non-empty tuple of distinct integers in [0, top]."""
    return (
        isinstance(seeds, tuple)
        and bool(seeds)
        and all(_is_int(s, 0, top) for s in seeds)
        and len(set(seeds)) == len(seeds)
    )


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_names(field_name: str, values: tuple[str, ...], known: dict) -> None:
    if not isinstance(values, tuple) or not values:
        _fail(field_name, values, f"a list of names, at least one, from: {', '.join(known)}")
    bad = [v for v in values if not isinstance(v, str) or v not in known]
    if bad or len(set(values)) != len(values):
        raise ValueError(
            f"comparison field {field_name} = {_short(values)}: unknown {bad} or repeated; "
            f"known: {', '.join(known)}"
        )


@dataclass(frozen=True)
class Cell:
    scenario: str
    design: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.scenario}/{self.design}/seed{self.seed}"

    @property
    def key(self) -> tuple[str, str]:
        """(scenario, design): the report row the cell is a seed of."""
        return self.scenario, self.design


_LOCAL_KNOWLEDGE = (
    "targets",
    "audited_targets",
    "rotating_basket",
    "targeted_audits",
    "local_priorities",
    "oracle_outcomes",
    "flat_pay",
)
_MOTIVATION = (
    "targets",
    "linear",
    "audited_targets",
    "rotating_basket",
    "targeted_audits",
    "oracle_outcomes",
    "flat_pay",
)
_JOINED_UP = ("targets", "audited_targets", "local_priorities", "pooled_budget", "oracle_outcomes")

PRESETS: dict[str, dict] = {
    # the main contrasts only: about three minutes on an idle two-core machine (2 min 46 s
    # measured; 12 min while other training jobs loaded it)
    "quick": {
        "designs": ("targets", "audited_targets", "rotating_basket", "oracle_outcomes"),
        "seeds": (0, 1, 2),
        "train": {"timesteps": 300_000, "n_envs": 64, "checkpoint_every": 100_000},
        "eval_episodes": 16,
    },
    # every scenario family (results/compare-standard): whitehall with every design; the
    # local-knowledge and motivation worlds with the designs their phenomena turn on; the
    # four joined-up worlds with 2M local steps (four agencies per locality learn slower)
    "standard": {
        "designs": tuple(DESIGNS),
        "seeds": (0, 1, 2, 3, 4),
        "scenarios": (
            "whitehall",
            "coalfield_seaside",
            "gresham",
            "jug_1",
            "jug_2",
            "jug_3",
            "jug_4",
        ),
        "train": {"timesteps": 1_000_000, "n_envs": 64},
        "eval_episodes": 32,
        "per_scenario": {
            "coalfield_seaside": {"designs": _LOCAL_KNOWLEDGE},
            "gresham": {"designs": _MOTIVATION},
            **{
                f"jug_{n}": {"designs": _JOINED_UP, "train": {"timesteps": 2_000_000}}
                for n in range(1, 5)
            },
        },
    },
    "full": {
        "designs": tuple(
            "targets linear league_table audited_targets rotating_basket targeted_audits "
            "local_priorities pooled_budget oracle_outcomes".split()
        ),
        "seeds": tuple(range(10)),
        "scenarios": ("whitehall", "coalfield_seaside", "jug_2"),
        "train": {"timesteps": 3_000_000, "n_envs": 64},
        "eval_episodes": 64,
    },
}


def preset(name: str) -> CompareConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return CompareConfig.from_dict(PRESETS[name])


def load_config(path: Path) -> CompareConfig:
    """A custom grid from a JSON file with CompareConfig's fields."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read comparison config {path}: {err}") from err
    try:
        return CompareConfig.from_dict(data)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: {err}") from err


def grid_and_folder(
    preset_name: str | None, config_path: Path | None, out: Path | None
) -> tuple[CompareConfig, Path]:
    """The grid to run, a preset (default ``quick``) or a JSON file, and its output folder
    (default ``runs/compare-<preset>``, or ``runs/compare-custom`` for a file)."""
    name = preset_name or ("custom" if config_path else "quick")
    config = load_config(config_path) if config_path else preset(name)
    return config, out or Path("runs") / f"compare-{name}"
