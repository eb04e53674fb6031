"""Every file the training code writes goes through here, atomically, with one set of guarantees.

- A file is written to a temporary file in its own folder (``.<name>.<random>.tmp``),
  flushed and fsynced, made readable (mode 0644), then renamed onto its path
  (``os.replace``); the folder is fsynced where the platform allows, so the rename
  survives a crash. A reader sees the old content or all of the new, never a part.
- If writing fails (the writer raises, a value cannot be serialised, the disk is
  full), the temporary file is removed and the old file is left as it was.
- A folder (``write_folder``: RLlib checkpoints and modules) is written whole into a
  temporary sibling folder, fsynced file by file, then renamed into place; an existing
  folder is moved aside first and removed after. A failed write removes its
  temporary folder and leaves the old one.

Parent folders are created as needed.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "atomic_file",
    "write_bytes",
    "write_csv",
    "write_folder",
    "write_npz",
    "write_png",
    "write_text",
    "write_with",
]


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the platform allows."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb", **open_kwargs: Any):
    """A handle on a temporary file that replaces ``path`` when the block ends without an
    error; on an error the temporary file is removed and ``path`` is untouched."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode = {mode!r} is not allowed: 'wb' or 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; results are for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_with(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """``write(handle)`` into a binary handle, atomically onto ``path``."""
    with atomic_file(path, "wb") as handle:
        write(handle)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """``data`` onto ``path``, atomically."""
    return write_with(path, lambda handle: handle.write(data))


def write_text(path: str | Path, text: str) -> Path:
    """``text`` onto ``path``, atomically (newlines as given; the locale's encoding, as
    ``open`` uses)."""
    with atomic_file(path, "w", newline="") as handle:
        handle.write(text)
    return Path(path)


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Rows as CSV (one header line, then one line per row), atomically; a row with a key
    outside ``columns`` fails the write."""
    with atomic_file(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Arrays as an uncompressed ``.npz`` (``numpy.savez``), atomically."""
    return write_with(path, lambda handle: np.savez(handle, **arrays))


def write_png(path: str | Path, figure: Any, dpi: int = 100) -> Path:
    """A matplotlib figure as PNG, atomically."""
    return write_with(path, lambda handle: figure.savefig(handle, dpi=dpi, format="png"))


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_folder(Path(folder))


def write_folder(path: str | Path, save: Callable[[str], object]) -> Path:
    """``save(folder)`` into a hidden temporary sibling folder (``.<name>.tmp``, a path that
    does not exist yet), fsynced, then renamed to ``path``: a reader sees the whole folder or
    none. An existing ``path`` is moved aside (``.<name>.old``) first and removed after;
    leftovers of an earlier killed write are removed first."""
    path = Path(path)
    tmp, old = (path.with_name(f".{path.name}.{end}") for end in ("tmp", "old"))
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        save(str(tmp.resolve()))
        _fsync_tree(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)  # the second rename failed: put the old folder back
        raise
    _fsync_folder(path.parent)
    shutil.rmtree(old, ignore_errors=True)
    return path
