from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.metrics.extractors import RandomConvExtractor
from monai_gan_aug.metrics.fid import GaussianStats, fid_from_features, frechet_distance
from tests.metrics._phantoms import add_noise, blur, phantoms

torch.set_num_threads(1)


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """Direct textbook formula: |mu1-mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_matches_scipy_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    b = rng.normal(size=(150, 8)) @ rng.normal(size=(8, 8)) * 0.5 + 0.3
    assert fid_from_features(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-8)


def test_closed_form_gaussians():
    d = 6
    a = GaussianStats(mu=np.zeros(d), sigma=np.eye(d), n=10)
    b = GaussianStats(mu=np.full(d, 2.0), sigma=4 * np.eye(d), n=10)
    # |mu|^2 = 4d; Tr(I + 4I - 2*2I) = d
    assert frechet_distance(a, b) == pytest.approx(5 * d, rel=1e-10)


def test_self_is_zero_and_symmetric():
    f = np.random.default_rng(1).normal(size=(100, 16))
    g = np.random.default_rng(2).normal(size=(100, 16)) + 0.2
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-6)
    assert fid_from_features(f, g) == pytest.approx(fid_from_features(g, f), rel=1e-6)


def test_bad_input():
    with pytest.raises(InvalidImageError):
        fid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(InvalidImageError):
        fid_from_features(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(InvalidImageError):
        fid_from_features(np.full((5, 4), np.nan), np.zeros((5, 4)))


@pytest.mark.parametrize(
    "degrade,levels", [(add_noise, (0.0, 0.03, 0.08, 0.2)), (blur, (0.0, 0.7, 1.5, 3.0))]
)
def test_grows_with_degradation(degrade, levels):
    ext = RandomConvExtractor(feature_dim=16, size=64)
    real = ext.extract(phantoms(96, seed=0))
    base = phantoms(96, seed=1)
    fids = [fid_from_features(real, ext.extract(degrade(base, level))) for level in levels]
    assert all(x < y for x, y in zip(fids, fids[1:])), fids
