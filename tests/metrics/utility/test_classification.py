from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.metrics.utility.classification import build_small_classifier, train_classifier_steps
from monai_gan_aug.metrics.utility.tasks import ClassificationTask, SegmentationTask, get_task
from tests.metrics.utility._toys import toy_set

torch.set_num_threads(1)


def _items(seed: int) -> list[dict]:
    return [{"image": d["image"], "mask": d["lesion_mask"], "cls": d["cls"]} for d in toy_set(8, 8, seed, "c")]


def test_small_classifier_learns_a_separable_toy_in_fixed_steps():
    task = ClassificationTask(batch_size=8, lr=5e-3)
    record = {}
    model = task.train(_items(0), steps=40, seed=0, augment=False, record=record)
    assert record["steps"] == 40 and record["pool"] == 16
    scores = task.evaluate(model, _items(1))
    assert scores["auc"] > 0.9
    again = task.evaluate(task.train(_items(0), steps=40, seed=0, augment=False), _items(1))
    assert again == scores


def test_classifier_refuses_bad_pools_and_settings():
    one_class = [{"image": torch.zeros(1, 16, 16), "label": 1}] * 3
    with pytest.raises(DatasetError):
        train_classifier_steps(one_class, steps=1)
    with pytest.raises(ConfigError):
        train_classifier_steps(one_class, steps=0)
    assert sum(p.numel() for p in build_small_classifier().parameters()) < 200_000


def test_task_registry():
    assert isinstance(get_task("segmentation"), SegmentationTask)
    assert get_task("classification", batch_size=4).batch_size == 4
    assert get_task("segmentation").primary == "dice"
    assert get_task("segmentation").higher_is_better["hd95"] is False
    with pytest.raises(ConfigError):
        get_task("nope")
