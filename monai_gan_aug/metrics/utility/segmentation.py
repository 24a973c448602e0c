"""Lesion segmentation task of the utility harness: a MONAI UNet trained for a fixed number of steps.

Moved here from :mod:`monai_gan_aug.metrics.downstream_segmentation` (which re-exports every
name) so the one utility harness (:mod:`monai_gan_aug.metrics.utility`) and the older two-arm
experiment share the same code: ``SupervisedTrainer`` with ``DiceCELoss``, a seeded sampler that
draws exactly ``steps`` batches whatever the pool size, and MONAI Dice / IoU / HD95 scoring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, DatasetError

__all__ = [
    "UNET_CHANNELS",
    "prepare_segmentation_items",
    "segmentation_augmentation",
    "build_unet",
    "train_segmenter",
    "predict_masks",
    "evaluate_segmenter",
    "hd95_per_film",
    "one_cycle",
]

#: default UNet channel widths (four levels; 205 k parameters)
UNET_CHANNELS = (16, 32, 64, 128)


def _image_tensor(image: Any) -> torch.Tensor:
    """A ``(1, H, W)`` float tensor in ``[0, 1]`` from a tensor, array or radiograph path."""
    if isinstance(image, (str, Path)):
        from ...transforms.io import LoadXRay

        image = LoadXRay()(image)
    t = image.as_tensor() if hasattr(image, "as_tensor") else torch.as_tensor(np.asarray(image))
    t = t[None] if t.ndim == 2 else t
    if t.ndim != 3 or t.shape[0] != 1:
        raise DatasetError(f"expected a (1, H, W) image, got shape {tuple(t.shape)}")
    return t.float().clamp(0, 1)


def _mask_tensor(mask: Any) -> torch.Tensor:
    """A binary ``(1, H, W)`` float mask from a tensor, array or mask image path (> 127 is lesion)."""
    if isinstance(mask, (str, Path)):
        from PIL import Image

        with Image.open(mask) as im:
            return torch.from_numpy((np.asarray(im.convert("L")) > 127).astype(np.float32))[None]
    t = mask.as_tensor() if hasattr(mask, "as_tensor") else torch.as_tensor(np.asarray(mask))
    t = t[None] if t.ndim == 2 else t
    if t.ndim != 3 or t.shape[0] != 1:
        raise DatasetError(f"expected a (1, H, W) mask, got shape {tuple(t.shape)}")
    return (t.float() > 0.5).float()


def prepare_segmentation_items(items: Sequence[Mapping[str, Any]], size: int) -> list[dict[str, Any]]:
    """Load items and resize/pad image and lesion mask alike to ``(1, size, size)``.

    The mask is resized with the image's own antialiased bilinear resampling and thresholded at
    0.5, so both stay pixel-aligned (the zero padding is background in both).

    Raises:
        DatasetError: a missing ``label``, a malformed image or mask, or a mask whose size differs
            from its image's.
    """
    from ...networks.classifier import resize_pad_square

    out = []
    for item in items:
        if "label" not in item or item["label"] is None:
            raise DatasetError(f"segmentation items need a 'label' mask, got keys {sorted(item)}")
        image, mask = _image_tensor(item["image"]), _mask_tensor(item["label"])
        if image.shape != mask.shape:
            raise DatasetError(
                f"lesion mask {tuple(mask.shape)} does not match its image {tuple(image.shape)} "
                f"({item.get('patient') or item['image']!s})"
            )
        pair = resize_pad_square(torch.cat([image, mask])[None], size)[0]
        out.append({"image": pair[:1].contiguous(), "label": (pair[1:] >= 0.5).float(),
                    "patient": item.get("patient")})
    return out


def segmentation_augmentation(translate_px: float, seed: int):
    """The classifier harness's MONAI augmentation, applied to image and lesion mask together.

    Same parameters as :func:`~monai_gan_aug.metrics.downstream.classifier_augmentation` (affine
    with p 0.8, gamma 0.7-1.5 with p 0.5, noise sigma 0.02 with p 0.3, no flips: chest films have
    laterality), but the affine moves ``"label"`` too (nearest neighbour, so it stays binary).
    """
    from monai.transforms import Compose, RandAdjustContrastd, RandAffined, RandGaussianNoised

    aug = Compose([
        RandAffined(("image", "label"), prob=0.8, rotate_range=0.15, scale_range=0.12,
                    translate_range=(translate_px, translate_px), shear_range=0.05,
                    padding_mode="zeros", mode=("bilinear", "nearest")),
        RandAdjustContrastd("image", prob=0.5, gamma=(0.7, 1.5)),
        RandGaussianNoised("image", prob=0.3, std=0.02),
    ])
    return aug.set_random_state(seed=seed)


def one_cycle(opt: torch.optim.Optimizer, lr: float, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The trainers' learning-rate schedule: one-cycle (10 % warm-up) over ``steps`` steps, constant below 20.

    PyTorch's ``OneCycleLR`` divides by zero when ``0.1 * steps`` is 1 (10 steps) and is
    meaningless for a handful of steps, so very short (smoke-test) runs keep ``lr`` constant.
    """
    if steps < 20:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)


