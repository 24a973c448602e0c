"""Downstream utility of synthetic lesions for segmentation: do they raise a UNet's Dice on real films?

The segmentation twin of :mod:`monai_gan_aug.metrics.downstream` (issue #6). For each seed,
:func:`segmentation_utility_experiment` trains two MONAI ``UNet`` lesion segmenters on a small
real training set: arm **A** on ``n_real`` real films with radiologist lesion masks, arm **B** on
the same films plus ``n_synthetic`` synthetic films whose lesion label is exactly the region the
shipped lesion generator painted (:func:`synthesize_lesion_items`). Both are scored on held-out
*real* films with ``monai.metrics.DiceMetric`` and ``MeanIoU`` and pixel accuracy; the per-seed
paired differences ``B - A`` get the same Student-t interval as the classification harness
(:func:`~monai_gan_aug.metrics.downstream.paired_difference_ci`).

Design choices (see ``docs/downstream_segmentation.md``):

* **Budget**: both arms take the *same number of optimiser steps* (``steps`` batches drawn by
  shuffling each arm's own pool), so arm B gets no extra compute, only other data. This differs
  from the classification harness (same epochs): with 10-20 films an epoch is one or two steps.
* **Labels**: items are ``{"image": (1, H, W) [0, 1] tensor or path, "label": (1, H, W) binary
  tensor or mask path, "patient": id}``; images and masks go through the same resize-and-pad
  (:func:`~monai_gan_aug.networks.classifier.resize_pad_square`), masks are re-binarised at 0.5.
* **Synthetic labels**: :class:`~monai_gan_aug.transforms.augment.RandGANAugmentd` in ``"lesion"``
  mode draws RSNA-prior boxes clipped to the lung, paints them with the lesion generator and adds
  the drawn region to an all-zero segmentation label; the feather band outside the region (where
  the edit fades out) stays background.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DatasetError
from .downstream import check_disjoint, paired_difference_ci

__all__ = [
    "UNET_CHANNELS",
    "prepare_segmentation_items",
    "sample_items",
    "segmentation_augmentation",
    "build_unet",
    "train_segmenter",
    "predict_masks",
    "evaluate_segmenter",
    "segmentation_utility_experiment",
    "synthesize_lesion_items",
]

#: default UNet channel widths (four levels; 205 k parameters)
UNET_CHANNELS = (16, 32, 64, 128)


def _image_tensor(image: Any) -> torch.Tensor:
    """A ``(1, H, W)`` float tensor in ``[0, 1]`` from a tensor, array or radiograph path."""
    if isinstance(image, (str, Path)):
        from ..transforms.io import LoadXRay

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
    from ..networks.classifier import resize_pad_square

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


def sample_items(items: Sequence[Mapping[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` items drawn without replacement with ``numpy.random.default_rng(seed)``, in input order.

    Raises:
        ConfigError: ``n < 0``.
        DatasetError: fewer than ``n`` items.
    """
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    if n > len(items):
        raise DatasetError(f"asked for {n} items, only {len(items)} available")
    pick = np.random.default_rng(seed).choice(len(items), size=n, replace=False)
    return [dict(items[i]) for i in sorted(pick.tolist())]


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
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    # without replacement, num_samples > len(data) chains fresh permutations: epoch-like passes
    sampler = RandomSampler(range(len(data)), num_samples=steps * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    transform = segmentation_augmentation(0.08 * size, seed) if augment else None
    pairs = [{"image": d["image"], "label": d["label"]} for d in data]
    loader = DataLoader(Dataset(pairs, transform=transform),
                        batch_size=batch_size, sampler=sampler, num_workers=0)
    trainer = SupervisedTrainer(
        device=torch.device(device), max_epochs=1, train_data_loader=loader, network=model, optimizer=opt,
        loss_function=DiceCELoss(sigmoid=True), decollate=False,
        train_handlers=[LrScheduleHandler(sched, print_lr=False, epoch_level=False)],
    )
    trainer.run()
    set_determinism(seed=None)
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


def evaluate_segmenter(
    model: nn.Module, test_items: Sequence[Mapping[str, Any]], size: int | None = None
) -> dict[str, Any]:
    """Held-out scores at the working size: Dice, IoU (MONAI) and pixel accuracy.

    ``dice`` and ``iou`` are means over films whose lesion mask is not empty (``DiceMetric`` /
    ``MeanIoU`` with ``ignore_empty=True``; Dice is undefined without a lesion); ``accuracy`` is
    the mean per-film fraction of correctly labelled pixels over all films.

    Args:
        model: a trained segmenter.
        test_items: items with ``image`` and ``label``; already prepared ``(1, size, size)`` tensors
            are used as they are when ``size`` is ``None``.
        size: resize/pad raw items to this size first.

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
    return {
        "dice": float(dice.aggregate()),
        "iou": float(iou.aggregate()),
        "accuracy": float((pred == labels).float().mean(dim=(1, 2, 3)).mean()),
        "n": len(items),
        "n_with_lesion": n_lesion,
    }


def segmentation_utility_experiment(
    real_train: Sequence[Mapping[str, Any]],
    synthetic: Sequence[Mapping[str, Any]],
    test: Sequence[Mapping[str, Any]],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    n_real: int = 15,
    n_synthetic: int = 30,
    size: int = 128,
    steps: int = 400,
    batch_size: int = 8,
    lr: float = 3e-3,
    device: str | torch.device = "cpu",
    channels: Sequence[int] = UNET_CHANNELS,
    log: Any = None,
) -> dict[str, Any]:
    """Real-only (A) versus real + synthetic (B) lesion segmenters, paired by seed, scored on real ``test``.

    Per seed: ``n_real`` films are drawn from ``real_train`` and ``n_synthetic`` from
    ``synthetic`` (seeded, without replacement); both arms train ``steps`` steps with the same seed.

    Returns:
        ``{"per_seed": [...], "dice_difference": paired_difference_ci, "iou_difference": ...,
        "accuracy_difference": ..., "settings": {...}}``; each arm's row holds its mean scores.

    Raises:
        DatasetError: empty test set or no test lesion, too few real or synthetic films, or
            real/synthetic films sharing a patient or image path with the test set.
    """
    check_disjoint(real_train, test, "real training")
    check_disjoint(synthetic, test, "synthetic")
    for what, n, pool in (("real", n_real, real_train), ("synthetic", n_synthetic, synthetic)):
        if not 0 <= n <= len(pool) or (what == "real" and n < 1):
            raise DatasetError(f"asked for {n} {what} training films, {len(pool)} available")
    test_prepared = prepare_segmentation_items(test, size)
    kwargs = dict(size=size, steps=steps, batch_size=batch_size, lr=lr, device=device, channels=channels)
    per_seed = []
    for seed in seeds:
        real = sample_items(real_train, n_real, seed)
        synth = sample_items(synthetic, n_synthetic, seed + 1_000_003)
        row: dict[str, Any] = {"seed": int(seed)}
        for arm, items in (("real_only", real), ("real_plus_synthetic", real + synth)):
            t0 = time.time()
            model = train_segmenter(items, seed=int(seed), **kwargs)
            row[arm] = {**evaluate_segmenter(model, test_prepared), "n_train": len(items),
                        "seconds": round(time.time() - t0, 1)}
        per_seed.append(row)
        if log is not None:
            a, b = row["real_only"]["dice"], row["real_plus_synthetic"]["dice"]
            log(f"seed {seed}: Dice A {a:.4f} B {b:.4f}")
    arm = lambda name, key: [r[name][key] for r in per_seed]  # noqa: E731
    out: dict[str, Any] = {"per_seed": per_seed}
    arms = ("real_only", "real_plus_synthetic")
    for key in ("dice", "iou", "accuracy"):
        out[f"{key}_mean"] = {name: float(np.mean(arm(name, key))) for name in arms}
        out[f"{key}_difference"] = paired_difference_ci(arm(arms[0], key), arm(arms[1], key))
    out["settings"] = {
        "seeds": [int(s) for s in seeds], "n_real": n_real, "n_synthetic": n_synthetic, "n_test": len(test),
        **{k: str(v) for k, v in kwargs.items()},
        "budget": "same number of optimiser steps in both arms",
        "interval": "two-sided 95% Student-t over per-seed paired differences B - A",
    }
    return out


def synthesize_lesion_items(
    normal_items: Sequence[Mapping[str, Any]],
    seed: int = 0,
    *,
    size: int | None = None,
    num_boxes: int | str = 2,
    feather: float = 8,
    weights: str | Path | None = None,
    device: str | torch.device | None = "cpu",
) -> list[dict[str, Any]]:
    """Paint lesions into normal films with the lesion generator; the painted region is the label.

    Each film goes through :class:`~monai_gan_aug.transforms.augment.RandGANAugmentd` (``mode
    "lesion"``, probability 1, seeded with ``seed * 100003 + i``): ``num_boxes`` RSNA-prior boxes
    are drawn inside the lung and clipped to it, the region is painted as pneumonia, and it is added
    to an all-zero segmentation label. Pass only training-split films: the outputs keep the source's
    ``patient`` so :func:`~monai_gan_aug.metrics.downstream.check_disjoint` can catch leakage.

    Args:
        normal_items: items with ``image`` (path or ``(1, H, W)`` tensor) and ``lung_mask`` (path or
            tensor of the image's size), optional ``patient``.
        seed: base seed.
        size: if given, image and label are resized/padded to ``(1, size, size)`` (label
            re-binarised) to save memory; else they keep the film's size.
        num_boxes: boxes per film (an int or ``"prior"``), see
            :class:`~monai_gan_aug.transforms.region.RandRegionMask`.
        feather: blend band in pixels outside the region (not labelled as lesion).
        weights: lesion generator checkpoint; ``None`` uses the shipped ``lesion_inpaint.pt``.
        device: device for the generator.

    Returns:
        Items ``{"image", "label", "patient", "source", "synthetic": "lesion_inpaint", "region"}``
        where ``region`` is the generator's record (boxes, seed, weights).

    Raises:
        DatasetError: an item without a lung mask, or a lung mask of the wrong size.
    """
    import json

    from monai.data import MetaTensor

    from ..transforms.augment import RandGANAugmentd

    aug = RandGANAugmentd("image", prob=1.0, mode="lesion", weights=weights, label_key=None, seg_key="label",
                          lung_key="lung", device=device, feather=feather, num_boxes=num_boxes)
    out = []
    for i, item in enumerate(normal_items):
        if item.get("lung_mask") is None:
            raise DatasetError(f"synthetic lesions are drawn inside the lung: item {i} has no 'lung_mask'")
        image = _image_tensor(item["image"])
        lung = _mask_tensor(item["lung_mask"])
        if lung.shape != image.shape:
            raise DatasetError(f"lung mask {tuple(lung.shape)} does not match its image {tuple(image.shape)}")
        aug.set_random_state(seed=seed * 100003 + i)
        edited = aug({"image": MetaTensor(image), "lung": lung, "label": torch.zeros_like(image)})
        new = {"image": torch.as_tensor(edited["image"]).detach().float().clamp(0, 1),
               "label": torch.as_tensor(edited["label"]).float()}
        if size is not None:
            new = prepare_segmentation_items([new], size)[0]
        out.append({"image": new["image"], "label": new["label"], "patient": item.get("patient"),
                    "source": str(item["image"]) if isinstance(item["image"], (str, Path)) else None,
                    "synthetic": "lesion_inpaint", "region": json.loads(edited["image"].meta["gan_augment"])})
    return out
