"""Regions from MONAI Label requests and label masks (monai_gan_aug/label/regions.py)."""

from __future__ import annotations

import numpy as np
import pytest

from monai_gan_aug.errors import RegionError
from monai_gan_aug.label.regions import box_from_request, regions_from_label


@pytest.mark.parametrize(
    "request_, box",
    [
        ({"box": [1, 2, 30, 40]}, [1, 2, 30, 40]),
        ({"roi": ["5", "6", "7", "8"]}, [5, 6, 7, 8]),  # numbers as strings (JSON from a form)
        ({"location": [10, 20], "size": [5, 6]}, [10, 20, 15, 26]),
        # scribble points (x, y): bounding box, end-exclusive, plus the margin
        ({"foreground": [[10, 12], [20, 30], [15, 18]]}, [6, 8, 25, 35]),
    ],
)
def test_box_from_request(request_, box):
    assert box_from_request(request_, margin=4) == [float(v) for v in box]


@pytest.mark.parametrize("request_", [{}, {"box": [1, 2, 3]}, {"foreground": [1, 2]}, {"box": "abc"}])
def test_box_from_request_rejects_missing_or_malformed_regions(request_):
    with pytest.raises(RegionError):
        box_from_request(request_)


def test_regions_from_label_one_box_per_class_value():
    label = np.zeros((40, 30), np.uint8)
    label[5:10, 3:8] = 1  # pneumonia
    label[20:25, 12:20] = 2  # healthy lung
    label[30, 29] = 7  # unknown value: ignored
    assert regions_from_label(label) == [([3.0, 5.0, 8.0, 10.0], 1), ([12.0, 20.0, 20.0, 25.0], 0)]
    assert regions_from_label(label[None]) == regions_from_label(label)
    assert regions_from_label(np.zeros((4, 4))) == []
    with pytest.raises(RegionError):
        regions_from_label(np.zeros((2, 3, 4, 4)))
