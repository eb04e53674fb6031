"""TorchRL: ``env`` holds ``TargetGamingTorchEnv``, a native ``EnvBase`` over the batched core
(B environments per call, groups ``centre`` and ``local``) for TorchRL's collectors and
BenchMARL. Importing this package imports torchrl (the ``torchrl`` extra)."""

from .env import GROUPS, TargetGamingTorchEnv

__all__ = ["GROUPS", "TargetGamingTorchEnv"]
