"""Tests for monai_gan_aug.transforms.validate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.transforms.validate import ValidateImage, ValidateImaged, ValidateImageDict, check_image


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_good_image_passes_and_is_returned(lib, chest_like):
    img = chest_like[None] if lib == "numpy" else torch.from_numpy(chest_like)[None]
    assert check_image(img, ndim=3) is img


@pytest.mark.parametrize(
    ("img", "match"),
    [
        (np.zeros((1, 0, 5), np.float32), "empty"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "1 NaN"),
        (torch.tensor([[0.0, float("inf")], [1.0, -float("inf")]]), "2 Inf"),
        (np.full((4, 4), 3, np.uint8), "constant"),
        (np.array([["a", "b"]]), "numeric"),
        ([[0.0, 1.0]], "numpy array or torch tensor"),
    ],
)
def test_bad_images_raise_clear_errors(img, match):
    with pytest.raises(InvalidImageError, match=match):
        check_image(img, name="sample.png")


def test_dimensionality_and_constant_option():
    with pytest.raises(InvalidImageError, match=r"expected 3 dimensions, found shape \(4, 4\)"):
        check_image(np.eye(4), ndim=3)
    assert check_image(np.eye(4), ndim=(2, 3)) is not None
    flat = torch.zeros(1, 4, 4)
    assert check_image(flat, allow_constant=True) is flat
    assert check_image(torch.tensor([[True, False]])) is not None  # booleans are fine when not constant


def test_transform_and_dict_name_the_source(chest_like):
    assert ValidateImage()(chest_like[None]) is not None
    bad = MetaTensor(torch.full((1, 4, 4), float("nan")), meta={"filename_or_obj": "/data/x.dcm"})
    with pytest.raises(InvalidImageError, match=r"image \(/data/x.dcm\)"):
        ValidateImaged("image")({"image": bad})
    out = ValidateImageDict(["image", "mask"], allow_missing_keys=True)(
        {"image": torch.from_numpy(chest_like)[None]}
    )
    assert set(out) == {"image"}
