"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel.

``k(x, y) = (x.y / d + 1)^3`` on ``d``-dimensional features; the unbiased estimator over ``m`` real
and ``n`` generated features is::

    MMD^2_u = sum_{i!=j} k(r_i, r_j) / (m(m-1)) + sum_{i!=j} k(f_i, f_j) / (n(n-1))
              - 2 sum_{i,j} k(r_i, f_j) / (mn)

reported as mean and standard deviation over random subsets (like the paper and torch-fidelity).
MONAI's :class:`monai.metrics.MMDMetric` is not used: it uses the *linear* kernel ``x.y`` (which only
compares means), requires equally sized sets and has no subset averaging.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, InvalidImageError
from .features import check_features

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kid_from_features"]


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> np.ndarray:
    """``(gamma x.y + coef0)^degree`` with ``gamma = 1 / d`` by default."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(
    real: np.ndarray, fake: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> float:
    """Unbiased MMD^2 between two feature sets (each with at least 2 rows)."""
    m, n = len(real), len(fake)
    k_rr = polynomial_kernel(real, real, degree, gamma, coef0)
    k_ff = polynomial_kernel(fake, fake, degree, gamma, coef0)
    k_rf = polynomial_kernel(real, fake, degree, gamma, coef0)
    return float(
        (k_rr.sum() - np.trace(k_rr)) / (m * (m - 1))
        + (k_ff.sum() - np.trace(k_ff)) / (n * (n - 1))
        - 2.0 * k_rf.sum() / (m * n)
    )


def kid_from_features(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """KID mean and std over ``num_subsets`` random subsets of ``min(subset_size, N_real, N_fake)`` each.

    With a subset size equal to both set sizes every subset is the whole set, so the std is 0
    and the mean is the full-sample unbiased MMD^2.
    """
    r = check_features(real, "real features")
    f = check_features(fake, "generated features")
    if r.shape[1] != f.shape[1]:
        raise InvalidImageError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]} (different extractors?)")
    if num_subsets < 1 or subset_size < 2:
        raise ConfigError(f"need num_subsets >= 1 and subset_size >= 2, got {num_subsets}, {subset_size}")
    size = min(subset_size, len(r), len(f))
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            mmd2_unbiased(
                r[rng.choice(len(r), size, replace=False)],
                f[rng.choice(len(f), size, replace=False)],
                degree,
                gamma,
                coef0,
            )
            for _ in range(num_subsets)
        ]
    )
    return float(values.mean()), float(values.std())
