"""Throughput of the native TorchRL environment against the batched core it steps.

What it measures (agent-steps per second, medians over ``--repeats``, the two loops
taking turns so that they share the machine's noise):

1. The batched core at B = ``--envs`` (1024): ``World.step`` and the observations of
   every agent (``Observer.observations``), the work the TorchRL env asks of it per
   step, with random actions generated in advance (a pool of 8 batches, cycled) and a
   reset when the episode is truncated.
2. ``TargetGamingTorchEnv.step_and_maybe_reset`` at the same B (the call TorchRL's
   collectors make), its actions drawn in advance into a pool of 8 tensordicts.

Agent-steps = B x (locals + centres) per step. It prints both and the ratio core /
TorchRL (goal: at most 1.5). Always exits 0: it reports, it does not assert. numpy's
BLAS and torch run on one thread each (``OPENBLAS_NUM_THREADS`` may say otherwise), as
in a collector's worker: both loops then measure one core, and BLAS threads do not
contend with other work on a shared machine.

Run from the repository root:  python benchmarks/bench_torchrl.py [--repeats 5] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads its BLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_env import Stepper, calibrate  # noqa: E402  (this folder's env benchmark)

from target_gaming.envs.target_gaming import World, make_config, observe  # noqa: E402
from target_gaming.training.torchrl import TargetGamingTorchEnv  # noqa: E402

SCENARIO = "whitehall"
DESIGN = "targets"
POOL = 8
GOAL_RATIO = 1.5


def core_stepper(world: World, batch: int, seed: int = 0) -> Stepper:
    """``World.step`` and every observation at batch size ``batch``, actions made in advance."""
    cfg = world.config
    rng = np.random.default_rng(seed)
    d_centre = len(observe.centre_action_layout(cfg, 0))
    locals_ = [rng.random((batch, cfg.n_locals, cfg.local_action_dim)) for _ in range(POOL)]
    centres = [rng.random((batch, cfg.n_centres, d_centre)) for _ in range(POOL)]
    observer = observe.Observer(cfg)
    state = world.reset(rng, batch)
    box = [state, 0]
    observer.observations(state)

    def run(n: int) -> None:
        state, i = box
        for _ in range(n):
            k = i % POOL
            result = world.step(state, locals_[k], centres[k], rng)
            state = result.state
            if result.truncated.all():
                state = world.reset(rng, batch)
            observer.observations(state)
            i += 1
        box[0], box[1] = state, i

    return run


def torchrl_stepper(env: TargetGamingTorchEnv, seed: int = 0) -> Stepper:
    """``env.step_and_maybe_reset``, cycling through actions drawn in advance."""
    torch.manual_seed(seed)
    pool = [env.rand_action(env.full_action_spec.zero()) for _ in range(POOL)]
    box = [env.reset(), 0]

    def run(n: int) -> None:
        td, i = box
        for _ in range(n):
            td.update(pool[i % POOL])
            _, td = env.step_and_maybe_reset(td)
            i += 1
        box[0], box[1] = td, i

    return run


def measure(benches: dict[str, Stepper], repeats: int, seconds: float) -> dict[str, float]:
    """Median steps/s of each bench; repeats interleaved to share the noise."""
    sizes = {name: calibrate(run, seconds) for name, run in benches.items()}
    rates: dict[str, list[float]] = {name: [] for name in benches}
    for _ in range(repeats):
        for name, run in benches.items():
            start = time.perf_counter()
            run(sizes[name])
            rates[name].append(sizes[name] / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=1024, help="B, environments per step")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    world = World(make_config(SCENARIO), DESIGN)
    env = TargetGamingTorchEnv(SCENARIO, DESIGN, num_envs=args.envs, seed=0)
    agents = world.n_locals + world.n_centres
    steps = measure(
        {"core": core_stepper(world, args.envs), "torchrl": torchrl_stepper(env)},
        args.repeats,
        args.seconds,
    )
    core, native = (steps[name] * args.envs * agents for name in ("core", "torchrl"))
    ratio = core / native
    print(f"{SCENARIO} / {DESIGN}, B = {args.envs}, {agents} agents, median of {args.repeats}")
    print(f"  World.step + observations   {core:>12,.0f} agent-steps/s")
    print(f"  TargetGamingTorchEnv        {native:>12,.0f} agent-steps/s")
    verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"
    print(f"  ratio core / TorchRL        {ratio:>12.2f}   (goal <= {GOAL_RATIO}: {verdict})")


if __name__ == "__main__":
    main()
