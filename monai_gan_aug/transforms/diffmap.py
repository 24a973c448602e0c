"""Difference-map "lazy labels": a lesion mask from a radiograph and its healthy translation.

A sick->healthy generator (the CycleGAN ``G_BA``) removes opacities; what it removed is where the
lesion is. With ``X`` the radiograph and ``X' = G(X)`` its healthy version::

    lesion map  M = |X - X'| * lung / max(|X - X'| * lung)        (in [0, 1])
    lesion mask   = low <= M <= high, components smaller than min_size removed

The band's upper end drops the few extreme differences, which are usually generator artefacts at
the lung border (ribs, diaphragm) rather than opacity; ``high=1`` turns it into a plain threshold.

* :func:`lesion_map` and :func:`band_mask` are the two steps as functions.
* :class:`SaveLesionOverlayd` writes overlays of a mask on its image for people to check.
* :class:`DifferenceMap` (array) / :class:`DifferenceMapd` (dictionary) apply them to an image and
  its already translated twin; :class:`~monai_gan_aug.inferers.difference_map.DifferenceMapInferer`
  runs the generator too.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, ensure_tuple_rep
from scipy import ndimage

from ..errors import ConfigError, InvalidImageError

__all__ = [
    "POLARITIES",
    "DifferenceMap",
    "DifferenceMapD",
    "DifferenceMapDict",
    "DifferenceMapd",
    "SaveLesionOverlayD",
    "SaveLesionOverlayDict",
    "SaveLesionOverlayd",
    "band_mask",
    "lesion_difference",
    "lesion_map",
    "overlay_rgb",
]

#: ``"abs"``: |X - X'| (as published); ``"positive"``: max(X - X', 0), only what the generator made
#: darker (opacities are bright with air dark, so removing one darkens the image).
POLARITIES = ("abs", "positive")


def _hw_array(x: Any, name: str) -> np.ndarray:
    """A ``(1, H, W)`` or ``(H, W)`` tensor/array as a float64 ``(H, W)`` numpy array, checked."""
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise InvalidImageError(f"{name}: expected a numpy array or torch tensor, found {type(x).__name__}")
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise InvalidImageError(f"{name}: expected a (1, H, W) or (H, W) image, found shape {tuple(x.shape)}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InvalidImageError(f"{name}: contains NaN or Inf")
    return arr


def lesion_difference(
    image: NdarrayOrTensor,
    healthy: NdarrayOrTensor,
    lung: NdarrayOrTensor | None = None,
    polarity: str = "abs",
    smooth_sigma: float = 0.0,
) -> np.ndarray:
    """``|X - X'|`` (or ``max(X - X', 0)``) inside the lung, optionally smoothed, not normalised: float64 ``(H, W)``.

    Arguments and errors as in :func:`lesion_map`, which divides this by its maximum.
    """
    if polarity not in POLARITIES:
        raise ConfigError(f"polarity must be one of {POLARITIES}, found {polarity!r}")
    if smooth_sigma < 0 or not math.isfinite(smooth_sigma):
        raise ConfigError(f"smooth_sigma must be a finite number >= 0, found {smooth_sigma}")
    x, y = _hw_array(image, "image"), _hw_array(healthy, "healthy image")
    if x.shape != y.shape:
        raise InvalidImageError(f"image {x.shape} and its healthy translation {y.shape} differ in size")
    diff = x - y
    diff = np.abs(diff) if polarity == "abs" else np.maximum(diff, 0.0)
    if smooth_sigma > 0:
        diff = ndimage.gaussian_filter(diff, smooth_sigma)
    if lung is not None:
        m = _hw_array(lung, "lung mask")
        if m.shape != x.shape:
            raise InvalidImageError(f"lung mask {m.shape} does not match the image {x.shape}")
        diff = diff * (m > 0.5)
    return diff


def lesion_map(
    image: NdarrayOrTensor,
    healthy: NdarrayOrTensor,
    lung: NdarrayOrTensor | None = None,
    polarity: str = "abs",
    smooth_sigma: float = 0.0,
) -> np.ndarray:
    """``|X - X'|`` inside the lung, divided by its maximum: a float32 ``(H, W)`` map in ``[0, 1]``.

    Args:
        image: the radiograph ``X``, ``(1, H, W)`` or ``(H, W)``.
        healthy: its healthy translation ``X'``, same size.
        lung: optional lung mask (non-zero inside); the map is 0 outside it.
        polarity: see :data:`POLARITIES`.
        smooth_sigma: Gaussian smoothing (pixels) of the difference before normalising (0: none);
            suppresses pixel noise the generator did not reproduce.

    Returns:
        the map; all zeros when ``X`` and ``X'`` agree everywhere inside the lung.

    Raises:
        InvalidImageError: wrong shapes, sizes that differ, NaN/Inf.
        ConfigError: unknown polarity or negative sigma.
    """
    diff = lesion_difference(image, healthy, lung, polarity, smooth_sigma)
    peak = float(diff.max())
    return (diff / peak if peak > 0 else np.zeros_like(diff)).astype(np.float32)


def band_mask(values: np.ndarray, low: float = 0.3, high: float = 0.8, min_size: int = 0) -> np.ndarray:
    """Boolean mask of ``low <= values <= high`` without 8-connected components of fewer than ``min_size`` px."""
    mask = (values >= low) & (values <= high)
    if min_size > 1 and mask.any():
        labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        keep = sizes >= min_size
        keep[0] = False
        mask = keep[labels]
    return mask


def _check_band(low: float, high: float, min_size: int) -> None:
    if not (0.0 <= low <= high <= 1.0):
        raise ConfigError(f"need 0 <= low <= high <= 1 for the threshold band, found low={low}, high={high}")
    if int(min_size) != min_size or min_size < 0:
        raise ConfigError(f"min_size must be a whole number of pixels >= 0, found {min_size}")


class DifferenceMap(Transform):
    """Lesion mask from a radiograph and its healthy translation (see the module docstring).

    Args:
        low: lower end of the threshold band on the normalised map.
        high: upper end of the band (1.0: a plain threshold).
        min_size: connected components smaller than this (pixels, 8-connected) are removed.
        polarity: ``"abs"`` (default) or ``"positive"``, see :data:`POLARITIES`.
        smooth_sigma: Gaussian smoothing of the difference, pixels (0: none).

    Call as ``transform(img, healthy, lung=None)``; returns a ``(lesion_mask, lesion_map)`` pair,
    both float32 ``(1, H, W)`` of the image's type (a ``MetaTensor`` keeps the image's metadata,
    plus ``meta["difference_map"]`` with the parameters and the mask's area).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        low: float = 0.3,
        high: float = 0.8,
        min_size: int = 20,
        polarity: str = "abs",
        smooth_sigma: float = 0.0,
    ) -> None:
        _check_band(low, high, min_size)
        if polarity not in POLARITIES:
            raise ConfigError(f"polarity must be one of {POLARITIES}, found {polarity!r}")
        if smooth_sigma < 0:
            raise ConfigError(f"smooth_sigma must be >= 0, found {smooth_sigma}")
        self.low, self.high, self.min_size = float(low), float(high), int(min_size)
        self.polarity = polarity
        self.smooth_sigma = float(smooth_sigma)

    def __call__(
        self, img: NdarrayOrTensor, healthy: NdarrayOrTensor, lung: NdarrayOrTensor | None = None
    ) -> tuple[NdarrayOrTensor, NdarrayOrTensor]:
        values = lesion_map(img, healthy, lung, self.polarity, self.smooth_sigma)
        mask = band_mask(values, self.low, self.high, self.min_size)
        record = {
            "low": self.low,
            "high": self.high,
            "min_size": self.min_size,
            "polarity": self.polarity,
            "smooth_sigma": self.smooth_sigma,
            "lung_restricted": lung is not None,
            "area_px": int(mask.sum()),
        }
        out_mask, *_ = convert_to_dst_type(mask[None].astype(np.float32), img, dtype=torch.float32)
        out_map, *_ = convert_to_dst_type(values[None], img, dtype=torch.float32)
        for out in (out_mask, out_map):
            if isinstance(out, MetaTensor):
                out.meta["difference_map"] = dict(record)
        return out_mask, out_map


