"""Throughput benchmark for target_gaming_v2 and its batched core, and render() timing.

What it measures (1 to 4 in agent-steps per second, medians over ``--repeats``):

1. ``ParallelEnv.step`` on the default scenario (7 agents), with actions drawn
   in advance from a pool of 64 sampled action dicts and cycled through. When
   the episode ends the loop calls ``reset()``; that time counts, as it would
   for a real user. Agent-steps = steps x number of agents.
2. The same loop over a do-nothing ParallelEnv (same agents and spaces,
   constant observations, zero rewards, truncated after the same horizon):
   the floor that PettingZoo's dict-based API itself imposes. Reported with the
   ratio real / floor.
3. The batched core ``World.step`` at B = 1, 64 and 1024 with pre-generated
   random actions (resetting when truncated). Agent-steps = B x (n_locals +
   n_centres) per step. Reported with the per-agent speed-up versus B = 1.
4. The cost of ``World.step``'s argument checks: the core at B = 1 and B = 1024
   again with ``check=False``, reported as the ratio checked / unchecked.
5. ``render()`` in milliseconds per frame, a step between frames: ``"rgb_array"``'s
   first frame (it builds and lays out the figure) and the median of the later
   ones, and ``"ansi"``'s median.

Goals (checked and printed; the script always exits 0):

- ParallelEnv >= 30,000 agent-steps/s;
- core at B = 1024 >= 1,000,000 agent-steps/s;
- core at B = 1024 >= 30x the per-agent throughput of B = 1;
- an ``"rgb_array"`` frame after the first <= 50 ms.

Run from the repository root:  python benchmarks/bench_env.py [--repeats 5] [--seconds 1.0]

Shared machines are noisy: compare ratios taken from one run rather than
absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from pettingzoo import ParallelEnv

from target_gaming.envs import target_gaming_v2
from target_gaming.envs.target_gaming import World, get_scenario

SCENARIO = "whitehall"
DESIGN = "targets"
ACTION_POOL = 64
BATCH_SIZES = (1, 64, 1024)

GOAL_ENV = 30_000
GOAL_CORE = 1_000_000
GOAL_SPEEDUP = 30.0
GOAL_FRAME_MS = 50.0
RENDER_FRAMES = 40

# A stepper runs n steps and returns nothing; its state lives in a closure.
Stepper = Callable[[int], None]


# ---- timing ------------------------------------------------------------------------
def calibrate(run: Stepper, seconds: float) -> int:
    """Number of steps that takes about ``seconds`` (also serves as warm-up)."""
    n = 1
    while True:
        start = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.05 or n >= 1 << 24:
            return max(1, int(n * seconds / max(elapsed, 1e-9)))
        n *= 2


def steps_per_second(run: Stepper, n: int) -> float:
    """Steps per second of one timed call of ``run(n)``."""
    start = time.perf_counter()
    run(n)
    return n / (time.perf_counter() - start)


# ---- ParallelEnv loops -------------------------------------------------------------
class FloorEnv(ParallelEnv):
    """A do-nothing ParallelEnv mirroring ``template``'s agents, spaces and horizon."""

    metadata = {"name": "floor_v0", "render_modes": []}

    def __init__(self, template: ParallelEnv, horizon: int):
        self.possible_agents = list(template.possible_agents)
        self.agents: list[str] = []
        self._obs_spaces = {a: template.observation_space(a) for a in self.possible_agents}
        self._act_spaces = {a: template.action_space(a) for a in self.possible_agents}
        self.horizon = horizon
        self._t = 0
        self._obs = {a: np.zeros(s.shape, s.dtype) for a, s in self._obs_spaces.items()}
        self._rewards = dict.fromkeys(self.possible_agents, 0.0)
        self._false = dict.fromkeys(self.possible_agents, False)
        self._true = dict.fromkeys(self.possible_agents, True)
        self._infos = {a: {} for a in self.possible_agents}

    def observation_space(self, agent):
        return self._obs_spaces[agent]

    def action_space(self, agent):
        return self._act_spaces[agent]

    def reset(self, seed=None, options=None):
        self._t = 0
        self.agents = list(self.possible_agents)
        return self._obs, self._infos

    def step(self, actions):
        self._t += 1
        truncated = self._t >= self.horizon
        if truncated:
            self.agents = []
        return (
            self._obs,
            self._rewards,
            self._false,
            self._true if truncated else self._false,
            self._infos,
        )


def action_pool(env: ParallelEnv, size: int, seed: int = 0) -> list[dict]:
    """``size`` action dicts sampled from the env's action spaces."""
    for i, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(seed + i)
    return [{a: env.action_space(a).sample() for a in env.possible_agents} for _ in range(size)]


def parallel_stepper(env: ParallelEnv, pool: list[dict]) -> Stepper:
    """A stepper cycling through ``pool``, resetting (timed) when the episode ends."""
    env.reset(seed=0)
    size = len(pool)
    cursor = [0]

    def run(n: int) -> None:
        i = cursor[0]
        for _ in range(n):
            env.step(pool[i % size])
            i += 1
            if not env.agents:
                env.reset()
        cursor[0] = i

    return run


# ---- batched core ------------------------------------------------------------------
def core_stepper(
    world: World, d_centre: int, batch: int, seed: int = 0, check: bool = True
) -> Stepper:
    """A stepper of ``world.step`` at batch size ``batch`` with pre-generated actions
    (its argument checks on or off)."""
    cfg = world.config
    rng = np.random.default_rng(seed)
    pool_size = 8
    locals_ = [rng.random((batch, cfg.n_locals, cfg.local_action_dim)) for _ in range(pool_size)]
    centres = [rng.random((batch, cfg.n_centres, d_centre)) for _ in range(pool_size)]
    box = [world.reset(rng, batch), 0]

    def run(n: int) -> None:
        state, i = box
        for _ in range(n):
            k = i % pool_size
            result = world.step(state, locals_[k], centres[k], rng, check=check)
            state = result.state
            i += 1
            if result.truncated.all():
                state = world.reset(rng, batch)
        box[0], box[1] = state, i

    return run


