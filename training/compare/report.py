"""The comparison's summary table and Markdown report.

``summary.csv`` has one row per (scenario, design, seed, agent, variant): the
mean over that cell's evaluation episodes of every metric. ``report.md`` has a
section per scenario (designs are compared within a world, never pooled across
scenarios): it aggregates seeds per design with the interquartile mean and a
bootstrap 95% interval (``target_gaming.training.compare.stats``), ranks designs,
and gives the probability that each design improves on ``targets``. The table
functions take one scenario's summary rows.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from target_gaming.envs.target_gaming import DESIGNS, METRICS

from ..evaluation.rollout import FRONTLINE, RETURNS, with_frontline
from ..evaluation.tables import MAIN_METRICS
from ..io import write_csv, write_text
from .convergence import TOLERANCE
from .stats import intervals_overlap, iqm_interval, probability_interval

KEYS = ("scenario", "design", "seed", "agent", "variant")
VALUES = RETURNS + tuple(METRICS)  # then, in a cascade's rows, FRONTLINE
SUMMARY_COLUMNS = KEYS + ("centre", "episodes") + VALUES
# Perverse outcomes, all "lower is better": the ranking averages a design's ranks on these.
PERVERSE = ("gaming_share", "goodhart_gap", "neglect", "bunching", "perverse_rate", "slack_share")
BASE_DESIGN = "targets"


def summarise(episode_files: list[Path]) -> list[dict]:
    """One row per (scenario, design, seed, agent, variant): means over episodes."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for path in episode_files:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                groups[tuple(row[k] for k in KEYS)].append(row)
    summary = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], int(k[2]), k[3], k[4])):
        rows = groups[key]
        record = dict(zip(KEYS, key))
        record["seed"] = int(record["seed"])
        record["centre"] = Path(rows[0]["centre_policy"]).name  # a saved centre by name
        record["episodes"] = len(rows)
        frontline = tuple(name for name in FRONTLINE if rows[0].get(name, "") != "")
        for name in VALUES + frontline:
            record[name] = float(np.mean([float(r[name]) for r in rows]))
        summary.append(record)
    return summary


def write_summary(path: Path, summary: list[dict]) -> None:
    write_csv(path, summary, with_frontline(SUMMARY_COLUMNS, summary))


def _values(summary, design, metric, agent="learned", variant="fresh", scenario=None):
    """Per-seed values of one design, agent and variant, from one scenario's rows (or
    ``scenario``'s rows of a longer summary): values of different worlds never pool."""
    rows = [
        r
        for r in summary
        if r["design"] == design
        and r["agent"] == agent
        and r["variant"] == variant
        and (scenario is None or r["scenario"] == scenario)
    ]
    worlds = sorted({r["scenario"] for r in rows})
    if len(worlds) > 1:
        raise ValueError(f"{design}/{metric}: rows of scenarios {worlds} would pool; pick one")
    return np.array([r[metric] for r in rows])


def _fmt(interval: tuple[float, float, float]) -> str:
    point, low, high = interval
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


def metric_table(
    summary, designs, agents, variant, metrics=MAIN_METRICS, row="design"
) -> list[str]:
    """One row per design and agent (learned first, then the scripted baselines); ``row``
    names the first column (``designs`` are the values of the rows' ``design`` key)."""
    head = f"| {row} | agent | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for design in designs:
        for agent in agents:
            values = [_values(summary, design, m, agent, variant) for m in metrics]
            if not len(values[0]):
                continue
            cells = [_fmt(iqm_interval(v)) for v in values]
            name = f"**{agent}**" if agent == "learned" else agent
            lines.append(f"| `{design}` | {name} | " + " | ".join(cells) + " |")
    return lines


