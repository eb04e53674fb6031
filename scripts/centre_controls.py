"""Controls for the relative learned centre (the `relative` centre study): what its locals
reach under its starting rule, how the ratchet's rate matters, and how locals of the
other trainer fare against it. Trains the missing runs, then writes
results/centre-relative/controls.md.

Every run is one ``TrainConfig`` of the `relative` preset's cells (5 seeds, 1M local
agent-steps, `targeted_audits` in `whitehall`, `welfare` centre reward), changed as its
row says (the ``_2m`` rows at twice the budget), trained into
``runs/centre-controls/<control>/seed<k>``; finished runs (with episodes.csv) are kept.
Each run's own evaluation (``episodes.csv``: 32 deterministic episodes on fresh seeds)
gives a mean per seed (a swap row, ``SWAPS``, evaluates a control's saved locals under
another centre on the same episodes, without training); the table shows the IQM over
seeds with its 95% bootstrap interval, as the centre reports do.

Run from the repository root:
    .venv/bin/python scripts/centre_controls.py [--seeds 0 1 2 3 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("true_welfare", "centre_return", "gaming_share", "slack_share", "target_level")

# control -> (what it is, the arm of the relative study it starts from)
CONTROLS = {
    "ratchet": ("SB3 locals under `ratchet` (rate 0.5): the study's best scripted arm", "ratchet"),
    "ratchet_rate_1": (
        "SB3 locals under `ratchet` of rate 1 (next target = last measure)",
        "ratchet",
    ),
    "ratchet_2m": ("`ratchet` at twice the budget (2M local agent-steps)", "ratchet"),
    "rllib_relative": (
        "RLlib: the relative centre and its locals learn jointly, the centre held at the "
        "ratchet for the first half (`centre_warmup` 0.5; the study's `rllib` arm)",
        "rllib",
    ),
    "rllib_no_warmup": (
        "RLlib: `rllib_relative` with the centre learning from the start (`centre_warmup` 0)",
        "rllib",
    ),
    "rllib_frozen": (
        "RLlib: the same, the centre's policy held at its zero output all run (`ratchet`, "
        "even audits; `centre_warmup` 1)",
        "rllib",
    ),
    "rllib_relative_2m": (
        "`rllib_relative` at twice the budget (2M local agent-steps)",
        "rllib",
    ),
    "rllib_frozen_2m": ("`rllib_frozen` at twice the budget (2M local agent-steps)", "rllib"),
    "sb3_vs_learned": (
        "SB3 locals trained against each seed's saved `rllib_relative` centre",
        "ratchet",
    ),
}
LATER = ("sb3_vs_learned",)  # needs rllib_relative's centres
# rows evaluated, not trained: -> (what, the control whose saved locals run, their centre)
SWAPS = {
    "rllib_relative_locals_under_ratchet": (
        "the locals of `rllib_relative` under `ratchet` instead of their learned centre "
        "(no training: is the learned centre better for its own locals?)",
        "rllib_relative",
        "ratchet",
    ),
    "rllib_no_warmup_locals_under_ratchet": (
        "the locals of `rllib_no_warmup` under `ratchet` instead of their learned centre",
        "rllib_no_warmup",
        "ratchet",
    ),
}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def run_folder(runs: Path, control: str, seed: int) -> Path:
    return runs / control / f"seed{seed}"


def config_of(control: str, seed: int, runs: Path):
    """The TrainConfig of ``control`` and ``seed``: the relative study's cell, changed."""
    from target_gaming.training.centres.config import arm_cell, arm_config, preset
    from target_gaming.training.compare.specs import train_config

    study = preset("relative")
    arm = CONTROLS[control][1]
    config = train_config(arm_config(study, arm, seed), arm_cell(study, arm, seed))
    changes: dict = {"out": str(run_folder(runs, control, seed)), "progress_bar": False}
    if control.endswith("_2m"):
        changes["timesteps"] = 2 * config.timesteps
    if control == "ratchet_rate_1":
        changes["centre_params"] = {"ratchet_rate": 1.0}
    if control.startswith("rllib_frozen"):
        changes["centre_warmup"] = 1.0
    elif control == "rllib_no_warmup":
        changes["centre_warmup"] = 0.0
    elif control == "sb3_vs_learned":
        centre = run_folder(runs, "rllib_relative", seed) / "centre_policy.rllib"
        changes["centre_policy"] = str(centre)
    return dataclasses.replace(config, **changes), arm == "rllib"


