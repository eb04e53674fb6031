"""Training with stable-baselines3 PPO: the local agents, the centre, or both in turn.

``vec_env`` (the local agents as SB3 vector-env slots), ``centre_env`` (the centre,
one decision per review period), ``callbacks`` (metrics, checkpoints), ``train``
(the stages of a run) and ``learned`` (saved ``.zip`` models as policies).
"""
