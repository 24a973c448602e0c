"""Fréchet Inception Distance over any feature extractor (MONAI's maths, float64).

``FID = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` between Gaussians fitted to real and
generated features (Heusel et al. 2017). The Fréchet distance itself is
:func:`monai.metrics.fid.compute_frechet_distance` (scipy ``sqrtm``); this module adds input checks,
statistics that can be cached, and a clamp of tiny negative round-off to 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from monai.metrics.fid import compute_frechet_distance
from scipy.linalg import LinAlgWarning

from ..errors import InvalidImageError
from .features import check_features

__all__ = ["GaussianStats", "frechet_distance", "fid_from_features"]


@dataclass(frozen=True)
class GaussianStats:
    """Mean and (unbiased, ``N - 1``) covariance of a feature set."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def from_features(cls, features: np.ndarray | torch.Tensor, name: str = "features") -> GaussianStats:
        f = check_features(features, name)
        return cls(
            mu=f.mean(axis=0), sigma=np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1]), n=f.shape[0]
        )


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two Gaussians (MONAI ``compute_frechet_distance``, float64)."""
    if a.mu.shape != b.mu.shape:
        raise InvalidImageError(
            f"feature sizes differ: {a.mu.shape[0]} vs {b.mu.shape[0]} (different extractors?)"
        )
    t = lambda x: torch.from_numpy(np.asarray(x, np.float64))  # noqa: E731
    with warnings.catch_warnings():
        # With fewer samples than feature dimensions (e.g. 100 images, 2048-d Inception) the
        # covariances are rank-deficient: scipy warns "singular", the standard FID is still what
        # is computed. MONAI passes sqrtm's deprecated ``disp`` argument: also not the user's concern.
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            value = float(compute_frechet_distance(t(a.mu), t(a.sigma), t(b.mu), t(b.sigma)))
        except ValueError as exc:  # MONAI: "Imaginary component ... too high"
            raise InvalidImageError(
                f"FID undefined for these features ({exc}); use more samples than near-duplicate images"
            ) from exc
    return max(value, 0.0)  # sqrtm round-off can give -1e-10 for identical sets


def fid_from_features(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """FID between two ``(N, D)`` feature arrays (each ``N >= 2``)."""
    return frechet_distance(
        GaussianStats.from_features(real, "real features"),
        GaussianStats.from_features(fake, "generated features"),
    )
