"""One import root: the distribution installs ``target_gaming`` and nothing else at the top.

Generic top-level names (``agents``, ``envs``, ``training``) collide silently with
other packages on a user's ``sys.path``; these tests hold the install to one root.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"envs": "target_gaming.envs", "agents": "target_gaming.agents"}
FOLDERS["training"] = "target_gaming.training"


def _package_folders() -> set[str]:
    """Every folder of envs/, agents/, training/ with an __init__.py, as a dotted name."""
    names = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            names.add(".".join((package, *rel)))
    return names


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _package_folders()
    assert config["package-dir"] == {package: folder for folder, package in FOLDERS.items()}


def test_imports_with_unrelated_top_level_agents_envs_training_first_on_path(tmp_path):
    """Another ``agents`` (an agents SDK), ``envs`` or ``training`` first on sys.path changes
    nothing: the project never imports those names."""
    for name in FOLDERS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the other {name}')\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from target_gaming.envs import target_gaming_v2\n"
        "from target_gaming.agents import load_policy\n"
        "from target_gaming.training import cli\n"
        "env = target_gaming_v2.parallel_env()\n"
        "obs, _ = env.reset(seed=0)\n"
        "policy = load_policy('honest', env.world, role='local')\n"
        "assert not {'agents', 'envs', 'training'} & set(sys.modules), sorted(sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_wheel_holds_only_target_gaming(tmp_path):
    """A wheel built from the checkout installs one top-level package, with every module."""
    source = tmp_path / "source"  # a copy: the build writes build/ and egg-info beside it
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "README.md", *FOLDERS):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        kwargs = {"ignore": ignore} if (ROOT / name).is_dir() else {}
        copy(ROOT / name, source / name, **kwargs)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"target_gaming"}
    for folder, package in FOLDERS.items():
        for module in (ROOT / folder).rglob("*.py"):
            rel = module.relative_to(ROOT / folder).as_posix()
            assert f"{package.replace('.', '/')}/{rel}" in names
