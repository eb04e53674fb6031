"""BenchMARL: ``task`` holds the target-gaming task (``TargetGamingTask``, over the native
TorchRL env), ``train`` trains the locals of a run with a BenchMARL algorithm
(``ALGORITHMS``), and ``learned`` loads the saved actor as a policy. ``TargetGamingTask``,
``TargetGamingClass`` and ``TASK_DEFAULTS`` import benchmarl (the ``benchmarl`` extra) on
first use; ``ALGORITHMS`` does not."""

from __future__ import annotations

from typing import Any

ON_POLICY = ("ippo", "mappo")
OFF_POLICY = ("masac", "isac", "maddpg", "iddpg")
ALGORITHMS = ON_POLICY + OFF_POLICY
_TASK = ("TASK_DEFAULTS", "TargetGamingClass", "TargetGamingTask")

__all__ = ["ALGORITHMS", "OFF_POLICY", "ON_POLICY", *_TASK]


def __getattr__(name: str) -> Any:
    if name in _TASK:
        from . import task

        return getattr(task, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
