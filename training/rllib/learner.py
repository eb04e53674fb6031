"""RLlib's PPO learner with SB3's minibatches for every module: ``SB3EpochsPPOLearner``.

RLlib's minibatch iterator (``MiniBatchCyclicIterator``) gives every module a
minibatch of one ``minibatch_size`` at every gradient step, cycling through a
module's batch when it holds fewer. The centre decides once per review period, so
its batch is a few percent of the locals': cycled up to the locals' minibatch, each
of its samples would take part in tens of times more gradient steps than
``n_epochs``, at the cost of a full minibatch's forward and backward passes at every
step.

``PerModuleMiniBatchIterator`` gives each module its own minibatch size (the locals'
``ppo.batch_size``, the centre's ``centre_ppo.batch_size``), as the SB3 trainer's
stages do: each epoch splits every module's batch into ``ceil(samples / size)``
near-equal minibatches (``samples``: the rows its loss keeps, without the one masked row
RLlib appends to each episode chunk), shuffled each epoch, and spreads a module's minibatches
evenly over the epoch's gradient steps (as many as the module with the most). A step
updates only the modules with a minibatch in it. So every sample of every module
takes part in exactly ``num_epochs`` gradient steps, as in SB3's PPO.

Advantages are SB3's too: standardized per minibatch over the samples the loss keeps
(``standardized_advantages``). RLlib's GAE connector standardizes them over the whole
batch, the masked bootstrap rows included (one per episode chunk: about 6% of the
locals' rows and 20% of the centre's), whose advantages sit far from the others': the kept
rows' advantages then had a mean of about -0.15 standard deviations (the centre's -0.3),
which pushed every policy away from the actions it took (it kept the locals' noise from
shrinking: their log-std ended near -0.3 against SB3's -0.8) and the centre from what
its advantages favoured.

Each module's optimizer is SB3's: Adam with ``eps = 1e-5`` (RLlib's default is torch's
1e-8), stepping all its parameters in one multi-tensor call (``foreach``: the same
update as torch's per-tensor loop; no faster here, measured).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.minibatch_utils import MiniBatchCyclicIterator, MiniBatchIteratorBase

SB3_ADAM_EPS = 1e-5  # stable_baselines3's ActorCriticPolicy optimizer_kwargs


def samples(module_batch) -> int:
    """The samples a module's batch holds for its loss: the rows its ``loss_mask`` keeps
    (RLlib appends to each episode chunk one masked row, for the value bootstrap)."""
    if Columns.LOSS_MASK in module_batch:
        return int(np.count_nonzero(np.asarray(module_batch[Columns.LOSS_MASK])))
    return len(module_batch)


class PerModuleMiniBatchIterator(MiniBatchIteratorBase):
    """``num_epochs`` passes over a ``MultiAgentBatch`` in minibatches of each module's own
    size; see the module docstring."""

    def __init__(
        self,
        batch: MultiAgentBatch,
        *,
        num_epochs: int = 1,
        minibatch_sizes: dict[str, int],
        shuffle_batch_per_epoch: bool = True,
    ) -> None:
        super().__init__(
            batch,
            num_epochs=num_epochs,
            minibatch_size=max(minibatch_sizes.values()),
            shuffle_batch_per_epoch=shuffle_batch_per_epoch,
        )
        self._batch, self._num_epochs = batch, num_epochs
        self._shuffle = shuffle_batch_per_epoch
        self.parts = {  # minibatches per epoch, per module
            module_id: max(1, math.ceil(samples(module_batch) / minibatch_sizes[module_id]))
            for module_id, module_batch in batch.policy_batches.items()
        }
        self.steps_per_epoch = max(self.parts.values(), default=0)

    def __iter__(self):
        # modules in a fixed order (RLlib's may follow the hash seed), so the shuffles draw
        # from numpy's generator in the same order in every process
        batches = dict(sorted(self._batch.policy_batches.items()))
        steps = self.steps_per_epoch
        for _ in range(self._num_epochs):
            if self._shuffle:
                for module_batch in batches.values():
                    module_batch.shuffle()
            for step in range(steps):
                minibatch = {}
                for module_id, module_batch in batches.items():
                    parts, size = self.parts[module_id], len(module_batch)
                    part = -(-step * parts // steps)  # part k goes to step k * steps // parts
                    if part >= parts or part * steps // parts != step:
                        continue  # none of this module's parts falls on this step
                    start, end = size * part // parts, size * (part + 1) // parts
                    minibatch[module_id] = module_batch[start:end]
                yield MultiAgentBatch(minibatch, len(self._batch))


def standardized_advantages(batch) -> dict:
    """The module minibatch with its advantages standardized over the rows its loss keeps,
    as SB3's PPO does per minibatch (``normalize_advantage``: mean 0, std 1, unbiased, eps
    1e-8); a minibatch of fewer than 2 such rows is left as it is."""
    advantages = batch[Columns.ADVANTAGES]
    kept = advantages[batch[Columns.LOSS_MASK]] if Columns.LOSS_MASK in batch else advantages
    if kept.numel() < 2:
        return batch
    fixed = (advantages - kept.mean()) / (kept.std() + 1e-8)
    return {**batch, Columns.ADVANTAGES: fixed}


class SB3EpochsPPOLearner(PPOTorchLearner):
    """RLlib's torch PPO learner, its minibatches from ``PerModuleMiniBatchIterator``
    (the modules' sizes from their configs' ``minibatch_size``), its advantages
    standardized per minibatch (``standardized_advantages``); a module with no
    minibatch in a step keeps its parameters and optimizer state through it."""

    def _create_iterator_if_necessary(self, **kwargs):
        iterator = super()._create_iterator_if_necessary(**kwargs)
        if not isinstance(iterator, MiniBatchCyclicIterator):
            return iterator
        batch = iterator._batch
        sizes = {
            module_id: self.config.get_config_for_module(module_id).minibatch_size
            for module_id in batch.policy_batches
        }
        return PerModuleMiniBatchIterator(
            batch,
            num_epochs=iterator._num_epochs,
            minibatch_sizes=sizes,
            shuffle_batch_per_epoch=iterator._shuffle_batch_per_epoch,
        )

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        return super().compute_loss_for_module(
            module_id=module_id,
            config=config,
            batch=standardized_advantages(batch),
            fwd_out=fwd_out,
        )

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        params = self.get_parameters(self._module[module_id])
        self.register_optimizer(
            module_id=module_id,
            optimizer=torch.optim.Adam(params, eps=SB3_ADAM_EPS, foreach=True),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    def postprocess_gradients_for_module(self, *, module_id, config=None, module_gradients_dict):
        if all(grad is None for grad in module_gradients_dict.values()):
            return module_gradients_dict  # the module had no minibatch in this step
        return super().postprocess_gradients_for_module(
            module_id=module_id, config=config, module_gradients_dict=module_gradients_dict
        )

    def apply_gradients(self, gradients_dict) -> None:
        # the parameters of a module with no minibatch in this step have no gradient:
        # the optimizers skip them
        super().apply_gradients({k: g for k, g in gradients_dict.items() if g is not None})
