"""The one kind of error a user can fix, and the checks of user-named paths that raise it.

``UserError`` is a ``ValueError`` (as every validation error of the configs is): a bad
input, or a file or folder the user named that cannot be read or written. The command
line (``training/cli.py``) prints any ``ValueError``, and an ``OSError`` of the file
system (a read-only or full disk, a missing file), as one line
``target-gaming <command>: error: <message>`` and exits 2; any other exception is a bug
and keeps its traceback.

``read_json`` and ``read_json_object`` read a user-named JSON file, naming the file in
every failure (missing, a folder, unreadable, not UTF-8, not JSON, not an object);
``check_out_folder`` refuses an output folder that cannot be one before anything is
written (a file, a path under a file, a read-only or unwritable place).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["UserError", "check_out_folder", "fields_of", "read_json", "read_json_object"]


class UserError(ValueError):
    """A bad input or an unusable path, said in one line that names it."""


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value in ``path``; ``what`` names it in errors (``"--config"``, ``"the run's
    config"``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError as err:
        raise UserError(f"{what} {path} is a folder, not a JSON file") from err
    except FileNotFoundError as err:
        raise UserError(f"{what} {path} does not exist") from err
    except UnicodeDecodeError as err:
        raise UserError(f"{what} {path} is not a text (UTF-8) file: {err.reason}") from err
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror or err}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{what} {path} is not valid JSON: {err}") from err


def read_json_object(path: str | Path, what: str, holds: str) -> dict[str, Any]:
    """``read_json``, refusing anything but a JSON object (``holds``: what its keys are)."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(data), "a number"
        )
        raise UserError(f"{what} {path} holds {kind}; expected a JSON object of {holds}")
    return data


def check_out_folder(path: str | Path, flag: str = "--out") -> Path:
    """Refuse an output folder that cannot be one, writing nothing: an existing file, a path
    under a file, or a place that cannot be written (read-only, no permission)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        except (OSError, AttributeError):
            read_only = False
        reason = "a read-only file system" if read_only else "no permission to write"
        raise UserError(f"{flag} {path}: cannot write in {existing} ({reason})")
    return path


def fields_of(cls: type, data: Any, what: str, lists: tuple[str, ...]) -> dict[str, Any]:
    """``data`` checked as the fields of dataclass ``cls`` (``what`` names the kind: "a
    validation config"), the fields of ``lists`` made tuples; raises ValueError naming an
    unknown field, or a list field that is not a list."""
    if not isinstance(data, dict):
        raise ValueError(
            f"{what} is a JSON object of {cls.__name__} fields, not {type(data).__name__}"
        )
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} of {what}; allowed: {known}")
    fixed = dict(data)
    for key in lists:
        if key in fixed:
            if not isinstance(fixed[key], (list, tuple)):
                raise ValueError(f"{what}: field {key} = {fixed[key]!r} is not allowed: a list")
            fixed[key] = tuple(fixed[key])
    return fixed
