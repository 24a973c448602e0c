from __future__ import annotations

import numpy as np
import pytest

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.metrics.prdc import knn_radii, prdc_from_features


def direct_prdc(r: np.ndarray, f: np.ndarray, k: int) -> dict[str, float]:
    """Naeem et al. 2020 definitions written out with loops."""
    dist = lambda a, b: float(np.sqrt(((a - b) ** 2).sum()))  # noqa: E731
    rr = [sorted(dist(a, b) for j, b in enumerate(r) if j != i)[k - 1] for i, a in enumerate(r)]
    fr = [sorted(dist(a, b) for j, b in enumerate(f) if j != i)[k - 1] for i, a in enumerate(f)]
    prec = np.mean([any(dist(y, r[i]) <= rr[i] for i in range(len(r))) for y in f])
    rec = np.mean([any(dist(x, f[j]) <= fr[j] for j in range(len(f))) for x in r])
    dens = sum(dist(y, r[i]) <= rr[i] for y in f for i in range(len(r))) / (k * len(f))
    cov = np.mean([min(dist(r[i], y) for y in f) <= rr[i] for i in range(len(r))])
    return {"precision": prec, "recall": rec, "density": dens, "coverage": cov}


def test_matches_direct_definition():
    rng = np.random.default_rng(0)
    r, f = rng.normal(size=(30, 3)), rng.normal(size=(25, 3)) * 1.3 + 0.4
    got, want = prdc_from_features(r, f, k=3), direct_prdc(r, f, 3)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_knn_radius_excludes_self():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(knn_radii(x, 1), [1.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(knn_radii(x, 2), [3.0, 2.0, 3.0, 6.0])


def test_same_distribution_high_shifted_far_zero():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 8))
    same = prdc_from_features(real, rng.normal(size=(500, 8)), k=5)
    assert same["precision"] > 0.85 and same["recall"] > 0.85 and same["coverage"] > 0.85
    assert 0.8 < same["density"] < 1.2
    far = prdc_from_features(real, rng.normal(size=(500, 8)) + 10.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_mode_collapse_keeps_precision_loses_recall():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 4))
    collapsed = rng.normal(size=(400, 4)) * 0.1  # all samples near the real mode
    s = prdc_from_features(real, collapsed, k=5)
    assert s["precision"] > 0.95 and s["recall"] < 0.2 and s["coverage"] < 0.3


def test_too_few_samples():
    with pytest.raises(InvalidImageError):
        prdc_from_features(np.zeros((5, 2)), np.zeros((10, 2)), k=5)
