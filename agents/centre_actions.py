"""How a learned centre's action becomes the world's central action.

The world reads a central action in [0, 1]^D: per locality and domain a target level
mapped onto [target_min, target_max], then per locality an audit weight
(``compose_centre``). A learned centre acts in one of two parameterisations
(``CENTRE_ACTIONS``), which its trainer and its saved policy share:

- ``absolute``: the world's action itself, clipped to [0, 1] (a network's zero output
  asks for target_min everywhere and no audits).
- ``relative``: an action u in [-1, 1]^D (clipped there). In each measured domain a
  locality's next target moves from its target tau towards its last measure m as the
  ``ratchet`` rule moves it, then by ``RELATIVE_SPAN * u``:
  ``tau' = tau + RATCHET_RATE * (m - tau) + RELATIVE_SPAN * u`` (clipped to the target
  range); an unmeasured domain keeps its target; a locality's audit weight is
  (u + 1) / 2; with the prescription lever, each ``prescribe:<d>:<r>`` is max(u, 0). A
  network's zero output is ``ratchet`` (rate 0.5, its default) with even audits and
  nothing prescribed, and the centre learns per-locality departures from it: targets
  relative to what each locality delivers.

Why the ratchet's rate and not the last measure itself (rate 1): in ``whitehall`` under
``targeted_audits``, SB3 locals trained under a rate-1 ratchet game about three times as
much (their inflated measure becomes next year's target, so gaming pays again) and reach
a true welfare of 0.629 against 0.690 at rate 0.5 (``results/centre-relative/
controls.md``); a centre that starts from rate 1 spends its learning climbing back.
"""

from __future__ import annotations

import functools

import numpy as np

from target_gaming.envs.target_gaming import WorldConfig

from .base import CentreView, compose_centre
from .centre import RATCHET_RATE  # the rule a relative centre departs from

CENTRE_ACTIONS = ("absolute", "relative")
RELATIVE_SPAN = 0.2  # outcome units: how far from the ratchet's target a relative one can go


def check_centre_action(value, where: str = "centre_action") -> str:
    if not isinstance(value, str) or value not in CENTRE_ACTIONS:
        raise ValueError(f"{where} = {value!r} is not allowed: one of {', '.join(CENTRE_ACTIONS)}")
    return value


def action_bounds(mode: str) -> tuple[float, float]:
    """(low, high) of a learned centre's action under ``mode``."""
    return (0.0, 1.0) if check_centre_action(mode) == "absolute" else (-1.0, 1.0)


@functools.lru_cache(maxsize=16)
def _view(cfg: WorldConfig) -> CentreView:
    return CentreView.build(cfg)


def world_action(cfg: WorldConfig, obs: np.ndarray, action: np.ndarray, mode: str) -> np.ndarray:
    """(M, D) world central actions in [0, 1] from a learned centre's ``action`` (M, D) under
    ``mode``, given the central observations ``obs`` (M, D_obs) it acted on. A NaN stays a
    NaN (the world refuses it)."""
    action = np.asarray(action, dtype=np.float64)
    low, high = action_bounds(mode)
    u = np.clip(action, low, high)
    if mode == "absolute":
        return u
    view = _view(cfg)
    obs = np.asarray(obs, dtype=np.float64)
    n_targets = view.n_localities * view.n_domains
    offset = u[:, :n_targets].reshape(-1, view.n_localities, view.n_domains)
    measured, is_measured = obs[:, view.measured], obs[:, view.is_measured][:, None, :]
    tau = obs[:, view.target]
    ratchet = tau + RATCHET_RATE * (measured - tau)
    targets = np.where(is_measured > 0, ratchet + RELATIVE_SPAN * offset, tau)
    n_loc = view.n_localities
    audits = (u[:, n_targets : n_targets + n_loc] + 1.0) / 2.0
    # with the prescription lever: its strengths as given, at least 0 (a zero output
    # prescribes nothing)
    prescription = None
    if cfg.prescription:
        prescription = np.maximum(u[:, n_targets + n_loc :], 0.0)
        prescription = prescription.reshape(u.shape[0], view.n_domains, -1)
    out = compose_centre(cfg, targets, audits, prescription)
    return np.where(np.isnan(action), np.nan, out)  # compose_centre's clip keeps NaN; be sure