def train_one(control: str, seed: int, runs: Path) -> tuple[str, int, float]:
    config, on_rllib = config_of(control, seed, runs)
    start = time.perf_counter()
    label = f"{control} seed {seed}"

    def log(line: str) -> None:
        print(f"{label}: {line}"[:160], flush=True)

    if on_rllib:
        from target_gaming.training.rllib.train import train_rllib

        train_rllib(config, log=log)
    else:
        from target_gaming.training.sb3.train import train

        train(config, log=log)
    return control, seed, time.perf_counter() - start


def train_missing(runs: Path, seeds, workers: int, controls) -> dict[tuple[str, int], float]:
    walls = {}
    for phase in ([c for c in controls if c not in LATER], [c for c in controls if c in LATER]):
        todo = [
            (c, s)
            for c in phase
            for s in seeds
            if not (run_folder(runs, c, s) / "episodes.csv").exists()
        ]
        for control, seed in todo:  # a run cut off before its evaluation starts again
            folder = run_folder(runs, control, seed)
            if folder.exists():
                print(f"{control} seed {seed}: unfinished, trained again", flush=True)
                _remove(folder)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(train_one, c, s, runs) for c, s in todo]
            for future in futures:
                control, seed, wall = future.result()
                walls[control, seed] = wall
    return walls


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder)


def per_seed(runs: Path, control: str, seeds) -> np.ndarray:
    """(seeds, metrics): each run's mean over its evaluation episodes; a swap's, its
    source run's saved locals evaluated under its centre on the same episodes."""
    values = []
    for seed in seeds:
        if control in SWAPS:
            from target_gaming.training.runs import evaluate_policies

            _, source, centre = SWAPS[control]
            config, _ = config_of(source, seed, runs)
            local = run_folder(runs, source, seed) / "local_policy.rllib"
            rows = evaluate_policies(config, str(local), centre)
        else:
            rows = read_csv(run_folder(runs, control, seed) / "episodes.csv")
        values.append([np.mean([float(r[m]) for r in rows]) for m in METRICS])
    return np.array(values)


def table(runs: Path, seeds, controls) -> list[str]:
    from target_gaming.training.compare.stats import iqm_interval

    head = ["control", "what", *METRICS, "true_welfare per seed"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for control in controls:
        what = (CONTROLS | SWAPS)[control][0]
        values = per_seed(runs, control, seeds)
        cells = []
        for k in range(len(METRICS)):
            mid, low, high = iqm_interval(values[:, k])
            cells.append(f"{mid:.3f} [{low:.3f}, {high:.3f}]")
        seeds_text = ", ".join(f"{v:.3f}" for v in values[:, 0])
        lines.append(f"| `{control}` | {what} | " + " | ".join(cells) + f" | {seeds_text} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--controls",
        nargs="+",
        choices=[*CONTROLS, *SWAPS],
        default=[*CONTROLS, *SWAPS],
        help="the rows to train (or, for a swap, evaluate) and show (default: all)",
    )
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "centre-controls")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "centre-relative")
    args = parser.parse_args(argv)
    if argv is None:  # RLlib's runs repeat only under one hash seed; the workers inherit it
        from target_gaming.training.cli import fixed_hash_seed

        fixed_hash_seed()
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: at least 1")
    os.chdir(ROOT)
    trained = [c for c in args.controls if c in CONTROLS]
    trained += [SWAPS[c][1] for c in args.controls if c in SWAPS and SWAPS[c][1] not in trained]
    walls = train_missing(args.runs, args.seeds, args.workers, trained)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "scripts/centre_controls.py " + " ".join(sys.argv[1:] if argv is None else argv)
    timed = ", ".join(f"{c} seed {s} {w:.0f} s" for (c, s), w in sorted(walls.items()))
    report = [
        "# Controls for the relative learned centre",
        "",
        f"Command: `.venv/bin/python {command.strip()}`. Runs in `{args.runs.name}/`, each a"
        " cell of the `relative` centre study (`results/centre-relative/report.md`: 1M local"
        " agent-steps, `targeted_audits` in `whitehall`, `welfare` centre reward) changed as"
        f" its row says; seeds {args.seeds}; train wall times this call: {timed or 'none'}.",
        "",
        "Each run's own evaluation (32 deterministic episodes on fresh seeds, its locals under"
        " its centre); the mean per seed, then the IQM over seeds [95% bootstrap interval]:",
        "",
        *table(args.runs, args.seeds, args.controls),
        "",
    ]
    path = args.out / "controls.md"
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text("\n".join(report))
    temporary.replace(path)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
