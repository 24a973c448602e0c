"""Axial 2-D slices from a CT volume, in Hounsfield units, windowed to ``[0, 1]``.

``LoadCTSlice`` reads a NIfTI volume, a DICOM series folder or a single CT DICOM file with
SimpleITK (which applies Rescale Slope/Intercept, so DICOM values arrive in HU), reorients it
to LPS so that axis 0 of the array is the axial (z) direction, selects slices by index and/or by
lung coverage, and windows them (``lung`` W1500/L-600, ``mediastinum`` W350/L50, or a custom
``(center, width)``; ``None`` keeps HU).

Lung coverage of a slice = pixels inside the body whose HU lies in ``LUNG_HU_RANGE``, divided by
the body's area (the body is the largest connected region above -500 HU, holes filled, so the
lungs count as inside). Dividing by the body rather than the whole slice makes the threshold
independent of the field of view.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends
from scipy import ndimage

from monai_gan_aug.errors import ConfigError, ImageReadError, InvalidImageError
from monai_gan_aug.transforms.validate import check_image

__all__ = [
    "LUNG_HU_RANGE",
    "WINDOW_PRESETS",
    "LoadCTSlice",
    "LoadCTSliceD",
    "LoadCTSliceDict",
    "LoadCTSliced",
    "lung_coverage",
    "window_hu",
]

# (center, width) in HU.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {"lung": (-600.0, 1500.0), "mediastinum": (50.0, 350.0)}
LUNG_HU_RANGE = (-950.0, -300.0)
_BODY_HU = -500.0
# A CT in HU contains air (about -1000 HU, lower outside the scan circle); data whose minimum is
# above this are not HU (an 8-bit export, an MR, a normalised array).
_MAX_AIR_HU = -500.0


def _resolve_window(window: str | Sequence[float] | None) -> tuple[float, float] | None:
    if window is None:
        return None
    if isinstance(window, str):
        if window not in WINDOW_PRESETS:
            raise ConfigError(
                f"unknown window preset {window!r}; expected one of {sorted(WINDOW_PRESETS)} "
                "or (center, width)"
            )
        return WINDOW_PRESETS[window]
    try:
        center, width = (float(v) for v in window)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"window must be a preset name or (center, width) in HU, found {window!r}") from e
    if not width > 0:
        raise ConfigError(f"window width must be positive, found {width}")
    return center, width


def window_hu(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: ``center - width/2`` -> 0, ``center + width/2`` -> 1, clipped, float32."""
    return np.clip((hu.astype(np.float32) - (center - width / 2)) / width, 0.0, 1.0)


def lung_coverage(hu_slice: np.ndarray) -> float:
    """Fraction of the body's area (2-D slice in HU) whose HU is in :data:`LUNG_HU_RANGE`."""
    labels, n = ndimage.label(hu_slice > _BODY_HU)
    if n == 0:
        return 0.0
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    body = ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))
    lung = body & (hu_slice >= LUNG_HU_RANGE[0]) & (hu_slice <= LUNG_HU_RANGE[1])
    return float(lung.sum() / max(int(body.sum()), 1))


def _read_volume(path: Path, series_uid: str | None) -> tuple[sitk.Image, str, str]:
    """SimpleITK image, source format (``nifti|dicom``) and DICOM modality (``""`` if none)."""
    if not path.exists():
        raise ImageReadError(f"{path}: not found")
    try:
        if path.is_dir():
            ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
            if not ids:
                raise ImageReadError(f"{path}: folder holds no DICOM series")
            if series_uid is None and len(ids) > 1:
                raise ConfigError(
                    f"{path}: folder holds {len(ids)} DICOM series {list(ids)}; pass series_uid"
                )
            uid = series_uid or ids[0]
            if uid not in ids:
                raise ConfigError(f"{path}: series {uid} not found; the folder holds {list(ids)}")
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), uid))
            reader.MetaDataDictionaryArrayUpdateOn()
            img = reader.Execute()
            modality = reader.GetMetaData(0, "0008|0060") if reader.HasMetaDataKey(0, "0008|0060") else ""
            return img, "dicom", modality.strip().upper()
        img = sitk.ReadImage(str(path))
    except (ImageReadError, ConfigError):
        raise
    except RuntimeError as e:  # SimpleITK reports every reader failure as RuntimeError
        raise ImageReadError(
            f"{path}: could not read as a CT volume (NIfTI or DICOM): {str(e).strip()[:300]}"
        ) from e
    is_dicom = img.HasMetaDataKey("0008|0060")
    modality = img.GetMetaData("0008|0060").strip().upper() if is_dicom else ""
    return img, ("dicom" if is_dicom or path.suffix.lower() in (".dcm", ".dicom") else "nifti"), modality


