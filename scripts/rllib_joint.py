"""Joint training on RLlib under `targets` and `audited_targets`: do jointly trained locals
game more without audits? Trains the missing runs, then writes results/rllib_joint/.

Outputs: ``report.md`` and ``curves.png``.

Every run is ``target-gaming train --backend rllib --design D --seed S --timesteps T``
(default scenario, political centre, TrainConfig's PPO defaults) into
``runs/rllib-joint/D/seedS``; finished runs (with episodes.csv) are kept. The report
gives, per design, the evaluation's means over episodes for each seed and their mean over
seeds, and the learning curves (progress.csv: the means over the episodes that ended in
each iteration, stochastic actions) of gaming_share and goodhart_gap.

Run from the repository root:
    .venv/bin/python scripts/rllib_joint.py [--seeds 0 1 2] [--timesteps 491520]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

DESIGNS = ("targets", "audited_targets")
METRICS = ("gaming_share", "goodhart_gap", "true_welfare", "local_return", "centre_return")
MORE = ("target_hit_rate", "measured_performance", "slack_share", "neglect")
MEASURE_FIXED = ("gaming_share", "goodhart_gap", "target_hit_rate")
CURVES = ("gaming_share", "goodhart_gap", "local_return", "true_welfare")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def train_missing(runs: Path, seeds, timesteps: int) -> dict[tuple[str, int], float]:
    from target_gaming.training.config import TrainConfig
    from target_gaming.training.rllib.train import train_rllib

    walls = {}
    for seed in seeds:
        for design in DESIGNS:
            out = runs / design / f"seed{seed}"
            if (out / "episodes.csv").exists():
                continue
            config = TrainConfig(design=design, seed=seed, timesteps=timesteps, out=str(out))
            start = time.perf_counter()
            label = f"{design} seed {seed}"
            train_rllib(config, log=lambda line, label=label: print(f"{label}: {line}"[:160]))
            walls[design, seed] = time.perf_counter() - start
    return walls


def evaluation_table(runs: Path, seeds) -> list[str]:
    names = METRICS + MORE
    lines = ["| design | seed | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for design in DESIGNS:
        per_seed = []
        for seed in seeds:
            rows = read_csv(runs / design / f"seed{seed}" / "episodes.csv")
            means = [np.mean([float(r[n]) for r in rows]) for n in names]
            per_seed.append(means)
            lines.append(f"| {design} | {seed} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
        values = np.array(per_seed)
        cells = [f"**{m:.3f}** ± {s:.3f}" for m, s in zip(values.mean(0), values.std(0, ddof=1))]
        lines.append(f"| {design} | mean ± sd | " + " | ".join(cells) + " |")
    return lines


def centre_and_fixed_centre(runs: Path, seeds) -> list[str]:
    """The learned centre's headline targets, and the learned locals under the scripted
    ``fixed_targets`` centre (targets at their default), 32 episodes each."""
    from target_gaming.envs.target_gaming import get_scenario
    from target_gaming.training.evaluation.rollout import RolloutSpec, rollout

    default = get_scenario("whitehall").config().target_default
    lines = [
        "| design | seed | learned centre: mean headline target | locals under fixed_targets"
        f" ({default}): gaming_share | goodhart_gap | target_hit_rate |",
        "|---|---|---|---|---|---|",
    ]
    for design in DESIGNS:
        for seed in seeds:
            run = runs / design / f"seed{seed}"
            local, centre = str(run / "local_policy.rllib"), str(run / "centre_policy.rllib")
            targets = []

            def record(state, result, targets=targets):
                if int(state.t[0]) >= 4:  # after the first review
                    targets.append(result.state.targets[..., :2].mean())  # health, education

            spec = RolloutSpec(design=design, policy=local, centre_policy=centre, episodes=32)
            rollout(spec, on_step=record)
            rows = rollout(RolloutSpec(design=design, policy=local, episodes=32))
            means = [np.mean([float(r[n]) for r in rows]) for n in MEASURE_FIXED]
            lines.append(
                f"| {design} | {seed} | {np.mean(targets):.3f} | "
                + " | ".join(f"{m:.3f}" for m in means)
                + " |"
            )
    return lines


def curves(runs: Path, seeds, out: Path) -> list[str]:
    """curves.png, and a table of the curves' first and last values (seed means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.2))
    lines = ["| design | metric | first logged iteration | last iteration |", "|---|---|---|---|"]
    for design, colour in zip(DESIGNS, ("tab:red", "tab:blue")):
        data = [read_csv(runs / design / f"seed{s}" / "progress.csv") for s in seeds]
        data = [[r for r in rows if int(r["episodes"]) > 0] for rows in data]
        for ax, name in zip(axes, CURVES):
            ends = []
            for k, rows in enumerate(data):
                x = [int(r["local_timesteps"]) for r in rows]
                y = [float(r[name]) for r in rows]
                ax.plot(x, y, color=colour, alpha=0.7, label=design if k == 0 else None)
                ends.append((y[0], y[-1]))
            ax.set_title(name)
            ax.set_xlabel("local agent-steps")
            first, last = np.mean(ends, axis=0)
            lines.append(f"| {design} | {name} | {first:.3f} | {last:.3f} |")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=491_520)  # 80 iterations
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "rllib-joint")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "rllib_joint")
    args = parser.parse_args(argv)
    if argv is None:  # RLlib's runs repeat only under one hash seed
        from target_gaming.training.cli import fixed_hash_seed

        fixed_hash_seed()
    os.chdir(ROOT)
    walls = train_missing(args.runs, args.seeds, args.timesteps)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "scripts/rllib_joint.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = [
        "# Joint training on RLlib: targets vs audited_targets",
        "",
        f"Command: `.venv/bin/python {command.strip()}`. Runs in `{args.runs.name}/`"
        f" ({args.timesteps} local agent-steps each; train wall times this call: "
        + (", ".join(f"{d} seed {s} {w:.0f} s" for (d, s), w in walls.items()) or "none")
        + ").",
        "",
        "Evaluation (`episodes.csv`: 32 deterministic episodes on fresh seeds, learned locals"
        " under the learned centre); mean over episodes per seed, then mean ± sd over seeds:",
        "",
        *evaluation_table(args.runs, args.seeds),
        "",
        "Learning curves (`progress.csv`, stochastic actions, means over seeds), plotted in"
        " `curves.png`:",
        "",
        *curves(args.runs, args.seeds, args.out),
        "",
        "What the centre learned, and the same locals under the scripted centre"
        " (rollouts of 32 episodes, seed 0):",
        "",
        *centre_and_fixed_centre(args.runs, args.seeds),
        "",
    ]
    (args.out / "report.md").write_text("\n".join(report))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
