"""Write an edit back into its source's own pixel representation, leaving untouched pixels bit-identical.

Loading maps stored values to ``[0, 1]`` through the modality LUT, the VOI (window) and the
photometric inversion; that mapping clips values outside the window, so saving the ``[0, 1]``
image from scratch would lose the source's dynamic range everywhere. For a local edit we
instead keep the source's stored values and header (rescale, window, photometric) as they are,
and only re-encode the changed pixels: each is given the stored value that the loader maps
closest to the edited value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset

from ..errors import ConfigError, ImageReadError, InvalidImageError
from .pixel_values import dicom_to_unit, stored_range

__all__ = ["stored_values_for", "reencode_dicom", "reencode_png", "check_editable", "source_format"]


def stored_values_for(target: np.ndarray, candidates: np.ndarray, to_unit: Callable[[np.ndarray], np.ndarray]):
    """For each ``target`` value in [0, 1], the candidate stored value whose loaded value is nearest.

    Args:
        target: wanted loaded values.
        candidates: every stored value the source can hold (1-D, integer).
        to_unit: the loader's stored -> [0, 1] mapping (monotonic or not; ties resolve to the first).
    """
    values = np.asarray(to_unit(candidates), dtype=np.float64).ravel()
    order = np.argsort(values, kind="stable")
    sorted_vals, sorted_cands = values[order], candidates[order]
    idx = np.clip(np.searchsorted(sorted_vals, target), 1, len(sorted_vals) - 1)
    left, right = sorted_vals[idx - 1], sorted_vals[idx]
    pick_left = np.abs(target - left) <= np.abs(right - target)
    return np.where(pick_left, sorted_cands[idx - 1], sorted_cands[idx])


def _check_shape(changed: np.ndarray, raw: np.ndarray, source: Path) -> None:
    if changed.shape != raw.shape:
        raise ConfigError(
            f"edited image {changed.shape} does not match its source {source} {raw.shape}: "
            "re-encoding into the source needs the source's own size"
        )


def reencode_dicom(unit_hw: np.ndarray, changed: np.ndarray, source: str | os.PathLike) -> Dataset:
    """The source DICOM with the ``changed`` pixels replaced by the edit, all other stored values kept.

    Args:
        unit_hw: the edited image (H, W) in [0, 1], as :class:`LoadXRay` would have loaded it.
        changed: boolean (H, W), True where the edit may differ from the source.
        source: the DICOM the image was loaded from (greyscale, or RGB with equal channels: the
            edit is written into all three channels).

    Returns:
        The dataset (header kept, pixel data uncompressed); the caller marks it derived/synthetic.
    """
    source = Path(source)
    ds = pydicom.dcmread(source)
    raw = ds.pixel_array
    if raw.ndim == 3 and raw.shape[-1] == 3:  # RGB (pydicom decodes YBR to RGB): grey replicated
        _check_shape(changed, raw[..., 0], source)
        lo, hi = stored_range(ds)
        grey = np.rint(np.clip(unit_hw[changed], 0, 1) * (hi - lo) + lo).astype(raw.dtype)
        out = raw.copy()
        out[changed] = grey[:, None]
        return _set_pixels(ds, out, "RGB", raw)
    if raw.ndim != 2:
        raise ImageReadError(f"{source}: re-encoding needs a single-frame greyscale DICOM, got {raw.shape}")
    _check_shape(changed, raw, source)
    lo, hi = stored_range(ds)
    candidates = np.arange(int(lo), int(hi) + 1, dtype=np.int64)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    invert = (photometric == "MONOCHROME1") != (str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE")

    def to_unit(v: np.ndarray) -> np.ndarray:
        unit, _ = dicom_to_unit(ds, v.astype(raw.dtype), source)
        return 1.0 - unit if invert else unit

    out = raw.copy()
    out[changed] = stored_values_for(unit_hw[changed].astype(np.float64), candidates, to_unit).astype(raw.dtype)
    return _set_pixels(ds, out, photometric, raw)


def _set_pixels(ds: Dataset, out: np.ndarray, photometric: str, raw: np.ndarray) -> Dataset:
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.set_pixel_data(out, photometric, int(ds.get("BitsStored", raw.dtype.itemsize * 8)),
                      generate_instance_uid=False)
    return ds


# PIL modes written back as they are; others are decoded to one of these first (as LoadXRay does).
_GREY_MODES = ("L", "I;16", "I;16B", "I;16L", "I")
_CHANNEL_MODES = {"LA": 1, "RGB": 3, "RGBA": 3}  # mode -> how many leading channels hold the grey


def reencode_png(unit_hw: np.ndarray, changed: np.ndarray, source: str | os.PathLike) -> Image.Image:
    """The source PNG/TIFF/JPEG pixels with the ``changed`` pixels replaced; same mode and bit depth.

    Grey images stored in colour modes keep their mode: the edit goes into every colour channel
    (alpha kept). Palette images become RGB(A) and bilevel ones L, with every other pixel's value
    unchanged.
    """
    source = Path(source)
    with Image.open(source) as im:
        im.load()
        if im.mode == "F":
            raise ConfigError(f"{source}: a floating-point image cannot be written back as PNG")
        if im.mode == "1":
            im = im.convert("L")
        elif im.mode not in _GREY_MODES and im.mode not in _CHANNEL_MODES:  # P, CMYK, YCbCr, ...
            im = im.convert("RGBA" if im.mode in ("P", "PA") and im.has_transparency_data else "RGB")
        mode, raw = im.mode, np.asarray(im)
    _check_shape(changed, raw if raw.ndim == 2 else raw[..., 0], source)
    maxval = 255 if raw.dtype == np.uint8 else 65535
    values = np.rint(np.clip(unit_hw[changed], 0, 1) * maxval).astype(raw.dtype)
    out = raw.copy()
    if raw.ndim == 2:
        out[changed] = values
    else:
        channels = _CHANNEL_MODES[mode]
        out[changed, :channels] = values[:, None]
    return Image.fromarray(out, mode=mode) if raw.ndim == 3 else Image.fromarray(out)


def check_editable(meta: Mapping[str, Any]) -> None:
    """Refuse, before any work, a loaded image that an edit could not be written back into.

    Floating-point sources (float TIFF, float DICOM) have no integer representation the edit
    could be re-encoded into without changing every other pixel.
    """
    if str(meta.get("original_dtype", "")).startswith("float") and meta.get("source_format") != "nifti":
        raise InvalidImageError(
            f"{meta.get('filename_or_obj')}: floating-point {meta.get('source_format')} pixel data cannot be "
            "edited in place (the output could not keep the other pixels bit for bit); convert it to "
            "8- or 16-bit integers first"
        )


def source_format(meta: Mapping[str, Any]) -> str | None:
    """The source's format (``dicom``, ``png``, ...) if its file is still there, else ``None``."""
    src = meta.get("filename_or_obj")
    if not src or not Path(str(src)).is_file():
        return None
    return str(meta.get("source_format")) if meta.get("source_format") else None
