"""The stackelberg centre: a centre that learns its rule as a leader, against locals that adapt.

A centre that learns beside its locals (``two_level``, ``rllib``) climbs the gradient of
its reward with the locals as they are: it answers the locals it has. What a centre that
*commits* to a rule gets is its reward once the locals have learned under that rule, and
that is what this outer loop optimises (a bilevel, Stackelberg problem: the centre leads,
the locals follow by learning). Its policy is ``relative_rule``'s parameters
(``RULE_PARAMS``: ratchet rate, offset, audit focus; where the study's world has the
prescription lever, ``prescribe`` too, the strength at which it prescribes the nationally
best approach: ``CentreStudyConfig.rule_space``), each scaled to [0, 1] over its range
in ``SEARCH`` (the offset's narrower than the rule allows: in ``whitehall`` a step of +0.02
already costs 0.06 of true welfare, so the search spends its samples near zero);
the search is CMA-ES (the ``cma`` package) from the ratchet's targets (rate 0.5, offset 0)
with audits halfway between even and ``risk_based_audits``' (focus 0.5) and a
prescription of half strength (the middle of that lever, for the same reason), for
``stackelberg.generations`` generations of ``stackelberg.population`` candidates. Each
candidate is a cell per seed of ``stackelberg.seeds`` (locals trained against it at the
study's budget, then evaluated), scored by the centre's mean reward on fresh seeds, the
quantity the centre is paid; the learned rule is the strategy's mean after the last
generation (less noisy than the best single candidate, whose score is the maximum of noisy
draws).

Everything is deterministic: the strategy's seed is ``stackelberg.seed`` and numpy's
global generator, which ``cma`` seeds and samples from, is seeded for each ``ask`` and
restored after it and after the strategy is made. A rerun replays the same asks and reads
the finished candidates' cells, so an interrupted search resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from target_gaming.agents.centre import RATCHET_RATE, RelativeRule

from .config import RULE_PARAMS, CentreStudyConfig, rule_arm

# the ratchet's targets, audits halfway from even to risk_based_audits' and a prescription
# of half strength: the middle of each lever, so that the search explores both sides of it
# (from a bound, half of every generation would be clipped onto it)
START = {"ratchet_rate": RATCHET_RATE, "offset": 0.0, "audit_focus": 0.5, "prescribe": 0.5}
# each parameter's range in the search (within RelativeRule.PARAMS), scaled to [0, 1]
SEARCH = {
    "ratchet_rate": (0.0, 1.0),
    "offset": (-0.05, 0.05),
    "audit_focus": (0.0, 1.0),
    "prescribe": (0.0, 1.0),
}
assert set(SEARCH) == set(START) == set(RelativeRule.PARAMS)
assert all(
    RelativeRule.PARAMS[k][0] <= low <= high <= RelativeRule.PARAMS[k][1]
    for k, (low, high) in SEARCH.items()
)

# arms -> the centre's mean reward of each (its cells trained and evaluated on every seed)
Score = Callable[[Sequence[str]], dict[str, float]]


def _ranges(names: Sequence[str]) -> np.ndarray:
    return np.array([SEARCH[k] for k in names], dtype=float)  # (n, 2)


def start(names: Sequence[str] = RULE_PARAMS) -> dict[str, float]:
    """The search's first mean over the parameters ``names`` (a study's ``rule_space``)."""
    return {k: START[k] for k in names}


def to_params(unit: Sequence[float], names: Sequence[str] = RULE_PARAMS) -> dict[str, float]:
    """A point of [0, 1]^n as ``relative_rule``'s parameters ``names``, each rounded as its
    arm names it (``rule_arm``: 4 decimals)."""
    ranges = _ranges(names)
    values = ranges[:, 0] + np.clip(unit, 0.0, 1.0) * (ranges[:, 1] - ranges[:, 0])
    return {k: round(float(v), 4) + 0.0 for k, v in zip(names, values, strict=True)}


def to_unit(params: dict[str, float]) -> np.ndarray:
    """``to_params``' inverse, over the parameters ``params`` names (in its order)."""
    ranges = _ranges(list(params))
    values = np.array(list(params.values()), dtype=float)
    return (values - ranges[:, 0]) / (ranges[:, 1] - ranges[:, 0])


def _strategy(config: CentreStudyConfig):
    import cma

    outer, n = config.stackelberg, len(config.rule_space())
    options = {
        "bounds": [[0.0] * n, [1.0] * n],
        "popsize": outer["population"],
        "seed": outer["seed"] + 1,  # cma reads 0 as "draw a seed"
        "verbose": -9,
        "verb_log": 0,  # no outcmaes/ files
        "verb_disp": 0,
    }
    with _global_numpy(), warnings.catch_warnings():  # cma seeds the global generator
        warnings.simplefilter("ignore")
        first = to_unit(start(config.rule_space()))
        return cma.CMAEvolutionStrategy(first.tolist(), outer["sigma"], options)


@contextlib.contextmanager
def _global_numpy(seed: int | None = None) -> Iterator[None]:
    """numpy's global generator seeded with ``seed`` (if given) inside, as it was after."""
    saved = np.random.get_state()
    if seed is not None:
        np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _ask(strategy, seed: int) -> list[np.ndarray]:
    """The next generation, sampled from numpy's global generator seeded with ``seed``
    (restored after): the same asks on every rerun whatever else used it."""
    with _global_numpy(seed):
        return [np.asarray(x, dtype=float) for x in strategy.ask()]


def learn_rule(config: CentreStudyConfig, score: Score) -> tuple[str, list[dict]]:
    """Run the outer loop: per generation, ``score`` the candidates' arms (training what
    is missing), tell the strategy; return the learned rule's arm and the history, one
    record per generation (its candidates and their scores, the strategy's mean after it
    and its step size)."""
    outer, names = config.stackelberg, config.rule_space()
    strategy = _strategy(config)
    history = []
    for generation in range(outer["generations"]):
        unit = _ask(strategy, outer["seed"] * 1000 + generation)
        arms = [rule_arm(to_params(x, names)) for x in unit]
        scores = score(arms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strategy.tell(unit, [-scores[a] for a in arms])  # cma minimises
        mean = to_params(strategy.result.xfavorite, names)
        history.append(
            {
                "generation": generation + 1,
                "candidates": [{"arm": a, "score": scores[a]} for a in arms],
                "mean": mean,
                "sigma": float(strategy.sigma),
            }
        )
    return rule_arm(history[-1]["mean"]), history
