"""The one atomic writer: a failed write leaves the old file and no debris; folders swap whole."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from target_gaming.training import io


class Boom(Exception):
    pass


def half_then_raise(handle) -> None:
    handle.write(b"new, but only half of it")
    handle.flush()
    raise Boom


def test_a_write_replaces_the_file_whole_and_leaves_only_it(tmp_path):
    path = tmp_path / "deep" / "er" / "file.txt"
    io.write_text(path, "one\r\ntwo ± three\n")
    assert path.read_bytes() == "one\r\ntwo ± three\n".encode()  # newlines kept as given
    io.write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["file.txt"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "fail",
    [
        lambda path: io.write_with(path, half_then_raise),
        # a row with a column the header lacks cannot be written
        lambda path: io.write_csv(path, [{"a": 1}, {"a": 2, "b": 3}], ("a",)),
        lambda path: io.write_text(path, object()),  # not text
        # the second array cannot be pickled: the first is in the file already
        lambda path: io.write_npz(path, {"x": np.zeros(3), "y": np.array([lambda: 0])}),
    ],
    ids=["writer-raises", "csv-row", "text", "npz"],
)
def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_debris(tmp_path, fail):
    path = tmp_path / "kept.csv"
    io.write_text(path, "old\n")
    with pytest.raises(Exception):  # noqa: B017 - each writer fails its own way
        fail(path)
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["kept.csv"]


def test_a_failed_first_write_creates_no_file(tmp_path):
    with pytest.raises(Boom):
        io.write_with(tmp_path / "new.bin", half_then_raise)
    assert os.listdir(tmp_path) == []


def test_npz_and_csv_round_trip(tmp_path):
    io.write_npz(tmp_path / "a.npz", {"x": np.arange(4)})
    with np.load(tmp_path / "a.npz") as data:
        assert data["x"].tolist() == [0, 1, 2, 3]
    io.write_csv(tmp_path / "a.csv", [{"a": 1, "b": "x"}], ("a", "b"))
    assert (tmp_path / "a.csv").read_bytes() == b"a,b\r\n1,x\r\n"


def save_files(files: dict[str, str]):
    def save(folder: str) -> None:
        os.makedirs(os.path.join(folder, "sub"))
        for name, text in files.items():
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(text)

    return save


def test_a_folder_write_replaces_the_old_folder_whole(tmp_path):
    path = tmp_path / "iter_000001"
    io.write_folder(path, save_files({"a": "1", "sub/b": "2"}))
    io.write_folder(path, save_files({"c": "3"}))
    assert sorted(os.listdir(path)) == ["c", "sub"]  # nothing of the old folder is left
    assert (path / "c").read_text() == "3"
    assert os.listdir(tmp_path) == ["iter_000001"]


def test_a_folder_write_that_fails_midway_keeps_the_old_folder_and_leaves_no_debris(tmp_path):
    path = tmp_path / "local_policy.rllib"
    io.write_folder(path, save_files({"a": "1"}))

    def half(folder: str) -> None:
        save_files({"x": "new"})(folder)
        raise Boom

    with pytest.raises(Boom):
        io.write_folder(path, half)
    assert sorted(os.listdir(path)) == ["a", "sub"] and (path / "a").read_text() == "1"
    assert os.listdir(tmp_path) == ["local_policy.rllib"]


def test_a_folder_write_clears_a_killed_writes_leftovers(tmp_path):
    (tmp_path / ".m.tmp").mkdir()
    (tmp_path / ".m.tmp" / "junk").write_text("half")
    io.write_folder(tmp_path / "m", save_files({"a": "1"}))
    assert os.listdir(tmp_path) == ["m"] and sorted(os.listdir(tmp_path / "m")) == ["a", "sub"]
