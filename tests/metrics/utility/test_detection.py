from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import DatasetError
from monai_gan_aug.metrics.utility.detection import (
    cl_at_iou,
    correct_location,
    detection_scores,
    froc_sensitivity,
    mask_boxes,
    train_detector,
)
from tests.metrics.utility._toys import toy_set

torch.set_num_threads(1)

GT = torch.tensor([[10.0, 10.0, 30.0, 30.0]])  # 20 x 20 = 400 px


def _p(boxes, scores) -> dict:
    return {"box": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "score": torch.tensor(scores, dtype=torch.float32)}


def test_correct_location_looks_only_at_the_top_prediction():
    # IoU of [10,10,30,14] with GT: 80 / 400 = 0.2 -> located; [28,28,40,40]: 4 / (400 + 144 - 4) < 0.1
    assert correct_location(*_p([[10, 10, 30, 14]], [0.9]).values(), GT)
    assert not correct_location(*_p([[28, 28, 40, 40]], [0.9]).values(), GT)
    # a good box that is not the top prediction does not count
    assert not correct_location(*_p([[10, 10, 30, 30], [28, 28, 40, 40]], [0.5, 0.9]).values(), GT)
    assert correct_location(*_p([[10, 10, 30, 30], [28, 28, 40, 40]], [0.9, 0.5]).values(), GT)
    # exactly at the threshold counts: [10,10,30,12] -> 40 / 400 = 0.1
    assert correct_location(*_p([[10, 10, 30, 12]], [1.0]).values(), GT)
    assert not correct_location(*_p([[10, 10, 30, 12]], [1.0]).values(), GT, iou=0.11)
    assert not correct_location(*_p([], []).values(), GT)  # no prediction: not located
    with pytest.raises(DatasetError):
        correct_location(*_p([[0, 0, 1, 1]], [1.0]).values(), torch.zeros(0, 4))


def test_cl_is_the_located_fraction_of_films_with_lesions():
    preds = [_p([[10, 10, 30, 30]], [0.9]), _p([[50, 50, 60, 60]], [0.9]), _p([[0, 0, 5, 5]], [0.99])]
    gts = [GT, GT, torch.zeros(0, 4)]  # the normal film (third) is not part of CL
    assert cl_at_iou(preds, gts) == 0.5
    with pytest.raises(DatasetError):
        cl_at_iou(preds[2:], gts[2:])
    with pytest.raises(DatasetError):
        cl_at_iou(preds, gts[:2])


def test_froc_sensitivity_at_one_false_positive_per_film():
    gt2 = torch.tensor([[10.0, 10.0, 30.0, 30.0], [40.0, 40.0, 60.0, 60.0]])
    # film 0: hit on box 1 (0.9), FP (0.8), hit on box 2 (0.3); film 1 (normal): FP (0.7), FP (0.6)
    preds = [_p([[10, 10, 30, 30], [0, 0, 5, 5], [40, 40, 60, 60]], [0.9, 0.8, 0.3]),
             _p([[0, 0, 5, 5], [70, 70, 80, 80]], [0.7, 0.6])]
    gts = [gt2, torch.zeros(0, 4)]
    # thresholds: 0.9 -> 1/2 found, 0 FP; 0.8 -> 1 FP (0.5/film); 0.7 -> 2 FP (1/film); 0.6 -> 3 FP (1.5)
    assert froc_sensitivity(preds, gts, 1.0) == 0.5
    assert froc_sensitivity(preds, gts, 2.5) == 1.0  # 0.3 reached with 3 FP = 1.5 per film
    assert froc_sensitivity(preds, gts, 0.0) == 0.5
    # two predictions on the same box count it once
    dup = [_p([[10, 10, 30, 30], [11, 11, 30, 30]], [0.9, 0.8]), _p([], [])]
    assert froc_sensitivity(dup, gts, 1.0) == 0.5
    with pytest.raises(DatasetError):
        froc_sensitivity([_p([], [])], [torch.zeros(0, 4)])


def test_mask_boxes_are_component_boxes_in_monai_axis_order():
    m = torch.zeros(1, 20, 30)
    m[0, 2:5, 3:10] = 1  # rows 2-4, cols 3-9
    m[0, 10:18, 20:22] = 1
    m[0, 0, 29] = 1  # one pixel: dropped
    assert mask_boxes(m).tolist() == [[2, 3, 5, 10], [10, 20, 18, 22]]
    assert mask_boxes(torch.zeros(1, 8, 8)).shape == (0, 4)


def test_retinanet_learns_toy_lesions_in_fixed_steps_without_torchvision():
    import sys

    train = [{"image": d["image"], "label": d["lesion_mask"]} for d in toy_set(12, 4, 0, "t")]
    test = [{"image": d["image"], "label": d["lesion_mask"]} for d in toy_set(8, 4, 1, "e")]
    record = {}
    det = train_detector(train, steps=40, seed=0, batch_size=8, lr=3e-3, record=record)
    assert record["steps"] == 40
    assert "torchvision" not in sys.modules or sys.modules["torchvision"] is None
    scores = detection_scores(det, test)
    assert scores["n_with_lesion"] == 8 and scores["n_boxes"] == 8
    assert scores["cl_iou01"] >= 0.75 and scores["froc_1fp"] >= 0.75
