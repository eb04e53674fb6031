"""The centre comparison: can a learned centre govern better than the rules governments use?

One design in one scenario under every *arm*: each scripted centre rule, the best
constant rule of a small search, and learned centres (SB3 two-level training, RLlib joint
training), each with locals trained against it; the report sets the learned centres
against the best scripted one on the centre's reward and on true welfare.

``config`` (the study, its presets, each arm's one-cell grid), ``run``
(``run_centre_study``), ``report`` (summary.csv, report.md, the goal table).
"""
