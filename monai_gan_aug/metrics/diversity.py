"""Sample diversity: mean MS-SSIM between random pairs of generated images (lower = more diverse).

Uses MONAI's :class:`monai.metrics.MultiScaleSSIMMetric` (Gaussian window 11 px, sigma 1.5,
``data_range=1``). The standard 5 scales need images of at least 176 px under MONAI's size rule,
so :func:`msssim_scales` keeps the first ``n`` of the standard weights (renormalised to sum to 1)
that the image size allows: 5 scales at >= 176 px, 4 at 128 px, 3 at 64 px, 2 at 32 px.
Compare diversity values only at the same image size.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import MultiScaleSSIMMetric

from ..errors import ConfigError, InvalidImageError
from .extractors import check_images

__all__ = ["MSSSIM_WEIGHTS", "msssim_scales", "msssim_diversity"]

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003
_KERNEL = 11


def msssim_scales(min_side: int, kernel_size: int = _KERNEL) -> tuple[float, ...]:
    """Largest prefix of :data:`MSSSIM_WEIGHTS` usable at ``min_side`` px, renormalised to sum to 1."""
    for n in range(len(MSSSIM_WEIGHTS), 0, -1):
        # MONAI's own check, and the coarsest scale must still hold one window.
        if min_side // max(1, n - 1) ** 2 > kernel_size - 1 and min_side // 2 ** (n - 1) >= kernel_size:
            w = np.array(MSSSIM_WEIGHTS[:n])
            return tuple(float(v) for v in w / w.sum())
    raise InvalidImageError(
        f"images of {min_side} px are too small for MS-SSIM with an {kernel_size}-px window"
    )


def msssim_diversity(images: torch.Tensor, num_pairs: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean and std of MS-SSIM over ``num_pairs`` random pairs of distinct images.

    Args:
        images: ``(N, C, H, W)`` generated images in ``[0, 1]``, ``N >= 2``.
        num_pairs: pairs drawn (without repeating a pair when ``N`` is small: capped at ``N(N-1)/2``).
        seed: pair sampling seed.
    """
    images = check_images(images)
    n = len(images)
    if n < 2:
        raise InvalidImageError(f"diversity needs at least 2 images, got {n}")
    if num_pairs < 1:
        raise ConfigError(f"num_pairs must be >= 1, got {num_pairs}")
    all_pairs = n * (n - 1) // 2
    rng = np.random.default_rng(seed)
    if num_pairs >= all_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        flat = rng.choice(all_pairs, num_pairs, replace=False)
        iu, ju = np.triu_indices(n, k=1)
        i, j = iu[flat], ju[flat]
    metric = MultiScaleSSIMMetric(
        spatial_dims=2,
        data_range=1.0,
        kernel_size=_KERNEL,
        kernel_sigma=1.5,
        weights=msssim_scales(min(images.shape[-2:])),
        reduction="none",
    )
    values = []
    for start in range(0, len(i), 64):
        a = images[torch.as_tensor(i[start : start + 64])]
        b = images[torch.as_tensor(j[start : start + 64])]
        values.append(metric(a, b).reshape(-1))
    v = torch.cat(values).double().numpy()
    return float(v.mean()), float(v.std())
