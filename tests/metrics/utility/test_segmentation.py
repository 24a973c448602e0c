from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_gan_aug.metrics.utility.segmentation import evaluate_segmenter, hd95_per_film, train_segmenter
from tests.metrics.utility._toys import SIZE, SMALL, toy_set

torch.set_num_threads(1)


def _square(y0: int, x0: int, side: int, size: int = 32) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size)
    m[..., y0:y0 + side, x0:x0 + side] = 1
    return m


def test_hd95_on_hand_cases():
    gt = _square(8, 8, 10)
    assert hd95_per_film(gt, gt).tolist() == [0.0]
    assert hd95_per_film(_square(8, 11, 10), gt)[0] == pytest.approx(3.0)
    empty = torch.zeros_like(gt)
    assert hd95_per_film(empty, gt)[0] == pytest.approx(np.hypot(32, 32))  # nothing predicted: worst case
    assert hd95_per_film(gt, empty).size == 0  # no lesion: skipped


def test_segmenter_records_its_steps_and_scores_hd95():
    train = [{"image": d["image"], "label": d["lesion_mask"]} for d in toy_set(6, 2, seed=0, prefix="t")]
    record = {}
    model = train_segmenter(train, size=SIZE, steps=5, seed=0, batch_size=4, lr=1e-2, augment=False,
                            channels=SMALL, record=record, dice_batch=True)
    assert record == {"steps": 5, "samples": 20, "pool": 8}
    scores = evaluate_segmenter(model, train, size=SIZE, hd95=True)
    assert 0 <= scores["hd95"] <= np.hypot(SIZE, SIZE)
    assert "hd95" not in evaluate_segmenter(model, train, size=SIZE)
