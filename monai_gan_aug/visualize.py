"""Pictures for people: side-by-side panels of an edit with its region outlined and the difference map."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from .utils.atomic import atomic_write

__all__ = ["to_hw", "outline", "hot", "edit_panel", "save_rgb"]


def to_hw(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """(1, H, W) or (H, W) tensor/array -> float32 (H, W)."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    return arr.reshape(arr.shape[-2:]).astype(np.float32)


def outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Boolean contour band (``width`` px, inside the mask) of a binary mask."""
    m = mask > 0
    return m & ~ndimage.binary_erosion(m, iterations=max(1, width))


def hot(values: np.ndarray) -> np.ndarray:
    """A black-red-yellow-white colour map of values in [0, 1] as uint8 RGB."""
    v = np.clip(values, 0, 1)[..., None]
    rgb = np.concatenate([np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)], axis=-1)
    return (rgb * 255).astype(np.uint8)


def _grey_rgb(img: np.ndarray) -> np.ndarray:
    g = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def edit_panel(
    before: torch.Tensor | np.ndarray, after: torch.Tensor | np.ndarray, region_mask: torch.Tensor | np.ndarray,
    max_height: int = 512,
) -> np.ndarray:
    """``input | output (region outlined in red) | difference map`` as one uint8 RGB image.

    The difference map is |output - input| scaled by its own maximum (black where unchanged).
    """
    b, a, m = to_hw(before), to_hw(after), to_hw(region_mask) > 0
    scale = min(1.0, max_height / b.shape[0])
    line_width = max(1, int(round(2 / scale)))
    left = _grey_rgb(b)
    mid = _grey_rgb(a)
    mid[outline(m, line_width)] = (255, 40, 40)
    diff = np.abs(a - b)
    right = hot(diff / diff.max() if diff.max() > 0 else diff)
    gap = np.full((b.shape[0], max(2, b.shape[1] // 100), 3), 255, np.uint8)
    panel = np.concatenate([left, gap, mid, gap, right], axis=1)
    if scale < 1:
        size = (int(round(panel.shape[1] * scale)), int(round(panel.shape[0] * scale)))
        panel = np.asarray(Image.fromarray(panel).resize(size, Image.Resampling.LANCZOS))
    return panel


def save_rgb(rgb: np.ndarray | Sequence[np.ndarray], path: str | os.PathLike, exclusive: bool = False) -> Path:
    """Write an RGB image (or rows of images, stacked vertically, same width) as PNG, atomically.

    ``exclusive=True`` never replaces an existing file (:class:`FileExistsError` instead).
    """
    if not isinstance(rgb, np.ndarray):
        rgb = np.concatenate(list(rgb), axis=0)
    with atomic_write(path, suffix=".png", exclusive=exclusive) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return Path(path)
