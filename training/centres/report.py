"""The centre comparison's outputs: summary.csv, report.md and its figures.

Rows are arms (the ways a centre governs); every value is the learned locals' under the
arm's centre, IQM over seeds with a 95% bootstrap interval, on fresh seeds and on each
held-out variant. The goal table sets each learned centre against the best scripted
one on each metric (the scripted rule or searched constant rule with the highest IQM of
that metric, so the centre's reward and true welfare may name different rules): both
must improve with intervals apart, over at least ``GOAL_SEEDS`` seeds, the welfare gain
at least ``GOAL_SHARE`` of the gap between the best scripted true welfare and that of
``oracle_outcomes`` (locals paid on the truth).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from target_gaming.agents.centre_actions import RELATIVE_SPAN
from target_gaming.envs.target_gaming import make_config

from ..compare import figures
from ..compare.cells import EPISODES
from ..compare.grid import FRESH, LEARNED
from ..compare.report import SUMMARY_COLUMNS, _fmt, _values, metric_table, summarise
from ..compare.specs import eval_specs, train_config
from ..compare.stats import intervals_overlap, iqm_interval
from ..evaluation.rollout import RolloutSpec, rollout, with_frontline
from ..io import write_csv, write_text
from ..runs import RunDir, read_curves
from ..validate.cells import cell_folder, cell_seconds, job_problem
from .config import (
    BEST_CONSTANT,
    OFFSET,
    PRESCRIBE,
    RULE_PARAMS,
    SCRIPTED,
    SEARCH_PREFIX,
    STACKELBERG,
    CentreStudyConfig,
    arm_cell,
    arm_config,
    constant_params,
    rule_params,
)
from .config import (
    LEARNED_CENTRES as LEARNED_ARMS,
)
from .stackelberg import START

GOAL_SHARE = 0.16  # of the gap to the oracle: the AI Economist planner's gain over Saez
GOAL_SEEDS = 5  # fewer seeds' intervals are too wide (or, with one, empty) to judge
ORACLE = "oracle_outcomes"
METRICS = (
    "centre_return",
    "true_welfare",
    "gaming_share",
    "goodhart_gap",
    "neglect",
    "slack_share",
    "target_level",
    "target_hit_rate",
    "audits",
    "audit_cost",
)


def arm_rows(jobs: dict) -> list[dict]:
    """Summary rows of every finished cell, each with its ``arm`` (``design`` keeps the
    design its cell ran)."""
    rows = []
    for (arm, _), job in sorted(jobs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if job_problem(job) is None:
            rows += [{"arm": arm, **r} for r in summarise([cell_folder(job) / EPISODES])]
    return rows


def _as_designs(rows: list[dict]) -> list[dict]:
    """The rows keyed by arm where the comparison's tables read the design."""
    return [{**r, "design": r["arm"]} for r in rows]


def best_scripted(
    rows: list[dict], arms: list[str], variant: str = FRESH, metric: str = "centre_return"
) -> str | None:
    """The scripted arm (a rule or ``best_constant``) with the highest IQM of ``metric``."""
    scripted = [a for a in arms if a in SCRIPTED or a == BEST_CONSTANT]
    scores = {a: iqm_interval(_values(rows, a, metric, LEARNED, variant))[0] for a in scripted}
    return max(scores, key=lambda a: scores[a]) if scores else None


