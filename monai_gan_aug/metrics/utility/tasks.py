"""Downstream tasks of the utility harness behind one small interface.

A task turns the harness's uniform items ``{"image": (1, S, S), "mask": (1, S, S), "cls": 0/1}``
into its own training pairs, trains for a fixed number of optimiser steps (``augment`` switches the
classical MONAI augmentation on), and scores a model on held-out real films. ``metrics`` lists what
:meth:`Task.evaluate` returns, ``primary`` the learning-curve metric, ``higher_is_better`` the
direction of each metric.

* :class:`SegmentationTask`: lesion masks, MONAI ``UNet``, ``DiceCELoss``; Dice, HD95 and IoU
  (:mod:`.segmentation`).
* :class:`ClassificationTask`: COVID (1) vs normal (0), small MONAI ``DenseNet``, ROC-AUC
  (:mod:`.classification`). A synthetic lesion film counts as COVID.

* :class:`DetectionTask`: lesion boxes (components of the mask), MONAI ``RetinaNetDetector``
  with ATSS matcher and hard negative sampler; CL@IoU0.1 and FROC sensitivity at 1 FP per film
  (:mod:`.detection`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ...errors import ConfigError

__all__ = ["TASKS", "Task", "SegmentationTask", "ClassificationTask", "DetectionTask", "get_task"]


@dataclass
class Task:
    """Base class: see the module docstring.

    Attributes:
        batch_size: training batch size.
        lr: peak learning rate of the one-cycle schedule.
        device: where to train and evaluate.
    """

    batch_size: int = 8
    lr: float = 3e-3
    device: str = "cpu"
    name: str = field(default="task", init=False)
    metrics: tuple[str, ...] = field(default=(), init=False)
    primary: str = field(default="", init=False)
    higher_is_better: dict[str, bool] = field(default_factory=dict, init=False)

    def train(self, items: Sequence[Mapping[str, Any]], *, steps: int, seed: int, augment: bool,
              record: dict[str, Any] | None = None) -> nn.Module:  # pragma: no cover - interface
        """Train a fresh model for exactly ``steps`` optimiser steps on ``items``."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:  # pragma: no cover
        """Scores of ``model`` on held-out ``items``."""
        raise NotImplementedError


@dataclass
class SegmentationTask(Task):
    """Lesion segmentation (see :func:`~monai_gan_aug.metrics.utility.segmentation.train_segmenter`).

    Attributes:
        channels: UNet channel widths. Five levels by default (bottleneck at 1/16 of the working
            size): covidqu infection masks are coarse, lung-scale regions, and the four-level UNet
            of the older harness (``UNET_CHANNELS``) did not learn them in a few hundred steps (it
            collapsed to empty predictions on its own training films; checked on covidqu train
            films outside the budget, never on val).
    """

    channels: tuple[int, ...] = (16, 32, 64, 128, 256)

    def __post_init__(self) -> None:
        self.name, self.metrics, self.primary = "segmentation", ("dice", "hd95", "iou"), "dice"
        self.higher_is_better = {"dice": True, "hd95": False, "iou": True}

    @staticmethod
    def _pairs(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{"image": d["image"], "label": d["mask"], "patient": d.get("patient")} for d in items]

    def train(self, items, *, steps, seed, augment, record=None):
        """UNet for ``steps`` steps on the items' lesion masks (empty for normal films), batch Dice + CE."""
        from .segmentation import train_segmenter

        size = int(items[0]["image"].shape[-1])
        return train_segmenter(self._pairs(items), size=size, steps=steps, seed=seed, batch_size=self.batch_size,
                               lr=self.lr, device=self.device, augment=augment, channels=self.channels,
                               record=record, dice_batch=True)

    def evaluate(self, model, items):
        """Dice and IoU over films with a lesion, HD95 (px at the working size), pixel accuracy."""
        from .segmentation import evaluate_segmenter

        return evaluate_segmenter(model, self._pairs(items), hd95=True)


@dataclass
class ClassificationTask(Task):
    """COVID vs normal (see :func:`~monai_gan_aug.metrics.utility.classification.train_classifier_steps`)."""

    batch_size: int = 16
    lr: float = 2e-3

    def __post_init__(self) -> None:
        self.name, self.metrics, self.primary = "classification", ("auc", "accuracy"), "auc"
        self.higher_is_better = {"auc": True, "accuracy": True}

    @staticmethod
    def _pairs(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{"image": d["image"], "label": int(d["cls"]), "patient": d.get("patient")} for d in items]

    def train(self, items, *, steps, seed, augment, record=None):
        """Small DenseNet for ``steps`` steps, class-weighted cross-entropy."""
        from .classification import train_classifier_steps

        return train_classifier_steps(self._pairs(items), steps=steps, seed=seed, batch_size=self.batch_size,
                                      lr=self.lr, device=self.device, augment=augment, record=record)

    def evaluate(self, model, items):
        """ROC-AUC (MONAI ``ROCAUCMetric``) and accuracy at probability 0.5."""
        from ..downstream import evaluate_classifier

        return evaluate_classifier(model, self._pairs(items))


@dataclass
class DetectionTask(Task):
    """Lesion detection (see :func:`~monai_gan_aug.metrics.utility.detection.train_detector`)."""

    lr: float = 1e-3

    def __post_init__(self) -> None:
        self.name, self.metrics, self.primary = "detection", ("cl_iou01", "froc_1fp"), "cl_iou01"
        self.higher_is_better = {"cl_iou01": True, "froc_1fp": True}

    @staticmethod
    def _pairs(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{"image": d["image"], "label": d["mask"], "patient": d.get("patient")} for d in items]

    def train(self, items, *, steps, seed, augment, record=None):
        """RetinaNet for ``steps`` steps; boxes from the (augmented) masks' components."""
        from .detection import train_detector

        return train_detector(self._pairs(items), steps=steps, seed=seed, batch_size=self.batch_size, lr=self.lr,
                              device=self.device, augment=augment, record=record)

    def evaluate(self, model, items):
        """CL@IoU0.1 over films with lesions and FROC sensitivity at 1 FP per film over all films."""
        from .detection import detection_scores

        return detection_scores(model, self._pairs(items))


#: task name -> class
TASKS = {"segmentation": SegmentationTask, "classification": ClassificationTask, "detection": DetectionTask}


def get_task(name: str, **kwargs: Any) -> Task:
    """A task by name (:data:`TASKS`), with keyword settings (``batch_size``, ``lr``, ``device``...).

    Raises:
        ConfigError: an unknown task.
    """
    if name not in TASKS:
        raise ConfigError(f"task must be one of {tuple(TASKS)}, got {name!r}")
    return TASKS[name](**kwargs)

