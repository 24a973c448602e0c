"""Pixel-data sanity checks shared by every loader and transform.

:func:`check_image` is the one place that decides whether an array is usable image data: not
empty, numeric, finite, not constant, of an accepted dimensionality. It raises
:class:`~monai_gan_aug.errors.InvalidImageError` with a message naming the image and what was
found, so that bad input stops at the door instead of crashing deep inside torch.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from monai_gan_aug.errors import InvalidImageError

__all__ = ["ValidateImage", "ValidateImageD", "ValidateImageDict", "ValidateImaged", "check_image"]


def _as_ndim_tuple(ndim: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if ndim is None:
        return None
    return (int(ndim),) if isinstance(ndim, (int, np.integer)) else tuple(int(n) for n in ndim)


def _is_inexact(arr: np.ndarray | torch.Tensor) -> bool:
    if isinstance(arr, torch.Tensor):
        return arr.is_floating_point() or arr.is_complex()
    return bool(np.issubdtype(arr.dtype, np.inexact))


def check_image(
    img: Any,
    name: str = "image",
    ndim: int | Sequence[int] | None = None,
    allow_constant: bool = False,
) -> Any:
    """Raise :class:`InvalidImageError` unless ``img`` is usable pixel data; return it unchanged.

    Args:
        img: a numpy array or torch tensor (a ``MetaTensor`` works too).
        name: how to call the image in messages, e.g. its file name.
        ndim: accepted number(s) of dimensions, e.g. ``3`` for ``(1, H, W)`` or ``(2, 3)``;
            ``None`` accepts any.
        allow_constant: accept an image whose pixels all have the same value (a blank image is
            usually a read or export failure, so it is refused by default).

    Returns:
        ``img`` itself, so that the call can be chained.

    Raises:
        InvalidImageError: empty, non-numeric, NaN/Inf, constant, or wrong dimensionality.
    """
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise InvalidImageError(f"{name}: expected a numpy array or torch tensor, found {type(img).__name__}")
    shape = tuple(img.shape)
    accepted = _as_ndim_tuple(ndim)
    if accepted is not None and len(shape) not in accepted:
        raise InvalidImageError(
            f"{name}: expected {' or '.join(map(str, accepted))} dimensions, found shape {shape}"
        )
    if int(np.prod(shape)) == 0:
        raise InvalidImageError(f"{name}: image is empty (shape {shape}, 0 pixels)")
    arr = img.detach() if isinstance(img, torch.Tensor) else np.asarray(img)
    if isinstance(arr, np.ndarray) and not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidImageError(f"{name}: expected numeric pixel data, found dtype {arr.dtype}")
    if arr.dtype in (bool, torch.bool):
        arr = arr.to(torch.uint8) if isinstance(arr, torch.Tensor) else arr.astype(np.uint8)
    if _is_inexact(arr):
        lib = torch if isinstance(arr, torch.Tensor) else np
        finite = lib.isfinite(arr)
        if not bool(finite.all()):
            n_nan = int(lib.isnan(arr).sum())
            n_inf = int((~finite).sum()) - n_nan
            raise InvalidImageError(
                f"{name}: pixel data must be finite, found {n_nan} NaN and {n_inf} Inf values"
            )
    if not allow_constant:
        lo, hi = (arr.min(), arr.max())
        if bool(lo == hi):
            raise InvalidImageError(
                f"{name}: image is constant (every pixel equals {float(lo):g}); nothing to process"
            )
    return img


class ValidateImage(Transform):
    """Array transform wrapping :func:`check_image`: pass the image through or raise.

    Args:
        ndim: accepted number(s) of dimensions (channel included); ``None`` accepts any.
        allow_constant: accept constant images.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, ndim: int | Sequence[int] | None = 3, allow_constant: bool = False) -> None:
        self.ndim = _as_ndim_tuple(ndim)
        self.allow_constant = allow_constant

    def __call__(self, img: Any, name: str = "image") -> Any:
        return check_image(img, name=name, ndim=self.ndim, allow_constant=self.allow_constant)


class ValidateImaged(MapTransform):
    """Dictionary twin of :class:`ValidateImage`; messages name the key and the source file."""

    backend = ValidateImage.backend

    def __init__(
        self,
        keys: KeysCollection,
        ndim: int | Sequence[int] | None = 3,
        allow_constant: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.validator = ValidateImage(ndim=ndim, allow_constant=allow_constant)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            meta = getattr(d[key], "meta", {}) or {}
            source = meta.get("filename_or_obj")
            self.validator(d[key], name=f"{key!s} ({source})" if source else str(key))
        return d


ValidateImageD = ValidateImageDict = ValidateImaged
