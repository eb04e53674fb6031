"""The ``rgb_array`` dashboard: one panel per domain (true bars, measured dots where the
domain is measured, target ticks, per locality) and an effort-use panel (gaming and slack
shares, stacked), drawn with matplotlib's ``Figure`` on an Agg canvas (never pyplot).

``Dashboard`` is the fast path, built once per env: the first frame lays the figure out
and keeps what never changes (axes, ticks, panel titles) as a background image; later
frames set the data of the artists that change, restore the background and draw those
artists over it, in the order a full draw would. ``reference_frame`` draws the same
dashboard afresh in one pass: the readable reference the fast path is held to.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .config import WorldConfig
from .state import WorldState

FIGSIZE, DPI = (8, 4.5), 80  # 640 x 360 pixels
LEGEND = {"fontsize": 6, "loc": "lower right"}


def reference_frame(
    cfg: WorldConfig,
    st: WorldState,
    design: str,
    gaming: np.ndarray,  # (L,) gaming share per locality at the last step
    slack: np.ndarray,  # (L,)
    b: int = 0,
) -> np.ndarray:
    """The dashboard of environment ``b`` of ``st``, drawn afresh: (H, W, 3) uint8."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, cfg.n_domains + 1, sharey=False)
    loc = np.arange(cfg.n_localities)
    for k, ax in enumerate(axes[:-1]):
        ax.barh(loc, st.true[b, :, k], color="tab:green", alpha=0.7, label="true")
        if st.basket[b, k]:
            ax.scatter(
                st.measured[b, :, k], loc, color="tab:red", marker="o", s=12, label="measured"
            )
        ax.scatter(st.targets[b, :, k], loc, color="black", marker="|", s=80, label="target")
        _domain_axes(ax, cfg, k)
    axes[0].legend(**LEGEND)
    ax = axes[-1]
    ax.barh(loc, gaming, color="tab:red", label="gaming")
    ax.barh(loc, slack, left=gaming, color="tab:gray", label="slack")
    _effort_axes(ax)
    ax.legend(**LEGEND)
    fig.suptitle(_title(cfg, st, design, b), fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _domain_axes(ax: Axes, cfg: WorldConfig, k: int) -> None:
    ax.set_xlim(0, 1)
    ax.set_title(cfg.domains[k], fontsize=9)
    ax.set_yticks(np.arange(cfg.n_localities))
    ax.tick_params(labelsize=7)


def _effort_axes(ax: Axes) -> None:
    ax.set_xlim(0, 1)
    ax.set_title("effort use", fontsize=9)


def _title(cfg: WorldConfig, st: WorldState, design: str, b: int) -> str:
    return f"{design}: t={int(st.t[b])}/{cfg.horizon}"


class Dashboard:
    """The dashboard of one env, its figure and artists made once (see the module doc).

    The changing artists (the bars, the dots, the spines and legends drawn over them, the
    figure's title) are animated, so that a full draw leaves them out of the background.
    """

    def __init__(self, cfg: WorldConfig, design: str):
        self.cfg, self.design = cfg, design
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.subplots(1, cfg.n_domains + 1, sharey=False)
        self._loc = loc = np.arange(cfg.n_localities)
        zeros = np.zeros(cfg.n_localities)
        self._true, self._measured, self._targets = [], [], []
        for k, ax in enumerate(self.axes[:-1]):
            self._true.append(ax.barh(loc, zeros, color="tab:green", alpha=0.7, label="true"))
            self._measured.append(ax.scatter(zeros, loc, color="tab:red", marker="o", s=12))
            self._targets.append(ax.scatter(zeros, loc, color="black", marker="|", s=80))
            _domain_axes(ax, cfg, k)
        ax = self.axes[-1]
        self._gaming = ax.barh(loc, zeros, color="tab:red", label="gaming")
        self._slack = ax.barh(loc, zeros, left=zeros, color="tab:gray", label="slack")
        _effort_axes(ax)
        # panel -> its legend: the effort panel's, and the first panel's, remade when the
        # first domain enters or leaves the measured basket (it names the dots only then)
        self._legends = {cfg.n_domains: ax.legend(**LEGEND)}
        self._first_measured: bool | None = None
        self._title = self.figure.suptitle("", fontsize=10)
        # per panel, what a frame draws, in a full draw's order (by zorder, then as added)
        self._layers = [
            [*self._true[k], self._measured[k], self._targets[k]] for k in range(cfg.n_domains)
        ]
        self._layers.append([*self._gaming, *self._slack])
        for layer, ax in zip(self._layers, self.axes):
            layer.extend(ax.spines.values())
        for artist in [*(a for layer in self._layers for a in layer), self._title]:
            artist.set_animated(True)
        self._legends[cfg.n_domains].set_animated(True)
        self._background = None

    def _first_legend(self, measured: bool) -> None:
        """The first panel's legend, in a full legend's order (dots, ticks, then bars)."""
        if measured is self._first_measured:
            return
        dots, ticks = self._measured[0], self._targets[0]
        handles, labels = [ticks, self._true[0]], ["target", "true"]
        if measured:
            handles, labels = [dots, *handles], ["measured", *labels]
        legend = self.axes[0].legend(handles, labels, **LEGEND)
        legend.set_animated(True)
        self._legends[0] = legend
        self._first_measured = measured

    def _set_data(self, st: WorldState, gaming: np.ndarray, slack: np.ndarray, b: int) -> None:
        for k in range(self.cfg.n_domains):
            for bar, width in zip(self._true[k], st.true[b, :, k].tolist()):
                bar.set_width(width)
            self._measured[k].set_offsets(np.column_stack([st.measured[b, :, k], self._loc]))
            self._measured[k].set_visible(bool(st.basket[b, k]))
            self._targets[k].set_offsets(np.column_stack([st.targets[b, :, k], self._loc]))
        self._first_legend(bool(st.basket[b, 0]))
        for bar, slack_bar, g, s in zip(self._gaming, self._slack, gaming.tolist(), slack.tolist()):
            bar.set_width(g)
            slack_bar.set_x(g)
            slack_bar.set_width(s)
        self._title.set_text(_title(self.cfg, st, self.design, b))

    def frame(
        self,
        st: WorldState,
        gaming: np.ndarray,  # (L,) gaming share per locality at the last step
        slack: np.ndarray,  # (L,)
        b: int = 0,
    ) -> np.ndarray:
        """The dashboard of environment ``b`` of ``st``: (H, W, 3) uint8."""
        self._set_data(st, gaming, slack, b)
        if self._background is None:  # the layout depends on the labels, never on the data
            self.figure.tight_layout()
            self.canvas.draw()  # every artist that is not animated
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.canvas.restore_region(self._background)
        for panel, (ax, layer) in enumerate(zip(self.axes, self._layers)):
            for artist in [*layer, self._legends.get(panel)]:
                if artist is not None:
                    ax.draw_artist(artist)
        self.figure.draw_artist(self._title)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        """Free the figure's artists and background; the dashboard draws no more."""
        self.figure.clear()
        self._background = None
