"""The validation: learned local agents against the phenomena the theory predicts.

Each phenomenon (gaming and audits, effort substitution, threshold bunching, the ratchet,
local knowledge, joined-up working, genuine improvement, Gresham's law) names contrasting
conditions; local agents learn (PPO) in each, one cell per seed, through the
comparison's cells, and are evaluated beside scripted baselines.

``phenomena`` (the conditions, checks and phenomena: the table), ``config`` (settings,
presets, each condition's grid), ``cells`` (a condition's cell and the grid it records),
``effects`` (effects over seeds, verdicts, matched target levels), ``run``
(``run_validation``), ``report`` (summary.csv, report.md) and ``figures`` (a PNG per
phenomenon).
"""
