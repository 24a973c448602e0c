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

from ..errors import DatasetError
from .downstream import check_disjoint
from .utility.budgets import sample_items
from .utility.segmentation import (  # moved to the utility package; re-exported here
    UNET_CHANNELS,
    _image_tensor,
    _mask_tensor,
    build_unet,
    evaluate_segmenter,
    predict_masks,
    prepare_segmentation_items,
    segmentation_augmentation,
    train_segmenter,
)
from .utility.stats import paired_difference_ci

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
