"""Context windows: geometry, round trip, and the dictionary transforms used in training."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import RegionError
from monai_gan_aug.transforms.window import (
    CropRegionWindow,
    CropRegionWindowd,
    RandCropRegionWindowd,
    context_window,
    crop_to_working,
    paste_from_working,
    region_bbox,
)


def test_window_is_square_centred_and_contains_the_region():
    y0, x0, y1, x1 = context_window((100, 50, 140, 90), (300, 200), context=2.0, min_side=16)
    assert (y1 - y0, x1 - x0) == (80, 80)
    assert y0 <= 100 and y1 >= 140 and x0 <= 50 and x1 >= 90


def test_window_is_shifted_inside_the_image_near_borders_and_clipped_for_thin_images():
    assert context_window((0, 0, 10, 10), (100, 100), context=3.0, min_side=8) == (0, 0, 30, 30)
    y0, x0, y1, x1 = context_window((5, 100, 25, 140), (40, 400), context=3.0, min_side=8)
    assert (y0, y1) == (0, 40) and x1 - x0 == 120


def test_jitter_never_drops_the_region():
    for shift in (-0.5, 0.5):
        y0, x0, y1, x1 = context_window((40, 40, 60, 60), (200, 200), 1.5, 16, (shift, shift))
        assert y0 <= 40 and y1 >= 60 and x0 <= 40 and x1 >= 60


def test_crop_and_paste_round_trip_for_non_square_windows():
    img = torch.rand(1, 60, 100)
    window = (0, 10, 60, 90)  # 60 x 80: padded to 80 x 80
    working, geom = crop_to_working(img, window, 80)
    assert working.shape == (1, 80, 80) and geom.pad_top == 10
    back = paste_from_working(working, geom)
    assert torch.allclose(back, img[:, 0:60, 10:90])


def test_array_and_dict_transforms():
    img = torch.rand(1, 120, 90)
    mask = torch.zeros(1, 120, 90)
    mask[:, 30:50, 20:45] = 1
    win, geom = CropRegionWindow(working_size=64, min_side=16)(img, mask)
    assert win.shape == (1, 64, 64) and geom.working_size == 64
    d = CropRegionWindowd(keys=("image", "region_mask"), working_size=64)({"image": img, "region_mask": mask})
    assert d["image"].shape == (1, 64, 64) and set(d["region_mask"].unique().tolist()) <= {0.0, 1.0}
    assert "region_mask_window" in d
    rand = RandCropRegionWindowd(keys=("image", "region_mask"), working_size=32)
    rand.set_random_state(0)
    a = rand({"image": img, "region_mask": mask})
    rand.set_random_state(0)
    assert a["region_mask_window"] == rand({"image": img, "region_mask": mask})["region_mask_window"]


def test_empty_region_and_bad_context():
    with pytest.raises(RegionError, match="empty"):
        region_bbox(torch.zeros(1, 10, 10))
    with pytest.raises(RegionError, match="context"):
        context_window((0, 0, 5, 5), (10, 10), context=0.5)
