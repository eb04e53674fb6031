"""RLlib's PPO learner with SB3's epochs: every sample of every module takes part in
exactly ``num_epochs`` gradient steps."""

from __future__ import annotations

import collections

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch  # noqa: E402

from target_gaming.training.config import TrainConfig  # noqa: E402
from target_gaming.training.rllib.config import RLlibSettings, algorithm_config  # noqa: E402
from target_gaming.training.rllib.learner import (  # noqa: E402
    EvenEpochsPPOLearner,
    EvenMiniBatchIterator,
)


def batch(sizes: dict[str, int]) -> MultiAgentBatch:
    return MultiAgentBatch(
        {m: SampleBatch({"id": np.arange(n)}) for m, n in sizes.items()}, max(sizes.values())
    )


@pytest.mark.parametrize(
    "sizes",
    [{"local": 6592, "centre": 256}, {"local": 3000, "centre": 7}, {"local": 10, "centre": 3}],
)
def test_every_sample_of_every_module_takes_part_in_num_epochs_steps(sizes):
    iterator = EvenMiniBatchIterator(batch(sizes), num_epochs=5, minibatch_size=1024)
    seen = {m: collections.Counter() for m in sizes}
    steps = 0
    for minibatch in iterator:
        steps += 1
        assert minibatch.policy_batches.keys() == sizes.keys()  # every module every step
        for module, module_batch in minibatch.policy_batches.items():
            assert len(module_batch) >= 1
            seen[module].update(module_batch["id"].tolist())
    per_epoch = -(-max(sizes.values()) // 1024)
    assert steps == 5 * per_epoch
    for module, n in sizes.items():
        assert seen[module] == collections.Counter({i: 5 for i in range(n)}), module
    largest = max(sizes, key=sizes.get)
    sizes_seen = [len(b.policy_batches[largest]) for b in iterator]
    assert max(sizes_seen) <= 1024


def test_a_module_with_fewer_samples_than_minibatches_repeats_some_in_every_step():
    iterator = EvenMiniBatchIterator(batch({"local": 5000, "centre": 2}), minibatch_size=1024)
    counts = collections.Counter()
    for minibatch in iterator:  # 5 steps
        counts.update(minibatch.policy_batches["centre"]["id"].tolist())
    assert sorted(counts) == [0, 1] and sum(counts.values()) == 5


def test_the_trainer_uses_the_even_epochs_learner():
    config = algorithm_config(TrainConfig(n_envs=4), RLlibSettings(), seed=0)
    assert config.learner_class is EvenEpochsPPOLearner
    assert config.use_kl_loss is False and config.grad_clip == 0.5
