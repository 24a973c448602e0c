"""monai-gan-aug: GANs for chest X-ray and CT data augmentation, as a MONAI plugin suite.

Importing the top-level package is deliberately cheap (no torch, no MONAI): the command-line
tool starts fast and submodules are imported where they are used, e.g.
``from monai_gan_aug.transforms import LoadXRayd``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
