"""Small array helpers shared by the data and metrics modules."""

from __future__ import annotations

import numpy as np

__all__ = ["shift_array"]


def shift_array(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` (2-D) moved by ``dy`` rows and ``dx`` columns; what moves out is lost, what comes in is 0."""
    out = np.zeros_like(a)
    h, w = a.shape
    dy, dx = int(dy), int(dx)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = a[ys, xs]
    return out