def _as_volume(img: sitk.Image, path: Path, fmt: str, modality: str) -> sitk.Image:
    """Check it is a 3-D CT and reorient to LPS (array axis 0 = axial)."""
    if modality and modality != "CT":
        raise InvalidImageError(
            f"{path}: DICOM Modality is {modality}; expected CT (use LoadXRay for radiographs)"
        )
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidImageError(
            f"{path}: {img.GetNumberOfComponentsPerPixel()}-component pixels; expected a scalar CT volume"
        )
    if img.GetDimension() == 2 and fmt == "dicom" and modality == "CT":  # one CT slice is a 1-slice volume
        img = sitk.JoinSeries(img)
    if img.GetDimension() != 3:
        raise InvalidImageError(
            f"{path}: a {img.GetDimension()}-D image of size {img.GetSize()}; expected a 3-D CT volume "
            "(use LoadXRay for 2-D images)"
        )
    return sitk.DICOMOrient(img, "LPS")


def _select(n_slices: int, slices: slice | range | Sequence[int] | None, path: Path) -> list[int]:
    if slices is None:
        return list(range(n_slices))
    if isinstance(slices, slice):
        return list(range(n_slices))[slices]
    chosen = [int(i) for i in slices]
    bad = [i for i in chosen if not -n_slices <= i < n_slices]
    if bad:
        raise ConfigError(f"{path}: slice indices {bad} out of range for a volume of {n_slices} slices")
    return [i % n_slices for i in chosen]


