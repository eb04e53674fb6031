"""Rendering: a compact text table ("ansi"), a matplotlib dashboard ("rgb_array", see
``dashboard``), and ``record_episode``, which writes an episode's dashboards to a GIF.

An env's ``Dashboard`` is built at its first ``rgb_array`` frame (the slow one: it lays
the figure out) and kept as the env's ``_dashboard``; later frames only update its
artists. Copies and pickles of the env leave it out (the env's ``__getstate__`` keeps
only its arguments and episode) and build their own at their first frame;
``close()`` frees it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import WorldConfig
from .metrics import StepMetrics
from .state import WorldState

if TYPE_CHECKING:
    from .parallel import TargetGamingEnv

Actions = Mapping[str, np.ndarray]
# a policy (observations -> actions) or the actions of each step in turn
ActionSource = Callable[[Mapping[str, np.ndarray]], Actions] | Iterable[Actions]


def effort_shares(
    cfg: WorldConfig, metrics: StepMetrics | None, b: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaming and slack share per locality, each (L,), in environment ``b`` of a step's
    ``metrics``; zeros where no step has been taken yet (``metrics`` None)."""
    if metrics is None:
        return np.zeros(cfg.n_localities), np.zeros(cfg.n_localities)
    loc = metrics.locality
    return loc["gaming_share"][b], loc["slack_share"][b]


def _last_shares(env: TargetGamingEnv) -> tuple[np.ndarray, np.ndarray]:
    """Gaming and slack share per locality at the env's last step (zeros before the first)."""
    result = env.last_result
    return effort_shares(env.config, None if result is None else result.metrics)


def ansi(env: TargetGamingEnv) -> str:
    """The env's current frame as text (see ``ansi_frame``)."""
    gaming, slack = _last_shares(env)
    return ansi_frame(env.config, env.world_state, env.world.design.name, gaming, slack)


def ansi_frame(
    cfg: WorldConfig,
    st: WorldState,
    design: str,
    gaming: np.ndarray,  # (L,) gaming share per locality at the last step
    slack: np.ndarray,  # (L,)
    b: int = 0,
) -> str:
    """Per locality: true / measured / target per domain, gaming, slack, partnership, audits."""
    basket = st.basket[b]
    head = f"t={int(st.t[b])}/{cfg.horizon}  design={design}  "
    head += "measured: " + ", ".join(d for d, m in zip(cfg.domains, basket) if m) + "\n"
    cols = "".join(f" {d[:9]:>15}" for d in cfg.domains)
    lines = [head, f"{'loc':>3}{cols}  {'gaming':>6} {'slack':>5} {'partner':>7} {'audit':>5}"]
    lines.append(f"{'':>3}" + "".join(f" {'true/meas/tgt':>15}" for _ in cfg.domains))
    for i in range(cfg.n_localities):
        cells = ""
        for k in range(cfg.n_domains):
            meas = f"{st.measured[b, i, k]:.2f}" if basket[k] else "  - "
            cells += f" {st.true[b, i, k]:.2f}/{meas}/{st.targets[b, i, k]:.2f}"
        audited = "yes" if st.audited[b, i].any() else ""
        partner = st.partnership[b, i].min()
        lines.append(
            f"{i:>3}{cells}  {gaming[i]:>6.2f} {slack[i]:>5.2f} {partner:>7.2f} {audited:>5}"
        )
    return "\n".join(lines) + "\n"


def rgb_array(env: TargetGamingEnv) -> np.ndarray:
    """The env's dashboard (see ``Dashboard``), built at the env's first frame."""
    if env._dashboard is None:
        from .dashboard import Dashboard  # matplotlib is imported by the first frame only

        env._dashboard = Dashboard(env.config, env.world.design.name)
    gaming, slack = _last_shares(env)
    return env._dashboard.frame(env.world_state, gaming, slack)


def close(env: TargetGamingEnv) -> None:
    """Free the env's dashboard, if it drew one (the next frame builds a new one)."""
    if env._dashboard is not None:
        env._dashboard.close()
        env._dashboard = None


def record_episode(
    env: TargetGamingEnv,
    actions: ActionSource,
    path: str | Path,
    seed: int | None = None,
    fps: float | None = None,
) -> Path:
    """Play one episode of ``env`` (made with ``render_mode="rgb_array"``) and write its
    dashboards to ``path`` as a looping GIF: the frame after ``reset(seed=seed)``, then one
    after each step.

    ``actions`` is a policy, called with the observations and returning the actions (a
    dict per agent, as ``env.step`` takes), or the actions of each step in turn; the
    episode ends at the horizon or when they run out. The GIF plays at ``fps`` frames per
    second (the env's ``metadata["render_fps"]`` by default). The file appears whole or
    not at all: it is written to a temporary file in its folder, then renamed onto
    ``path``. Returns ``path``.
    """
    if env.render_mode != "rgb_array":
        raise ValueError(
            f"record_episode needs an env made with render_mode='rgb_array', "
            f"not {env.render_mode!r}"
        )
    if callable(actions):
        policy = actions
    else:
        queue = iter(actions)
        policy = lambda _observations: next(queue, None)  # noqa: E731
    observations, _ = env.reset(seed=seed)
    frames = [env.render()]
    while env.agents and (step_actions := policy(observations)) is not None:
        observations, *_ = env.step(step_actions)
        frames.append(env.render())
    return _write_gif(Path(path), frames, fps or env.metadata["render_fps"])


def _write_gif(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """``frames`` (each (H, W, 3) uint8) as a looping GIF, atomically onto ``path``."""
    from PIL import Image  # Pillow: a dependency of matplotlib

    images = [Image.fromarray(frame) for frame in frames]
    options: dict[str, Any] = {"duration": round(1000 / fps), "loop": 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], **options)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a recording is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
