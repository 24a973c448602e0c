"""Read and write 2-D projection radiographs: DICOM (CR/DX), NIfTI, PNG, JPEG, TIFF.

``LoadXRay`` turns any supported file into the package's one image convention: a float32
channel-first ``(1, H, W)`` :class:`monai.data.MetaTensor` in ``[0, 1]`` with air dark, plus the
metadata listed in ``docs/DEVELOPERS.md``. ``SaveXRay`` writes such an image back as PNG, NIfTI or
DICOM, atomically, never over its input, and marks derived/synthetic images as such in every
format that has a place for it.

Normalisation to ``[0, 1]`` (chosen so that ``SaveXRay`` -> ``LoadXRay`` round-trips exactly):

* DICOM with a VOI (VOI LUT Sequence or Window Center/Width): the modality LUT (Rescale
  Slope/Intercept) and then the VOI are applied with :mod:`pydicom.pixels`, and the result is
  divided by the VOI's own output range (what the extreme stored values map to), i.e. the image
  as the modality intended it to be displayed.
* DICOM without a VOI: the modality LUT is applied and the result is scaled by the range that
  *Bits Stored* can represent (not by the image's own min/max), so a 12- or 16-bit image keeps its
  full dynamic range and its absolute meaning.
* PNG/JPEG/TIFF: divided by the bit depth's maximum (255 or 65535); 16-bit stays 16-bit.
* NIfTI: unsigned integers by their dtype's maximum; float data already inside ``[0, 1]`` are kept
  as they are (that is what ``SaveXRay`` writes); any other data are min-max scaled.

MONOCHROME1 images (and MONOCHROME2 with an INVERSE Presentation LUT Shape) are inverted after
that, so air is dark in every output. The value mappings live in :mod:`.pixel_values`, shared with
:mod:`.reencode`, which inverts them.

NIfTI axes follow the NIfTI/ITK/MONAI convention: array axis 0 (``i``, x) is the image column,
axis 1 (``j``, y) the row, so a stored ``(W, H)`` array loads as ``(1, H, W)``. No reorientation
by the affine is done.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import threading
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends
from PIL import Image, ImageOps, PngImagePlugin
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from monai_gan_aug import __version__
from monai_gan_aug.errors import (
    ConfigError,
    ImageReadError,
    InvalidImageError,
    MissingCodecError,
    MonaiGanAugError,
    NotARadiographError,
)
from monai_gan_aug.transforms.pixel_values import dicom_to_unit as _dicom_to_unit
from monai_gan_aug.transforms.pixel_values import scale_to_unit as _scale
from monai_gan_aug.transforms.pixel_values import stored_range as _stored_range
from monai_gan_aug.transforms.validate import check_image
from monai_gan_aug.utils.atomic import atomic_write

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "RADIOGRAPH_MODALITIES",
    "LoadXRay",
    "LoadXRayD",
    "LoadXRayDict",
    "LoadXRayd",
    "SaveXRay",
    "SaveXRayD",
    "SaveXRayDict",
    "SaveXRayd",
    "synthetic_marker",
]

# Projection-radiography modalities (plus OT, which secondary captures of radiographs use).
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "RF", "XA", "MG", "IO", "PX", "OT"})
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}
_OUTPUT_SUFFIXES = {".png": "png", ".nii": "nifti", ".nii.gz": "nifti", ".dcm": "dicom", ".dicom": "dicom"}
_FORMAT_EXT = {"png": ".png", "nifti": ".nii.gz", "dicom": ".dcm"}
# pydicom names plugins, not pip distributions; these differ.
_PIP_NAMES = {"gdcm": "python-gdcm"}
MAX_PIXELS_ENV = "MONAI_GAN_AUG_MAX_PIXELS"


def _env_max_pixels(default: int = 12000 * 12000) -> int:
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        raise ConfigError(f"{MAX_PIXELS_ENV}={text!r}: expected a number of pixels") from None
    if value < 1:
        raise ConfigError(f"{MAX_PIXELS_ENV}={text!r}: expected a number of pixels >= 1")
    return value


#: Largest image LoadXRay reads by default (pixels): 12000 x 12000 (an edit of one took 31 s and
#: 3.7 GB); the environment variable MONAI_GAN_AUG_MAX_PIXELS changes it.
DEFAULT_MAX_PIXELS = _env_max_pixels()
_PIL_LIMIT_LOCK = threading.Lock()
# A "grey" RGB image may differ between channels by JPEG rounding; beyond this fraction of
# clearly-coloured pixels it is a colour photo.
_COLOUR_PIXEL_FRACTION = 0.01
_COLOUR_TOLERANCE = 0.02


def synthetic_marker(synthetic: bool = True, description: str | None = None) -> str:
    """The text that marks an output as synthetic (or merely derived) in every format."""
    head = "SYNTHETIC: generated by monai-gan-aug" if synthetic else "DERIVED: written by monai-gan-aug"
    return f"{head} {__version__}" + (f": {description}" if description else "")


@contextlib.contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Turn any library error while reading ``path`` into an :class:`ImageReadError`."""
    try:
        yield
    except MonaiGanAugError:
        raise
    except Exception as e:
        raise ImageReadError(f"{path}: could not read as {what}: {type(e).__name__}: {e}") from e


