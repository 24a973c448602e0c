"""Context windows around a region: crop at native resolution, resample to a working size, and back.

One implementation serves training (``CropRegionWindowd`` / ``RandCropRegionWindowd`` make the
generator's training windows) and inference (:class:`monai_gan_aug.inferers.RegionEditInferer`
crops, generates and pastes back), so that the generator sees at inference exactly the kind of
window it was trained on.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils import TransformBackends, convert_to_tensor
from torch.nn import functional as F

from ..errors import RegionError

__all__ = [
    "WindowGeometry",
    "region_bbox",
    "context_window",
    "crop_to_working",
    "paste_from_working",
    "CropRegionWindow",
    "CropRegionWindowd",
    "CropRegionWindowD",
    "CropRegionWindowDict",
    "RandCropRegionWindowd",
    "RandCropRegionWindowD",
    "RandCropRegionWindowDict",
]


@dataclass(frozen=True)
class WindowGeometry:
    """Where a working-size window came from: the crop box in the image and the square padding."""

    y0: int
    x0: int
    y1: int
    x1: int
    pad_top: int
    pad_left: int
    side: int  # side of the padded square crop, before resampling to the working size
    working_size: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def region_bbox(mask: torch.Tensor | np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box ``(y0, x0, y1, x1)`` (end-exclusive) of the non-zero pixels of a (1, H, W) mask."""
    m = convert_to_tensor(mask)
    ys, xs = torch.nonzero(m.reshape(m.shape[-2:]) > 0, as_tuple=True)
    if ys.numel() == 0:
        raise RegionError("the region mask is empty: nothing to edit")
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def context_window(
    bbox: Sequence[int], image_hw: Sequence[int], context: float = 2.0, min_side: int = 64,
    center_shift: Sequence[float] = (0.0, 0.0),
) -> tuple[int, int, int, int]:
    """A square window of ``context`` times the region's longer side, centred on it, inside the image.

    Args:
        bbox: region box ``(y0, x0, y1, x1)``.
        image_hw: image height and width.
        context: window side divided by the region's longer side (>= 1).
        min_side: smallest window side in pixels (small regions still get some context).
        center_shift: shift of the window centre, as fractions of the window side (training jitter).

    Returns:
        ``(y0, x0, y1, x1)``; square unless the image is smaller than the window in one dimension.
    """
    if context < 1:
        raise RegionError(f"context must be >= 1, got {context}")
    h, w = int(image_hw[0]), int(image_hw[1])
    y0, x0, y1, x1 = (int(v) for v in bbox)
    side = int(round(max(y1 - y0, x1 - x0) * context))
    side = max(side, min_side, y1 - y0, x1 - x0)
    cy = (y0 + y1) / 2 + center_shift[0] * side
    cx = (x0 + x1) / 2 + center_shift[1] * side

    def _span(center: float, length: int, size: int, lo_need: int, hi_need: int) -> tuple[int, int]:
        length = min(length, size)
        start = int(round(center - length / 2))
        start = min(max(start, 0), size - length)
        # keep the whole region inside the window even after jitter
        start = min(start, lo_need)
        start = max(start, hi_need - length)
        return start, start + length

    wy0, wy1 = _span(cy, side, h, y0, y1)
    wx0, wx1 = _span(cx, side, w, x0, x1)
    return wy0, wx0, wy1, wx1


def crop_to_working(
    image: torch.Tensor, window: Sequence[int], working_size: int, mode: str = "bilinear"
) -> tuple[torch.Tensor, WindowGeometry]:
    """Crop ``window`` from a (C, H, W) tensor, pad it to a square by reflection, resample to working size.

    Args:
        image: (C, H, W) tensor.
        window: ``(y0, x0, y1, x1)`` inside the image.
        working_size: side of the output square.
        mode: ``"bilinear"`` (antialiased) for images, ``"nearest"`` for masks.

    Returns:
        The (C, working_size, working_size) window and its geometry for :func:`paste_from_working`.
    """
    y0, x0, y1, x1 = (int(v) for v in window)
    crop = image[:, y0:y1, x0:x1]
    hh, ww = crop.shape[-2:]
    side = max(hh, ww)
    pad_top, pad_left = (side - hh) // 2, (side - ww) // 2
    if hh != ww:
        pads = (pad_left, side - ww - pad_left, pad_top, side - hh - pad_top)
        # reflect needs pad < size; replicate is the safe fallback for thin crops
        pad_mode = "reflect" if max(pads) < min(hh, ww) else "replicate"
        crop = F.pad(crop[None].float(), pads, mode=pad_mode)[0]
    out = _resize(crop, working_size, mode)
    return out, WindowGeometry(y0, x0, y1, x1, pad_top, pad_left, side, working_size)


