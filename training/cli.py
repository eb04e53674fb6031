"""The ``target-gaming`` command line.

``target-gaming rollout``: run local and central policies (scripted names or
saved files) under one or every reward design, print the metrics table (mean
and 95% interval over episodes), optionally render the first episode's
frames, and write ``metrics.txt`` and ``episodes.csv``.

``target-gaming compare``: train and evaluate every design of a grid, then write
the report (``training/compare/``).

``target-gaming validate``: train local agents in the contrasting conditions of each
phenomenon the theory predicts, evaluate them beside scripted baselines, and write a
verdict per phenomenon (``training/validate/``).

``target-gaming centres``: compare centres (every scripted rule, the best constant rule of
a small search, learned centres), each with locals trained against it, and set the
learned ones against the best scripted one (``training/centres/``).

``target-gaming train``: train the local agents, the centre, or both in turn
with PPO (``training/sb3/train.py``; flags and JSON fields of ``TrainConfig``), or,
with ``--backend rllib``, both jointly on Ray RLlib (``training/rllib/train.py``).

This module only parses the command line and calls the modules that do the work.
A bad input gets one line on stderr, ``target-gaming <command>: error: <what is
wrong>``, and exit status 2: a bad flag, a validation error (any ``ValueError``,
``training/errors.py``'s ``UserError`` among them), or a file system fault on a path
(missing, a folder, read-only, full). Ctrl-C prints one line saying how to continue
and exits 130. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from target_gaming.agents import CENTRE_POLICIES, LOCAL_POLICIES
from target_gaming.envs.target_gaming import DESIGNS, SCENARIOS

from .benchmarl import ALGORITHMS as BENCHMARL_ALGORITHMS
from .centres.config import PRESETS as CENTRE_PRESETS
from .config import add_train_arguments, config_from_args, int_in, parse_assignment
from .errors import check_out_folder
from .evaluation.rollout import RolloutSpec, rollout_grid
from .evaluation.tables import ROLLOUT_METRICS, metrics_table, write_episodes
from .validate.config import PRESETS as VALIDATE_PRESETS


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (the usage is in --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


SEED = int_in(0, 2**32 - 1)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="target-gaming", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    roll = sub.add_parser("rollout", help="run scripted policies and print the metrics table")
    roll.add_argument("--scenario", default="whitehall", choices=sorted(SCENARIOS))
    roll.add_argument(
        "--design", default="all", help=f"a design or 'all' (designs: {', '.join(DESIGNS)})"
    )
    roll.add_argument(
        "--policy",
        default="honest,gamer",
        help=f"comma-separated local policies or 'all' (known: {', '.join(LOCAL_POLICIES)}), "
        "or a saved policy's path",
    )
    roll.add_argument(
        "--centre",
        default=None,
        help=f"central policy (known: {', '.join(CENTRE_POLICIES)}) or a saved policy's path "
        "(default: each design's own, fixed_targets but risk_based_audits for targeted_audits)",
    )
    roll.add_argument(
        "--centre-param",
        type=parse_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the central policy, e.g. --centre-param ratchet_rate=0.8",
    )
    roll.add_argument("--centre-reward", default="political", choices=["political", "welfare"])
    roll.add_argument("--render", action="store_true", help="print the first episode's frames")
    roll.add_argument("--episodes", type=int_in(1, 100_000), default=32)
    roll.add_argument("--seed", type=SEED, default=0)
    roll.add_argument("--all-metrics", action="store_true", help="print every metric")
    roll.add_argument("--out", type=Path, help="folder for metrics.txt and episodes.csv")
    roll.add_argument(
        "--set",
        type=parse_assignment,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field, e.g. --set n_localities=8",
    )
    _add_compare(sub)
    _add_validate(sub)
    _add_centres(sub)
    _add_algorithms(sub)
    train = sub.add_parser(
        "train", help="train local agents, the centre, or both in turn, with PPO"
    )
    add_train_arguments(train)
    _add_backend(train)
    return parser


def _add_backend(train: argparse.ArgumentParser) -> None:
    """``--backend rllib``: joint training on Ray RLlib (training/rllib/train.py)."""
    train.add_argument(
        "--backend",
        default="sb3",
        choices=["sb3", "rllib", "benchmarl"],
        help="sb3: the stages of --mode on one machine; rllib: the centre and the locals "
        "learn jointly on Ray RLlib, locally or on a cluster (docs/scaling.md); benchmarl: "
        "the locals learn under the centre with a BenchMARL --algorithm",
    )
    train.add_argument(
        "--algorithm",
        help="benchmarl: the algorithm, one of " + ", ".join(BENCHMARL_ALGORITHMS),
    )
    train.add_argument("--num-cpus", type=int, help="rllib: CPUs of the local Ray (default 2)")
    train.add_argument("--address", help="rllib: a running Ray cluster's address")
    train.add_argument("--env-runners", type=int, help="rllib: sampling processes (default 0)")


def _command(argv_used: list[str] | None) -> str:
    """The command as typed, for the files that record it."""
    return "target-gaming " + " ".join(sys.argv[1:] if argv_used is None else argv_used)


def _run_rollout(args: argparse.Namespace, argv_used: list[str] | None) -> int:
    if args.out is not None:
        check_out_folder(args.out)  # before the episodes, not after
    designs = list(DESIGNS) if args.design == "all" else args.design.split(",")
    policies = list(LOCAL_POLICIES) if args.policy == "all" else args.policy.split(",")
    base = RolloutSpec(
        scenario=args.scenario,
        centre_policy=args.centre,
        centre_params=dict(args.centre_param),
        centre_reward=args.centre_reward,
        episodes=args.episodes,
        seed=args.seed,
        overrides=dict(args.set),
    )
    rows = rollout_grid(designs, policies, base, render=print if args.render else None)
    table = metrics_table(rows) if args.all_metrics else metrics_table(rows, ROLLOUT_METRICS)
    print(table)
    if args.out:
        write_episodes(args.out, rows, _command(argv_used), table)
        print(f"wrote {args.out / 'metrics.txt'} and {args.out / 'episodes.csv'}")
    return 0


def _add_compare(sub) -> None:
    comp = sub.add_parser(
        "compare", help="train and evaluate every design of a grid; write the report"
    )
    grid = comp.add_mutually_exclusive_group()
    grid.add_argument("--preset", default=None, help="quick, standard or full (default quick)")
    grid.add_argument("--config", type=Path, help="a JSON file with the grid's fields")
    _add_cell_run_options(comp, "compare")


def _add_cell_run_options(parser: argparse.ArgumentParser, name: str) -> None:
    """The options of a command that trains cells (compare, validate)."""
    parser.add_argument("--out", type=Path, help=f"output folder (default runs/{name}-<preset>)")
    parser.add_argument("--workers", type=int, default=2, help="cells run at once")
    parser.add_argument("--backend", default="process", choices=["process", "ray"])
    parser.add_argument("--address", help="a Ray cluster's address (with --backend ray)")
    parser.add_argument("--force", action="store_true", help="redo finished cells")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_cells(name, run, config, out: Path, args, argv_used: list[str] | None) -> int:
    """``run`` (run_comparison or run_validation) with the command's options; Ctrl-C says
    how to resume."""
    try:
        report = run(
            config,
            out,
            workers=args.workers,
            backend=args.backend,
            address=args.address,
            force=args.force,
            progress=not args.no_progress,
            command=_command(argv_used),
        )
    except KeyboardInterrupt:
        print(
            f"target-gaming {name}: interrupted; finished cells are kept in {out}: "
            "rerun the same command to resume (it skips them)",
            file=sys.stderr,
        )
        return 130
    print(f"wrote {report} and the tables and figures beside it in {out}")
    return 0


def _run_compare(args: argparse.Namespace, argv_used: list[str] | None) -> int:
    from .compare.grid import grid_and_folder
    from .compare.run import run_comparison  # tqdm, matplotlib: imported only to compare

    config, out = grid_and_folder(args.preset, args.config, args.out)
    return _run_cells("compare", run_comparison, config, out, args, argv_used)


def _add_algorithms(sub) -> None:
    alg = sub.add_parser(
        "algorithms",
        help="one comparison per learning algorithm (SB3 PPO, BenchMARL IPPO, MAPPO, MASAC); "
        "does the ranking of designs hold?",
    )
    settings = alg.add_mutually_exclusive_group()
    settings.add_argument("--preset", default=None, help="standard or quick (default standard)")
    settings.add_argument(
        "--config", type=Path, help="a JSON file of comparison fields (no trainer, algorithm)"
    )
    _add_cell_run_options(alg, "algorithms")


def _run_algorithms(args: argparse.Namespace, argv_used: list[str] | None) -> int:
    from .compare.algorithms import base_grid, run_algorithms  # imported only here

    base = base_grid(args.preset, args.config)
    name = args.preset or ("custom" if args.config else "standard")
    out = args.out or Path("runs") / f"algorithms-{name}"
    return _run_cells("algorithms", run_algorithms, base, out, args, argv_used)


def _add_centres(sub) -> None:
    cen = sub.add_parser(
        "centres", help="compare centres: scripted rules, a searched constant rule, learned ones"
    )
    settings = cen.add_mutually_exclusive_group()
    settings.add_argument(
        "--preset",
        default=None,
        help=f"one of {', '.join(CENTRE_PRESETS)} (default quick)",
    )
    settings.add_argument("--config", type=Path, help="a JSON file of CentreStudyConfig fields")
    _add_cell_run_options(cen, "centres")


def _run_centres(args: argparse.Namespace, argv_used: list[str] | None) -> int:
    from .centres.config import config_and_folder
    from .centres.run import run_centre_study  # tqdm, matplotlib: imported only here

    config, out = config_and_folder(args.preset, args.config, args.out)
    return _run_cells("centres", run_centre_study, config, out, args, argv_used)


def _add_validate(sub) -> None:
    val = sub.add_parser(
        "validate", help="train local agents in each phenomenon's conditions; test the theory"
    )
    settings = val.add_mutually_exclusive_group()
    settings.add_argument(
        "--preset", default=None, help=f"one of {', '.join(VALIDATE_PRESETS)} (default quick)"
    )
    settings.add_argument(
        "--config",
        type=Path,
        help="a JSON file of seeds, timesteps, n_envs, checkpoint_every, eval_episodes, "
        "phenomena, ppo",
    )
    _add_cell_run_options(val, "validate")


def _run_validate(args: argparse.Namespace, argv_used: list[str] | None) -> int:
    from .validate.config import config_and_folder
    from .validate.run import run_validation  # tqdm, matplotlib: imported only to validate

    config, out = config_and_folder(args.preset, args.config, args.out)
    return _run_cells("validate", run_validation, config, out, args, argv_used)


def _run_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    args.run_folder = config.out  # for the line printed on Ctrl-C
    if args.algorithm is not None and args.backend != "benchmarl":
        raise ValueError(
            f"--algorithm applies to --backend benchmarl only ({args.backend} runs PPO)"
        )
    if args.backend == "rllib":
        from .rllib.train import RLlibSettings, train_rllib  # Ray is imported only here

        settings = RLlibSettings(
            2 if args.num_cpus is None else args.num_cpus,
            args.address,
            0 if args.env_runners is None else args.env_runners,
        )
        result = train_rllib(config, settings, resume=args.resume)
    elif args.backend == "benchmarl":
        given = [f for f in ("num_cpus", "address", "env_runners") if getattr(args, f) is not None]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} applies to --backend rllib only")
        if args.algorithm not in BENCHMARL_ALGORITHMS:
            raise ValueError(
                f"--algorithm {args.algorithm}: with --backend benchmarl one of "
                f"{', '.join(BENCHMARL_ALGORITHMS)}"
            )
        from .benchmarl.train import train_benchmarl  # BenchMARL is imported only here

        result = train_benchmarl(config, args.algorithm, resume=args.resume)
    else:
        given = [f for f in ("num_cpus", "address", "env_runners") if getattr(args, f) is not None]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} applies to --backend rllib only")
        from .sb3.train import train  # torch and SB3 are imported only to train

        result = train(config, resume=args.resume)
    written = ", ".join(p.name for p in sorted(result.run.root.glob("*.*")))
    print(f"wrote {result.run.root}: {written}")
    return 0


# file system faults on a path that the user can fix: one line, not a traceback
USER_ERRNOS = {
    errno.ENOENT,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
}
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _os_message(err: OSError, args: argparse.Namespace) -> str:
    reason = err.strerror or str(err)
    if err.filename is not None:
        paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
        return f"{paths}: {reason}"
    out = getattr(args, "run_folder", None) or getattr(args, "out", None)
    return f"{reason} (while writing under {out})" if out else reason


def _interrupted(args: argparse.Namespace) -> str:
    if args.command == "train":
        out = getattr(args, "run_folder", None)
        if out is None:
            return "interrupted before the run started; nothing was written"
        backend = "" if args.backend == "sb3" else f" --backend {args.backend}"
        if args.algorithm:
            backend += f" --algorithm {args.algorithm}"
        return (
            f"interrupted; the checkpoints in {out} are kept: continue with "
            f"`target-gaming train --resume{backend} --out {out}`"
        )
    if args.command in ("compare", "validate", "centres"):
        return "interrupted; finished cells are kept: rerun the same command to continue"
    return "interrupted; nothing was written"


def fixed_hash_seed() -> None:
    """Start this command again with ``PYTHONHASHSEED=0`` unless it is set: RLlib orders
    agents and modules by hashing their names, so a run repeats only under one hash seed
    (the comparison's worker processes and Ray's inherit it)."""
    if os.environ.get("PYTHONHASHSEED") is None:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input gets one line and exit status 2 (see the module docstring).

    Run as the ``target-gaming`` command (``argv`` None) without ``PYTHONHASHSEED`` set,
    it runs itself again with ``PYTHONHASHSEED=0`` (``fixed_hash_seed``)."""
    if argv is None:
        fixed_hash_seed()
    parser = _parser()
    args = parser.parse_args(argv)
    run = {
        "rollout": _run_rollout,
        "compare": _run_compare,
        "validate": _run_validate,
        "centres": _run_centres,
        "algorithms": _run_algorithms,
    }.get(args.command)
    try:
        return run(args, argv) if run is not None else _run_train(args)
    except KeyboardInterrupt:
        print(f"target-gaming {args.command}: {_interrupted(args)}", file=sys.stderr)
        return INTERRUPTED
    except ValueError as err:
        message = _one_line(err)
    except OSError as err:
        if err.errno not in USER_ERRNOS:
            raise  # not a fault of a path the user named: a bug, with its traceback
        message = _one_line(_os_message(err, args))
    print(f"target-gaming {args.command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
