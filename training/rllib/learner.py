"""RLlib's PPO learner with SB3's epochs for every module: ``EvenEpochsPPOLearner``.

RLlib's minibatch iterator (``MiniBatchCyclicIterator``) gives every module a
minibatch of ``minibatch_size`` samples at each gradient step, cycling through a
module's batch when it holds fewer. The centre decides once per review period, so
its batch is a few percent of the locals': cycled up to ``minibatch_size``, each of
its samples would take part in tens of times more gradient steps than ``n_epochs``,
at the cost of a full minibatch's forward and backward passes at every step.

``EvenMiniBatchIterator`` splits every module's batch into the same number of
minibatches per epoch, the largest batch (the locals') into minibatches of
``minibatch_size`` and the others in proportion, shuffled each epoch; so every sample
of every module takes part in exactly ``num_epochs`` gradient steps, as in SB3's PPO
(a module with fewer samples than minibatches per epoch gives each step one sample,
some more than once).
"""

from __future__ import annotations

import math

from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.minibatch_utils import MiniBatchCyclicIterator, MiniBatchIteratorBase


class EvenMiniBatchIterator(MiniBatchIteratorBase):
    """``num_epochs`` passes over a ``MultiAgentBatch``, each module's batch split into the
    same number of minibatches per pass; see the module docstring."""

    def __init__(
        self,
        batch: MultiAgentBatch,
        *,
        num_epochs: int = 1,
        minibatch_size: int,
        shuffle_batch_per_epoch: bool = True,
        num_total_minibatches: int = 0,
    ) -> None:
        super().__init__(
            batch,
            num_epochs=num_epochs,
            minibatch_size=minibatch_size,
            shuffle_batch_per_epoch=shuffle_batch_per_epoch,
        )
        self._batch, self._num_epochs = batch, num_epochs
        self._shuffle = shuffle_batch_per_epoch
        largest = max(len(b) for b in batch.policy_batches.values())
        self.minibatches_per_epoch = max(1, math.ceil(largest / minibatch_size))

    def __iter__(self):
        batches, n = self._batch.policy_batches, self.minibatches_per_epoch
        for _ in range(self._num_epochs):
            if self._shuffle:
                for module_batch in batches.values():
                    module_batch.shuffle()
            for j in range(n):
                minibatch = {}
                for module_id, module_batch in batches.items():
                    size = len(module_batch)
                    # the module's j-th of n near-equal parts (at least one sample)
                    start, end = size * j // n, max(size * (j + 1) // n, size * j // n + 1)
                    minibatch[module_id] = module_batch[start : min(end, size)]
                yield MultiAgentBatch(minibatch, len(self._batch))


class EvenEpochsPPOLearner(PPOTorchLearner):
    """RLlib's torch PPO learner, its minibatches from ``EvenMiniBatchIterator``."""

    def _create_iterator_if_necessary(self, **kwargs):
        iterator = super()._create_iterator_if_necessary(**kwargs)
        if isinstance(iterator, MiniBatchCyclicIterator):
            return EvenMiniBatchIterator(
                iterator._batch,
                num_epochs=iterator._num_epochs,
                minibatch_size=iterator._minibatch_size,
                shuffle_batch_per_epoch=iterator._shuffle_batch_per_epoch,
            )
        return iterator
