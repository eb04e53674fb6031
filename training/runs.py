"""A training run's folder: its config, checkpoints and final files, all written atomically.

Layout of ``out/``::

    config.json                      the TrainConfig of the run
    checkpoints/<role>_<steps>.zip   every checkpoint, named by the learner's timesteps
    tensorboard/<role>_0/            TensorBoard logs (rewards and metrics/)
    local_policy.zip, centre_policy.zip   the final models of the roles that learned
    episodes.csv, metrics.txt        the final evaluation (deterministic actions)

A checkpoint appears whole or not at all (a temporary file renamed into place),
so after a crash every ``.zip`` in ``checkpoints/`` is complete and the latest
one per role is where a resumed run picks up.
"""

from __future__ import annotations

import re
from pathlib import Path

ROLES = ("local", "centre")
_CHECKPOINT = re.compile(r"^(local|centre)_(\d+)\.zip$")


class RunDir:
    """Paths of one run's folder and its checkpoints."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def policy(self, role: str) -> Path:
        """The final model of ``role``: ``local_policy.zip`` or ``centre_policy.zip``."""
        return self.root / f"{_check_role(role)}_policy.zip"

    def checkpoint(self, role: str, steps: int) -> Path:
        return self.checkpoints / f"{_check_role(role)}_{steps:012d}.zip"

    def list_checkpoints(self, role: str) -> list[tuple[int, Path]]:
        """(timesteps, path) of every complete checkpoint of ``role``, oldest first."""
        _check_role(role)
        if not self.checkpoints.is_dir():
            return []
        found = []
        for path in self.checkpoints.iterdir():
            match = _CHECKPOINT.match(path.name)
            if match and match.group(1) == role:
                found.append((int(match.group(2)), path))
        return sorted(found)

    def latest(self, role: str) -> tuple[int, Path | None]:
        """The latest checkpoint of ``role``: (timesteps, path), or (0, None) if none."""
        found = self.list_checkpoints(role)
        return found[-1] if found else (0, None)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role
