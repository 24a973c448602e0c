"""Healing by inpainting: a healthy twin of a radiograph without whole-film translation.

The headline lesion generator (``lesion_inpaint.pt``, :class:`~monai_gan_aug.networks.lesion_generator.LesionInpaintGenerator`)
repaints a blanked square of a window as healthy lung (class 0). :class:`HealingInferer` slides
that repaint over the lung in overlapping windows and averages the fills:

1. the window side is given at the *reference scale* the lesion models use (lungs of
   :data:`~monai_gan_aug.inferers.opacity_edit.REFERENCE_LUNG_HEIGHT` px, see
   :func:`~monai_gan_aug.inferers.opacity_edit.reference_scale`), so a 256 px and a 2,000 px film
   are healed with windows of the same anatomical size;
2. square regions of that side tile the lung's bounding box with step ``stride * side``; every
   region touching the lung is blanked, its context window (``context`` x the side, the
   generator's training ratio) resampled to the working size (64 px) and filled as healthy lung,
   all windows of a film in batches under ``torch.inference_mode``, on the generator's device;
3. each fill's change ``down(X) - fill`` (at the working size, brought back to the native grid) is
   weighted by a 2-D Hann window over its region and the weighted changes are averaged:
   ``X_healed = X - sum(w_k d_k) / sum(w_k)``. Working with the change rather than the fill keeps
   the input's native-resolution detail (the generator's ``detail = 1`` convention), so
   ``X - X_healed`` is exactly what the repaint removed, free of resampling differences.

Pixels no region touches keep ``X``. The difference ``X - X_healed`` is returned signed: opacity
is brighter than healthy lung, so removing it gives a positive difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import Inferer
from torch import nn

from ..errors import ConfigError, InvalidImageError
from .opacity_edit import reference_scale
from .region_edit import CLASS_HEALTHY

__all__ = ["HealingInferer", "hann_weight", "window_positions"]


def hann_weight(side: int) -> torch.Tensor:
    """A ``(side, side)`` 2-D Hann weight, positive everywhere (the zero end points are dropped)."""
    h = torch.hann_window(side + 2, periodic=False, dtype=torch.float32)[1:-1]
    return h[:, None] * h[None, :]


def window_positions(lung: np.ndarray, side: int, step: int) -> list[tuple[int, int]]:
    """Top-left corners of ``side`` squares tiling the lung's bounding box with ``step``; only squares touching the lung.

    The last row/column is shifted so the squares reach the box's far edge: every lung pixel is covered.
    """
    ys, xs = np.nonzero(lung)
    if ys.size == 0:
        return []
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1

    def starts(lo: int, hi: int) -> list[int]:
        if hi - lo <= side:
            return [lo + (hi - lo - side) // 2]
        out = list(range(lo, hi - side, step))
        return out + [hi - side]

    integral = np.pad(lung.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = lung.shape
    keep = []
    for ty in starts(y0, y1):
        for tx in starts(x0, x1):
            a, b = max(ty, 0), min(ty + side, h)
            c, d = max(tx, 0), min(tx + side, w)
            if integral[b, d] - integral[a, d] - integral[b, c] + integral[a, c] > 0:
                keep.append((ty, tx))
    return keep


class HealingInferer(Inferer):
    """Heal ``(N, 1, H, W)`` radiographs in ``[0, 1]`` by repainting overlapping lung windows as healthy.

    Args:
        window: side of the repainted square at the reference scale (px of a film whose lung is
            :data:`~monai_gan_aug.inferers.opacity_edit.REFERENCE_LUNG_HEIGHT` px high).
        stride: step between squares as a fraction of their side (0.5: each pixel in ~4 squares).
        context: context window side / square side; ``None``: the generator's ``info["context"]``
            (2.25 for the shipped weights).
        working_size: the generator's window size; ``None``: ``info["working_size"]`` (64).
        class_index: the class painted (0 healthy lung).
        batch_size: windows per generator call.
        seed: seed of the generator's noise (the same film gives the same healed film).

    ``inferer(images, network, lung)`` returns the healed images; :meth:`heal` returns
    ``(healed, difference)`` with ``difference = X - X_healed`` (signed, float32, CPU).
    ``lung``: ``(N, 1, H, W)`` masks (``None``: the whole image is tiled).
    """

    def __init__(
        self,
        window: float = 48,
        stride: float = 0.5,
        context: float | None = None,
        working_size: int | None = None,
        class_index: int = CLASS_HEALTHY,
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not window >= 4:
            raise ConfigError(f"window must be >= 4 reference px, found {window}")
        if not 0 < stride <= 1:
            raise ConfigError(f"stride must be a fraction of the window in (0, 1], found {stride}")
        if context is not None and context < 1:
            raise ConfigError(f"context must be >= 1, found {context}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, found {batch_size}")
        self.window, self.stride = float(window), float(stride)
        self.context, self.working_size = context, working_size
        self.class_index, self.batch_size, self.seed = int(class_index), int(batch_size), int(seed)

    def settings(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "stride": self.stride,
            "context": self.context,
            "working_size": self.working_size,
            "class_index": self.class_index,
            "seed": self.seed,
        }

    def _geometry(self, network: nn.Module) -> tuple[float, int]:
        info = getattr(network, "info", None) or {}
        context = float(self.context if self.context is not None else info.get("context", 2.25))
        size = int(self.working_size if self.working_size is not None else info.get("working_size", 64))
        multiple = int(getattr(network, "size_multiple", 8))
        return context, int(math.ceil(size / multiple) * multiple)

    def heal_one(
        self, image: torch.Tensor, network: nn.Module, lung: torch.Tensor | np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(healed, X - healed)`` of one ``(1, H, W)`` image, both float32 ``(1, H, W)`` on CPU."""
        img = torch.as_tensor(image).detach().float().cpu()
        if img.ndim != 3 or img.shape[0] != 1:
            raise InvalidImageError(f"expected a (1, H, W) image, found {tuple(img.shape)}")
        h, w = img.shape[-2:]
        lung_np = (
            np.ones((h, w), bool)
            if lung is None
            else np.asarray(torch.as_tensor(lung).detach().cpu()).reshape(h, w) > 0
        )
        scale = reference_scale((h, w), lung_np if lung is not None else None)
        side = max(4, round(self.window / scale))
        step = max(1, round(side * self.stride))
        context, size = self._geometry(network)
        ctx = max(side, round(side * context))
        off = (ctx - side) // 2
        positions = window_positions(lung_np, side, step)
        diff = torch.zeros((h, w))
        if not positions:
            return img.clone(), diff[None]
        pad = ctx
        mode = "reflect" if pad < min(h, w) else "replicate"
        padded = F.pad(img[None], (pad, pad, pad, pad), mode=mode)[0, 0]
        acc = torch.zeros_like(padded)
        wsum = torch.zeros_like(padded)
        weight = hann_weight(side)
        region = torch.zeros((1, 1, ctx, ctx))
        region[..., off : off + side, off : off + side] = 1
        mask = F.interpolate(region, size=(size, size), mode="nearest")
        device = next(network.parameters()).device
        gen = torch.Generator().manual_seed(self.seed)
        for start in range(0, len(positions), self.batch_size):
            chunk = positions[start : start + self.batch_size]
            crops = torch.stack(
                [
                    padded[ty + pad - off : ty + pad - off + ctx, tx + pad - off : tx + pad - off + ctx]
                    for ty, tx in chunk
                ]
            )[:, None]
            small = F.interpolate(
                crops, size=(size, size), mode="bilinear", align_corners=False, antialias=size < ctx
            )
            b = small.shape[0]
            m = mask.expand(b, -1, -1, -1)
            noise = torch.randn((b, 1, size, size), generator=gen)
            with torch.inference_mode():
                fill = network(
                    (small * 2 - 1).to(device),
                    m.to(device),
                    torch.full((b,), self.class_index, dtype=torch.long, device=device),
                    noise.to(device),
                )
            fill01 = ((fill.float().cpu() + 1) / 2).clamp(0, 1)
            change = F.interpolate(
                (small - fill01) * m, size=(ctx, ctx), mode="bilinear", align_corners=False
            )
            change = change[:, 0, off : off + side, off : off + side] * weight
            for (ty, tx), c in zip(chunk, change):
                acc[ty + pad : ty + pad + side, tx + pad : tx + pad + side] += c
                wsum[ty + pad : ty + pad + side, tx + pad : tx + pad + side] += weight
        acc, wsum = acc[pad : pad + h, pad : pad + w], wsum[pad : pad + h, pad : pad + w]
        diff = torch.where(wsum > 0, acc / wsum.clamp_min(1e-12), torch.zeros_like(acc))
        return img - diff[None], diff[None]

    def heal(
        self, images: torch.Tensor, network: nn.Module, lung: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched :meth:`heal_one`: ``(healed, X - healed)``, each float32 ``(N, 1, H, W)`` on CPU."""
        x = torch.as_tensor(images)
        if x.ndim != 4 or x.shape[1] != 1:
            raise InvalidImageError(f"expected (N, 1, H, W) radiographs, found {tuple(x.shape)}")
        outs = [self.heal_one(x[i], network, None if lung is None else lung[i]) for i in range(x.shape[0])]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])

    def __call__(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        network: nn.Module,
        lung: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        return self.heal(inputs, network, lung)[0].clamp(0, 1)
