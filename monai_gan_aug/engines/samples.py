"""Sample grids written during training: one PNG per epoch showing what the generators do.

Each row of a grid is one image of a fixed batch; each column a panel returned by the trainer's
``sample_panels`` (for CycleGAN: ``A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B)``). Files are written
atomically and only on rank 0.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from PIL import Image

from ..errors import ConfigError
from ..utils.atomic import atomic_write
from .runtime import is_rank0

__all__ = ["SampleGridSaver", "make_grid", "save_grid"]


def make_grid(panels: Mapping[str, torch.Tensor], pad: int = 2) -> np.ndarray:
    """Tile ``(N, C, H, W)`` panels in ``[0, 1]`` into a ``uint8`` grid: rows = images, columns = panels.

    Multi-channel panels show their first channel (radiographs are single-channel).
    """
    if not panels:
        raise ConfigError("no panels to tile")
    arrays = [p.detach().float().cpu()[:, 0].clamp(0, 1).numpy() for p in panels.values()]
    n, h, w = arrays[0].shape
    if any(a.shape != (n, h, w) for a in arrays):
        raise ConfigError(f"panels differ in shape: {[a.shape for a in arrays]}")
    cols = len(arrays)
    grid = np.ones((n * (h + pad) + pad, cols * (w + pad) + pad), np.float32)
    for c, a in enumerate(arrays):
        for r in range(n):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y : y + h, x : x + w] = a[r]
    return (grid * 255.0 + 0.5).astype(np.uint8)


def save_grid(panels: Mapping[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """Write :func:`make_grid` of ``panels`` to ``path`` as an 8-bit PNG, atomically."""
    grid = make_grid(panels)
    with atomic_write(path, suffix=".png") as tmp:
        Image.fromarray(grid, mode="L").save(tmp, format="PNG")
    return Path(path)


class SampleGridSaver:
    """Ignite handler that saves a sample grid of the trainer's generators every ``interval`` epochs.

    Args:
        output_dir: folder of the PNG files (``samples_epoch=0001.png``...).
        batch: fixed dict batch to translate; if ``None``, the first training batch is kept.
        max_images: rows of the grid (images of the fixed batch).
        interval: save every ``interval`` epochs.
        file_prefix: file name prefix.
    """

    def __init__(
        self, output_dir: str | os.PathLike, batch: Mapping[str, Any] | None = None, max_images: int = 4,
        interval: int = 1, file_prefix: str = "samples",
    ) -> None:
        if max_images < 1 or interval < 1:
            raise ConfigError(f"max_images and interval must be >= 1, got {max_images}, {interval}")
        self.output_dir = Path(output_dir)
        self.max_images = int(max_images)
        self.interval = int(interval)
        self.file_prefix = file_prefix
        self.batch = self._slice(batch) if batch is not None else None
        self.saved: list[Path] = []

    def _slice(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v[: self.max_images].detach().clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}

    def attach(self, engine: Engine) -> None:
        if not is_rank0():
            return
        engine.add_event_handler(Events.ITERATION_STARTED(once=1), self._keep_first_batch)
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)

    def _keep_first_batch(self, engine: Engine) -> None:
        if self.batch is None and isinstance(engine.state.batch, Mapping):
            self.batch = self._slice(engine.state.batch)

    def __call__(self, engine: Engine) -> None:
        if self.batch is None:
            # resumed at an epoch boundary: no ITERATION_STARTED(once=1) fired in this process yet
            self._keep_first_batch(engine)
        if self.batch is None:
            return
        panels = engine.sample_panels(self.batch)  # type: ignore[attr-defined]
        path = self.output_dir / f"{self.file_prefix}_epoch={engine.state.epoch:04d}.png"
        self.saved.append(save_grid(panels, path))
        engine.logger.info(f"saved sample grid {path}")
