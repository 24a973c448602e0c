from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.metrics.extractors import RandomConvExtractor
from monai_gan_aug.metrics.kid import kid_from_features, mmd2_unbiased
from tests.metrics._phantoms import add_noise, blur, phantoms

torch.set_num_threads(1)


def loop_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, by explicit double loops."""
    d = x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(9, 5)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(loop_mmd2(x, y), rel=1e-10)
    # equal set sizes and subset_size = N: every subset is the whole set, so mean = full estimate, std = 0
    mean, std = kid_from_features(x[:9], y, num_subsets=3, subset_size=9)
    assert mean == pytest.approx(loop_mmd2(x[:9], y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(1)
    same = [
        kid_from_features(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), num_subsets=5)[0]
        for _ in range(20)
    ]
    shifted = kid_from_features(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 1.0, num_subsets=5)[0]
    # unbiased: the average over repeats straddles 0 (negative values happen), far below a real shift
    assert abs(np.mean(same)) < 0.05 * shifted
    assert min(same) < 0


@pytest.mark.parametrize(
    "degrade,levels", [(add_noise, (0.0, 0.03, 0.08, 0.2)), (blur, (0.0, 0.7, 1.5, 3.0))]
)
def test_grows_with_degradation(degrade, levels):
    ext = RandomConvExtractor(feature_dim=16, size=64)
    real = ext.extract(phantoms(96, seed=0))
    base = phantoms(96, seed=1)
    kids = [
        kid_from_features(real, ext.extract(degrade(base, level)), num_subsets=20, subset_size=64)[0]
        for level in levels
    ]
    assert all(x < y for x, y in zip(kids, kids[1:])), kids


def test_bad_input():
    with pytest.raises(InvalidImageError):
        kid_from_features(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ConfigError):
        kid_from_features(np.zeros((4, 3)), np.zeros((4, 3)), num_subsets=0)
