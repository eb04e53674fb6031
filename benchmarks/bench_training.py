"""Training throughput: SB3 PPO on the local agents' VecEnv against SB3's own ceiling, and
RLlib's joint PPO beside it.

What it measures (samples per second = SB3 timesteps, i.e. local agent-steps, per
second of ``model.learn``, PPO updates included; medians over ``--repeats``):

1. PPO on ``target_gaming.training.sb3.vec_env.LocalVecEnv`` (default scenario and design, B
   environments x 6 local agents as slots, a scripted ``fixed_targets`` centre),
   with the default ``TrainConfig`` PPO settings and network.
2. The same PPO on a trivial VecEnv with the same observation and action spaces,
   slot count and horizon, which returns constant observations and zero rewards
   and ends every episode at the horizon (with the ``terminal_observation`` and
   ``TimeLimit.truncated`` infos any time-limited env must give): the ceiling SB3
   itself imposes. Reported with the ratio real / ceiling (goal >= 0.85).
3. RLlib's joint training (``target-gaming train --backend rllib``: the centre and
   the locals both learn) on the same ``TrainConfig`` (B = ``--n-envs``, the same PPO
   settings and network, the driver sampling): local agent-steps per second of
   ``algo.train()`` over ``--rllib-iterations`` iterations of one SB3 rollout each,
   updates included, through each of the trainer's samplers
   (``training/rllib/config.py``): ``BatchedEnvRunner``, which steps the B worlds of one
   ``BatchedMultiAgentEnv`` and keeps the rollout as arrays (the trainer's); RLlib's own
   sampling loop over the same env; and RLlib's loop over B of the B = 1 adapter (the
   reference). Reported with the ratio arrays / SB3 (goal >= 0.5).

The measurements take turns repeat by repeat, so they share the machine's noise. Torch
uses one thread (as ``target-gaming train`` does by default). The script always
exits 0: it reports, it does not assert.

Run from the repository root:
    python benchmarks/bench_training.py [--repeats 3] [--timesteps 73728] [--n-envs 64]
        [--rllib-iterations 3]   # 0: SB3 only
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from target_gaming.agents import load_policy
from target_gaming.envs.target_gaming import World, get_scenario
from target_gaming.training.config import PPOConfig, TrainConfig
from target_gaming.training.rllib.config import (
    SAMPLERS,
    RLlibSettings,
    algorithm_config,
    n_locals,
    train_batch_size,
)
from target_gaming.training.sb3.vec_env import LocalVecEnv

GOAL_RATIO = 0.85
GOAL_RLLIB_RATIO = 0.5  # RLlib's joint training / SB3's


class TrivialVecEnv(VecEnv):
    """Constant observations, zero rewards, every slot truncated at the horizon."""

    render_mode = None

    def __init__(self, like: VecEnv, horizon: int):
        super().__init__(like.num_envs, like.observation_space, like.action_space)
        self.horizon, self.t = horizon, 0
        self._obs = np.zeros((self.num_envs,) + like.observation_space.shape, np.float32)
        self._rewards = np.zeros(self.num_envs, np.float32)

    def reset(self):
        self.t = 0
        return self._obs

    def step_async(self, actions):
        pass

    def step_wait(self):
        self.t += 1
        if self.t < self.horizon:
            infos = [{} for _ in range(self.num_envs)]
            return self._obs, self._rewards, np.zeros(self.num_envs, bool), infos
        self.t = 0
        infos = [
            {"terminal_observation": self._obs[i], "TimeLimit.truncated": True}
            for i in range(self.num_envs)
        ]
        return self._obs, self._rewards, np.ones(self.num_envs, bool), infos

    def close(self):
        pass

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name, value, indices=None):
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self, method_name)(*args, **kwargs)]

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(list(self._get_indices(indices)))


def samples_per_second(env: VecEnv, timesteps: int, seed: int) -> float:
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", **PPOConfig().algorithm_kwargs())
    start = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - start)


def rllib_algorithms(config: TrainConfig) -> dict:
    """The trainer's RLlib samplers for ``config`` (Ray must be running): the array runner
    over the batched env, RLlib's own loop over it, and the B = 1 adapters."""
    return {
        sampler: algorithm_config(config, RLlibSettings(), seed=0, sampler=sampler).build_algo()
        for sampler in SAMPLERS
    }


