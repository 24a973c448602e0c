from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.metrics.diversity import MSSSIM_WEIGHTS, msssim_diversity, msssim_scales
from tests.metrics._phantoms import add_noise, phantoms

torch.set_num_threads(1)


def test_scales_by_size():
    assert len(msssim_scales(256)) == 5 and msssim_scales(256) == pytest.approx(MSSSIM_WEIGHTS, rel=1e-3)
    assert [len(msssim_scales(s)) for s in (128, 64, 32)] == [4, 3, 2]
    assert sum(msssim_scales(64)) == pytest.approx(1.0)
    with pytest.raises(InvalidImageError):
        msssim_scales(8)


def test_identical_images_score_one_and_diverse_lower():
    base = phantoms(8, size=64, seed=0)
    collapsed = base[:1].repeat(8, 1, 1, 1)
    assert msssim_diversity(collapsed)[0] == pytest.approx(1.0, abs=1e-5)
    varied = msssim_diversity(base)[0]
    noisy = msssim_diversity(add_noise(base, 0.2))[0]
    assert noisy < varied < 0.999


def test_pairs_capped_and_errors():
    imgs = phantoms(4, size=32, seed=0)
    assert msssim_diversity(imgs, num_pairs=1000)[0] == pytest.approx(msssim_diversity(imgs, num_pairs=6)[0])
    with pytest.raises(InvalidImageError):
        msssim_diversity(imgs[:1])
    with pytest.raises(InvalidImageError):
        msssim_diversity(imgs * 2 - 1)