def paste_from_working(working: torch.Tensor, geometry: WindowGeometry, mode: str = "bilinear") -> torch.Tensor:
    """Resample a working-size tensor back to its window's native size and remove the square padding."""
    g = geometry
    full = _resize(working, g.side, mode)
    return full[:, g.pad_top : g.pad_top + (g.y1 - g.y0), g.pad_left : g.pad_left + (g.x1 - g.x0)]


def _resize(t: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if t.shape[-1] == size and t.shape[-2] == size:
        return t
    x = t[None].float()
    if mode == "nearest":
        return F.interpolate(x, size=(size, size), mode="nearest")[0]
    down = size < t.shape[-1]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=down)[0]


class CropRegionWindow(Transform):
    """Crop the context window around a region, resampled to a working size.

    Args:
        working_size: side of the output square window.
        context: window side / region's longer side.
        min_side: smallest window side in pixels.
        mode: ``"bilinear"`` for images, ``"nearest"`` for masks.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, working_size: int = 128, context: float = 2.0, min_side: int = 64,
                 mode: str = "bilinear") -> None:
        self.working_size = working_size
        self.context = context
        self.min_side = min_side
        self.mode = mode

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, WindowGeometry]:
        """Return the window of ``img`` (C, H, W) around the region of ``mask`` (1, H, W), and its geometry."""
        mask = convert_to_tensor(mask)
        window = context_window(region_bbox(mask), mask.shape[-2:], self.context, self.min_side)
        return crop_to_working(convert_to_tensor(img), window, self.working_size, self.mode)


class CropRegionWindowd(MapTransform):
    """Dictionary version of :class:`CropRegionWindow`: crops ``keys`` around the region in ``mask_key``.

    Keys listed in ``mask_keys`` (default: just ``mask_key``) are resampled with nearest neighbours
    and stay binary. The window geometry is recorded under ``f"{mask_key}_window"``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: str = "region_mask",
        mask_keys: Sequence[str] | None = None,
        working_size: int = 128,
        context: float = 2.0,
        min_side: int = 64,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.mask_keys = set(mask_keys) if mask_keys is not None else {mask_key}
        self.working_size = working_size
        self.context = context
        self.min_side = min_side

    def crop(self, data: Mapping[Hashable, Any], context: float, shift: Sequence[float]) -> dict[Hashable, Any]:
        d = dict(data)
        mask = convert_to_tensor(d[self.mask_key])
        window = context_window(region_bbox(mask), mask.shape[-2:], context, self.min_side, shift)
        geom = None
        for key in self.key_iterator(d):
            is_mask = key in self.mask_keys
            out, geom = crop_to_working(convert_to_tensor(d[key]), window, self.working_size,
                                        mode="nearest" if is_mask else "bilinear")
            meta = d[key].meta if isinstance(d[key], MetaTensor) else {}
            d[key] = MetaTensor(out, meta=dict(meta))
        if geom is not None:
            d[f"{self.mask_key}_window"] = geom.as_dict()
        return d

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        return self.crop(data, self.context, (0.0, 0.0))


class RandCropRegionWindowd(RandomizableTransform, CropRegionWindowd):
    """:class:`CropRegionWindowd` with a random context factor and window-centre jitter (training).

    Args:
        context_range: the context factor is drawn uniformly from this range.
        max_shift: the window centre moves by up to this fraction of its side in each direction.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: str = "region_mask",
        mask_keys: Sequence[str] | None = None,
        working_size: int = 128,
        context_range: tuple[float, float] = (1.5, 3.0),
        max_shift: float = 0.15,
        min_side: int = 64,
        allow_missing_keys: bool = False,
    ) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        CropRegionWindowd.__init__(self, keys, mask_key, mask_keys, working_size, context_range[0], min_side,
                                   allow_missing_keys)
        self.context_range = context_range
        self.max_shift = max_shift

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        context = float(self.R.uniform(*self.context_range))
        shift = self.R.uniform(-self.max_shift, self.max_shift, size=2).tolist()
        return self.crop(data, context, shift)


CropRegionWindowD = CropRegionWindowDict = CropRegionWindowd
RandCropRegionWindowD = RandCropRegionWindowDict = RandCropRegionWindowd
