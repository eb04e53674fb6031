"""The validation's outputs from every finished cell: summary.csv, report.md, the figures.

``summary.csv`` has one row per phenomenon, check and kind (``learned``, ``scripted``):
the effect's IQM over seeds, its 95% interval, the number of seeds, the check's
verdict and the phenomenon's, and the per-seed effects. ``report.md`` gives the
command, the settings and the times, a verdict per phenomenon, then per phenomenon its
prediction, source, conditions, checks and figure; after the first phenomenon that reads
``targets``, the reported beside the true hit rate there (learned agents and each
baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compare.backends import Job
from ..compare.grid import FRESH, LEARNED
from ..compare.stats import iqm_interval
from ..io import write_csv, write_text
from . import figures
from .cells import cell_seconds, job_problem, read_values
from .config import OFFSET, ValidateConfig
from .effects import HOLDS, Effect, Values, check_effect
from .phenomena import (
    CONDITIONS,
    HIT_RATE_METRICS,
    HIT_RATES,
    PHENOMENA,
    Check,
    Phenomenon,
    phenomenon_verdict,
)

SUMMARY_COLUMNS = (
    "phenomenon",
    "phenomenon_verdict",
    "check",
    "kind",
    "agent",
    "metric",
    "comparison",
    "relation",
    "margin",
    "effect_iqm",
    "low",
    "high",
    "n_seeds",
    "verdict",
    "seed_effects",
)
DASH = "—"


@dataclass(frozen=True)
class Result:
    """A phenomenon's checks, each with its learned and (if any) scripted effect."""

    phenomenon: Phenomenon
    effects: tuple[tuple[Check, Effect, Effect | None], ...]

    @property
    def verdict(self) -> str:
        return phenomenon_verdict([learned.verdict for _, learned, _ in self.effects])

    def held(self, kind: str) -> str:
        """``k of n`` checks holding for ``kind`` (learned, scripted)."""
        verdicts = [
            (learned if kind == "learned" else scripted).verdict
            for _, learned, scripted in self.effects
            if kind == "learned" or scripted is not None
        ]
        return f"{sum(v == HOLDS for v in verdicts)} of {len(verdicts)}"


def results(config: ValidateConfig, values: Values) -> list[Result]:
    """Every chosen phenomenon's effects, from the cells' values."""
    out = []
    for name in config.phenomena:
        phen = PHENOMENA[name]
        effects = tuple(
            (
                check,
                check_effect(check, values, "learned"),
                check_effect(check, values, "scripted") if check.scripted else None,
            )
            for check in phen.checks
        )
        out.append(Result(phen, effects))
    return out


def summary_rows(found: list[Result]) -> list[dict]:
    rows = []
    for result in found:
        for check, *effects in result.effects:
            for effect in effects:
                if effect is None:
                    continue
                rows.append(
                    {
                        "phenomenon": result.phenomenon.name,
                        "phenomenon_verdict": result.verdict,
                        "check": check.name,
                        "kind": effect.kind,
                        "agent": check.who(effect.kind),
                        "metric": check.metric,
                        "comparison": check.comparison(),
                        "relation": check.relation,
                        "margin": check.margin,
                        "effect_iqm": effect.iqm,
                        "low": effect.low,
                        "high": effect.high,
                        "n_seeds": effect.n_seeds,
                        "verdict": effect.verdict,
                        "seed_effects": ";".join(
                            f"{seed}:{value:.6g}" for seed, value in effect.per_seed.items()
                        ),
                    }
                )
    return rows


