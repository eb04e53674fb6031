"""Where Ray runs: one helper starts a local Ray or joins a cluster, for every Ray user.

Used by RLlib training (``training/rllib/train.py``) and the comparison's Ray backend
(``training/compare/backends.py``). Ray is imported only when a session starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ray_session(address: str | None, num_cpus: int) -> Iterator[None]:
    """Join the running cluster at ``address``, or else start a local Ray with ``num_cpus``
    CPUs, for the block; shut down at its end only a Ray this call started (one already
    initialised is used as it is)."""
    import ray

    started = not ray.is_initialized()
    if started:
        # Ray's workers under this process's hash seed (RLlib's order of agents follows it)
        hashing = {"env_vars": {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}}
        if address:
            ray.init(address=address, log_to_driver=False, runtime_env=hashing)
        else:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env=hashing,
            )
    try:
        yield
    finally:
        if started:
            ray.shutdown()
