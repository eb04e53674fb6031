"""Roll out scripted policies in the batched core and summarise the episodes.

All episodes of one design run as one batch of B environments; every
episode's national metrics (``envs.target_gaming.METRICS``) become one row.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from agents import fixed_targets_action, get_local_policy
from envs.target_gaming import METRICS, EpisodeMetrics, World, observe
from envs.target_gaming.parallel import make_config

RETURNS = ("local_return", "centre_return")  # mean over agents of the episode's reward sum
EPISODE_COLUMNS = ("scenario", "design", "policy", "seed", "episode", *RETURNS, *METRICS)


@dataclass(frozen=True)
class RolloutSpec:
    scenario: str = "whitehall"
    design: str = "targets"
    policy: str = "honest"
    centre_reward: str = "political"
    episodes: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.episodes <= 100_000:
            raise ValueError(f"episodes = {self.episodes!r} must be in [1, 100000]")


def rollout(spec: RolloutSpec, **overrides) -> list[dict]:
    """Run ``spec.episodes`` episodes at once; one dict per episode (EPISODE_COLUMNS)."""
    cfg = make_config(spec.scenario, **overrides)
    world = World(cfg, spec.design, spec.centre_reward)
    policy = get_local_policy(spec.policy, cfg, seed=spec.seed)
    rng = np.random.default_rng(spec.seed)
    batch = spec.episodes
    state = world.reset(rng, batch)
    centre = fixed_targets_action(cfg, batch)
    episode = EpisodeMetrics(batch)
    returns = np.zeros((2, batch))
    for _ in range(cfg.horizon):
        obs = observe.local_observations(cfg, state).reshape(batch * cfg.n_locals, -1)
        local = policy.act(obs).reshape(batch, cfg.n_locals, -1)
        result = world.step(state, local, centre, rng)
        state = result.state
        episode.add(result.metrics.national)
        returns += result.local_rewards.mean(axis=1), result.centre_rewards.mean(axis=1)
    summary = episode.summary()
    rows = []
    for b in range(batch):
        row = {"scenario": spec.scenario, "design": spec.design, "policy": spec.policy}
        row.update(seed=spec.seed, episode=b)
        row.update(local_return=float(returns[0, b]), centre_return=float(returns[1, b]))
        row.update({name: float(summary[name][b]) for name in METRICS})
        rows.append(row)
    return rows


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a t-interval over episodes (a single episode gives a zero-width interval)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2 or np.allclose(values, mean):
        return mean, mean, mean
    low, high = stats.t.interval(level, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, float(low), float(high)


def metrics_table(rows: list[dict], metrics: tuple[str, ...] = RETURNS + tuple(METRICS)) -> str:
    """A plain-text table: one line per (design, policy); per metric, mean +- 95% half-width."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["design"], row["policy"]), []).append(row)
    widths = [max(11, len(n)) for n in metrics]
    head = " ".join(f"{n:>{w}}" for n, w in zip(metrics, widths))
    lines = [f"{'design':<17} {'policy':<8} {'n':>4} {head}"]
    for (design, policy), group in groups.items():
        cells = []
        for name, w in zip(metrics, widths):
            mean, low, high = mean_ci(np.array([r[name] for r in group]))
            cell = f"{mean:.3f}±{(high - low) / 2:.3f}"
            cells.append(f"{cell:>{w}}")
        lines.append(f"{design:<17} {policy:<8} {len(group):>4} " + " ".join(cells))
    return "\n".join(lines)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv_atomic(path: Path, rows: list[dict], columns: tuple[str, ...] = EPISODE_COLUMNS):
    """Write rows as CSV (one header line, then one line per row), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