def goal_table(rows: list[dict], arms: list[str], variants: list[str]) -> list[str]:
    """Each learned arm against the best scripted centre, per variant."""
    lines = [
        "| variant | learned centre | metric | learned | best scripted | intervals apart | "
        "gain | share of the gap to the oracle | goal met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in variants:
        if best_scripted(rows, arms, variant) is None:
            return ["(no scripted arm: no goal table)"]
        oracle = (
            iqm_interval(_values(rows, ORACLE, "true_welfare", LEARNED, variant))
            if ORACLE in arms
            else None
        )
        for arm in (a for a in arms if a in LEARNED_ARMS):
            for metric in ("centre_return", "true_welfare"):
                best = best_scripted(rows, arms, variant, metric)
                values = _values(rows, arm, metric, LEARNED, variant)
                mine = iqm_interval(values)
                base = iqm_interval(_values(rows, best, metric, LEARNED, variant))
                apart = not intervals_overlap(mine, base) and mine[0] > base[0]
                gain = mine[0] - base[0]
                share, met = "n/a", apart and len(values) >= GOAL_SEEDS
                if metric == "true_welfare":
                    if oracle is not None and oracle[0] > base[0]:
                        fraction = gain / (oracle[0] - base[0])
                        share = f"{fraction:.0%}"
                        met = met and fraction >= GOAL_SHARE
                    else:
                        met = False
                lines.append(
                    f"| {variant} | `{arm}` | {metric} | {_fmt(mine)} | `{best}` {_fmt(base)} | "
                    f"{'yes' if apart else 'no'} | {gain:+.3f} | {share} | "
                    f"{'**yes**' if met else 'no'} |"
                )
    return lines


def goal_verdict(rows: list[dict], arms: list[str], variants: list[str]) -> list[str]:
    """Per variant, on true welfare: the best learned centre against the best scripted one,
    what the goal asks of it, and by how much it falls short (``goal_table`` has both
    metrics)."""
    learned = [a for a in arms if a in LEARNED_ARMS]
    if not learned or ORACLE not in arms:
        return []
    lines = []
    for variant in variants:
        best = best_scripted(rows, arms, variant, "true_welfare")
        if best is None:
            return []
        value = {
            a: iqm_interval(_values(rows, a, "true_welfare", LEARNED, variant))
            for a in (*learned, best, ORACLE)
        }
        top = max(learned, key=lambda a: value[a][0])
        mine, base, oracle = value[top], value[best], value[ORACLE][0]
        needed = base[0] + GOAL_SHARE * (oracle - base[0])
        short = [
            f"{needed - mine[0]:.3f} on the IQM" if mine[0] < needed else "",
            f"{base[2] - mine[1]:.3f} on the interval" if mine[1] <= base[2] else "",
        ]
        seeds = len(_values(rows, top, "true_welfare", LEARNED, variant))
        short = [s for s in short if s]
        more = GOAL_SEEDS - seeds
        short += [f"{more} seed{'s' if more > 1 else ''} ({seeds} run)"] if more > 0 else []
        lines.append(
            f"- {variant}: the best learned centre on true welfare, `{top}`, reaches "
            f"{_fmt(mine)}, against `{best}`'s {_fmt(base)}; the goal asks an IQM of "
            f"{needed:.3f} ({GOAL_SHARE:.0%} of the way to `{ORACLE}`'s {oracle:.3f}) with "
            f"its interval above {base[2]:.3f}: "
            + (f"short by {_listed(short)}." if short else "reached on true welfare.")
        )
    return lines


def _listed(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def how_learned(config: CentreStudyConfig) -> list[str]:
    """How each learned arm's centre was trained, from the arms' own TrainConfigs."""
    lines = []
    for arm in (a for a in config.centres if a in LEARNED_ARMS):
        if arm == STACKELBERG:
            outer, names = config.stackelberg, config.rule_space()
            prescribing = (
                f" and the nationally best approach prescribed at {START[PRESCRIBE]:g}"
                if PRESCRIBE in names
                else ""
            )
            lines.append(
                f"- `stackelberg` (the centre leads, the locals follow by learning): CMA-ES "
                f"over `relative_rule`'s {', '.join(names)}, from `ratchet`'s targets "
                f"(rate {START['ratchet_rate']:g}, offset {START['offset']:g}) with audit "
                f"focus {START['audit_focus']:g}{prescribing}, {outer['generations']} "
                f"generations of "
                f"{outer['population']} candidates, each judged by the centre's mean reward "
                f"after SB3 locals trained {config.timesteps:,} steps against it on seeds "
                f"{list(outer['seeds'])} (none of the study's); the learned rule is the "
                "strategy's mean after the last generation, and its cells train fresh locals "
                "against it on every seed."
            )
            continue
        job = arm_config(config, arm, config.seeds[0])
        trained = train_config(job, arm_cell(config, arm, config.seeds[0]))
        first, last = trained.centre_log_std
        if arm == "two_level":
            lines.append(
                f"- `two_level` (SB3, the AI Economist's two-level curriculum): the locals "
                f"learn {trained.timesteps:,} steps under `{trained.centre}`; then "
                f"{trained.rounds} rounds in which the centre learns "
                f"{trained.centre_timesteps:,} decisions against the frozen locals and "
                f"the locals re-learn {trained.round_timesteps:,} steps against the frozen "
                f"centre; the centre's log-std is capped from {first} to {last} and its "
                f"entropy coefficient falls from {trained.centre_ppo.ent_coef} to 0 over the "
                "rounds."
            )
        else:
            acts = ""
            if trained.centre_action == "relative":
                acts = (
                    "; it sets each target relative to the locality's target and last "
                    f"measure (`centre_action` `relative`: `ratchet`'s next target + "
                    f"{RELATIVE_SPAN} x its action in [-1, 1], its zero output `ratchet` with "
                    "even audits)"
                )
            if trained.centre_warmup == 0.0:
                when = "over the run"
            else:
                when = (
                    f"over the rest of the run, after a warm-up of "
                    f"{trained.centre_warmup:.0%} of it in which its policy holds its "
                    "initial output (about zero) with no noise while the locals learn "
                    "(`centre_warmup`, the AI Economist's phase 1)"
                )
            lines.append(
                f"- `rllib` (Ray RLlib PPO): the centre and the locals learn at once for "
                f"{trained.timesteps:,} local agent-steps; the centre's log-std falls "
                f"linearly from {first} to {last} {when}{acts}."
            )
    return lines


def centre_learning(jobs: dict) -> list[str]:
    """Does the SB3 centre learn? Per round of ``two_level``, the centre's episode return
    and true welfare (its training rollouts) at the round's start and end (means of the
    first and last five rollouts, then over seeds)."""
    per_stage: dict[int, list[tuple[float, float, float, float]]] = {}
    for (arm, _), job in jobs.items():
        if arm != "two_level" or job_problem(job) is not None:
            continue
        rows = read_curves(cell_folder(job) / "curves.csv")
        for stage in sorted({r["stage"] for r in rows if r["role"] == "centre"}):
            mine = [r for r in rows if r["stage"] == stage]
            head, tail = mine[:5], mine[-5:]
            per_stage.setdefault(stage, []).append(
                (
                    float(np.mean([r["return"] for r in head])),
                    float(np.mean([r["return"] for r in tail])),
                    float(np.mean([r["true_welfare"] for r in head])),
                    float(np.mean([r["true_welfare"] for r in tail])),
                )
            )
    if not per_stage:
        return ["(no two_level cell: no centre learning curve)"]
    lines = [
        "| round | centre return, start | end | true welfare, start | end |",
        "|---|---|---|---|---|",
    ]
    for n, stage in enumerate(sorted(per_stage), start=1):
        values = np.mean(per_stage[stage], axis=0)
        lines.append(
            f"| {n} | {values[0]:.2f} | {values[1]:.2f} | {values[2]:.3f} | {values[3]:.3f} |"
        )
    return lines


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (NaN where either side is constant)."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    scale = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (x * y).sum(axis=-1) / scale, np.nan)


def _nanmean(values: np.ndarray) -> float:
    """The mean of the finite values; NaN (n/a in the tables) when there are none, as for
    a constant target, without numpy's warning."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def behaviour(job) -> dict[str, float]:
    """What the cell's centre does, with its learned locals, on fresh seeds: over each
    episode's review steps, the mean measured target, the correlation across localities
    of a locality's mean target with its capacity and of its audit rate with its gaming
    stock (inflation), and the share of audits that went to the more inflated half; with
    the prescription lever, over every period after the first (the first has none in
    force), the mean strength of the prescription in force and its locals' off-method
    record before the period's review step (the strength-weighted share of their effort
    on other approaches, per step of the period's first P - 1)."""
    folder = cell_folder(job)
    suffix = ".rllib" if job.config.trainer == "rllib" else ".zip"
    local = folder / f"local_policy{suffix}"
    centre = folder / f"centre_policy{suffix}"
    trained = train_config(job.config, job.cell)
    _, _, spec = eval_specs(
        job.config, job.cell, trained, local, centre if centre.exists() else None
    )[0]
    seen: dict[str, list] = {"targets": [], "audited": [], "inflation": [], "mask": []}
    seen |= {"strength": [], "off_method": []}
    world = make_config(spec.scenario, **spec.overrides)
    period = world.review_period
    capacity = []

    def record(state, result) -> None:
        after = result.state
        if int(after.t[0]) % period == 0:  # a review step: its targets and audits
            seen["targets"].append(after.targets)
            seen["audited"].append(after.audited.max(axis=-1))
            seen["inflation"].append(state.inflation.mean(axis=-1))
            seen["mask"].append(after.basket[:, None, :])
            if int(state.t[0]) >= period:  # a prescription was in force this period
                seen["strength"].append(state.prescription.max(axis=-1).mean())
                seen["off_method"].append(state.off_method.mean() * period / max(period - 1, 1))
        if not capacity:
            capacity.append(state.capacity)

    rollout(spec, on_step=record)
    mask = np.stack(seen["mask"])  # (S, B, 1, K)
    targets = (np.stack(seen["targets"]) * mask).sum(-1) / np.maximum(mask.sum(-1), 1)
    audited = np.stack(seen["audited"]).mean(axis=0)  # (B, L) audit rate per locality
    inflation = np.stack(seen["inflation"]).mean(axis=0)  # (B, L)
    per_locality = targets.mean(axis=0)  # (B, L)
    upper = inflation >= np.median(inflation, axis=1, keepdims=True)
    total = audited.sum(axis=1)
    to_upper = np.where(total > 0, (audited * upper).sum(axis=1) / np.maximum(total, 1e-12), np.nan)
    out = {
        "target": float(targets.mean()),
        "target_capacity": _nanmean(_corr(per_locality, capacity[0])),
        "audit_inflation": _nanmean(_corr(audited, inflation)),
        "audits_to_inflated_half": _nanmean(to_upper),
    }
    if world.prescription:  # n/a without a second period, or without steps before reviews
        later = bool(seen["strength"])
        out["prescription_strength"] = float(np.mean(seen["strength"])) if later else np.nan
        record = later and period > 1
        out["off_method"] = float(np.mean(seen["off_method"])) if record else np.nan
    return out


def behaviour_table(jobs: dict, arms: list[str]) -> list[str]:
    """``behaviour`` per arm, the mean over its finished cells (seeds)."""
    columns = [
        "mean target",
        "corr(target, capacity)",
        "corr(audit rate, inflation)",
        "share of audits to the more inflated half",
    ]
    lines: list[str] = []
    for arm in arms:
        cells = [j for (a, _), j in sorted(jobs.items()) if a == arm and job_problem(j) is None]
        if not cells:
            continue
        values = [behaviour(j) for j in cells]
        if not lines:  # the header: with the prescription lever, its two columns too
            if "prescription_strength" in values[0]:
                columns += ["prescription strength", "off-method record per step"]
            lines = [f"| arm | {' | '.join(columns)} |", "|---" * (len(columns) + 1) + "|"]
        mean = {k: _nanmean(np.array([v[k] for v in values])) for k in values[0]}
        cells_text = " | ".join("n/a" if np.isnan(v) else f"{v:.3f}" for v in mean.values())
        lines.append(f"| `{arm}` | {cells_text} |")
    return lines


def probe_rules(config: CentreStudyConfig) -> list[tuple[float, float]]:
    """The constant rules the locals are probed with: targets at ``target_min``,
    ``target_default`` and halfway from it to ``target_max``, audits at the budget."""
    world = make_config(config.scenario, **config.overrides)
    rate = min(world.n_audits, world.n_localities) / world.n_localities
    high = world.target_default + (world.target_max - world.target_default) / 2
    return [(world.target_min, rate), (world.target_default, rate), (high, rate), (high, 0.0)]


def responses(config: CentreStudyConfig, jobs: dict, arms: list[str]) -> list[str]:
    """Do an arm's learned locals respond to the centre they face? Each finished cell's
    locals, not re-trained, under every ``probe_rules`` constant rule (on the cell's
    evaluation seed): true welfare and gaming per rule, means over seeds. Locals that
    act the same under every rule give a centre learning against them nothing to learn
    from but the cost of its audits."""
    rules = probe_rules(config)
    names = [f"{tau:.2f}, {rate:.2f}" for tau, rate in rules]
    lines = [
        "| arm | "
        + " | ".join(f"true welfare ({n})" for n in names)
        + " | "
        + " | ".join(f"gaming ({n})" for n in names)
        + " |",
        "|---" * (1 + 2 * len(rules)) + "|",
    ]
    for arm in arms:
        cells = [j for (a, _), j in sorted(jobs.items()) if a == arm and job_problem(j) is None]
        if not cells:
            continue
        values = np.zeros((len(cells), len(rules), 2))
        for c, job in enumerate(cells):
            folder = cell_folder(job)
            suffix = ".rllib" if job.config.trainer == "rllib" else ".zip"
            for r, (tau, rate) in enumerate(rules):
                spec = RolloutSpec(
                    scenario=config.scenario,
                    design=config.design,
                    policy=str(folder / f"local_policy{suffix}"),
                    centre_policy="constant_rule",
                    centre_params={"target_level": tau, "audit_rate": rate},
                    centre_reward=config.centre_reward,
                    episodes=config.eval_episodes,
                    seed=job.cell.seed + OFFSET,
                    overrides=dict(config.overrides),  # the study's world
                )
                rows = rollout(spec)
                values[c, r] = [
                    np.mean([row[k] for row in rows]) for k in ("true_welfare", "gaming_share")
                ]
        mean = values.mean(axis=0)
        lines.append(
            f"| `{arm}` | "
            + " | ".join(f"{v:.3f}" for v in mean[:, 0])
            + " | "
            + " | ".join(f"{v:.3f}" for v in mean[:, 1])
            + " |"
        )
    return lines


def frozen_means(config: CentreStudyConfig, jobs: dict) -> dict[str, float]:
    """Each search candidate's mean centre reward against *frozen* locals: those of each
    ``two_level`` cell at the end of its phase 1 (trained under the design's own centre),
    not re-trained against the candidate; what a centre that learns against frozen locals
    sees. Empty without both a search and a finished ``two_level`` cell."""
    frozen = []
    for (arm, seed), job in sorted(jobs.items()):
        if arm == "two_level" and job_problem(job) is None:
            steps = RunDir(cell_folder(job)).list_checkpoints("local")
            ends = [path for t, path in steps if t >= config.timesteps]
            if ends:
                frozen.append((seed, ends[0]))
    means: dict[str, float] = {}
    for arm in config.candidates() if frozen else ():
        values = []
        for seed, path in frozen:
            spec = RolloutSpec(
                scenario=config.scenario,
                design=config.design,
                policy=str(path),
                centre_policy="constant_rule",
                centre_params=constant_params(arm),
                centre_reward=config.centre_reward,
                episodes=config.eval_episodes,
                seed=seed + OFFSET,
                overrides=dict(config.overrides),  # the study's world
            )
            values += [row["centre_return"] for row in rollout(spec)]
        means[arm] = float(np.mean(values))
    return means


def search_table(best: str | None, means: dict[str, float], frozen: dict[str, float]) -> list[str]:
    """The search's candidates: the centre's mean reward with locals trained against each
    (the search), and against frozen locals (``frozen_means``), the best of each marked."""
    if not means:
        return ["(no search in this study)"]
    top_frozen = max(frozen, key=lambda a: frozen[a]) if frozen else None
    lines = [
        "| constant rule (target level, audit rate) | centre reward, locals trained against "
        "it | chosen | centre reward, frozen locals | best against frozen locals |",
        "|---|---|---|---|---|",
    ]
    for arm, value in sorted(means.items(), key=lambda kv: -kv[1]):
        against = f"{frozen[arm]:.3f}" if arm in frozen else "n/a"
        name = arm[len(SEARCH_PREFIX) :]
        lines.append(
            f"| `{name}` | {value:.3f} | {'yes' if arm == best else ''} | "
            f"{against} | {'yes' if arm == top_frozen else ''} |"
        )
    return lines


def stackelberg_table(history: list[dict], space: tuple[str, ...] = RULE_PARAMS) -> list[str]:
    """The stackelberg centre's outer loop, generation by generation: its candidates' best
    and mean score (the centre's mean reward after locals trained against each), the best
    candidate's rule, and the strategy's mean (the rule it would commit to) after it."""
    if not history:
        return ["(no stackelberg arm in this study)"]
    names = ", ".join(space)
    lines = [
        f"| generation | candidates | best score | mean score | best candidate ({names}) | "
        f"strategy mean after ({names}) | step size |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in history:
        scored = record["candidates"]
        top = max(scored, key=lambda c: c["score"])
        rule = ", ".join(f"{v:.3f}" for v in rule_params(top["arm"]).values())
        mean = ", ".join(f"{record['mean'][k]:.3f}" for k in space)
        lines.append(
            f"| {record['generation']} | {len(scored)} | {top['score']:.3f} | "
            f"{np.mean([c['score'] for c in scored]):.3f} | {rule} | {mean} | "
            f"{record['sigma']:.3f} |"
        )
    return lines


def _arm_settings(config: CentreStudyConfig) -> str:
    """The learned arms' own settings, for those the study has (each ends '; ')."""
    parts = []
    if "two_level" in config.centres:
        parts.append(f"two_level {config.two_level}; ")
    if "rllib" in config.centres:
        parts.append(f"rllib {config.rllib or 'the same budget'}; ")
    if STACKELBERG in config.centres:
        parts.append(f"stackelberg {config.stackelberg}; ")
    return "".join(parts)


def _budgets(config: CentreStudyConfig) -> str:
    """What the locals' budgets are, when the two_level arm's differs from the rest."""
    if "two_level" not in config.centres:
        return ""
    return (
        f" The `two_level` arm's locals train {config.timesteps:,} steps plus "
        f"{config.two_level.get('rounds', 2)} rounds of "
        f"{config.two_level.get('round_timesteps', 500_000):,}; every other arm's, "
        f"{config.timesteps:,}."
    )


def aggregate(
    config: CentreStudyConfig,
    root: Path,
    jobs: dict,
    best: str | None,
    means: dict[str, float],
    command: str,
    skipped: int,
    wall: float,
    history: list[dict] | None = None,
) -> Path:
    """summary.csv, report.md and intervals.png from every finished cell."""
    rows = arm_rows(jobs)
    search_seeds = list(config.search.get("seeds", []))
    write_csv(root / "summary.csv", rows, with_frontline(("arm", *SUMMARY_COLUMNS), rows))
    shown = [a for a in (*config.centres, *config.references) if any(r["arm"] == a for r in rows)]
    table_rows = _as_designs(rows)
    variants = [FRESH, *config.held_out]
    done = [j for j in jobs.values() if job_problem(j) is None]
    seconds = sum(cell_seconds(j) for j in done)
    lines = [
        "# Centre comparison",
        "",
        f"Command: `{command}`" if command else "",
        f"Study: design `{config.design}` in scenario `{config.scenario}`"
        f"{f' with {config.overrides}' if config.overrides else ''}, centre reward "
        f"`{config.centre_reward}`; seeds {list(config.seeds)}; locals' budget "
        f"{config.timesteps:,} local agent-steps; {_arm_settings(config)}"
        f"{config.eval_episodes} evaluation episodes per seed and variant (held-out "
        f"variants {config.held_out}).",
        f"Cells finished: {len(done)} of {len(jobs)} ({skipped} from an earlier run); this "
        f"run's wall time {wall:.0f} s; the cells' own times add up to {seconds:.0f} s.",
        "",
        "Every arm's locals were trained against that arm's centre (under it, or with it) "
        "and are evaluated with it; values are the learned locals', IQM over seeds "
        "[95% bootstrap interval].",
        "",
        "## The goal: learned centres against the best scripted centre",
        "",
        f"Met where the learned centre's reward and true welfare both beat the best scripted "
        f"centre's on that metric (a scripted rule or the searched constant rule) with "
        f"intervals apart over at least {GOAL_SEEDS} seeds, the welfare gain at least "
        f"{GOAL_SHARE:.0%} of the gap between that centre and `{ORACLE}`.{_budgets(config)}",
        "",
        *goal_table(table_rows, shown, variants),
        "",
        *goal_verdict(table_rows, shown, variants),
        "",
        "How the learned centres were trained:",
        "",
        *how_learned(config),
        "",
    ]
    if "two_level" in config.centres:
        lines += [
            "## Does the centre learn? (`two_level`)",
            "",
            "The centre learns against frozen locals in each round (its training rollouts, "
            "stochastic actions), then the locals re-learn against it; a round's start after "
            "the first shows what the locals' adaptation did to the centre's return.",
            "",
            *centre_learning(jobs),
            "",
        ]
    if BEST_CONSTANT in config.centres:
        lines += [
            f"## The search: `{BEST_CONSTANT}`",
            "",
            f"Each constant rule trained and evaluated on seeds {search_seeds}; "
            f"the best by mean centre reward runs on every seed as `{BEST_CONSTANT}`.",
            "",
            "Against frozen locals (each `two_level` cell's locals at the end of phase 1, not "
            "re-trained), the centre's best rule can differ from the best once the locals "
            "have adapted to it: a centre that learns only against frozen locals learns the "
            "former.",
            "",
            *search_table(best, means, frozen_means(config, jobs)),
            "",
        ]
    if STACKELBERG in config.centres:
        outer = config.stackelberg
        learned = ", ".join(f"{k} {v:g}" for k, v in (history or [{}])[-1].get("mean", {}).items())
        lines += [
            f"## The stackelberg centre: `{STACKELBERG}`",
            "",
            "A centre that learns beside its locals answers the locals it has; a centre that "
            "commits to a rule is paid what the locals do once they have learned under it. "
            "This centre learns its rule as that leader: each candidate `relative_rule` "
            "(tau' = tau + ratchet_rate (m - tau) + offset per locality and measured "
            "domain; audit weights 1 - audit_focus plus audit_focus on the localities "
            "`risk_based_audits` would choose"
            + (
                "; the nationally best approach prescribed at strength prescribe"
                if PRESCRIBE in config.rule_space()
                else ""
            )
            + ") is judged by the centre's mean reward after "
            f"SB3 locals trained against it on seeds {list(outer['seeds'])}; CMA-ES moves "
            "its search distribution towards the better candidates.",
            "",
            *stackelberg_table(history or [], config.rule_space()),
            "",
            f"Learned rule: {learned or 'n/a'}.",
            "",
        ]
    lines += [
        "## Do the locals respond to the centre?",
        "",
        "Each arm's learned locals, not re-trained, under constant rules (target level, "
        "audit rate) on their cells' evaluation seeds; means over seeds. A centre learns "
        "only from what its decisions change within an episode: against locals that act "
        "the same under every rule, its targets change nothing and its audits only cost, "
        "and what a centre did to the locals' training, which is what separates the arms "
        "when their locals act alike under every rule, is out of its sight.",
        "",
        *responses(config, jobs, [a for a in shown if a in config.centres]),
        "",
        "## What each centre does",
        "",
        "With its learned locals on fresh seeds, over the review steps of every episode: "
        "the mean target of the measured domains; across localities, how a locality's mean "
        "target follows its capacity and its audit rate its gaming stock (inflation in the "
        "measure, just before each review); and the share of audits that went to the more "
        "inflated half of localities (0.5: blind to gaming). Audits also deter: localities "
        "audited often stop gaming, so a centre that audits the same places again and again "
        "shows a negative correlation. Means over seeds.",
        "",
        *behaviour_table(jobs, [a for a in shown if a in config.centres]),
        "",
    ]
    for variant in variants:
        title = "fresh seeds" if variant == FRESH else f"held-out variant `{variant}`"
        lines += [f"## Every arm, {title}", ""]
        lines += metric_table(table_rows, shown, [LEARNED], variant, METRICS, row="arm") + [""]
    name = figures.interval_plots(root, table_rows, shown, [LEARNED], config.scenario)
    lines += ["## Figures", "", f"![{name}]({name})", ""]
    path = root / "report.md"
    write_text(path, "\n".join(lines))
    write_text(root / "search.json", json.dumps({"best": best, "means": means}, indent=2) + "\n")
    return path