def rllib_samples_per_second(algo, config: TrainConfig, iterations: int) -> float:
    """Local agent-steps per second of ``algo.train()``, updates included (an iteration
    samples exactly ``train_batch_size * N`` of them)."""
    start = time.perf_counter()
    for _ in range(iterations):
        algo.train()
    elapsed = time.perf_counter() - start
    return iterations * train_batch_size(config) * n_locals(config) / elapsed


def report_rllib(results: dict[str, list[float]], sb3_sps: float, args, config) -> None:
    arrays, episodes, adapter = (statistics.median(results[k]) for k in SAMPLERS)
    ratio = arrays / sb3_sps
    verdict = "PASS" if ratio >= GOAL_RLLIB_RATIO else "FAIL"
    print(
        f"RLlib joint PPO samples/s (local agent-steps; the centre learns too), "
        f"{args.rllib_iterations} iterations of "
        f"{train_batch_size(config) * n_locals(config)}, median of {args.repeats}:"
    )
    print(f"  BatchedEnvRunner (B={args.n_envs:<3})      {arrays:>10,.0f}")
    print(f"  RLlib's loop, batched env      {episodes:>10,.0f}")
    print(f"  RLlib's loop, B=1 adapter x {args.n_envs:<3}{adapter:>10,.0f}")
    goal = f"goal >= {GOAL_RLLIB_RATIO}: {verdict}"
    print(f"  ratio arrays/LocalVecEnv       {ratio:>10.3f}   {goal}")
    print(f"  ratio arrays/RLlib's loop      {arrays / episodes:>10.3f}")
    print(f"  ratio arrays/B=1 adapter       {arrays / adapter:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=3 * 64 * 64 * 6)
    parser.add_argument("--n-envs", type=int, default=64)
    parser.add_argument("--rllib-iterations", type=int, default=3, help="0: no RLlib")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig(n_envs=args.n_envs)
    world = World(get_scenario("whitehall").config(), "targets")
    real = LocalVecEnv(world, args.n_envs, load_policy("fixed_targets", world, "centre"), seed=0)
    trivial = TrivialVecEnv(real, world.config.horizon)
    samples_per_second(real, real.num_envs * 8, 0)  # warm up torch and the caches
    results: dict[str, list[float]] = {"real": [], "trivial": [], **{k: [] for k in SAMPLERS}}
    with contextlib.ExitStack() as stack:
        algos = {}
        if args.rllib_iterations > 0:
            from target_gaming.training.cluster import ray_session

            stack.enter_context(ray_session(None, 2))
            algos = rllib_algorithms(config)
            for algo in algos.values():
                stack.callback(algo.stop)
                rllib_samples_per_second(algo, config, 1)  # warm up
        for repeat in range(args.repeats):
            results["real"].append(samples_per_second(real, args.timesteps, repeat))
            results["trivial"].append(samples_per_second(trivial, args.timesteps, repeat))
            for name, algo in algos.items():
                sps = rllib_samples_per_second(algo, config, args.rllib_iterations)
                results[name].append(sps)
    real_sps, trivial_sps = (statistics.median(results[k]) for k in ("real", "trivial"))
    ratio = real_sps / trivial_sps
    print(
        f"PPO samples/s over {args.timesteps} timesteps, {real.num_envs} slots "
        f"(B={args.n_envs} x {world.n_locals} locals), median of {args.repeats}:"
    )
    print(f"  LocalVecEnv (target-gaming)   {real_sps:>10,.0f}")
    print(f"  trivial VecEnv (SB3 ceiling)  {trivial_sps:>10,.0f}")
    verdict = "PASS" if ratio >= GOAL_RATIO else "FAIL"
    print(f"  ratio real/ceiling            {ratio:>10.3f}   goal >= {GOAL_RATIO}: {verdict}")
    if args.rllib_iterations > 0:
        report_rllib(results, real_sps, args, config)


if __name__ == "__main__":
    main()
