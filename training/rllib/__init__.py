"""Joint training on Ray RLlib: the centre and the local agents learn at once.

``config`` (``TrainConfig`` mapped onto RLlib's PPO), ``batched_env`` (the
MultiAgentEnv the trainer samples: B worlds stepped by one ``World.step`` call),
``env`` (the readable B = 1 MultiAgentEnv adapter of the PettingZoo env, its
reference), ``train`` (the run) and ``learned`` (saved ``.rllib`` modules as
policies). Importing this package does not import Ray.
"""