def aggregate(
    config: ValidateConfig,
    root: Path,
    jobs: dict[tuple[str, int], Job],
    command: str,
    skipped: int,
    wall: float,
) -> Path:
    """summary.csv, a figure per phenomenon and report.md from every finished cell."""
    finished = {key: job for key, job in jobs.items() if job_problem(job) is None}
    values = read_values(finished)
    found = results(config, values)
    write_csv(root / "summary.csv", summary_rows(found), SUMMARY_COLUMNS)
    pictures = {r.phenomenon.name: figures.phenomenon_figure(root, r) for r in found}
    seconds = sum(cell_seconds(job) for job in finished.values())
    header = [
        f"Command: `{command}`" if command else "",
        f"Settings: seeds {list(config.seeds)}; {config.timesteps:,} local agent-steps of "
        f"training per condition (times the condition's scale), {config.n_envs} environments"
        f"{f', PPO {config.ppo}' if config.ppo else ''}; {config.eval_episodes} evaluation "
        "episodes per seed, agent and variant, with deterministic actions on fresh seeds "
        f"(training seed + {OFFSET}); phenomena {', '.join(config.phenomena)}.",
        f"Cells finished: {len(finished)} of {len(jobs)} ({skipped} from an earlier run); "
        f"this run's wall time {wall:.0f} s; the cells' own times add up to {seconds:.0f} s.",
    ]
    lines = ["# Validation: learned agents against the theory", "", *header, ""]
    lines += _method() + [""]
    lines += ["## Verdicts", ""] + _verdict_table(found) + [""]
    hit_rates = HIT_RATES in values  # after the first phenomenon that reads the condition
    for result in found:
        lines += _section(result, jobs, pictures[result.phenomenon.name], values)
        if hit_rates and HIT_RATES in result.phenomenon.conditions():
            lines += _hit_rates(values)
            hit_rates = False
    path = root / "report.md"
    write_text(path, "\n".join(lines))
    return path


def _method() -> list[str]:
    return [
        "Each condition is a world in which PPO local agents learn (one cell per seed); "
        "they are evaluated beside scripted baselines in the same world. A check's effect "
        "in seed s is its left side's value minus its right side's (or minus a constant), "
        "a side's value being the mean over its evaluation episodes of the metric; the "
        "tables give the interquartile mean (IQM) over seeds and its 95% percentile-bootstrap "
        "interval. A check holds if the interval lies above its margin (`>`), below minus "
        "its margin (`<`), within plus or minus its margin (`tie`), or below its margin "
        "(`at_most`: no larger than the margin, perhaps negative). The learned effect "
        "reads the learned agents; the scripted effect reads the check's scripted agent in "
        "the same places, with its own verdict. A phenomenon holds if every learned check "
        "holds, fails if none does, and holds partly otherwise.",
    ]


def _verdict_table(found: list[Result]) -> list[str]:
    lines = [
        "| phenomenon | learned checks holding | verdict | scripted checks holding |",
        "|---|---|---|---|",
    ]
    for r in found:
        name = f"[{r.phenomenon.title}](#{_anchor(r.phenomenon)}) (`{r.phenomenon.name}`)"
        lines.append(f"| {name} | {r.held('learned')} | **{r.verdict}** | {r.held('scripted')} |")
    return lines