class DifferenceMapd(MapTransform):
    """Dictionary twin of :class:`DifferenceMap`.

    Args:
        keys: image key(s) ``X``.
        healthy_key: key of the healthy translation ``X'`` (one per image key, or one shared name).
        lung_key: key of a lung mask (e.g. written by ``LungMaskd``); ``None``: no lung restriction.
        mask_key: output key(s) of the binary lesion mask.
        map_key: output key(s) of the normalised lesion map (``None``: not stored).
        low, high, min_size, polarity, smooth_sigma: see :class:`DifferenceMap`.
        allow_missing_keys: don't raise when an image key is missing.
    """

    backend = DifferenceMap.backend

    def __init__(
        self,
        keys: KeysCollection,
        healthy_key: KeysCollection = "healthy",
        lung_key: str | None = "lung_mask",
        mask_key: KeysCollection = "lesion_mask",
        map_key: KeysCollection | None = "lesion_map",
        low: float = 0.3,
        high: float = 0.8,
        min_size: int = 20,
        polarity: str = "abs",
        smooth_sigma: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        n = len(self.keys)
        self.healthy_key = ensure_tuple_rep(healthy_key, n)
        self.mask_key = ensure_tuple_rep(mask_key, n)
        self.map_key = ensure_tuple_rep(map_key, n)
        self.lung_key = lung_key
        self.differ = DifferenceMap(low, high, min_size, polarity, smooth_sigma)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        lung = None
        if self.lung_key is not None:
            if self.lung_key not in d:
                raise ConfigError(
                    f"lung_key {self.lung_key!r} not in the data (keys: {list(d)}); "
                    "run LungMaskd first or pass lung_key=None"
                )
            lung = d[self.lung_key]
        for key, healthy_key, mask_key, map_key in self.key_iterator(
            d, self.healthy_key, self.mask_key, self.map_key
        ):
            if healthy_key not in d:
                raise ConfigError(f"healthy_key {healthy_key!r} not in the data (keys: {list(d)})")
            mask, values = self.differ(d[key], d[healthy_key], lung)
            d[mask_key] = mask
            if map_key is not None:
                d[map_key] = values
        return d


DifferenceMapD = DifferenceMapDict = DifferenceMapd


def overlay_rgb(image: NdarrayOrTensor, mask: NdarrayOrTensor, alpha: float = 0.4) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)``: the radiograph in grey, the mask tinted red with a solid red outline."""
    from ..visualize import outline, to_hw  # local: keeps PIL-free imports for array users

    img, m = np.clip(to_hw(image), 0, 1), to_hw(mask) > 0
    if img.shape != m.shape:
        raise InvalidImageError(f"mask {m.shape} does not match the image {img.shape}")
    rgb = np.repeat(img[..., None], 3, axis=-1)
    rgb[m] = (1 - alpha) * rgb[m] + alpha * np.array([1.0, 0.0, 0.0])
    rgb[outline(m, max(1, round(max(img.shape) / 256)))] = (1.0, 0.15, 0.15)
    return (rgb * 255).round().astype(np.uint8)


class SaveLesionOverlayd(MapTransform):
    """Write ``<stem>_<postfix>.png`` overlays of a mask on its image (for people to check pseudo-labels).

    Args:
        keys: image key(s) (its ``filename_or_obj`` names the output).
        mask_key: key of the mask to draw (one per image key, or one shared), e.g. ``"pred"``.
        output_dir: destination folder.
        output_postfix: name suffix of the overlay files.
        alpha: opacity of the red tint.
        allow_missing_keys: don't raise when an image key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: KeysCollection = "pred",
        output_dir: str = "./overlays",
        output_postfix: str = "overlay",
        alpha: float = 0.4,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = ensure_tuple_rep(mask_key, len(self.keys))
        self.output_dir, self.output_postfix, self.alpha = output_dir, output_postfix, float(alpha)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from pathlib import Path

        from ..visualize import save_rgb

        d = dict(data)
        for key, mask_key in self.key_iterator(d, self.mask_key):
            img, mask = d[key], d[mask_key]
            source = str(getattr(img, "meta", {}).get("filename_or_obj") or key)
            name = Path(source).name
            stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else Path(name).stem
            mask = mask[:1] if getattr(mask, "ndim", 0) == 3 else mask  # channel 0 of a (mask, map) pair
            save_rgb(
                overlay_rgb(img, mask, self.alpha),
                Path(self.output_dir) / f"{stem}_{self.output_postfix}.png",
            )
        return d


SaveLesionOverlayD = SaveLesionOverlayDict = SaveLesionOverlayd
