"""SB3 callbacks of a training run: outcome metrics for TensorBoard, atomic checkpoints."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from target_gaming.envs.target_gaming.metrics import CASCADE_METRICS, metric_set

from ..io import write_bytes, write_csv
from ..runs import CURVE_KEYS, read_curves

# What TensorBoard shows under metrics/: truth, the measure, and gaming side by side.
LOGGED_METRICS = (
    "true_welfare",
    "measured_performance",
    "goodhart_gap",
    "target_hit_rate",
    "gaming_share",
    "slack_share",
    "partnership",
    "neglect",
    "sanctions",
)


def logged_metrics(config) -> tuple[str, ...]:
    """The learning curve's metrics of a run (a ``TrainConfig``): ``LOGGED_METRICS``, then a
    cascade's metrics in a world with one."""
    return LOGGED_METRICS + metric_set(config.world_config).extra


def save_model_atomic(model: BaseAlgorithm, path: Path) -> Path:
    """``model.save`` to a temporary file, then an atomic rename onto ``path``.

    A Ctrl-C that arrives during the save waits until the checkpoint is written: torch's
    zip writer turns an interrupt inside it into a RuntimeError, which would hide the
    interrupt behind a traceback.
    """
    with _interrupt_after():
        buffer = io.BytesIO()
        model.save(buffer)
        write_bytes(path, buffer.getvalue())
    return path


@contextmanager
def _interrupt_after():
    """Hold back SIGINT inside the block and raise KeyboardInterrupt after it, if one came
    (only in the main thread, where Python handles signals)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):  # signals go elsewhere, or SIGINT is ignored or handled by someone else
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class EpisodeMetricsCallback(BaseCallback):
    """At each rollout's end, log the mean over the episodes that ended in it of each
    environment's national episode summary (``infos[i]["episode_metrics"]``) as
    ``metrics/<name>``, beside SB3's own ``rollout/ep_rew_mean``.

    With ``curves`` (a path) it also keeps the learning curve: one row per rollout
    (``CURVE_KEYS``: the stage, role, the learner's timesteps, episodes ended, their mean
    return, then each metric), the whole file rewritten atomically after each rollout. A
    resumed stage first drops its rows beyond the checkpoint it resumes from, so the file
    is that of an uninterrupted run."""

    def __init__(
        self,
        names: tuple[str, ...] = LOGGED_METRICS,
        curves: Path | None = None,
        stage: int = 0,
        role: str = "local",
    ):
        super().__init__()
        known = CASCADE_METRICS.episode  # every metric of any world
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(known)}")
        self.names = names
        self._episodes: list[dict[str, float]] = []
        self.curves, self.stage, self.role = curves, stage, role
        self._rows: list[dict] = []
        self._returns: list[float] = []  # each slot's episode return, this rollout

    def _on_training_start(self) -> None:
        if self.curves is None:
            return
        start = self.model.num_timesteps
        self._rows = [
            r
            for r in read_curves(self.curves)
            if r["stage"] < self.stage or (r["stage"] == self.stage and r["timesteps"] <= start)
        ]
        write_csv(self.curves, self._rows, CURVE_KEYS + self.names)  # exists from the start

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            summary = info.get("episode_metrics")
            if summary is not None:
                self._episodes.append(summary)
            episode = info.get("episode")
            if episode is not None:
                self._returns.append(float(episode["r"]))
        return True

    def _on_rollout_end(self) -> None:
        returns, self._returns = self._returns, []
        if not self._episodes:
            return
        means = {name: float(np.mean([e[name] for e in self._episodes])) for name in self.names}
        for name, value in means.items():
            self.logger.record(f"metrics/{name}", value)
        self.logger.record("metrics/episodes", len(self._episodes))
        if self.curves is not None:
            row = {
                "stage": self.stage,
                "role": self.role,
                "timesteps": self.model.num_timesteps,
                "episodes": len(self._episodes),
                "return": float(np.mean(returns)) if returns else float("nan"),
            }
            self._rows.append(row | means)
            write_csv(self.curves, self._rows, CURVE_KEYS + self.names)
        self._episodes = []


class CheckpointCallback(BaseCallback):
    """Save the model (``save(model)``) each time its timestep count passes a multiple of
    ``every``. It saves at the start of a rollout, i.e. after the previous PPO update, so
    a checkpoint's parameters are those trained on exactly its ``num_timesteps``."""

    def __init__(self, save: Callable[[BaseAlgorithm], Path], every: int):
        super().__init__()
        if every < 1:
            raise ValueError(f"checkpoint every = {every!r} is not allowed: at least 1")
        self.save, self.every = save, every
        self.saved: list[Path] = []
        self._done = 0

    def _on_training_start(self) -> None:
        self._done = self.num_timesteps // self.every

    def _on_rollout_start(self) -> None:
        passed = self.num_timesteps // self.every
        if passed > self._done:
            self.saved.append(self.save(self.model))
            self._done = passed

    def _on_step(self) -> bool:
        return True