def _describe_bytes(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(48)
    return f"{path.stat().st_size} bytes starting with {head!r}"


def _sniff_format(path: Path) -> str:
    """Pick the reader from the content (DICM marker) first, then the suffix."""
    if not path.exists():
        raise ImageReadError(f"{path}: file not found")
    if path.is_dir():
        raise ImageReadError(
            f"{path}: is a folder; LoadXRay reads one image file (use LoadCTSlice for series)"
        )
    with open(path, "rb") as fh:
        head = fh.read(132)
    name = path.name.lower()
    if head[128:132] == b"DICM" or name.endswith((".dcm", ".dicom")):
        return "dicom"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    return "pil"


def _check_size(path: Path, shape: Sequence[int], max_size: int | None) -> None:
    n = int(np.prod(shape))
    if max_size is not None and n > max_size:
        raise InvalidImageError(
            f"{path}: the image is {' x '.join(str(int(s)) for s in shape)} = {n} pixels, larger than the "
            f"pixel limit of {max_size}; raise the limit with max_size=N or the environment variable "
            f"{MAX_PIXELS_ENV} (about 26 bytes of memory per pixel are needed)"
        )


def _rgb_to_grey(rgb: np.ndarray, maxval: float, path: Path, allow_non_radiograph: bool) -> np.ndarray:
    """Luma of an ``(H, W, 3)`` array; refuse real colour unless allowed."""
    spread = rgb.max(axis=-1).astype(np.float64) - rgb.min(axis=-1)
    colour_fraction = float(np.mean(spread > _COLOUR_TOLERANCE * maxval))
    if colour_fraction > _COLOUR_PIXEL_FRACTION and not allow_non_radiograph:
        raise NotARadiographError(
            f"{path}: a colour image ({colour_fraction:.1%} of pixels have differing RGB channels); "
            "expected a greyscale radiograph (pass allow_non_radiograph=True to convert it to grey)"
        )
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _valid_spacing(value: Any) -> tuple[float, float] | None:
    try:
        sp = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    ok = len(sp) == 2 and all(np.isfinite(v) and v > 0 for v in sp)
    return (sp[0], sp[1]) if ok else None


# ---------------------------------------------------------------- DICOM


def _pip_hint(missing: Sequence[str]) -> str:
    """Turn pydicom's "plugin - requires a>=1 and b>=2" lines into pip install commands."""
    hints = []
    for line in missing:
        pkgs = []
        for req in (r.strip() for r in line.split("requires", 1)[-1].split(" and ")):
            name = re.split(r"[<>=!~]", req, maxsplit=1)[0]
            if name and name != "numpy":
                pkgs.append(_PIP_NAMES.get(name, name) + req[len(name) :])
        hints.append("pip install " + " ".join(f'"{p}"' for p in pkgs))
    return "; or ".join(hints)


def _decode_dicom(ds: Dataset, path: Path) -> np.ndarray:
    """``ds.pixel_array`` with missing codecs reported as :class:`MissingCodecError`."""
    ts = ds.file_meta.get("TransferSyntaxUID")
    decoder = None
    if ts is not None and ts.is_compressed:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError as e:
            raise MissingCodecError(
                f"{path}: no pixel data decoder exists for transfer syntax {ts.name} ({ts})"
            ) from e
        if not decoder.is_available:
            raise MissingCodecError(
                f"{path}: pixel data use transfer syntax '{ts.name}' ({ts}) and no decoder for it is "
                "installed; "
                f"to read it: {_pip_hint(decoder.missing_dependencies)}"
            )
    try:
        return ds.pixel_array
    except Exception as e:
        if decoder is not None and decoder.missing_dependencies and "all available plugins" in str(e):
            raise MissingCodecError(
                f"{path}: installed decoders could not decode '{ts.name}' ({ts}): {e}; "
                f"another decoder may: {_pip_hint(decoder.missing_dependencies)}"
            ) from e
        raise ImageReadError(
            f"{path}: DICOM pixel data are unreadable (truncated or corrupt?): {type(e).__name__}: {e}"
        ) from e


def _check_dicom_header(ds: Dataset, path: Path, allow_non_radiograph: bool, max_size: int | None) -> str:
    """Refuse non-radiographs and oversized images before decoding; return the modality."""
    modality = str(ds.get("Modality", "")).upper()
    if modality and modality not in RADIOGRAPH_MODALITIES and not allow_non_radiograph:
        raise NotARadiographError(
            f"{path}: DICOM Modality is {modality}; expected a projection radiograph "
            f"({', '.join(sorted(RADIOGRAPH_MODALITIES))})"
            + (" (use LoadCTSlice for CT)" if modality == "CT" else "")
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise NotARadiographError(
            f"{path}: a multi-frame DICOM ({frames} frames); expected a single 2-D radiograph"
        )
    _check_size(path, (int(ds.Rows), int(ds.Columns)), max_size)
    return modality


def _load_dicom(path: Path, allow_non_radiograph: bool, max_size: int | None) -> tuple[np.ndarray, dict]:
    with _reading(path, "DICOM"):
        ds = pydicom.dcmread(path)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ImageReadError(
            f"{path}: DICOM file without pixel data (truncated, or not an image object; "
            f"SOP Class {ds.get('SOPClassUID', 'unknown')})"
        )
    with _reading(path, "DICOM (header)"):  # malformed values (e.g. Rows "abc") fail here, clearly
        modality = _check_dicom_header(ds, path, allow_non_radiograph, max_size)
    pixels = _decode_dicom(ds, path)
    check_image(pixels, name=str(path), ndim=(2, 3))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if pixels.ndim == 3:  # RGB / YBR (pydicom returns RGB): grey only if the channels agree
        lo, hi = _stored_range(ds)
        unit = _scale(_rgb_to_grey(pixels, hi - lo, path, allow_non_radiograph), lo, hi)
        used_voi = False
    else:
        with _reading(path, "DICOM (pixel value transformation)"):
            unit, used_voi = _dicom_to_unit(ds, pixels, path)
    invert = (photometric == "MONOCHROME1") != (str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE")
    if invert:
        unit = 1.0 - unit
    spacing, source = (1.0, 1.0), "default"
    for key in ("PixelSpacing", "ImagerPixelSpacing"):
        if (sp := _valid_spacing(ds.get(key))) is not None:
            spacing, source = sp, key
            break
    meta = {
        "photometric_interpretation": photometric,
        "original_dtype": str(pixels.dtype),
        "bits_stored": int(ds.get("BitsStored", pixels.dtype.itemsize * 8)),
        "spacing": spacing,
        "spacing_source": source,
        "modality": modality,
        "voi_applied": used_voi,
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
    }
    return unit, meta


# ---------------------------------------------------------------- NIfTI


def _load_nifti(path: Path, allow_non_radiograph: bool, max_size: int | None) -> tuple[np.ndarray, dict]:
    with _reading(path, "NIfTI"):
        img = nib.load(path)
        shape = tuple(int(s) for s in img.shape)
    if len(shape) < 2:
        raise InvalidImageError(f"{path}: NIfTI of shape {shape}; expected a 2-D image")
    if any(s > 1 for s in shape[2:]):
        raise NotARadiographError(
            f"{path}: NIfTI of shape {shape} is a volume (or multi-channel); expected a 2-D radiograph "
            "(H x W or with a singleton 3rd dimension). Use LoadCTSlice for CT volumes."
        )
    _check_size(path, shape[:2], max_size)
    with _reading(path, "NIfTI"):
        data = np.asanyarray(img.dataobj).reshape(shape[:2])
        zooms = img.header.get_zooms()
    check_image(data, name=str(path), ndim=2)
    if np.issubdtype(data.dtype, np.unsignedinteger):
        unit = _scale(data, 0, np.iinfo(data.dtype).max)
    elif np.issubdtype(data.dtype, np.floating) and data.min() >= 0 and data.max() <= 1:
        unit = data.astype(np.float32)
    else:
        unit = _scale(data, np.nan, np.nan)
    spacing = _valid_spacing((zooms[1], zooms[0])) if len(zooms) >= 2 else None
    meta = {
        "photometric_interpretation": "MONOCHROME2",
        "original_dtype": str(data.dtype),
        "bits_stored": data.dtype.itemsize * 8,
        "spacing": spacing or (1.0, 1.0),
        "spacing_source": "pixdim" if spacing else "default",
    }
    return np.ascontiguousarray(unit.T), meta


# ---------------------------------------------------------------- PNG / JPEG / TIFF


def _pil_to_unit(im: Image.Image, path: Path, allow_non_radiograph: bool) -> tuple[np.ndarray, str, int]:
    """Grey ``[0, 1]`` array, original dtype name and bit depth of a PIL image."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.array(im)
        check_image(arr, name=str(path), ndim=2)
        if arr.min() >= 0 and arr.max() <= 65535:  # 16-bit grey (older Pillow opens PNG16 as "I")
            return _scale(arr, 0, 65535), "uint16", 16
        return _scale(arr, np.nan, np.nan), str(arr.dtype), 32
    if mode == "F":
        arr = np.array(im)
        check_image(arr, name=str(path), ndim=2)
        inside = arr.min() >= 0 and arr.max() <= 1
        return (arr.astype(np.float32) if inside else _scale(arr, np.nan, np.nan)), "float32", 32
    if mode in ("L", "LA", "1"):
        arr = np.array(im.convert("L"))
    else:  # P, RGB, RGBA, CMYK, YCbCr...: grey only if the colour channels agree
        arr = _rgb_to_grey(np.array(im.convert("RGB")), 255, path, allow_non_radiograph)
    check_image(arr, name=str(path), ndim=2)
    return _scale(arr, 0, 255), "uint8", 8


def _open_pil(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's own decompression-bomb limit: ``max_size`` is checked instead."""
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _load_pil(path: Path, allow_non_radiograph: bool, max_size: int | None) -> tuple[np.ndarray, dict]:
    try:
        im = _open_pil(path)
    except Exception as e:
        raise ImageReadError(
            f"{path}: not a readable image (expected DICOM, NIfTI, PNG, JPEG or TIFF); "
            f"found {_describe_bytes(path)}"
        ) from e
    with im:
        fmt = _PIL_FORMATS.get(str(im.format))
        if fmt is None:
            raise ImageReadError(
                f"{path}: {im.format} images are not supported; expected DICOM, NIfTI, PNG, JPEG or TIFF"
            )
        if getattr(im, "n_frames", 1) > 1:
            raise NotARadiographError(
                f"{path}: a multi-page {im.format} ({im.n_frames} frames); expected one 2-D radiograph"
            )
        _check_size(path, im.size[::-1], max_size)
        with _reading(path, im.format):
            im = ImageOps.exif_transpose(im) if fmt == "jpeg" else im
            im.load()
        unit, dtype, bits = _pil_to_unit(im, path, allow_non_radiograph)
    meta = {
        "photometric_interpretation": "MONOCHROME2",
        "original_dtype": dtype,
        "bits_stored": bits,
        "spacing": (1.0, 1.0),
        "spacing_source": "default",
    }
    return unit, {**meta, "source_format": fmt}


# ---------------------------------------------------------------- LoadXRay


class LoadXRay(Transform):
    """Load a 2-D radiograph as a float32 ``(1, H, W)`` ``MetaTensor`` in ``[0, 1]``, air dark.

    Reads DICOM (any transfer syntax pydicom can decode with what is installed), NIfTI
    (``.nii``/``.nii.gz``, 2-D or with a singleton 3rd dimension) and PNG/JPEG/TIFF (8- or 16-bit).
    See the module docstring for how each is scaled to ``[0, 1]``.

    Metadata: ``filename_or_obj``, ``spacing`` (row, col mm; ``(1.0, 1.0)`` when unknown, with
    ``spacing_source`` saying where it came from), ``photometric_interpretation`` (of the source),
    ``original_size`` (H, W), ``original_dtype``, ``source_format``
    (``dicom|nifti|png|jpeg|tiff``), ``bits_stored``. DICOM adds ``modality``, ``voi_applied`` and
    ``sop_instance_uid``: :class:`SaveXRay` re-reads the source header from ``filename_or_obj``
    to write a derived DICOM (no pydicom objects are kept in the metadata, which gets collated
    and deep-copied).

    Args:
        allow_non_radiograph: accept DICOM of other modalities (CT, MR...) and colour images
            (converted to luma). Volumes and multi-frame files are refused regardless.
        max_size: refuse images with more than this many pixels (checked from the header before
            decoding); ``None`` for no limit. Default :data:`DEFAULT_MAX_PIXELS` (12000 x 12000, or
            the environment variable ``MONAI_GAN_AUG_MAX_PIXELS``).

    Raises:
        ImageReadError: missing, truncated, corrupt or non-image file.
        MissingCodecError: compressed DICOM without an installed decoder (names the pip package).
        NotARadiographError: a CT/MR DICOM, a NIfTI volume, a colour photo, a multi-frame file.
        InvalidImageError: empty, constant or NaN/Inf pixel data, or more than ``max_size`` pixels.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, allow_non_radiograph: bool = False, max_size: int | None = DEFAULT_MAX_PIXELS) -> None:
        if max_size is not None and max_size <= 0:
            raise ConfigError(f"max_size must be a positive number of pixels or None, found {max_size}")
        self.allow_non_radiograph = allow_non_radiograph
        self.max_size = max_size

    def __call__(self, filename: str | os.PathLike) -> MetaTensor:
        path = Path(filename).expanduser()
        kind = _sniff_format(path)
        loader = {"dicom": _load_dicom, "nifti": _load_nifti, "pil": _load_pil}[kind]
        unit, meta = loader(path, self.allow_non_radiograph, self.max_size)
        check_image(unit, name=str(path), ndim=2)  # e.g. a window that maps everything to one value
        meta.setdefault("source_format", kind)
        meta.update(
            filename_or_obj=str(path), original_size=tuple(int(s) for s in unit.shape), original_channel_dim=0
        )
        meta["spacing"] = tuple(float(s) for s in meta["spacing"])
        affine = torch.diag(torch.tensor([*meta["spacing"], 1.0, 1.0], dtype=torch.float64))
        return MetaTensor(
            torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))[None], affine=affine, meta=meta
        )


class LoadXRayd(MapTransform):
    """Dictionary twin of :class:`LoadXRay`: replaces each path under ``keys`` by the loaded image.

    Args:
        keys: keys holding file paths.
        allow_non_radiograph: see :class:`LoadXRay`.
        max_size: see :class:`LoadXRay`.
        allow_missing_keys: skip keys absent from the data.
    """

    backend = LoadXRay.backend

    def __init__(
        self,
        keys: KeysCollection,
        allow_non_radiograph: bool = False,
        max_size: int | None = DEFAULT_MAX_PIXELS,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadXRay(allow_non_radiograph=allow_non_radiograph, max_size=max_size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


# ---------------------------------------------------------------- writers


def _to_unit_hw(img: Any, name: str) -> np.ndarray:
    """``(1, H, W)`` or ``(H, W)`` tensor/array -> clipped float32 ``(H, W)`` in ``[0, 1]``."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    check_image(arr, name=name, ndim=2, allow_constant=True)
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _write_png(arr: np.ndarray, tmp: Path, bits: int, text: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"monai-gan-aug {__version__}")
    info.add_text("Description", text)
    quantised = np.rint(arr * (2**bits - 1)).astype(np.uint8 if bits == 8 else np.uint16)
    Image.fromarray(quantised).save(tmp, format="PNG", pnginfo=info)


def _write_nifti(arr: np.ndarray, tmp: Path, spacing: Sequence[float], text: str) -> None:
    row_sp, col_sp = (float(s) for s in spacing)
    img = nib.Nifti1Image(np.ascontiguousarray(arr.T), np.diag([col_sp, row_sp, 1.0, 1.0]))
    img.header.set_zooms((col_sp, row_sp))
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = text.encode("ascii", "replace")[:79]  # 80-byte field, NUL-terminated
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", text.encode("utf-8")))
    nib.save(img, tmp)


def _now() -> tuple[str, str]:
    now = datetime.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")


def _mark_synthetic(ds: Dataset, text: str, image_type_tail: Sequence[str] = ()) -> None:
    """Derived-image attributes shared by both DICOM writers."""
    date, time = _now()
    ds.ImageType = ["DERIVED", "SECONDARY", *image_type_tail]
    ds.SeriesDescription = text[:64]  # LO: 64 characters
    ds.DerivationDescription = text[:1024]  # ST: 1024 characters
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.ContentDate, ds.ContentTime = date, time
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _quantise_dicom(
    arr: np.ndarray, bits_alloc: int, bits_stored: int, signed: bool, invert: bool
) -> np.ndarray:
    maxval = 2**bits_stored - 1
    stored = np.rint(arr.astype(np.float64) * maxval)
    if invert:
        stored = maxval - stored
    if signed:
        stored -= 2 ** (bits_stored - 1)
    dtype = {(8, False): np.uint8, (8, True): np.int8, (16, False): np.uint16, (16, True): np.int16}[
        (bits_alloc, signed)
    ]
    return stored.astype(dtype)


# Attributes that describe the source's pixel values (or other images) and would be stale.
_STALE_TAGS = (
    "VOILUTSequence", "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction",
    "ModalityLUTSequence", "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
    "PixelPaddingRangeLimit", "DataSetTrailingPadding", "IconImageSequence", "InstanceCreatorUID",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths", "NumberOfFrames", "FloatPixelData",
    "DoubleFloatPixelData", "PixelData", "PlanarConfiguration",
)  # fmt: skip


def _derived_dicom(arr: np.ndarray, source: Path, text: str) -> Dataset:
    """Copy the source header (patient/study context), replace pixels, mark derived/synthetic."""
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    src_rows, src_cols = int(ds.Rows), int(ds.Columns)
    src_ref = Dataset()
    src_ref.ReferencedSOPClassUID, src_ref.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    had_voi = "VOILUTSequence" in ds or "WindowCenter" in ds
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    invert = (photometric == "MONOCHROME1") != (str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE")
    bits_alloc = 8 if int(ds.get("BitsAllocated", 16)) == 8 else 16
    bits_stored = min(int(ds.get("BitsStored", bits_alloc)), bits_alloc)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    image_type_tail = list(ds.get("ImageType", []))[2:]
    ds.remove_private_tags()
    for tag in [elem.tag for elem in ds if 0x6000 <= elem.tag.group <= 0x60FF]:  # the source's overlays
        del ds[tag]
    for name in _STALE_TAGS:
        if name in ds:
            delattr(ds, name)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # set_pixel_data refuses big endian
    stored = _quantise_dicom(arr, bits_alloc, bits_stored, signed, invert)
    ds.set_pixel_data(stored, "MONOCHROME1" if photometric == "MONOCHROME1" else "MONOCHROME2", bits_stored)
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:  # the stored values are now the output
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    if had_voi:  # an identity window: the pixels are already the intended display values
        ds.WindowCenter = 0 if signed else 2 ** (bits_stored - 1)
        ds.WindowWidth = 2**bits_stored
    for key in ("PixelSpacing", "ImagerPixelSpacing"):  # keep mm per pixel right if resized
        if (sp := _valid_spacing(ds.get(key))) is not None and (src_rows, src_cols) != stored.shape:
            ds[key].value = [
                round(sp[0] * src_rows / stored.shape[0], 6),
                round(sp[1] * src_cols / stored.shape[1], 6),
            ]
    ds.SourceImageSequence = [src_ref]
    if str(ds.get("BurnedInAnnotation", "")).upper() != "YES":  # never hide that source text survives
        ds.BurnedInAnnotation = "NO"
    _mark_synthetic(ds, text, image_type_tail)
    return ds


def _secondary_capture(arr: np.ndarray, meta: Mapping[str, Any], text: str) -> Dataset:
    """A new 16-bit MONOCHROME2 Secondary Capture object with new Study/Series/SOP UIDs."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    date, time = _now()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.StudyInstanceUID = generate_uid()
    ds.Modality, ds.ConversionType = "OT", "SYN"  # SYN: synthetic image
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", "", "", ""
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = date, time, "", ""
    ds.ReferringPhysicianName, ds.PatientOrientation = "", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.BurnedInAnnotation = "NO"
    if meta.get("spacing_source", "default") != "default" and (sp := _valid_spacing(meta.get("spacing"))):
        ds.PixelSpacing = [round(v, 6) for v in sp]
    ds.set_pixel_data(_quantise_dicom(arr, 16, 16, False, False), "MONOCHROME2", 16)
    _mark_synthetic(ds, text)
    return ds


def _dicom_source(meta: Mapping[str, Any]) -> Path | None:
    """The DICOM the image was loaded from, if it is still there and unchanged."""
    if meta.get("source_format") != "dicom" or not meta.get("filename_or_obj"):
        return None
    source = Path(str(meta["filename_or_obj"]))
    try:
        uid = str(pydicom.dcmread(source, stop_before_pixels=True).get("SOPInstanceUID", ""))
    except Exception as e:  # noqa: BLE001 - any failure means the header cannot be reused
        warnings.warn(
            f"source DICOM {source} unreadable ({e}); writing a Secondary Capture without its context",
            stacklevel=3,
        )
        return None
    if meta.get("sop_instance_uid") and uid != meta["sop_instance_uid"]:
        warnings.warn(
            f"source DICOM {source} changed since loading (SOP Instance UID differs); "
            "writing a Secondary Capture",
            stacklevel=3,
        )
        return None
    return source


# ---------------------------------------------------------------- SaveXRay


def _exists_message(target: Path) -> str:
    return f"output {target} exists; pass overwrite=True to replace it"


@contextlib.contextmanager
def _writing(target: Path, overwrite: bool) -> Iterator[Path]:
    """:func:`atomic_write`, creating ``target`` exclusively unless ``overwrite`` (two runs never both win)."""
    try:
        with atomic_write(target, exclusive=not overwrite) as tmp:
            yield tmp
    except FileExistsError as e:
        raise ConfigError(_exists_message(target) + " (written by another process meanwhile)") from e


class SaveXRay(Transform):
    """Write a ``(1, H, W)`` ``[0, 1]`` image as PNG (8/16-bit), NIfTI or DICOM, atomically.

    The format comes from ``output_format`` or the output suffix (``.png``, ``.nii``, ``.nii.gz``,
    ``.dcm``). The output is written to a temporary file beside the target and renamed; the input
    file (``filename_or_obj``) is never overwritten, and an existing output only with
    ``overwrite=True``.

    DICOM from a DICOM source copies the source header (patient/study context, minus pixel data,
    private tags, overlays and stale LUTs), restores its photometric interpretation (MONOCHROME1
    re-inverted) and bit depth, sets an identity window when the source had a VOI, gets new SOP
    Instance and Series Instance UIDs, ImageType ``DERIVED\\SECONDARY``, a Source Image Sequence
    and the marker in SeriesDescription/DerivationDescription. Without a DICOM source it is a new
    16-bit MONOCHROME2 Secondary Capture with new Study/Series/SOP UIDs. PNG gets the marker in
    ``Software``/``Description`` text chunks, NIfTI in ``descrip`` and a comment extension.

    Args:
        output_dir: folder for outputs named ``<input stem>_<output_postfix><ext>`` when no
            explicit filename is given.
        output_postfix: see ``output_dir``.
        output_format: ``"png"``, ``"nifti"`` or ``"dicom"``; ``None`` = from the suffix.
        png_bits: 8 or 16.
        overwrite: replace an existing output file (never the input).
        description: what was done, recorded with the marker (e.g. "pneumonia inserted in box
            10,20,50,60 by lesion_inpaint seed 3"); defaults to ``meta["derivation_description"]``.
        synthetic: mark as SYNTHETIC (GAN output) rather than merely DERIVED; ``None`` takes
            ``meta["synthetic"]`` and defaults to ``True`` (over-marking is the safe mistake).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        output_dir: str | os.PathLike | None = None,
        output_postfix: str = "synthetic",
        output_format: str | None = None,
        png_bits: int = 16,
        overwrite: bool = False,
        description: str | None = None,
        synthetic: bool | None = None,
    ) -> None:
        if output_format is not None and output_format not in _FORMAT_EXT:
            raise ConfigError(
                f"output_format must be one of {sorted(_FORMAT_EXT)} or None, found {output_format!r}"
            )
        if png_bits not in (8, 16):
            raise ConfigError(f"png_bits must be 8 or 16, found {png_bits}")
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.output_postfix = output_postfix
        self.output_format = output_format
        self.png_bits = png_bits
        self.overwrite = overwrite
        self.description = description
        self.synthetic = synthetic

    def _target(self, filename: str | os.PathLike | None, meta: Mapping[str, Any]) -> tuple[Path, str]:
        if filename is None:
            source = meta.get("filename_or_obj")
            if self.output_dir is None or not source:
                raise ConfigError(
                    "SaveXRay needs a filename, or output_dir plus a 'filename_or_obj' in the metadata"
                )
            stem = re.sub(r"(\.nii\.gz|\.[^.]*)$", "", Path(str(source)).name)
            ext = _FORMAT_EXT[self.output_format or "png"]
            filename = self.output_dir / f"{stem}_{self.output_postfix}{ext}"
        path = Path(filename).expanduser()
        name = path.name.lower()
        by_suffix = next((f for s, f in _OUTPUT_SUFFIXES.items() if name.endswith(s)), None)
        fmt = self.output_format or by_suffix
        if fmt is None:
            raise ConfigError(
                f"cannot tell the output format of {path}: use a suffix in {sorted(_OUTPUT_SUFFIXES)} "
                "or output_format"
            )
        if by_suffix is not None and by_suffix != fmt:
            raise ConfigError(f"output_format={fmt!r} contradicts the suffix of {path}")
        return path, fmt

    def _guard(self, target: Path, meta: Mapping[str, Any]) -> None:
        source = meta.get("filename_or_obj")
        if source and Path(str(source)).exists():
            src = Path(str(source))
            if target.resolve() == src.resolve() or (target.exists() and os.path.samefile(target, src)):
                raise ConfigError(f"refusing to overwrite the input file {src} with an output")
        if target.exists() and not self.overwrite:
            raise ConfigError(_exists_message(target))

    def __call__(
        self, img: Any, filename: str | os.PathLike | None = None, meta_dict: Mapping | None = None,
        changed_mask: Any = None,
    ) -> Any:
        """Write ``img`` and return it; ``img.meta['saved_to']`` records the path (MetaTensor).

        Args:
            img: (1, H, W) image in [0, 1].
            filename: output path (else named from ``output_dir``).
            meta_dict: metadata overriding ``img.meta``.
            changed_mask: for local edits: (1, H, W) or (H, W), non-zero where ``img`` may differ
                from its source. When the output format matches the source's (DICOM -> DICOM,
                PNG/TIFF/JPEG -> PNG) the source's stored values and header are kept and only
                these pixels are re-encoded, so every other pixel stays bit-identical to the input
                file (see :mod:`monai_gan_aug.transforms.reencode`).
        """
        meta = {**(getattr(img, "meta", None) or {}), **(meta_dict or {})}
        target, fmt = self._target(filename, meta)
        self._guard(target, meta)
        arr = _to_unit_hw(img, name=str(target))
        synthetic = self.synthetic if self.synthetic is not None else bool(meta.get("synthetic", True))
        text = synthetic_marker(synthetic, self.description or meta.get("derivation_description"))
        spacing = tuple(meta.get("spacing", (1.0, 1.0)))
        if changed_mask is not None and self._write_into_source(arr, changed_mask, meta, fmt, target, text):
            if isinstance(img, MetaTensor):
                img.meta["saved_to"] = str(target)
            return img
        with _writing(target, self.overwrite) as tmp:
            if fmt == "png":
                _write_png(arr, tmp, self.png_bits, text)
            elif fmt == "nifti":
                _write_nifti(arr, tmp, spacing, text)
            else:
                source = _dicom_source(meta)
                ds = _derived_dicom(arr, source, text) if source else _secondary_capture(arr, meta, text)
                ds.save_as(tmp, enforce_file_format=True)
        if isinstance(img, MetaTensor):
            img.meta["saved_to"] = str(target)
        return img

    def _write_into_source(
        self, arr: np.ndarray, changed_mask: Any, meta: Mapping[str, Any], fmt: str, target: Path, text: str
    ) -> bool:
        """Re-encode only the changed pixels into the source's representation; False if not applicable."""
        from monai_gan_aug.transforms import reencode  # local: reencode imports this module

        src_fmt = reencode.source_format(meta)
        changed = np.asarray(
            changed_mask.detach().cpu() if isinstance(changed_mask, torch.Tensor) else changed_mask
        ).reshape(arr.shape) > 0
        if fmt == "dicom" and src_fmt == "dicom" and (source := _dicom_source(meta)) is not None:
            ds = reencode.reencode_dicom(arr, changed, source)
            src_ref = Dataset()
            src_ref.ReferencedSOPClassUID, src_ref.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
            ds.remove_private_tags()
            ds.SourceImageSequence = [src_ref]
            _mark_synthetic(ds, text, list(ds.get("ImageType", []))[2:])
            with _writing(target, self.overwrite) as tmp:
                ds.save_as(tmp, enforce_file_format=True)
            return True
        if fmt == "png" and src_fmt in ("png", "tiff", "jpeg"):
            im = reencode.reencode_png(arr, changed, str(meta["filename_or_obj"]))
            info = PngImagePlugin.PngInfo()
            info.add_text("Software", f"monai-gan-aug {__version__}")
            info.add_text("Description", text)
            with _writing(target, self.overwrite) as tmp:
                im.save(tmp, format="PNG", pnginfo=info)
            return True
        return False


class SaveXRayd(MapTransform):
    """Dictionary twin of :class:`SaveXRay`.

    Args:
        keys: image keys to save.
        filename_key: optional key holding the output path for (each of) ``keys``: a path, or a
            mapping key -> path. Without it, outputs are named from ``output_dir``.
        allow_missing_keys: skip keys absent from the data.
        kwargs: see :class:`SaveXRay`.
    """

    backend = SaveXRay.backend

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike | None = None,
        output_postfix: str = "synthetic",
        output_format: str | None = None,
        png_bits: int = 16,
        overwrite: bool = False,
        description: str | None = None,
        synthetic: bool | None = None,
        filename_key: Hashable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.saver = SaveXRay(
            output_dir, output_postfix, output_format, png_bits, overwrite, description, synthetic
        )
        self.filename_key = filename_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            filename = d.get(self.filename_key) if self.filename_key is not None else None
            if isinstance(filename, Mapping):
                filename = filename.get(key)
            d[key] = self.saver(d[key], filename=filename)
        return d


LoadXRayD = LoadXRayDict = LoadXRayd
SaveXRayD = SaveXRayDict = SaveXRayd
