"""The reward-design comparison: a grid of designs x seeds (x scenarios), each cell a
training run followed by an evaluation, then a summary, a report and figures.

``grid`` (the grid, its presets), ``specs`` (what each cell trains and evaluates, and
the whole grid's check), ``cells`` (one cell: train, evaluate, mark done),
``backends`` (a process pool or Ray), ``run`` (``run_comparison``), ``aggregate``
(the outputs from the finished cells), ``stats`` (IQM, bootstrap intervals),
``report`` (summary.csv, report.md) and ``figures`` (the PNGs).
"""