class LoadCTSlice(Transform):
    """Load a CT volume and return windowed axial slices with per-slice metadata.

    Args:
        window: ``"lung"``, ``"mediastinum"``, ``(center, width)`` in HU, or ``None`` for raw HU.
        slices: slice indices along z after LPS reorientation (axis 0 increases towards the head):
            a ``slice``, a ``range`` or a sequence of ints; ``None`` = all.
        min_lung_fraction: keep only selected slices whose lung coverage (see module docstring)
            is at least this; ``None`` = no lung filter.
        output: ``"stack"`` -> one ``(N, H, W)`` MetaTensor whose metadata hold per-slice lists;
            ``"list"`` -> a list of ``(1, H, W)`` MetaTensors, each with its own metadata.
        series_uid: which series to read when a folder holds several.
        check_hu: refuse volumes that contain no air-like values (not Hounsfield units).

    Metadata: ``filename_or_obj``, ``source_format`` (``nifti|dicom``), ``spacing`` (row, col mm),
    ``slice_spacing`` (mm), ``slice_index``, ``z_position`` (mm, LPS), ``lung_fraction`` (NaN
    when no lung filter), ``window_center``/``window_width`` (HU; NaN for raw HU),
    ``original_size``, ``original_dtype``, ``photometric_interpretation`` (``MONOCHROME2``),
    ``bits_stored``. NaN rather than ``None`` because MONAI's collate cannot batch ``None``.

    Raises:
        ImageReadError: missing or unreadable file/folder.
        InvalidImageError: a 2-D image, a non-CT modality, non-HU data, NaN/Inf, or no slice
            passing the lung filter.
        ConfigError: bad window, slice indices or series choice.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        window: str | Sequence[float] | None = "lung",
        slices: slice | range | Sequence[int] | None = None,
        min_lung_fraction: float | None = None,
        output: str = "stack",
        series_uid: str | None = None,
        check_hu: bool = True,
    ) -> None:
        if output not in ("stack", "list"):
            raise ConfigError(f"output must be 'stack' or 'list', found {output!r}")
        if min_lung_fraction is not None and not 0 <= min_lung_fraction <= 1:
            raise ConfigError(f"min_lung_fraction must be in [0, 1] or None, found {min_lung_fraction}")
        self.window = _resolve_window(window)
        self.slices = slices
        self.min_lung_fraction = min_lung_fraction
        self.output = output
        self.series_uid = series_uid
        self.check_hu = check_hu

    def _hu_volume(self, path: Path) -> tuple[np.ndarray, sitk.Image, str]:
        img, fmt, modality = _read_volume(path, self.series_uid)
        img = _as_volume(img, path, fmt, modality)
        hu = sitk.GetArrayViewFromImage(img)  # (z, y, x)
        check_image(hu, name=str(path), ndim=3)
        if self.check_hu and float(hu.min()) > _MAX_AIR_HU:
            raise InvalidImageError(
                f"{path}: values span {float(hu.min()):g}..{float(hu.max()):g}, "
                f"with no air (<= {_MAX_AIR_HU:g}); "
                "expected a CT in Hounsfield units (pass check_hu=False to skip this check)"
            )
        return hu, img, fmt

    def __call__(self, filename: str | os.PathLike) -> MetaTensor | list[MetaTensor]:
        path = Path(filename).expanduser()
        hu, img, fmt = self._hu_volume(path)
        indices = _select(hu.shape[0], self.slices, path)
        fractions = (
            [lung_coverage(hu[i]) for i in indices]
            if self.min_lung_fraction is not None
            else [float("nan")] * len(indices)
        )
        if self.min_lung_fraction is not None:
            kept = [(i, f) for i, f in zip(indices, fractions) if f >= self.min_lung_fraction]
            if not kept:
                best = max(fractions, default=0.0)
                raise InvalidImageError(
                    f"{path}: no slice has lung coverage >= {self.min_lung_fraction:g} "
                    f"(best {best:.3f} over {len(indices)} slices)"
                )
            indices, fractions = [k[0] for k in kept], [k[1] for k in kept]
        if not indices:
            raise ConfigError(f"{path}: the slice selection {self.slices!r} is empty")
        stack = hu[indices].astype(np.float32)
        stack = window_hu(stack, *self.window) if self.window is not None else stack
        sx, sy, sz = img.GetSpacing()
        common = {
            "filename_or_obj": str(path),
            "source_format": fmt,
            "spacing": (float(sy), float(sx)),
            "slice_spacing": float(sz),
            # NaN, not None, when absent: MONAI's collate cannot batch None
            "window_center": self.window[0] if self.window else float("nan"),
            "window_width": self.window[1] if self.window else float("nan"),
            "original_size": tuple(int(s) for s in hu.shape[1:]),
            "original_dtype": str(hu.dtype),
            "photometric_interpretation": "MONOCHROME2",
            "bits_stored": hu.dtype.itemsize * 8,
        }
        z = [float(img.TransformIndexToPhysicalPoint((0, 0, int(i)))[2]) for i in indices]
        affine = torch.diag(torch.tensor([float(sy), float(sx), 1.0, 1.0], dtype=torch.float64))
        if self.output == "stack":
            meta = {
                **common,
                "slice_index": list(indices),
                "z_position": z,
                "lung_fraction": fractions,
                "original_channel_dim": 0,
            }
            return MetaTensor(torch.from_numpy(stack), affine=affine, meta=meta)
        return [
            MetaTensor(
                torch.from_numpy(stack[k : k + 1].copy()),
                affine=affine.clone(),
                meta={
                    **common,
                    "slice_index": int(i),
                    "z_position": z[k],
                    "lung_fraction": fractions[k],
                    "original_channel_dim": 0,
                },
            )
            for k, i in enumerate(indices)
        ]


class LoadCTSliced(MapTransform):
    """Dictionary twin of :class:`LoadCTSlice`.

    With ``output="stack"`` each key's path is replaced by its ``(N, H, W)`` stack. With
    ``output="list"`` (one key only) the result is a list of dictionaries, one per slice, each a
    copy of the input dictionary with the key holding that ``(1, H, W)`` slice, the form MONAI
    datasets flatten for one-to-many transforms (as ``RandCropByPosNegLabeld`` does).

    Args:
        keys: keys holding volume paths (a NIfTI file, a DICOM series folder or a DICOM file).
        allow_missing_keys: skip keys absent from the data.
        kwargs: see :class:`LoadCTSlice`.
    """

    backend = LoadCTSlice.backend

    def __init__(
        self,
        keys: KeysCollection,
        window: str | Sequence[float] | None = "lung",
        slices: slice | range | Sequence[int] | None = None,
        min_lung_fraction: float | None = None,
        output: str = "stack",
        series_uid: str | None = None,
        check_hu: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if output == "list" and len(self.keys) != 1:
            raise ConfigError(
                f"output='list' splits one volume into samples; give exactly one key, found {list(self.keys)}"
            )
        self.loader = LoadCTSlice(window, slices, min_lung_fraction, output, series_uid, check_hu)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any] | list[dict[Hashable, Any]]:
        d = dict(data)
        for key in self.key_iterator(d):
            loaded = self.loader(d[key])
            if isinstance(loaded, list):
                return [{**d, key: s} for s in loaded]
            d[key] = loaded
        return d


LoadCTSliceD = LoadCTSliceDict = LoadCTSliced
