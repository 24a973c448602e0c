"""Precision, recall, density and coverage on k-NN feature manifolds (Naeem et al. 2020).

Each real sample ``r_i`` gets a ball of radius ``R_k(r_i)``, the distance to its ``k``-th nearest
other real sample (likewise ``R_k(f_j)`` for generated samples). Then, with ``M`` generated and
``N`` real samples:

* precision = fraction of generated samples inside at least one real ball (fidelity);
* recall = fraction of real samples inside at least one generated ball (diversity);
* density = ``1/(kM) sum_j #{i : f_j in ball(r_i)}`` (can exceed 1; about 1 for identical distributions);
* coverage = fraction of real balls that contain at least one generated sample.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, InvalidImageError
from .features import check_features

__all__ = ["knn_radii", "prdc_from_features"]


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its ``k``-th nearest *other* row."""
    d = _dist(features, features)
    return np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself (distance 0)


def prdc_from_features(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5
) -> dict[str, float]:
    """Return ``{"precision", "recall", "density", "coverage"}`` (Naeem et al. 2020, default ``k=5``)."""
    r = check_features(real, "real features", min_rows=k + 1)
    f = check_features(fake, "generated features", min_rows=k + 1)
    if r.shape[1] != f.shape[1]:
        raise InvalidImageError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]} (different extractors?)")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    real_r, fake_r = knn_radii(r, k), knn_radii(f, k)
    d = _dist(r, f)  # (N real, M fake)
    inside_real = d <= real_r[:, None]  # f_j in ball(r_i)
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((d <= fake_r[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum() / (k * f.shape[0])),
        "coverage": float((d.min(axis=1) <= real_r).mean()),
    }
