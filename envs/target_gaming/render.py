"""Rendering: a compact text table ("ansi") and a matplotlib dashboard ("rgb_array")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .config import WorldConfig
from .state import WorldState

if TYPE_CHECKING:
    from .parallel import TargetGamingEnv


def _last_shares(env: TargetGamingEnv) -> tuple[np.ndarray, np.ndarray]:
    """Gaming and slack share per locality at the last step (zeros before the first)."""
    n_loc = env.config.n_localities
    if env.last_result is None:
        return np.zeros(n_loc), np.zeros(n_loc)
    loc = env.last_result.metrics.locality
    return loc["gaming_share"][0], loc["slack_share"][0]


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
    """A dashboard: true vs measured vs target per locality and domain, and effort use."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg, st = env.config, env.world_state
    gaming, slack = _last_shares(env)
    fig = Figure(figsize=(8, 4.5), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, cfg.n_domains + 1, sharey=False)
    loc = np.arange(cfg.n_localities)
    for k, ax in enumerate(axes[:-1]):
        ax.barh(loc, st.true[0, :, k], color="tab:green", alpha=0.7, label="true")
        if st.basket[0, k]:
            ax.scatter(
                st.measured[0, :, k], loc, color="tab:red", marker="o", s=12, label="measured"
            )
        ax.scatter(st.targets[0, :, k], loc, color="black", marker="|", s=80, label="target")
        ax.set_xlim(0, 1)
        ax.set_title(cfg.domains[k], fontsize=9)
        ax.set_yticks(loc)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6, loc="lower right")
    ax = axes[-1]
    ax.barh(loc, gaming, color="tab:red", label="gaming")
    ax.barh(loc, slack, left=gaming, color="tab:gray", label="slack")
    ax.set_xlim(0, 1)
    ax.set_title("effort use", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"{env.world.design.name}: t={int(st.t[0])}/{cfg.horizon}", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def close(env: TargetGamingEnv) -> None:
    """Nothing is held open: each dashboard is a fresh, unshown Figure."""
