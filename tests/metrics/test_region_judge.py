"""Region judge helpers: windows around boxes, mirrored boxes, lung boxes, loading and scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_gan_aug.errors import CheckpointError, InvalidImageError
from monai_gan_aug.metrics.region_judge import (
    REGION_JUDGE_WEIGHTS,
    draw_lung_boxes,
    load_region_judge,
    mirrored_box,
    region_pneumonia_probability,
    region_window,
    region_window_bounds,
)
from monai_gan_aug.networks.classifier import JUDGE_WEIGHTS, XRayClassifier
from monai_gan_aug.utils.weights import shipped_weights_path


def test_region_window_is_centred_on_the_box_at_twice_its_side():
    image = torch.zeros(1, 200, 300)
    image[:, 80:120, 130:170] = 1.0  # a 40 px bright box
    win = region_window(image, [130, 80, 170, 120], size=40)
    assert win.shape == (1, 40, 40)
    # The box is the central half of an 80 px window: 20 px of 40 after resampling.
    assert float(win[0, 12:28, 12:28].min()) > 0.95 and float(win[0, :6].max()) < 0.05


def test_region_window_bounds_are_the_window_region_window_takes():
    image = torch.zeros(1, 200, 300)
    y0, x0, y1, x1 = region_window_bounds([130, 80, 170, 120], (200, 300))
    assert (y0, x0, y1, x1) == (60, 110, 140, 190)
    image[:, y0:y1, x0:x1] = 1.0
    assert float(region_window(image, [130, 80, 170, 120], size=16).min()) > 1 - 1e-6  # all inside the ones


def test_region_window_near_the_border_stays_inside_the_image():
    image = torch.rand(1, 100, 120)
    win = region_window(image, [0, 0, 30, 30], size=32)
    assert win.shape == (1, 32, 32) and 0 <= float(win.min()) and float(win.max()) <= 1


def test_region_window_rejects_a_batch():
    with pytest.raises(InvalidImageError, match=r"\(1, H, W\)"):
        region_window(torch.rand(2, 1, 64, 64), [0, 0, 10, 10], 32)


def test_mirrored_box_lands_in_the_other_half():
    assert mirrored_box([10, 5, 40, 25], 100) == [60, 5, 90, 25]


def test_draw_lung_boxes_mostly_inside_the_lung_and_reproducible():
    image = torch.rand(1, 256, 256)
    lung = np.zeros((256, 256), bool)
    lung[40:220, 20:110] = lung[40:220, 146:236] = True
    boxes = draw_lung_boxes(image, lung, 5, seed=3)
    assert boxes == draw_lung_boxes(image, lung, 5, seed=3)
    assert boxes != draw_lung_boxes(image, lung, 5, seed=4)
    for x0, y0, x1, y1 in boxes:
        assert lung[y0:y1, x0:x1].mean() >= 0.5


def test_region_probability_scores_each_window():
    torch.manual_seed(0)
    judge = XRayClassifier(spatial_size=32, block_inplanes=(4, 8, 8, 8))
    images = [torch.rand(1, 64, 80), torch.rand(1, 90, 70)]
    p = region_pneumonia_probability(judge, images, [[10, 10, 30, 30], [5, 20, 40, 50]])
    assert p.shape == (2,) and bool(((p >= 0) & (p <= 1)).all())
    with pytest.raises(InvalidImageError, match="2 images for 1 boxes"):
        region_pneumonia_probability(judge, images, [[10, 10, 30, 30]])


def test_load_region_judge_refuses_the_whole_film_judge():
    with pytest.raises(CheckpointError, match="whole-film"):
        load_region_judge(path=str(shipped_weights_path(JUDGE_WEIGHTS)))


def test_shipped_region_judge_loads_and_works_on_a_window():
    judge = load_region_judge()
    assert judge.spatial_size <= 128 and not judge.training
    p = region_pneumonia_probability(judge, [torch.rand(1, 128, 128)], [[40, 40, 80, 80]])
    assert p.shape == (1,) and 0 <= float(p) <= 1
    assert shipped_weights_path(REGION_JUDGE_WEIGHTS).stat().st_size < 10e6
