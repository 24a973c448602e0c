"""Exception types, one per kind of user mistake.

Every error a user can cause with bad input is raised as one of these, with a message that says
what was expected and what was found, so callers (the CLI, bundles, the MONAI Label app) can
report it without a traceback from deep inside torch.
"""

from __future__ import annotations

__all__ = [
    "MonaiGanAugError",
    "ImageReadError",
    "MissingCodecError",
    "NotARadiographError",
    "InvalidImageError",
    "RegionError",
    "MissingWeightsError",
    "CheckpointError",
    "DatasetError",
    "ConfigError",
]


class MonaiGanAugError(Exception):
    """Base class of every error this package raises on purpose."""


class ImageReadError(MonaiGanAugError, ValueError):
    """A file could not be read as an image: missing, truncated, corrupt, or not an image at all."""


class MissingCodecError(ImageReadError):
    """A DICOM file uses a compressed transfer syntax for which no decoder is installed."""


class NotARadiographError(ImageReadError):
    """The image is readable but is not a 2-D projection radiograph (e.g. a CT volume, an RGB photo)."""


class InvalidImageError(MonaiGanAugError, ValueError):
    """Pixel data unusable for processing: empty, constant, NaN/Inf, or of an unsupported shape."""


class RegionError(MonaiGanAugError, ValueError):
    """A user-given region (box, polygon, mask) is empty, inverted, out of the image, or malformed."""


class MissingWeightsError(MonaiGanAugError, FileNotFoundError):
    """Model weights are needed but were not found where expected."""


class CheckpointError(MonaiGanAugError, RuntimeError):
    """A checkpoint is unreadable, untrusted (not loadable with ``weights_only=True``) or incompatible."""


class DatasetError(MonaiGanAugError, ValueError):
    """A dataset folder or manifest does not have the expected layout or columns."""


class ConfigError(MonaiGanAugError, ValueError):
    """An option or configuration value is invalid."""
