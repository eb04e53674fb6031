"""Training, evaluation and the reward-design comparison, one subpackage per concept.

- ``cli``: the ``target-gaming`` command (parses, then calls the modules below).
- ``sb3``: stable-baselines3 PPO (vector envs, callbacks, the stages of a run).
- ``rllib``: joint training on Ray RLlib (config mapping, env adapter, the run).
- ``evaluation``: rollouts, metrics tables, step traces.
- ``compare``: the comparison grid, its cells, backends, statistics, report, figures.
- ``validate``: learned agents in each phenomenon's contrasting conditions, a verdict each.
- ``config`` (``TrainConfig``, ``PPOConfig``) and ``runs`` (a run's folder, seeds and
  final evaluation) serve both backends; ``io`` writes every file atomically;
  ``cluster`` starts or joins Ray.
"""