def _anchor(phen: Phenomenon) -> str:
    """The GitHub anchor of the phenomenon's heading."""
    heading = f"{phen.title} {phen.name}".lower()
    kept = "".join(ch for ch in heading if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def _fmt(effect: Effect) -> str:
    if not effect.n_seeds:
        return "no data"
    return f"{effect.iqm:.4f} [{effect.low:.4f}, {effect.high:.4f}]"


def _section(
    result: Result, jobs: dict[tuple[str, int], Job], picture: str, values: Values
) -> list[str]:
    phen = result.phenomenon
    lines = [f"## {phen.title} (`{phen.name}`)", ""]
    lines += [f"**Prediction.** {phen.prediction}", "", f"**Source.** {phen.source}", ""]
    lines += [f"**Verdict: {result.verdict}** ({result.held('learned')} learned checks hold).", ""]
    lines += [
        "| condition | scenario | design | centre | overrides | held-out variants | baselines "
        "| training steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in phen.conditions():
        lines.append(_condition_row(name, jobs))
    lines += [""]
    lines += [
        "| check | comparison | learned effect, IQM [95% CI] | verdict | scripted effect "
        "(agent) | scripted verdict |",
        "|---|---|---|---|---|---|",
    ]
    notes = []
    for check, learned, scripted in result.effects:
        other = f"{_fmt(scripted)} ({check.scripted})" if scripted is not None else DASH
        other_verdict = scripted.verdict if scripted is not None else DASH
        lines.append(
            f"| {check.name} | {check.comparison()} | {_fmt(learned)} | **{learned.verdict}** "
            f"| {other} | {other_verdict} |"
        )
        if check.note:
            notes.append(f"- {check.name}: {check.note}.")
    lines += [""] + (notes + [""] if notes else [])
    lines += _condition_metrics(phen, values)
    lines += [f"![{phen.name}]({picture})", ""]
    return lines


def _condition_metrics(phen: Phenomenon, values: Values) -> list[str]:
    """The metrics of ``phen.table`` in each of its conditions, for the learned agents and
    the checks' scripted agents: IQM over seeds [95% CI] on fresh seeds (none: no table)."""
    if not phen.table:
        return []
    agents = [LEARNED, *dict.fromkeys(c.scripted for c in phen.checks if c.scripted)]
    lines = [
        "Each condition's metrics (fresh seeds), IQM over seeds [95% CI]:",
        "",
        "| condition | agent | " + " | ".join(phen.table) + " |",
        "|---|---|" + "---|" * len(phen.table),
    ]
    for name in phen.conditions():
        for agent in agents:
            rows = [r[(agent, FRESH)] for r in values.get(name, {}).values() if (agent, FRESH) in r]
            if not rows:
                continue
            cells = []
            for metric in phen.table:
                point, low, high = iqm_interval(np.array([r[metric] for r in rows]))
                cells.append(f"{point:.3f} [{low:.3f}, {high:.3f}]")
            who = f"**{agent}**" if agent == LEARNED else agent
            lines.append(f"| `{name}` | {who} | " + " | ".join(cells) + " |")
    return lines + [""]


def _condition_row(name: str, jobs: dict[tuple[str, int], Job]) -> str:
    cond = CONDITIONS[name]
    mine = {seed: job for (n, seed), job in jobs.items() if n == name}
    overrides = ", ".join(f"{k}={v}" for k, v in cond.overrides.items())
    if cond.match_target_level_of is not None:
        levels = ", ".join(
            f"seed {seed}: {job.config.train['overrides']['target_default']}"
            for seed, job in sorted(mine.items())
        )
        overrides = (
            (overrides + "; " if overrides else "")
            + f"target_default = the learned mean target_level of `{cond.match_target_level_of}` "
            f"({levels})"
        )
    held_out = "; ".join(
        f"`{v}` ({', '.join(f'{k}={x}' for k, x in fields.items())})"
        for v, fields in cond.held_out.items()
    )
    steps = f"{next(iter(mine.values())).config.train['timesteps']:,}" if mine else DASH
    scale = f" (x{cond.timesteps_scale:g})" if cond.timesteps_scale != 1 else ""
    return (
        f"| `{name}` | `{cond.scenario}` | `{cond.design}` | `{cond.centre_policy}` | "
        f"{overrides or 'none'} | {held_out or 'none'} | {', '.join(cond.baselines)} | "
        f"{steps}{scale} |"
    )


def _hit_rates(values: Values) -> list[str]:
    """Reported beside true hit rates under ``targets``, per agent (fresh seeds)."""
    seeds = values[HIT_RATES]
    agents = list(dict.fromkeys(a for rows in seeds.values() for (a, v) in rows if v == FRESH))
    agents.sort(key=lambda a: a != LEARNED)
    reported, true = HIT_RATE_METRICS
    lines = [
        f"### Reported and true hit rates under `{HIT_RATES}`",
        "",
        f"The share of measured cells at or above their targets by the measure (`{reported}`) "
        f"and by the true outcome (`{true}`), IQM over seeds [95% CI]. Bevan & Hood (2006) "
        "give the order of a realistic gap: in 2004/05, 96% of A&E patients were reported "
        "seen within four hours, against 77% in a patient survey.",
        "",
        f"| agent | reported ({reported}) | true ({true}) | reported - true |",
        "|---|---|---|---|",
    ]
    for agent in agents:
        rows = [r[(agent, FRESH)] for r in seeds.values() if (agent, FRESH) in r]
        cells = [
            iqm_interval(np.array(column))
            for column in (
                [r[reported] for r in rows],
                [r[true] for r in rows],
                [r[reported] - r[true] for r in rows],
            )
        ]
        text = " | ".join(f"{p:.3f} [{lo:.3f}, {hi:.3f}]" for p, lo, hi in cells)
        name = f"**{agent}**" if agent == LEARNED else agent
        lines.append(f"| {name} | {text} |")
    return lines + [""]
