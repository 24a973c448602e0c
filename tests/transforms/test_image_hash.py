"""Exact and perceptual image hashes, their transforms, and the min-size check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import ndimage

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.transforms.image_hash import PerceptualHash, PerceptualHashd, content_hash, dhash, hamming, phash
from monai_gan_aug.transforms.min_size import MinSize, MinSized


def _film(seed: int, hw=(96, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.normal(size=hw), 6) + 0.5 * ndimage.gaussian_filter(rng.normal(size=hw), 2)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def test_content_hash_is_pixel_exact():
    a = _film(0)
    assert content_hash(a) == content_hash(torch.from_numpy(a)[None])
    b = a.copy()
    b[3, 4] = np.float32(b[3, 4] + 1 / 255.0) if b[3, 4] < 0.9 else np.float32(b[3, 4] - 1 / 255.0)
    assert content_hash(a) != content_hash(b)
    assert content_hash(a) != content_hash(a.T)  # shape is part of it


def test_perceptual_hashes_tolerate_resizing_noise_and_brightness_but_not_another_film():
    import cv2

    a = _film(1)
    copy = cv2.resize(a, (64, 77), interpolation=cv2.INTER_AREA)
    copy = np.clip(copy * 1.05 + 0.02 + np.random.default_rng(2).normal(0, 0.01, copy.shape), 0, 1)
    other = _film(3)
    assert len(phash(a)) == 64 and len(phash(a, hash_size=8)) == 16
    assert hamming(phash(a), phash(copy)) <= 12 < 60 <= hamming(phash(a), phash(other))
    assert hamming(dhash(a), dhash(copy)) < hamming(dhash(a), dhash(other))
    assert hamming("0f", 0) == 4
    with pytest.raises(InvalidImageError):
        phash(np.full((4, 4), np.nan))
    with pytest.raises(ConfigError):
        phash(a, hash_size=1)


def test_hash_transforms():
    img = MetaTensor(torch.from_numpy(_film(4))[None])
    out = PerceptualHash()(img)
    assert set(out) == {"sha256", "phash", "dhash", "height", "width"} and (out["height"], out["width"]) == (96, 80)
    d = PerceptualHashd(["image"], kinds=("sha256",))({"image": img})
    assert d["image"] is img and set(d["image_hash"]) == {"sha256", "height", "width"}
    with pytest.raises(ConfigError):
        PerceptualHash(kinds=("md5",))


def test_min_size_flags_or_raises():
    img = MetaTensor(torch.zeros(1, 30, 50))
    assert MinSize(31)(img).meta["too_small"] is True
    assert MinSize(30)(img).meta["too_small"] is False
    with pytest.raises(InvalidImageError, match="below the minimum of 31"):
        MinSize(31, on_small="raise")(img)
    d = MinSized(["image", "other"], 40, allow_missing_keys=True)({"image": img})
    assert d["too_small"] is True
    with pytest.raises(ConfigError):
        MinSize(-1)