def rankings(summary, designs, agent="learned", variant="fresh") -> list[str]:
    """Designs ranked by true welfare (IQM) and by mean rank over the perverse outcomes."""
    welfare = {
        d: iqm_interval(_values(summary, d, "true_welfare", agent, variant))[0] for d in designs
    }
    ranks = np.zeros(len(designs))
    for metric in PERVERSE:
        scores = [iqm_interval(_values(summary, d, metric, agent, variant))[0] for d in designs]
        ranks += np.argsort(np.argsort(np.abs(scores)))  # 0 = least perverse
    perverse = dict(zip(designs, ranks / len(PERVERSE) + 1))
    by_welfare = sorted(designs, key=lambda d: -welfare[d])
    by_perverse = sorted(designs, key=lambda d: perverse[d])
    lines = ["| rank | by true welfare (IQM) | by perverse outcomes (mean rank) |", "|---|---|---|"]
    for i, (a, b) in enumerate(zip(by_welfare, by_perverse), start=1):
        lines.append(f"| {i} | `{a}` ({welfare[a]:.3f}) | `{b}` ({perverse[b]:.2f}) |")
    return lines


def improvement_table(summary, designs, agent="learned", variant="fresh") -> list[str]:
    if BASE_DESIGN not in designs:
        return [f"(`{BASE_DESIGN}` is not in the grid: no improvement probabilities)"]
    lines = [
        "| design | P(higher true welfare than targets) | P(less gaming than targets) |",
        "|---|---|---|",
    ]
    base_w = _values(summary, BASE_DESIGN, "true_welfare", agent, variant)
    base_g = _values(summary, BASE_DESIGN, "gaming_share", agent, variant)
    for design in designs:
        if design == BASE_DESIGN:
            continue
        w = probability_interval(_values(summary, design, "true_welfare", agent, variant), base_w)
        g = probability_interval(
            _values(summary, design, "gaming_share", agent, variant), base_g, False
        )
        lines.append(f"| `{design}` | {_fmt(w)} | {_fmt(g)} |")
    return lines


def design_table(summary, designs) -> list[str]:
    """What each design is and the centre it ran with (from the rows themselves)."""
    lines = [
        "| design | stands for | pay | measures | audits | pooling | centre |",
        "|---|---|---|---|---|---|---|",
    ]
    for design in designs:
        spec = DESIGNS[design]
        centres = sorted({r["centre"] for r in summary if r["design"] == design})
        lines.append(
            f"| `{design}` | {spec.stands_for} | {spec.pay} | {spec.measures} | {spec.audits} "
            f"| {spec.pooling} | " + ", ".join(f"`{Path(c).name}`" for c in centres) + " |"
        )
    return lines


def duplicates(summary, designs, agent="learned", variant="fresh") -> list[tuple[str, str]]:
    """Pairs of designs whose rows are equal in every value on every seed: one experiment
    run twice (the grid refuses the known causes; this catches any other)."""
    table = {
        d: np.array([_values(summary, d, name, agent, variant) for name in VALUES]) for d in designs
    }
    return [
        (a, b)
        for i, a in enumerate(designs)
        for b in designs[i + 1 :]
        if table[a].shape == table[b].shape and table[a].size and np.array_equal(table[a], table[b])
    ]


def same_experiments(sections) -> list[tuple[str, str, str]]:
    """(design, scenario, other scenario) where one design's rows in two scenarios are equal
    in every value on every seed: the two worlds differ only in what the design overrides
    (``pooled_budget`` pools every locality, so ``jug_1`` and ``jug_2`` run it alike)."""
    found = []
    for i, (scenario, summary, designs, *_) in enumerate(sections):
        for other, other_summary, other_designs, *_ in sections[i + 1 :]:
            for design in designs:
                if design not in other_designs:
                    continue
                a = np.array([_values(summary, design, n) for n in VALUES])
                b = np.array([_values(other_summary, design, n) for n in VALUES])
                if a.size and a.shape == b.shape and np.array_equal(a, b):
                    found.append((design, scenario, other))
    return found


def separations(summary, designs, agent="learned", variant="fresh") -> list[str]:
    """Pairs of designs whose 95% intervals do not overlap, on gaming and true welfare."""
    lines = []
    for metric in ("gaming_share", "true_welfare"):
        ci = {d: iqm_interval(_values(summary, d, metric, agent, variant)) for d in designs}
        pairs = [
            f"`{a}` vs `{b}`"
            for i, a in enumerate(designs)
            for b in designs[i + 1 :]
            if not intervals_overlap(ci[a], ci[b])
        ]
        lines.append(f"- {metric}: " + (", ".join(pairs) if pairs else "no pair separated"))
    return lines