def build_unet(channels: Sequence[int] = UNET_CHANNELS) -> nn.Module:
    """A fresh MONAI 2-D ``UNet``: 1 channel in, 1 lesion logit out, strides 2, one residual unit."""
    from monai.networks.nets import UNet

    if len(channels) < 2:
        raise ConfigError(f"channels needs at least two levels, got {tuple(channels)}")
    return UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=tuple(int(c) for c in channels),
                strides=(2,) * (len(channels) - 1), num_res_units=1)


def train_segmenter(
    train_items: Sequence[Mapping[str, Any]],
    *,
    size: int = 128,
    steps: int = 400,
    seed: int = 0,
    batch_size: int = 8,
    lr: float = 3e-3,
    device: str | torch.device = "cpu",
    augment: bool = True,
    channels: Sequence[int] = UNET_CHANNELS,
    record: dict[str, Any] | None = None,
    dice_batch: bool = False,
) -> nn.Module:
    """Train a UNet lesion segmenter for exactly ``steps`` optimiser steps with MONAI's ``SupervisedTrainer``.

    Loss ``DiceCELoss(sigmoid=True)``, AdamW, one-cycle learning rate. Batches come from a
    ``RandomSampler`` that reshuffles the pool whenever it is used up, so every arm gets the same
    number of steps whatever its size. Deterministic for a given ``seed`` and thread count on CPU.

    Args:
        train_items: items with ``image`` and ``label`` (mask); resized/padded to ``size``.
        size: working size in pixels.
        steps: optimiser steps (batches).
        seed: seed of weights, batch order and augmentation.
        batch_size, lr: optimiser settings.
        device: where to train.
        augment: apply :func:`segmentation_augmentation`.
        channels: UNet channel widths, see :func:`build_unet`.
        dice_batch: compute the Dice part of the loss over the whole batch (``DiceCELoss(batch=True)``)
            instead of per film. Needed when the pool holds films without lesions: a per-film Dice
            of an empty label is 1 unless the prediction is exactly empty, which pushes the network
            to predict nothing anywhere.
        record: if given, filled with ``steps`` (optimiser steps the trainer ran, read from its
            Ignite state), ``samples`` (training samples drawn) and ``pool`` (pool size).

    Returns:
        The trained network in eval mode.

    Raises:
        DatasetError: ``train_items`` is empty or malformed.
        ConfigError: ``steps < 1`` or ``batch_size < 1``.
    """
    from monai.data import DataLoader, Dataset
    from monai.engines import SupervisedTrainer
    from monai.handlers import LrScheduleHandler
    from monai.losses import DiceCELoss
    from monai.utils import set_determinism
    from torch.utils.data import RandomSampler

    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    if len(train_items) == 0:
        raise DatasetError("the training set is empty")
    set_determinism(seed=seed)
    data = prepare_segmentation_items(train_items, size)
    model = build_unet(channels).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = one_cycle(opt, lr, steps)
    # without replacement, num_samples > len(data) chains fresh permutations: epoch-like passes
    sampler = RandomSampler(range(len(data)), num_samples=steps * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    transform = segmentation_augmentation(0.08 * size, seed) if augment else None
    pairs = [{"image": d["image"], "label": d["label"]} for d in data]
    loader = DataLoader(Dataset(pairs, transform=transform),
                        batch_size=batch_size, sampler=sampler, num_workers=0)
    trainer = SupervisedTrainer(
        device=torch.device(device), max_epochs=1, train_data_loader=loader, network=model, optimizer=opt,
        loss_function=DiceCELoss(sigmoid=True, batch=dice_batch), decollate=False,
        train_handlers=[LrScheduleHandler(sched, print_lr=False, epoch_level=False)],
    )
    trainer.run()
    set_determinism(seed=None)
    if record is not None:
        record.update({"steps": int(trainer.state.iteration), "samples": int(trainer.state.iteration) * batch_size,
                       "pool": len(data)})
    return model.eval()


@torch.no_grad()
def predict_masks(
    model: nn.Module, images: torch.Tensor, batch_size: int = 32, threshold: float = 0.5
) -> torch.Tensor:
    """Binary ``(B, 1, H, W)`` masks: sigmoid of the UNet's logit above ``threshold``, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    out = [torch.sigmoid(model(images[i : i + batch_size].to(device))).cpu() > threshold
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).float()


def hd95_per_film(pred: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """95th-percentile Hausdorff distance (MONAI ``HausdorffDistanceMetric``) per film with a lesion, in pixels.

    Films without a ground-truth lesion are skipped. A film with a lesion but an empty prediction
    has no defined distance; it gets the image diagonal (the largest distance possible on the
    grid), so that predicting nothing is never rewarded with a missing value.

    Args:
        pred: binary ``(B, 1, H, W)`` predictions.
        labels: binary ``(B, 1, H, W)`` ground truth.

    Returns:
        One distance per film whose label is not empty, in input order.
    """
    from monai.metrics import HausdorffDistanceMetric

    keep = labels.flatten(1).sum(1) > 0
    pred, labels = pred[keep], labels[keep]
    if len(labels) == 0:
        return np.zeros(0)
    diag = float(np.hypot(*labels.shape[-2:]))
    metric = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
    out = metric(pred, labels).reshape(-1).numpy().astype(np.float64)
    empty = (pred.flatten(1).sum(1) == 0).numpy()
    out[empty | ~np.isfinite(out)] = diag
    return np.minimum(out, diag)


def evaluate_segmenter(
    model: nn.Module, test_items: Sequence[Mapping[str, Any]], size: int | None = None, hd95: bool = False
) -> dict[str, Any]:
    """Held-out scores at the working size: Dice, IoU (MONAI), pixel accuracy and optionally HD95.

    ``dice`` and ``iou`` are means over films whose lesion mask is not empty (``DiceMetric`` /
    ``MeanIoU`` with ``ignore_empty=True``; Dice is undefined without a lesion); ``accuracy`` is
    the mean per-film fraction of correctly labelled pixels over all films.

    Args:
        model: a trained segmenter.
        test_items: items with ``image`` and ``label``; already prepared ``(1, size, size)`` tensors
            are used as they are when ``size`` is ``None``.
        size: resize/pad raw items to this size first.
        hd95: also report ``hd95`` (mean of :func:`hd95_per_film` over films with a lesion, in
            pixels of the working size).

    Raises:
        DatasetError: ``test_items`` empty, or no film with a lesion.
    """
    from monai.metrics import DiceMetric, MeanIoU

    if len(test_items) == 0:
        raise DatasetError("the test set is empty")
    items = prepare_segmentation_items(test_items, size) if size is not None else test_items
    labels = torch.stack([torch.as_tensor(d["label"]).float() for d in items])
    n_lesion = int((labels.flatten(1).sum(1) > 0).sum())
    if n_lesion == 0:
        raise DatasetError("no test film has a lesion: Dice is undefined")
    pred = predict_masks(model, torch.stack([torch.as_tensor(d["image"]).float() for d in items]))
    dice, iou = DiceMetric(include_background=True), MeanIoU(include_background=True)
    dice(pred, labels)
    iou(pred, labels)
    out = {
        "dice": float(dice.aggregate()),
        "iou": float(iou.aggregate()),
        "accuracy": float((pred == labels).float().mean(dim=(1, 2, 3)).mean()),
        "n": len(items),
        "n_with_lesion": n_lesion,
    }
    if hd95:
        out["hd95"] = float(hd95_per_film(pred, labels).mean())
    return out


