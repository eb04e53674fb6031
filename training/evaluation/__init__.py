"""Evaluating policies: rollouts in the batched core and what is made of them.

``rollout`` (episodes of scripted or saved policies, one row each), ``tables``
(means and 95% intervals; metrics.txt and episodes.csv) and ``traces`` (step-level
traces for the comparison's figures).
"""
