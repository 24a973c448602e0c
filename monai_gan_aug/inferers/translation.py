"""Whole-image or local translation of radiographs of any size by a generator trained at a fixed size.

The image is padded to a square (aspect kept), resized to the working size, translated, and the
*change* the generator made is resized back and added to the original (``detail_preserving``), so
that the full-resolution anatomy is kept and only the translated content is low-resolution.
With a region (box or weight map), the output equals the input outside it, bit for bit, and blends
to the translation inside over a feathered border.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import Inferer
from torch import nn

from ..errors import ConfigError, InvalidImageError, RegionError

__all__ = ["TranslationInferer", "box_weight"]


def box_weight(shape: Sequence[int], box: Sequence[float], feather: float = 0.0) -> torch.Tensor:
    """``(1, H, W)`` weight: 1 inside ``box`` (``x0, y0, x1, y1``, end-exclusive), ramping to 0 over ``feather`` px.

    Raises:
        RegionError: the box is malformed, empty or outside the image.
    """
    h, w = int(shape[-2]), int(shape[-1])
    if len(box) != 4:
        raise RegionError(f"box must be x0, y0, x1, y1; got {list(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise RegionError(f"box {list(box)} is empty or inverted (need x1 > x0 and y1 > y0)")
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise RegionError(f"box {list(box)} lies outside the {w}x{h} image")
    ys = torch.arange(h, dtype=torch.float32).view(h, 1) + 0.5
    xs = torch.arange(w, dtype=torch.float32).view(1, w) + 0.5
    dx = torch.clamp(torch.maximum(x0 - xs, xs - x1), min=0)
    dy = torch.clamp(torch.maximum(y0 - ys, ys - y1), min=0)
    dist = torch.sqrt(dx**2 + dy**2)
    if feather <= 0:
        return (dist == 0).float().unsqueeze(0)
    return torch.clamp(1.0 - dist / float(feather), 0.0, 1.0).unsqueeze(0)


class TranslationInferer(Inferer):
    """Translate ``(N, 1, H, W)`` images in ``[0, 1]`` with a ``[-1, 1]`` generator trained at ``size`` px.

    Args:
        size: working size of the generator (square).
        detail_preserving: add the up-sampled change ``G(x) - x`` to the full-resolution input instead of
            returning the up-sampled generator output (keeps fine anatomy sharp).
        box: optional default region ``x0, y0, x1, y1`` in pixels of the input (local edit).
        feather: width in pixels of the blend ramp outside the region.
    """

    def __init__(
        self, size: int = 256, detail_preserving: bool = True, box: Sequence[float] | None = None, feather: float = 16.0
    ) -> None:
        super().__init__()
        if int(size) < 8:
            raise ConfigError(f"size must be >= 8, got {size}")
        if feather < 0:
            raise ConfigError(f"feather must be >= 0, got {feather}")
        self.size = int(size)
        self.detail_preserving = bool(detail_preserving)
        self.box = None if box is None else [float(v) for v in box]
        self.feather = float(feather)

    def _to_working(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """Pad to a square with edge values (no black border for the GAN to react to), then resize."""
        h, w = x.shape[-2:]
        side = max(h, w)
        pad = ((side - w) // 2, side - w - (side - w) // 2, (side - h) // 2, side - h - (side - h) // 2)
        square = F.pad(x, pad, mode="replicate") if any(pad) else x
        return F.interpolate(square, size=(self.size, self.size), mode="bilinear", antialias=True,
                             align_corners=False), pad

    def _from_working(self, y: torch.Tensor, pad: tuple[int, int, int, int], hw: tuple[int, int]) -> torch.Tensor:
        side = max(hw)
        y = F.interpolate(y, size=(side, side), mode="bilinear", align_corners=False)
        left, _, top, _ = pad
        return y[..., top : top + hw[0], left : left + hw[1]]

    def __call__(  # type: ignore[override]
        self, inputs: torch.Tensor, network: nn.Module, *args: Any, region_weight: torch.Tensor | None = None,
        box: Sequence[float] | None = None, **kwargs: Any,
    ) -> torch.Tensor:
        """Translate ``inputs``; with ``region_weight`` (``(N, 1, H, W)`` in ``[0, 1]``) or a box, edit locally.

        Returns a tensor of the input's shape and type (a ``MetaTensor`` keeps the input's metadata).
        """
        if inputs.ndim != 4 or inputs.shape[1] != 1:
            raise InvalidImageError(f"expected (N, 1, H, W) radiographs, got shape {tuple(inputs.shape)}")
        plain = inputs.as_tensor() if hasattr(inputs, "as_tensor") else inputs
        if not torch.isfinite(plain).all():
            raise InvalidImageError("input contains NaN or Inf")
        hw = (int(plain.shape[-2]), int(plain.shape[-1]))
        small, pad = self._to_working(plain.float())
        param = next(network.parameters(), None)
        dev = param.device if param is not None else plain.device
        out_small = (network(small.to(dev) * 2.0 - 1.0, *args, **kwargs).float().to(plain.device) + 1.0) * 0.5
        if self.detail_preserving:
            change = self._from_working(out_small - small, pad, hw)
        else:
            change = self._from_working(out_small, pad, hw) - plain
        weight = self._weight(region_weight, box, plain)
        if weight is not None:
            change = change * weight
        # inputs + change keeps MetaTensor metadata of the input
        return (inputs + change.to(plain.dtype)).clamp(0.0, 1.0)

    def _weight(self, region_weight: torch.Tensor | None, box: Sequence[float] | None, x: torch.Tensor) -> torch.Tensor | None:
        if region_weight is not None:
            rw = region_weight.as_tensor() if hasattr(region_weight, "as_tensor") else region_weight
            if rw.shape[-2:] != x.shape[-2:]:
                raise RegionError(f"region weight {tuple(rw.shape)} does not match image {tuple(x.shape)}")
            return rw.to(x.device, x.dtype).clamp(0, 1)
        box = box if box is not None else self.box
        if box is None:
            return None
        return box_weight(x.shape, box, self.feather).to(x.device, x.dtype).unsqueeze(0)
