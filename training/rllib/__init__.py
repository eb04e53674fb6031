"""Joint training on Ray RLlib: the centre and the local agents learn at once.

``config`` (``TrainConfig`` mapped onto RLlib's PPO), ``env`` (the MultiAgentEnv
adapter), ``train`` (the run) and ``learned`` (saved ``.rllib`` modules as
policies). Importing this package does not import Ray.
"""
