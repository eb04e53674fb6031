"""RLlib's PPO learner with SB3's minibatches: every sample of every module takes part in
exactly ``num_epochs`` gradient steps, in minibatches of its module's own size."""

from __future__ import annotations

import collections

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch  # noqa: E402

from target_gaming.training.config import TrainConfig  # noqa: E402
from target_gaming.training.rllib.config import RLlibSettings, algorithm_config  # noqa: E402
from target_gaming.training.rllib.learner import (  # noqa: E402
    PerModuleMiniBatchIterator,
    SB3EpochsPPOLearner,
)


def batch(sizes: dict[str, int]) -> MultiAgentBatch:
    return MultiAgentBatch(
        {m: SampleBatch({"id": np.arange(n)}) for m, n in sizes.items()}, max(sizes.values())
    )


@pytest.mark.parametrize(
    ("sizes", "minibatch"),
    [
        ({"local": 6592, "centre": 320}, {"local": 1024, "centre": 320}),  # the defaults
        ({"local": 6592, "centre": 700}, {"local": 1024, "centre": 320}),  # 3 centre steps
        ({"local": 3000, "centre": 7}, {"local": 1024, "centre": 2}),  # centre in every step
        ({"local": 10, "centre": 3}, {"local": 1024, "centre": 320}),
    ],
)
def test_every_sample_takes_part_in_num_epochs_steps_in_its_modules_minibatches(sizes, minibatch):
    iterator = PerModuleMiniBatchIterator(batch(sizes), num_epochs=5, minibatch_sizes=minibatch)
    seen = {m: collections.Counter() for m in sizes}
    steps = collections.Counter()
    parts = {m: -(-n // minibatch[m]) for m, n in sizes.items()}
    for minibatch_ in iterator:
        assert minibatch_.policy_batches  # no empty step
        for module, module_batch in minibatch_.policy_batches.items():
            assert 1 <= len(module_batch) <= minibatch[module]
            assert len(module_batch) >= sizes[module] // parts[module]  # near-equal parts
            seen[module].update(module_batch["id"].tolist())
            steps[module] += 1
    for module, n in sizes.items():
        assert seen[module] == collections.Counter({i: 5 for i in range(n)}), module
        assert steps[module] == 5 * parts[module]


def test_a_modules_minibatches_are_spread_over_the_epoch():
    iterator = PerModuleMiniBatchIterator(
        batch({"local": 7000, "centre": 900}),
        minibatch_sizes={"local": 1000, "centre": 300},
        shuffle_batch_per_epoch=False,
    )
    present = ["centre" in b.policy_batches for b in iterator]
    assert present == [True, False, True, False, True, False, False]  # steps 0, 2, 4 of 7


def test_the_rows_appended_for_the_bootstrap_do_not_count_towards_the_minibatches():
    # 6144 samples in 448 episode chunks, each chunk with one masked row: SB3's 6 steps
    mask = np.ones(6144 + 448, bool)
    mask[np.arange(448) * 14] = False
    local = SampleBatch({"id": np.arange(mask.size), "loss_mask": mask})
    iterator = PerModuleMiniBatchIterator(
        MultiAgentBatch({"local": local}, mask.size), minibatch_sizes={"local": 1024}
    )
    assert iterator.steps_per_epoch == 6 and len(list(iterator)) == 6


def test_the_trainer_uses_the_sb3_epochs_learner_and_sb3s_settings():
    train = TrainConfig(n_envs=4)
    config = algorithm_config(train, RLlibSettings(), seed=0)
    assert config.learner_class is SB3EpochsPPOLearner
    assert config.use_kl_loss is False and config.grad_clip == 0.5
    assert config.minibatch_size == train.ppo.batch_size
    centre = config.get_config_for_module("centre")
    assert centre.minibatch_size == train.centre_ppo.batch_size
    assert centre.lr == train.centre_ppo.learning_rate


def test_advantages_are_standardized_over_the_rows_the_loss_keeps():
    """SB3's per-minibatch standardization, not RLlib's over the whole batch with the
    masked bootstrap rows in it: a far-off masked row moves nothing."""
    import torch
    from ray.rllib.core.columns import Columns

    from target_gaming.training.rllib.learner import standardized_advantages

    raw = torch.tensor([1.0, 2.0, 3.0, 50.0, 4.0, -80.0])
    mask = torch.tensor([True, True, True, False, True, False])
    out = standardized_advantages({Columns.ADVANTAGES: raw, Columns.LOSS_MASK: mask})
    kept = np.array([1.0, 2.0, 3.0, 4.0])
    expected = (kept - kept.mean()) / (kept.std(ddof=1) + 1e-8)  # SB3's normalize_advantage
    assert np.allclose(out[Columns.ADVANTAGES][mask].numpy(), expected)
    plain = standardized_advantages({Columns.ADVANTAGES: torch.tensor(kept)})
    assert np.allclose(plain[Columns.ADVANTAGES].numpy(), expected)
    one = {Columns.ADVANTAGES: torch.tensor([3.0, 9.0]), Columns.LOSS_MASK: mask[2:4]}
    assert standardized_advantages(one) is one  # one kept row: left as it is


def test_the_losses_see_advantages_of_mean_0_and_std_1_on_the_rows_they_keep(tmp_path, monkeypatch):
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
    from ray.rllib.core.columns import Columns

    from target_gaming.training.rllib.train import train_rllib

    seen = []
    parent = PPOTorchLearner.compute_loss_for_module

    def spy(self, *, module_id, config, batch, fwd_out):
        kept = batch[Columns.ADVANTAGES][batch[Columns.LOSS_MASK]]
        seen.append((module_id, float(kept.mean()), float(kept.std())))
        return parent(self, module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)

    monkeypatch.setattr(PPOTorchLearner, "compute_loss_for_module", spy)
    fields = {
        "n_envs": 4,
        "timesteps": 4800,
        "checkpoint_every": 0,
        "eval_episodes": 1,
        "ppo": {"n_steps": 100, "batch_size": 100, "n_epochs": 1, "net_arch": [16]},
        "centre_ppo": {"net_arch": [16], "batch_size": 20},
        "out": str(tmp_path / "run"),
    }
    train_rllib(TrainConfig.from_dict(fields), RLlibSettings(num_cpus=2), log=lambda _: None)
    assert {m for m, _, _ in seen} == {"local", "centre"}
    for _, mean, std in seen:
        assert abs(mean) < 1e-5 and std == pytest.approx(1.0, abs=1e-4)
