"""Synthetic chest-like phantoms for metric tests: varied, cheap, deterministic."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def phantoms(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """``(n, 1, size, size)`` images in [0, 1]: a bright body with two dark lungs of random shape."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        img = np.full((size, size), 0.1, np.float32)
        body = ((xx - 0.5) / rng.uniform(0.38, 0.46)) ** 2 + ((yy - 0.5) / rng.uniform(0.42, 0.48)) ** 2 < 1
        img[body] = rng.uniform(0.6, 0.8)
        for cx in (rng.uniform(0.28, 0.36), rng.uniform(0.64, 0.72)):
            lung = ((xx - cx) / rng.uniform(0.1, 0.16)) ** 2 + (
                (yy - rng.uniform(0.42, 0.52)) / rng.uniform(0.22, 0.32)
            ) ** 2 < 1
            img[lung] = rng.uniform(0.2, 0.35)
        out[i, 0] = img + rng.normal(0, 0.01, img.shape)
    return torch.from_numpy(out).clamp(0, 1)


def add_noise(images: torch.Tensor, std: float, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (images + std * torch.randn(images.shape, generator=gen)).clamp(0, 1)


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return images
    radius = int(3 * sigma) + 1
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, k.view(1, 1, 1, -1))
    return F.conv2d(out, k.view(1, 1, -1, 1))
