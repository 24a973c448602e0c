"""COVID-vs-normal classification task of the utility harness: a small MONAI classifier, fixed steps.

The older harness (:func:`monai_gan_aug.metrics.downstream.train_classifier`) trains for a number
of *epochs*; here every arm must take the same number of *optimiser steps*, so this trainer draws
exactly ``steps`` batches (a seeded ``RandomSampler`` that reshuffles whenever the pool is used
up) through MONAI's ``SupervisedTrainer``, as the segmentation task does. The classical
augmentation and the ROC-AUC scoring are reused from :mod:`monai_gan_aug.metrics.downstream`
(:func:`~monai_gan_aug.metrics.downstream.classifier_augmentation`,
:func:`~monai_gan_aug.metrics.downstream.evaluate_classifier`, MONAI ``ROCAUCMetric``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, DatasetError

__all__ = ["CLASSIFIER_BLOCKS", "build_small_classifier", "train_classifier_steps"]

#: dense blocks of the small MONAI DenseNet (layers per block)
CLASSIFIER_BLOCKS = (2, 4, 4)


def build_small_classifier(block_config: Sequence[int] = CLASSIFIER_BLOCKS, init_features: int = 16,
                           growth_rate: int = 8) -> nn.Module:
    """A fresh small MONAI 2-D ``DenseNet`` (1 channel in, 2 logits out), trained from scratch.

    The defaults give about 60 k parameters: a DenseNet121 takes minutes per hundred steps on
    this CPU at 128 px, and with 25-200 films per class a small network is the sensible choice.
    """
    from monai.networks.nets import DenseNet

    return DenseNet(spatial_dims=2, in_channels=1, out_channels=2, init_features=int(init_features),
                    growth_rate=int(growth_rate), block_config=tuple(int(b) for b in block_config), bn_size=2)


def train_classifier_steps(
    train_items: Sequence[Mapping[str, Any]],
    *,
    steps: int = 300,
    seed: int = 0,
    batch_size: int = 16,
    lr: float = 2e-3,
    device: str | torch.device = "cpu",
    augment: bool = False,
    record: dict[str, Any] | None = None,
) -> nn.Module:
    """Train :func:`build_small_classifier` for exactly ``steps`` optimiser steps.

    Class-weighted cross-entropy (inverse class frequency of the pool), AdamW, one-cycle learning
    rate, ``SupervisedTrainer``. Deterministic for a given ``seed`` and thread count on CPU.

    Args:
        train_items: ``{"image": (1, S, S) tensor in [0, 1], "label": 0 or 1}`` (all the same size).
        steps: optimiser steps (batches).
        seed: seed of weights, batch order and augmentation.
        batch_size, lr: optimiser settings.
        device: where to train.
        augment: apply :func:`~monai_gan_aug.metrics.downstream.classifier_augmentation` online.
        record: if given, filled with ``steps`` (the trainer's iterations), ``samples``, ``pool``
            and ``class_weight``.

    Returns:
        The trained network in eval mode.

    Raises:
        DatasetError: an empty or single-class pool.
        ConfigError: ``steps < 1`` or ``batch_size < 1``.
    """
    from monai.data import DataLoader, Dataset
    from monai.engines import SupervisedTrainer
    from monai.handlers import LrScheduleHandler
    from monai.utils import set_determinism
    from torch.utils.data import RandomSampler

    from ..downstream import classifier_augmentation
    from .segmentation import one_cycle

    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    labels = np.array([int(d["label"]) for d in train_items], dtype=np.int64)
    if len(labels) == 0 or len(np.unique(labels)) < 2:
        raise DatasetError(f"the classifier needs both classes in its pool, got labels {sorted(set(labels.tolist()))}")
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    set_determinism(seed=seed)
    size = int(train_items[0]["image"].shape[-1])
    model = build_small_classifier().to(device)
    weight = torch.tensor(counts.sum() / (2.0 * counts), dtype=torch.float32, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = one_cycle(opt, lr, steps)
    sampler = RandomSampler(range(len(labels)), num_samples=steps * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    transform = classifier_augmentation(0.08 * size).set_random_state(seed=seed) if augment else None
    data = [{"image": torch.as_tensor(d["image"]).float(), "label": int(d["label"])} for d in train_items]
    loader = DataLoader(Dataset(data, transform=transform), batch_size=batch_size, sampler=sampler, num_workers=0)
    trainer = SupervisedTrainer(
        device=torch.device(device), max_epochs=1, train_data_loader=loader, network=model, optimizer=opt,
        loss_function=nn.CrossEntropyLoss(weight=weight), decollate=False,
        prepare_batch=_prepare_batch,
        train_handlers=[LrScheduleHandler(sched, print_lr=False, epoch_level=False)],
    )
    trainer.run()
    set_determinism(seed=None)
    if record is not None:
        record.update({"steps": int(trainer.state.iteration), "samples": int(trainer.state.iteration) * batch_size,
                       "pool": len(labels), "class_weight": [round(float(w), 6) for w in weight]})
    return model.eval()


def _prepare_batch(batchdata: Mapping[str, Any], device: torch.device | None = None, non_blocking: bool = False,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as plain float tensors in ``[0, 1]``, labels as ``long`` class indices."""
    x = torch.as_tensor(batchdata["image"]).float().clamp(0, 1).to(device, non_blocking=non_blocking)
    y = torch.as_tensor(batchdata["label"]).long().reshape(-1).to(device, non_blocking=non_blocking)
    return x, y
