from __future__ import annotations

import numpy as np
import pytest

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.metrics.inception_score import inception_score_from_probs


def test_known_values():
    k = 10
    confident_diverse = np.eye(k)[np.arange(100) % k]  # one-hot, classes uniform
    assert inception_score_from_probs(confident_diverse, splits=10)[0] == pytest.approx(k, rel=1e-6)
    assert inception_score_from_probs(np.full((100, k), 1.0 / k), splits=5) == pytest.approx((1.0, 0.0))
    collapsed = np.tile(np.eye(k)[3], (100, 1))  # confident but always the same class
    assert inception_score_from_probs(collapsed, splits=4)[0] == pytest.approx(1.0, rel=1e-6)


def test_matches_direct_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 2)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    direct = []
    for chunk in np.array_split(p, 3):
        py = chunk.mean(0)
        direct.append(np.exp(np.mean([sum(q[c] * np.log(q[c] / py[c]) for c in range(2)) for q in chunk])))
    mean, std = inception_score_from_probs(p, splits=3)
    assert mean == pytest.approx(np.mean(direct), rel=1e-9) and std == pytest.approx(np.std(direct), rel=1e-6)


def test_bad_input():
    with pytest.raises(InvalidImageError):
        inception_score_from_probs(np.full((4, 2), 0.7))
    with pytest.raises(ConfigError):
        inception_score_from_probs(np.full((4, 2), 0.5), splits=5)
