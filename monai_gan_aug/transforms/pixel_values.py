"""Stored pixel values -> ``[0, 1]``: the one mapping that loading applies and re-encoding inverts.

:class:`~monai_gan_aug.transforms.io.LoadXRay` normalises every source with these functions (see
its module docstring for the rules per format); :mod:`~monai_gan_aug.transforms.reencode` searches
the stored value whose mapped value is nearest an edited one. Keeping them here, apart from both,
means neither of those modules has to import the other for it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

__all__ = ["scale_to_unit", "stored_range", "voi_output_range", "dicom_to_unit"]


def scale_to_unit(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``[lo, hi]`` to ``[0, 1]`` (clipped), as float32; non-finite or empty bounds: the array's own min/max."""
    if not np.isfinite([lo, hi]).all() or hi <= lo:
        lo, hi = float(arr.min()), float(arr.max())
    out = (arr.astype(np.float64) - lo) / max(hi - lo, 1e-12)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def stored_range(ds: Dataset) -> tuple[float, float]:
    """The stored-value range that Bits Stored / Pixel Representation can represent."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0**bits - 1


def voi_output_range(ds: Dataset) -> tuple[float, float]:
    """What the VOI maps the extreme inputs to: the range its output is normalised by."""
    if "VOILUTSequence" in ds:
        desc = ds.VOILUTSequence[0].LUTDescriptor
        probe = np.arange(int(desc[1]), int(desc[1]) + (int(desc[0]) or 2**16))
    else:
        probe = np.array([-1e30, 1e30])  # far outside any window: maps to the window's y_min / y_max
    with np.errstate(over="ignore"):
        out = apply_voi_lut(probe, ds)
    return float(np.min(out)), float(np.max(out))


def dicom_to_unit(ds: Dataset, pixels: np.ndarray, path: str | Path) -> tuple[np.ndarray, bool]:
    """Modality LUT, then VOI (or bit-range scaling); returns ``[0, 1]`` and whether a VOI was used."""
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return scale_to_unit(pixels, np.nan, np.nan), False
    values = apply_modality_lut(pixels, ds)
    if "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds):
        try:
            windowed = apply_voi_lut(values, ds)
            return scale_to_unit(windowed, *voi_output_range(ds)), True
        except (ValueError, NotImplementedError, TypeError, IndexError) as e:
            warnings.warn(f"{path}: ignoring unusable VOI (windowing/LUT): {e}", stacklevel=3)
    lo, hi = stored_range(ds)
    lo, hi = sorted(float(v) for v in apply_modality_lut(np.array([lo, hi]), ds))
    return scale_to_unit(values, lo, hi), False
