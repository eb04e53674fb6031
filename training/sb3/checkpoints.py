"""Saved SB3 models are verified before they are used or copied: no work is lost to a bad file.

``verify_model`` opens a saved model (a path, or the bytes about to be written) as SB3
writes it: a zip whose every member passes its checksum, holding ``data`` (JSON, with the
model's ``num_timesteps``) and ``policy.pth``. It returns the timestep count, or raises a
``UserError`` naming the file and what is wrong. It reads no tensors (no torch, no SB3), so
it is cheap enough to run on every checkpoint a run starts from and every model it copies.

``set_aside_damaged`` runs as a training run starts: each learner's newest checkpoint is
verified; a damaged one is renamed ``<name>.damaged`` (kept, never deleted) and, when the
run's final model is the same model (the same timestep count, verified), restored from it;
else the learner falls back to its newest good checkpoint. Each damaged file is reported
in one line naming the fallback.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import UserError
from ..io import write_bytes
from ..runs import RunDir

__all__ = ["set_aside_damaged", "verify_model"]

REQUIRED = ("data", "policy.pth")  # what SB3's save writes and PPO.load needs first
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)


def verify_model(source: str | Path | bytes, name: str | None = None) -> int:
    """The timestep count of a saved SB3 model (a path or its bytes; ``name`` labels bytes
    in errors); a ``UserError`` naming the file if it is missing, not a zip, truncated or
    damaged, or not an SB3 model."""
    label = name or str(source if not isinstance(source, bytes) else "the model")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
        with zipfile.ZipFile(handle) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise UserError(f"{label} is damaged: its member {bad!r} fails its checksum")
            missing = [m for m in REQUIRED if m not in archive.namelist()]
            if missing:
                raise UserError(
                    f"{label} is not a whole saved SB3 model (truncated, or another kind of "
                    f"zip: no {' or '.join(missing)})"
                )
            data = json.loads(archive.read("data"))
    except FileNotFoundError as err:
        raise UserError(f"{label} does not exist") from err
    except IsADirectoryError as err:
        raise UserError(f"{label} is a folder, not a saved SB3 model (.zip)") from err
    except _ZIP_ERRORS as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if isinstance(err, UserError):
            raise
        raise UserError(f"{label} is not a readable saved model (truncated?): {err}") from err
    steps = data.get("num_timesteps") if isinstance(data, dict) else None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UserError(f"{label} is not a saved SB3 model (no timestep count in its data)")
    return steps


def _steps(path: Path) -> int | None:
    try:
        return verify_model(path)
    except UserError:
        return None


def set_aside_damaged(run: RunDir, roles: Iterable[str], log: Callable[[str], None]) -> None:
    """Make each role's newest checkpoint a verified one (see the module docstring)."""
    for role in roles:
        final = run.policy(role)
        for steps, path in reversed(run.list_checkpoints(role)):
            try:
                verify_model(path)
                break
            except UserError as err:
                reason = str(err)
            aside = path.with_name(path.name + ".damaged")
            os.replace(path, aside)  # kept for inspection; no longer a checkpoint
            if final.exists() and _steps(final) == steps:
                data = final.read_bytes()
                verify_model(data, str(final))  # the bytes written are the bytes verified
                write_bytes(path, data)
                log(
                    f"{reason}; set aside as {aside.name}; restored from {final.name} "
                    f"(the same model, {steps} timesteps)"
                )
                break
            older = next(
                ((s, p) for s, p in reversed(run.list_checkpoints(role)) if _steps(p) is not None),
                None,
            )
            fallback = (
                f"the {role} learner resumes from {older[1].name} ({older[0]} timesteps)"
                if older
                else f"the {role} learner starts again (no good checkpoint)"
            )
            log(f"{reason}; set aside as {aside.name}; {fallback}")