# ---- rendering ---------------------------------------------------------------------
def render_ms(render_mode: str, frames: int, pool: list[dict]) -> list[float]:
    """Milliseconds of each of ``frames`` calls of ``render()`` on a fresh env, a step
    (cycling through ``pool``, resetting at the episode's end) between frames."""
    env = target_gaming_v2.parallel_env(render_mode=render_mode)
    env.reset(seed=0)
    times = []
    for i in range(frames):
        start = time.perf_counter()
        env.render()
        times.append(1000 * (time.perf_counter() - start))
        env.step(pool[i % len(pool)])
        if not env.agents:
            env.reset()
    env.close()
    return times


# ---- measurement -------------------------------------------------------------------
def measure(benches: dict[str, tuple[Stepper, int]], repeats: int, seconds: float) -> dict:
    """Median agent-steps/s of each bench; repeats interleaved to share the noise.

    ``benches`` maps a name to (stepper, agents per step).
    """
    counts = {name: calibrate(run, seconds) for name, (run, _) in benches.items()}
    samples: dict[str, list[float]] = {name: [] for name in benches}
    for _ in range(repeats):
        for name, (run, agents) in benches.items():
            samples[name].append(agents * steps_per_second(run, counts[name]))
    return {name: statistics.median(values) for name, values in samples.items()}


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement (median)")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement, s")
    args = parser.parse_args()
    repeats, seconds = max(1, args.repeats), max(0.01, args.seconds)

    env = target_gaming_v2.parallel_env()
    horizon = env.config.horizon
    n_agents = len(env.possible_agents)
    floor = FloorEnv(env, horizon)
    pool = action_pool(env, ACTION_POOL)

    cfg = get_scenario(SCENARIO).config()
    world = World(cfg, DESIGN)
    d_centre = env.action_space(env.centre_agents[0]).shape[0]
    core_agents = cfg.n_locals + cfg.n_centres

    benches: dict[str, tuple[Stepper, int]] = {
        "env": (parallel_stepper(env, pool), n_agents),
        "floor": (parallel_stepper(floor, pool), n_agents),
    }
    for b in BATCH_SIZES:
        benches[f"core{b}"] = (core_stepper(world, d_centre, b), b * core_agents)
    for b in (BATCH_SIZES[0], BATCH_SIZES[-1]):  # the same without the argument checks
        benches[f"unchecked{b}"] = (core_stepper(world, d_centre, b, check=False), b * core_agents)

    print(
        f"target_gaming_v2 benchmark: scenario={SCENARIO}, agents={n_agents}, "
        f"horizon={horizon}, repeats={repeats}, seconds={seconds:g}"
    )
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    rates = measure(benches, repeats, seconds)

    env_rate, floor_rate = rates["env"], rates["floor"]
    print("\nParallelEnv.step (agent-steps/s, median; resets included)")
    print(f"  target_gaming_v2     {fmt(env_rate):>14}")
    print(f"  do-nothing floor     {fmt(floor_rate):>14}")
    print(f"  ratio real/floor     {env_rate / floor_rate:>14.4f}")

    base = rates[f"core{BATCH_SIZES[0]}"]
    print(f"\nWorld.step batched core (agent-steps/s, median; {core_agents} agents per env)")
    for b in BATCH_SIZES:
        rate = rates[f"core{b}"]
        print(f"  B={b:<5}  {fmt(rate):>14}   x{rate / base:,.1f} per agent vs B=1")

    print("\nWorld.step argument checks (check=True, the default, vs check=False)")
    for b in (BATCH_SIZES[0], BATCH_SIZES[-1]):
        unchecked = rates[f"unchecked{b}"]
        ratio = rates[f"core{b}"] / unchecked
        print(f"  B={b:<5}  unchecked {fmt(unchecked):>14}   checked/unchecked {ratio:.3f}")

    rgb, text = render_ms("rgb_array", RENDER_FRAMES, pool), render_ms("ansi", RENDER_FRAMES, pool)
    later = statistics.median(rgb[1:])
    print(f"\nrender() (ms per frame, {RENDER_FRAMES} frames, a step between frames)")
    print(f"  rgb_array first      {rgb[0]:>14.1f}")
    print(f"  rgb_array later      {later:>14.1f}   (median)")
    print(f"  ansi                 {statistics.median(text):>14.2f}   (median)")

    big = rates[f"core{BATCH_SIZES[-1]}"]
    speedup = big / base
    print("\nGoals")
    print(
        f"  ParallelEnv >= {GOAL_ENV:,} agent-steps/s: {verdict(env_rate >= GOAL_ENV)} "
        f"({fmt(env_rate)})"
    )
    print(f"  core B=1024 >= {GOAL_CORE:,} agent-steps/s: {verdict(big >= GOAL_CORE)} ({fmt(big)})")
    print(
        f"  core B=1024 >= {GOAL_SPEEDUP:g}x B=1 per agent: "
        f"{verdict(speedup >= GOAL_SPEEDUP)} ({speedup:,.1f}x)"
    )
    print(
        f"  rgb_array frame after the first <= {GOAL_FRAME_MS:g} ms: "
        f"{verdict(later <= GOAL_FRAME_MS)} ({later:.1f} ms)"
    )


if __name__ == "__main__":
    main()
