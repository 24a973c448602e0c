"""Flag (or refuse) images whose shorter side is below a minimum: the first seed's "remove images
smaller than a threshold" step, as a transform.

A MONAI pipeline cannot drop an item from inside a transform, so by default the image passes
through and the verdict is recorded: ``img.meta["too_small"]`` (array transform, ``MetaTensor``)
or ``data[flag_key]`` (dictionary transform); the caller filters on it (``monai-gan-aug prepare``
drops and reports such items). ``on_small="raise"`` raises
:class:`~monai_gan_aug.errors.InvalidImageError` instead.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from ..errors import ConfigError, InvalidImageError

__all__ = ["ON_SMALL", "is_too_small", "MinSize", "MinSized", "MinSizeD", "MinSizeDict"]

#: What to do with a too-small image.
ON_SMALL = ("flag", "raise")


def is_too_small(hw: tuple[int, int], min_size: int) -> bool:
    """Whether an image of ``(H, W)`` pixels has its shorter side below ``min_size``."""
    return min(int(hw[0]), int(hw[1])) < int(min_size)


class MinSize(Transform):
    """Check that a channel-first image's shorter side has at least ``min_size`` pixels.

    Args:
        min_size: minimum of ``min(H, W)`` in pixels (0 accepts everything).
        on_small: ``"flag"`` (record ``meta["too_small"]`` and pass the image through) or
            ``"raise"`` (:class:`~monai_gan_aug.errors.InvalidImageError`).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, min_size: int, on_small: str = "flag") -> None:
        if int(min_size) < 0:
            raise ConfigError(f"min_size must be >= 0 pixels, found {min_size}")
        if on_small not in ON_SMALL:
            raise ConfigError(f"on_small must be one of {ON_SMALL}, found {on_small!r}")
        self.min_size = int(min_size)
        self.on_small = on_small

    def too_small(self, img: Any) -> bool:
        """The verdict for ``img`` (``(..., H, W)``), without side effects."""
        if len(img.shape) < 2:
            raise InvalidImageError(
                f"expected an image with H and W as its last dimensions, found shape {tuple(img.shape)}"
            )
        return is_too_small(tuple(img.shape[-2:]), self.min_size)

    def __call__(self, img: Any) -> Any:
        small = self.too_small(img)
        if small and self.on_small == "raise":
            source = (getattr(img, "meta", None) or {}).get("filename_or_obj", "image")
            raise InvalidImageError(
                f"{source}: {int(img.shape[-2])} x {int(img.shape[-1])} px, shorter side below the minimum of "
                f"{self.min_size} px"
            )
        if isinstance(img, MetaTensor):
            img.meta["too_small"] = small
        return img


class MinSized(MapTransform):
    """Dictionary twin of :class:`MinSize`.

    Args:
        keys: image keys to check.
        min_size, on_small: see :class:`MinSize`.
        flag_key: where the verdict goes (``True`` if any checked image is too small).
        allow_missing_keys: skip keys absent from the data.
    """

    backend = MinSize.backend

    def __init__(
        self,
        keys: KeysCollection,
        min_size: int,
        on_small: str = "flag",
        flag_key: str = "too_small",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.checker = MinSize(min_size, on_small)
        self.flag_key = flag_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        small = False
        for key in self.key_iterator(d):
            d[key] = self.checker(d[key])
            small = small or self.checker.too_small(d[key])
        d[self.flag_key] = small
        return d


MinSizeD = MinSizeDict = MinSized
