"""Run monai-gan-aug's readers inside the MONAI Label environment (pydicom 2.4).

monailabel 0.8.5 needs pydicom 2.x, while :mod:`monai_gan_aug.transforms.io` imports
``pydicom.pixels`` (pydicom >= 3). The three names it takes from there exist in pydicom 2.4 under
other homes, so :func:`install_pydicom_compat` registers a small ``pydicom.pixels`` module that
re-exports them. Reading DICOM and PNG then works unchanged; *writing* DICOM needs pydicom 3
(``Dataset.set_pixel_data``), so the label app returns its results as PNG (see ``infer.py``).
Under pydicom 3 this module does nothing.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pydicom

__all__ = ["install_pydicom_compat", "pydicom_major", "CompatDecoder"]


def pydicom_major() -> int:
    """Major version of the installed pydicom."""
    return int(str(pydicom.__version__).split(".")[0])


class CompatDecoder:
    """Stand-in for pydicom 3's decoder object: pydicom 2 picks its handler inside ``pixel_array``.

    ``transforms.io`` only asks whether a decoder is available before calling ``pixel_array``;
    pydicom 2 reports a missing codec from ``pixel_array`` itself, which ``io`` turns into an
    :class:`~monai_gan_aug.errors.ImageReadError`.
    """

    is_available = True
    missing_dependencies: list[str] = []

    def __init__(self, uid: Any) -> None:
        self.uid = uid


def install_pydicom_compat() -> bool:
    """Register ``pydicom.pixels`` under pydicom 2; returns whether a shim was installed."""
    if pydicom_major() >= 3 or "pydicom.pixels" in sys.modules:
        return False
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut

    mod = types.ModuleType("pydicom.pixels")
    mod.__doc__ = "monai-gan-aug shim: pydicom 3's pydicom.pixels names on pydicom 2 (label environment)."
    mod.apply_modality_lut = apply_modality_lut  # type: ignore[attr-defined]
    mod.apply_voi_lut = apply_voi_lut  # type: ignore[attr-defined]
    mod.get_decoder = CompatDecoder  # type: ignore[attr-defined]
    sys.modules["pydicom.pixels"] = mod
    pydicom.pixels = mod  # type: ignore[attr-defined]
    return True