def write_report(
    root: Path,
    sections: list[tuple[str, list[dict], list[str], list[str], tuple[list[str], list[str]]]],
    variants: list[str],
    agents: list[str],
    header: list[str],
    overview: list[str] = (),
) -> Path:
    """``report.md`` in ``root``: per scenario (``sections``: scenario, its summary rows, its
    designs, its figures, its convergence table and flagged designs), tables per agent and
    variant, rankings, improvement odds, learning curves; ``overview`` (lines) after the
    header."""
    lines = ["# Reward-design comparison", "", *header, ""]
    if len(sections) > 1:
        lines += [
            "Each scenario is its own world: designs are compared within a scenario, "
            "never pooled across scenarios.",
            "",
        ]
    lines += overview
    for design, scenario, other in same_experiments(sections):
        lines += [
            f"**Same experiment in two scenarios: `{design}` in `{scenario}` and in "
            f"`{other}` gave the same value of every metric on every seed (the two worlds "
            "differ only in what the design sets itself): read their rows as one "
            "experiment, not as a contrast between the scenarios.**",
            "",
        ]
    flagged = [(scenario, d) for scenario, *_, (_, designs) in sections for d in designs]
    if flagged:
        lines += [
            "**Not converged at the budget** (learning curves still moving; see each "
            "scenario's convergence table): "
            + ", ".join(f"`{d}` in `{scenario}`" for scenario, d in flagged)
            + ".",
            "",
        ]
    for scenario, summary, designs, figures, convergence in sections:
        lines += [f"## Scenario `{scenario}`", ""]
        lines += _scenario_section(summary, designs, variants, agents, figures, convergence[0])
    path = root / "report.md"
    write_text(path, "\n".join(lines))
    return path


def _scenario_section(summary, designs, variants, agents, figures, convergence) -> list[str]:
    """One scenario's part of the report (``summary``: that scenario's rows only)."""
    lines = ["### Designs and their centres", ""] + design_table(summary, designs) + [""]
    for a, b in duplicates(summary, designs):
        lines += [
            f"**Warning: `{a}` and `{b}` gave the same value of every metric on every seed: "
            "they are one experiment run twice, not two designs compared.**",
            "",
        ]
    lines += ["### Every design, fresh seeds", ""]
    lines += [
        "Learned local agents beside the scripted baselines under the same conditions: "
        "interquartile mean over seeds [95% bootstrap interval].",
        "",
    ]
    lines += metric_table(summary, designs, agents, "fresh") + [""]
    lines += ["#### Ranking of designs (learned agents)", ""] + rankings(summary, designs) + [""]
    lines += [
        "Perverse outcomes: " + ", ".join(f"`{m}`" for m in PERVERSE) + " (lower is better; "
        "each design's rank on each, averaged).",
        "",
    ]
    lines += [f"#### Probability of improving on `{BASE_DESIGN}`", ""]
    lines += ["Over pairs of seeds, with a bootstrap 95% interval.", ""]
    lines += improvement_table(summary, designs) + [""]
    lines += ["#### Separated designs (95% intervals do not overlap)", ""]
    lines += separations(summary, designs) + [""]
    for variant in variants:
        if variant == "fresh":
            continue
        lines += [f"### Every design, held-out variant `{variant}` (never seen in training)", ""]
        lines += metric_table(summary, designs, agents, variant) + [""]
    lines += ["### Convergence of the learned agents", ""]
    lines += [
        "Drift: how much each metric of the training curve (rollouts, stochastic actions) "
        "still moves over the last quarter of training, the median over seeds; a design is "
        f"flagged where any drift exceeds {TOLERANCE} (`training/compare/convergence.py`). "
        "Curves in the `curves` figure.",
        "",
    ]
    lines += convergence + [""]
    if figures:
        lines += ["### Figures", ""] + [f"![{name}]({name})" for name in figures] + [""]
    return lines
