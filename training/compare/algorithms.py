"""Does the ranking of designs hold across learning algorithms?

``target-gaming algorithms`` runs one comparison grid per learner (``LEARNERS``: SB3's
PPO, and BenchMARL's IPPO, MAPPO and MASAC) with the same designs, seeds, scenario,
budget in local agent-steps, centres and evaluation, each into ``<out>/<learner>/``
(a comparison folder of its own: its cells, ``summary.csv`` and ``report.md``; a
rerun skips finished cells), then writes ``<out>/report.md``: per main metric, each
design's IQM [95% interval] under every learner, each learner's ranking of the designs,
and how far each learner's ranking agrees with SB3 PPO's (Kendall's tau over the
designs, and whether the best and the worst design are the same).

The learned agents of each learner are evaluated as every comparison's are
(deterministic actions, fresh seeds and the held-out variant, beside the scripted
baselines), so the rows differ in the learning algorithm only.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from ..io import write_text
from .aggregate import centres_text
from .grid import FRESH, LEARNED, CompareConfig
from .run import run_comparison
from .stats import iqm_interval

# learner -> the grid fields that set it (trainer and algorithm)
LEARNERS: dict[str, dict[str, Any]] = {
    "sb3_ppo": {"trainer": "sb3"},
    "benchmarl_ippo": {"trainer": "benchmarl", "algorithm": "ippo"},
    "benchmarl_mappo": {"trainer": "benchmarl", "algorithm": "mappo"},
    "benchmarl_masac": {"trainer": "benchmarl", "algorithm": "masac"},
}
REFERENCE = "sb3_ppo"  # the learner the others' rankings are held to
# metric -> whether higher is better (for the rankings)
METRICS = {"true_welfare": True, "gaming_share": False, "neglect": False, "goodhart_gap": False}

PRESETS: dict[str, dict[str, Any]] = {
    # whitehall's main contrasts at the standard budget; the sb3_ppo cells are the same
    # cells as compare-standard's (seeds 0-2 of its whitehall designs)
    "standard": {
        "designs": ("targets", "audited_targets", "rotating_basket", "oracle_outcomes"),
        "seeds": (0, 1, 2),
        "scenarios": ("whitehall",),
        "train": {"timesteps": 1_000_000, "n_envs": 64},
        "eval_episodes": 32,
    },
    # a smoke run: minutes
    "quick": {
        "designs": ("targets", "audited_targets"),
        "seeds": (0, 1),
        "scenarios": ("whitehall",),
        "train": {"timesteps": 50_000, "n_envs": 32, "checkpoint_every": 0},
        "eval_episodes": 8,
    },
}


def learner_grid(base: dict[str, Any], learner: str) -> CompareConfig:
    """The comparison grid of ``learner``: ``base`` with its trainer and algorithm."""
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; learners: {', '.join(LEARNERS)}")
    return CompareConfig.from_dict({**base, **LEARNERS[learner]})


def base_grid(preset: str | None, path: Path | None) -> dict[str, Any]:
    """The shared grid: a preset (default ``standard``) or a JSON file of CompareConfig
    fields without ``trainer`` and ``algorithm`` (every learner's grid is checked here)."""
    if path is not None:
        try:
            base = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read the algorithms grid {path}: {err}") from err
        if not isinstance(base, dict):
            raise ValueError(f"{path}: a JSON object of comparison fields")
    else:
        name = preset or "standard"
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        base = dict(PRESETS[name])
    for field in ("trainer", "algorithm"):
        if field in base:
            raise ValueError(
                f"algorithms grid field {field} = {base[field]!r}: every learner sets its own "
                f"({', '.join(LEARNERS)}); remove it"
            )
    for learner in LEARNERS:
        learner_grid(base, learner)  # every learner's grid is valid before any training
    return base


def run_algorithms(
    base: dict[str, Any],
    root: Path,
    workers: int = 2,
    backend: str = "process",
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    command: str = "",
) -> Path:
    """Every learner's comparison (``<root>/<learner>/``), then ``<root>/report.md``."""
    grids = {learner: learner_grid(base, learner) for learner in LEARNERS}
    root = Path(root)
    for learner, grid in grids.items():
        run_comparison(
            grid,
            root / learner,
            workers=workers,
            backend=backend,
            address=address,
            force=force,
            progress=progress,
            command=f"{command} (learner {learner})" if command else "",
        )
    summaries = {learner: read_summary(root / learner / "summary.csv") for learner in grids}
    report = root / "report.md"
    write_text(report, "\n".join(report_lines(base, summaries, command)) + "\n")
    return report


def read_summary(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def per_seed(rows: list[dict], scenario: str, design: str, metric: str) -> np.ndarray:
    """The learned agents' per-seed values on fresh seeds."""
    return np.array(
        [
            float(r[metric])
            for r in rows
            if r["scenario"] == scenario
            and r["design"] == design
            and r["agent"] == LEARNED
            and r["variant"] == FRESH
        ]
    )


def ranking(values: dict[str, float], higher: bool) -> list[str]:
    """Designs from best to worst (ties by name)."""
    return sorted(values, key=lambda d: (-values[d] if higher else values[d], d))


def agreement(reference: list[str], other: list[str]) -> float:
    """Kendall's tau between two rankings of the same designs (1: the same order)."""
    position = {d: i for i, d in enumerate(other)}
    tau = kendalltau(range(len(reference)), [position[d] for d in reference]).statistic
    return float(tau)


def report_lines(base: dict[str, Any], summaries: dict[str, list[dict]], command: str) -> list[str]:
    grid = CompareConfig.from_dict(base)
    lines = ["# Does the ranking of designs hold across learning algorithms?", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    learners = list(summaries)
    designs = "; ".join(f"{s}: {', '.join(grid.designs_for(s))}" for s in grid.scenarios)
    training = "; ".join(f"{s}: {grid.train_for(s)}" for s in grid.scenarios)
    lines += [
        f"Learners: {', '.join(f'`{x}`' for x in learners)}, each trained on the same grid "
        f"(designs {designs}; seeds {list(grid.seeds)}; training {training}; centres "
        f"{centres_text(grid)}) and evaluated alike (learned agents, "
        f"deterministic actions, {grid.eval_episodes} episodes per seed on fresh seeds). "
        "Each learner's own comparison report is in its folder. Numbers: IQM [95% "
        "bootstrap interval] over seeds. Rankings run from best to worst; tau is Kendall's "
        f"rank correlation with `{REFERENCE}`'s ranking (1: the same order, -1: reversed).",
        "",
    ]
    intro = len(lines)
    verdicts = []
    for scenario in grid.scenarios:
        designs = grid.designs_for(scenario)
        for metric, higher in METRICS.items():
            lines += [f"## {scenario}: {metric} ({'higher' if higher else 'lower'} is better)", ""]
            lines += ["| design | " + " | ".join(learners) + " |"]
            lines += ["|---" * (1 + len(learners)) + "|"]
            centres: dict[str, dict[str, float]] = {x: {} for x in learners}
            for design in designs:
                cells = []
                for learner in learners:
                    values = per_seed(summaries[learner], scenario, design, metric)
                    if len(values) == 0:
                        cells.append("-")
                        continue
                    mid, low, high = iqm_interval(values)
                    centres[learner][design] = mid
                    cells.append(f"{mid:.3f} [{low:.3f}, {high:.3f}]")
                lines += [f"| `{design}` | " + " | ".join(cells) + " |"]
            lines += [""]
            ranked = {x: ranking(v, higher) for x, v in centres.items() if len(v) == len(designs)}
            if REFERENCE not in ranked:
                lines += [f"(no full ranking of `{REFERENCE}` to compare with)", ""]
                continue
            lines += [
                "| learner | ranking | tau | same best | same worst |",
                "|---|---|---|---|---|",
            ]
            ref = ranked[REFERENCE]
            for learner, order in ranked.items():
                tau = agreement(ref, order)
                best, worst = order[0] == ref[0], order[-1] == ref[-1]
                lines += [
                    f"| `{learner}` | {' > '.join(order)} | {tau:.2f} | "
                    f"{'yes' if best else 'no'} | {'yes' if worst else 'no'} |"
                ]
                if learner != REFERENCE:
                    verdicts.append((scenario, metric, learner, tau, best))
            lines += [""]
    if verdicts:
        same_best = sum(v[4] for v in verdicts)
        mean_tau = float(np.mean([v[3] for v in verdicts]))
        summary = [
            "## Answer",
            "",
            f"Over {len(verdicts)} (metric, learner) pairs against `{REFERENCE}`: the best "
            f"design is the same in {same_best}; the mean Kendall tau is {mean_tau:.2f}.",
            "",
        ]
        disagree = [v for v in verdicts if not v[4]]
        if disagree:
            summary += ["Where the best design differs:", ""]
            summary += [f"- {s}, {m}: `{x}` (tau {t:.2f})" for s, m, x, t, _ in disagree]
            summary += [""]
        lines[intro:intro] = summary
    return lines
