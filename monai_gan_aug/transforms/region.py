"""Region masks: turn a user's region (box, polygon, mask, RSNA box) into image-space masks.

Convention (as in ``docs/DEVELOPERS.md``): ``x`` is the column, ``y`` the row, boxes are
``x0, y0, x1, y1`` end-exclusive, in pixels of the stored image. A polygon covers the pixels whose
centres ``(col + 0.5, row + 0.5)`` lie inside it, so the polygon of a box's corners covers exactly
the box's pixels.

* :func:`parse_region` validates any accepted spec form and rasterises it into a :class:`Region`.
* :class:`RegionMask` / :class:`RegionMaskd` write a binary ``region_mask`` and a feathered
  ``region_weight`` (1 inside, linear ramp to 0 over ``feather`` px outside, exactly 0 beyond),
  optionally clipped to a lung mask, and record the parsed region in the image's metadata
  (``meta["region"]``) so that every synthetic image can say how it was made.
* :class:`RandRegionMask` / :class:`RandRegionMaskd` draw training boxes from an empirical prior of
  RSNA Pneumonia boxes (``monai_gan_aug/data/rsna_box_prior.json``), optionally overlapping the lung,
  and hand them to :class:`RegionMask` (TorchIO's ``RandomNoise`` -> ``Noise`` pattern).

Out-of-image boxes are an error by default (``clip_to_image=False``): a box that falls partly
outside the image usually means wrong units or a wrong image, and silently clipping it would edit
a different area than the user asked for. Pass ``clip_to_image=True`` to clip instead.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, ensure_tuple_rep
from scipy import ndimage

from ..errors import ConfigError, DatasetError, ImageReadError, InvalidImageError, RegionError

__all__ = [
    "UNITS",
    "RandRegionMask",
    "RandRegionMaskD",
    "RandRegionMaskDict",
    "RandRegionMaskd",
    "Region",
    "RegionMask",
    "RegionMaskD",
    "RegionMaskDict",
    "RegionMaskd",
    "feather_weight",
    "load_box_prior",
    "parse_region",
]

UNITS = ("pixel", "fraction", "auto")
PRIOR_NAME = "rsna_box_prior.json"
_SPEC_FORMS = (
    'a box "x0,y0,x1,y1" or [x0, y0, x1, y1]; {"box": [...]}; {"boxes": [[...], ...]}; '
    '{"xywh": [x, y, width, height]} (RSNA style); {"polygon": [[x, y], ...]} (>= 3 vertices); '
    '{"mask": array or path}; or the strings "box:...", "xywh:...", "polygon:x,y;x,y;...", "mask:path"'
)


@dataclass
class Region:
    """A validated region rasterised on an image grid.

    Attributes:
        kind: ``"box" | "boxes" | "xywh" | "polygon" | "mask"``.
        params: JSON-safe description in pixels of the stored image (what goes in the metadata).
        mask: boolean ``(H, W)`` array, True inside the region.
    """

    kind: str
    params: dict[str, Any]
    mask: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the metadata: kind, parameters, image size and area."""
        return {
            "kind": self.kind,
            **self.params,
            "image_size": list(self.mask.shape),
            "area_px": int(self.mask.sum()),
        }


# ----------------------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------------------


def _hw(image_shape: Sequence[int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2 or min(shape) < 1:
        raise InvalidImageError(f"expected an image shape (H, W) or (1, H, W), found {tuple(image_shape)}")
    return shape  # type: ignore[return-value]


def _numbers(values: Any, what: str) -> np.ndarray:
    """Float array from a string / sequence / tensor, with a RegionError instead of a numpy crash."""
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").replace(" ", ",").split(",") if v]
    try:
        arr = np.asarray(values.tolist() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise RegionError(f"{what}: expected numbers, found {values!r}") from err
    if not np.all(np.isfinite(arr)):
        raise RegionError(f"{what}: coordinates must be finite numbers, found NaN/Inf in {arr.tolist()}")
    return arr


def _resolve_units(values: np.ndarray, units: str, what: str) -> str:
    """Decide pixel vs fraction explicitly: never reinterpret a pixel box silently."""
    if units not in UNITS:
        raise ConfigError(f"units must be one of {UNITS}, found {units!r}")
    in_unit_range = bool(np.all((values >= 0) & (values <= 1)))
    if units == "auto":
        return "fraction" if in_unit_range else "pixel"
    if units == "fraction" and not in_unit_range:
        raise RegionError(f"{what}: units='fraction' needs every value in [0, 1], found {values.tolist()}")
    if units == "pixel" and in_unit_range and not np.all(values == np.round(values)):
        raise RegionError(
            f"{what}: pixel coordinates {values.tolist()} are all fractional values in [0, 1]; "
            "if they are fractions of the image size pass units='fraction' (or units='auto')"
        )
    return units


def _box_to_pixels(box: np.ndarray, hw: tuple[int, int], units: str, clip: bool, what: str) -> list[int]:
    """Validate one ``x0, y0, x1, y1`` box and return it as integer pixels (inside the image)."""
    if box.shape != (4,):
        raise RegionError(f"{what}: a box needs 4 numbers x0,y0,x1,y1, found {box.tolist()}")
    x0, y0, x1, y1 = box
    if x1 < x0 or y1 < y0:
        raise RegionError(f"{what}: inverted box {box.tolist()} (needs x1 >= x0 and y1 >= y0)")
    if x1 == x0 or y1 == y0:
        raise RegionError(f"{what}: empty box {box.tolist()} (zero width or height)")
    h, w = hw
    if _resolve_units(box, units, what) == "fraction":
        box = box * np.array([w, h, w, h], dtype=np.float64)
    # floor/ceil so that a fractional box keeps every pixel it touches
    px = [math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])]
    if px[2] <= 0 or px[3] <= 0 or px[0] >= w or px[1] >= h:
        raise RegionError(f"{what}: box {px} (pixels) lies entirely outside the {h}x{w} (HxW) image")
    inside = [max(px[0], 0), max(px[1], 0), min(px[2], w), min(px[3], h)]
    if inside != px and not clip:
        raise RegionError(
            f"{what}: box {px} (pixels) extends outside the {h}x{w} (HxW) image "
            "(x within [0, W], y within [0, H]); pass clip_to_image=True to clip it"
        )
    return inside


def _polygon_mask(vertices: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Even-odd rule on pixel centres, evaluated only inside the polygon's bounding box."""
    h, w = hw
    mask = np.zeros(hw, dtype=bool)
    c0, r0 = (max(int(math.floor(v)), 0) for v in vertices.min(0))
    c1, r1 = (int(math.ceil(v)) for v in vertices.max(0))
    c1, r1 = min(c1, w), min(r1, h)
    if c1 <= c0 or r1 <= r0:
        return mask
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5
    inside = np.zeros(xx.shape, dtype=bool)
    xs, ys = vertices[:, 0], vertices[:, 1]
    for i in range(len(vertices)):  # one vectorised crossing test per edge
        xa, ya, xb, yb = xs[i - 1], ys[i - 1], xs[i], ys[i]
        if ya == yb:
            continue
        crosses = (ya > yy) != (yb > yy)
        x_at = xa + (yy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xx < x_at)
    mask[r0:r1, c0:c1] = inside
    return mask


def _parse_polygon(values: Any, hw: tuple[int, int], units: str, clip: bool) -> Region:
    verts = _numbers(values, "polygon")
    if verts.ndim == 1 and verts.size % 2 == 0:
        verts = verts.reshape(-1, 2)
    if verts.ndim != 2 or verts.shape[1] != 2:
        raise RegionError(f"polygon: expected a list of (x, y) vertices, found shape {verts.shape}")
    if len(verts) < 3:
        raise RegionError(f"polygon: needs at least 3 vertices, found {len(verts)}")
    if _resolve_units(verts.ravel(), units, "polygon") == "fraction":
        verts = verts * np.array([hw[1], hw[0]], dtype=np.float64)
    h, w = hw
    lo, hi = verts.min(0), verts.max(0)
    if hi[0] <= 0 or hi[1] <= 0 or lo[0] >= w or lo[1] >= h:
        raise RegionError(f"polygon: vertices {verts.tolist()} lie entirely outside the {h}x{w} (HxW) image")
    if (lo < 0).any() or hi[0] > w or hi[1] > h:
        if not clip:
            raise RegionError(
                f"polygon: vertices span x {lo[0]:g}..{hi[0]:g}, y {lo[1]:g}..{hi[1]:g}, outside the {h}x{w} "
                "(HxW) image; pass clip_to_image=True to clip it"
            )
    mask = _polygon_mask(verts, hw)
    if not mask.any():
        raise RegionError(f"polygon: {verts.tolist()} covers no pixel centre (zero area)")
    return Region("polygon", {"polygon": np.round(verts, 3).tolist(), "units": "pixel"}, mask)


def _read_mask_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise RegionError(f"mask: file not found: {path}")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.name.endswith((".nii", ".nii.gz")):
            import nibabel as nib  # only needed for NIfTI masks

            return (
                np.asarray(nib.load(str(path)).dataobj).squeeze().T
            )  # NIfTI stores (x, y): make it (row, col)
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except Exception as err:  # any decoder failure becomes one clear error
        raise ImageReadError(f"mask: could not read {path} as a mask image: {err}") from err


def _parse_mask(value: Any, hw: tuple[int, int]) -> Region:
    params: dict[str, Any] = {}
    if isinstance(value, (str, Path)):
        params["path"] = str(value)
        value = _read_mask_file(Path(value))
    arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != hw:
        raise RegionError(f"mask: size {tuple(arr.shape)} does not match the image size {hw} (H, W)")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise RegionError("mask: contains NaN/Inf values")
        mask = arr >= 0.5  # a soft mask in [0, 1]: its hard region
    else:
        mask = arr > 0
    if not mask.any():
        raise RegionError("mask: the mask is empty (no pixel set)")
    rows, cols = np.nonzero(mask)
    params["bbox"] = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    params.setdefault("path", None)
    return Region("mask", params, mask)


def _box_region(boxes: list[list[int]], hw: tuple[int, int], kind: str, extra: dict[str, Any]) -> Region:
    mask = np.zeros(hw, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    key = "boxes" if kind == "boxes" else "box"
    return Region(kind, {key: boxes if kind == "boxes" else boxes[0], **extra, "units": "pixel"}, mask)


def _from_string(spec: str) -> Any:
    """String forms: 4 numbers (a box) or ``kind:payload``."""
    text = spec.strip()
    kind, sep, payload = text.partition(":")
    kind = kind.strip().lower()
    if sep and kind in ("box", "xywh", "polygon", "mask", "boxes"):
        if kind == "mask":
            return {"mask": payload.strip()}
        if kind == "boxes":
            return {"boxes": [_numbers(b, "boxes").tolist() for b in payload.split(";") if b.strip()]}
        return {kind: payload}
    if Path(text).suffix.lower() in (".png", ".npy", ".nii", ".gz", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg"):
        return {"mask": text}
    return {"box": text}


def _as_dict_spec(spec: Any) -> dict[str, Any]:
    if isinstance(spec, str):
        return _from_string(spec)
    if isinstance(spec, Path):
        return {"mask": spec}
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, (np.ndarray, torch.Tensor)) and spec.ndim >= 2 and min(spec.shape[-2:]) > 2:
        return {"mask": spec}  # an image-like array; a small (N, 2) array is a polygon below
    try:
        arr = np.asarray(spec.tolist() if isinstance(spec, torch.Tensor) else spec, dtype=object)
    except Exception as err:
        raise RegionError(f"unrecognised region {spec!r}; expected {_SPEC_FORMS}") from err
    if arr.ndim == 1 and arr.size == 4:
        return {"box": spec}
    if arr.ndim == 2 and arr.shape[1] == 2:
        return {"polygon": spec}
    raise RegionError(f"unrecognised region {spec!r}; expected {_SPEC_FORMS}")


def parse_region(
    spec: Any,
    image_shape: Sequence[int],
    units: str = "pixel",
    clip_to_image: bool = False,
    max_fraction: float | None = 0.5,
) -> Region:
    """Validate a region spec and rasterise it on the image grid.

    Args:
        spec: see the module docstring; e.g. ``"10,20,50,60"``, ``{"box": [10, 20, 50, 60]}``,
            ``{"xywh": [10, 20, 40, 40]}``, ``{"polygon": [[10, 10], [40, 12], [25, 40]]}``,
            ``{"mask": "lesion.png"}``, ``{"boxes": [[...], [...]]}``. A dict may carry its own
            ``"units"``, which overrides ``units``.
        image_shape: ``(H, W)`` or ``(1, H, W)`` of the stored image.
        units: ``"pixel"`` (default), ``"fraction"`` (every value in ``[0, 1]``, scaled by W for x and
            H for y), or ``"auto"`` (fraction when every value is in ``[0, 1]``; opt-in only).
            In pixel units, all-fractional values in ``[0, 1]`` are rejected rather than guessed.
        clip_to_image: clip boxes/polygons that extend past the image instead of raising.
        max_fraction: reject regions covering more than this fraction of the image (the generator
            needs context around the edit); ``None`` disables the check.

    Returns:
        the :class:`Region` (kind, JSON-safe pixel parameters, boolean ``(H, W)`` mask).

    Raises:
        RegionError: empty, inverted, NaN, out-of-image or oversized regions, polygons with fewer
            than 3 vertices, masks of the wrong size, unrecognised forms.
    """
    hw = _hw(image_shape)
    d = _as_dict_spec(spec)
    units = d.pop("units", units)
    kinds = [k for k in ("box", "boxes", "xywh", "polygon", "mask") if k in d]
    if len(kinds) != 1 or set(d) - {kinds[0]}:
        raise RegionError(
            f"a region dict needs exactly one of box/boxes/xywh/polygon/mask (+ units), found {list(d)}"
        )
    kind, value = kinds[0], d[kinds[0]]
    if kind == "box":
        region = _box_region(
            [_box_to_pixels(_numbers(value, "box"), hw, units, clip_to_image, "box")], hw, "box", {}
        )
    elif kind == "xywh":
        xywh = _numbers(value, "xywh")
        if xywh.shape != (4,):
            raise RegionError(f"xywh: needs 4 numbers x,y,width,height, found {xywh.tolist()}")
        if xywh[2] <= 0 or xywh[3] <= 0:
            raise RegionError(f"xywh: width and height must be positive, found {xywh.tolist()}")
        box = np.array([xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]])
        if _resolve_units(xywh, units, "xywh") == "fraction":
            units = "fraction"
            box = np.minimum(box, 1.0)  # x + w of a fractional box may round a hair past 1
        px = _box_to_pixels(box, hw, units, clip_to_image, "xywh")
        region = _box_region([px], hw, "xywh", {"xywh": [px[0], px[1], px[2] - px[0], px[3] - px[1]]})
    elif kind == "boxes":
        boxes = value if not isinstance(value, str) else _from_string("boxes:" + value)["boxes"]
        if len(boxes) == 0:
            raise RegionError("boxes: needs at least one box, found none")
        px = [
            _box_to_pixels(_numbers(b, f"boxes[{i}]"), hw, units, clip_to_image, f"boxes[{i}]")
            for i, b in enumerate(boxes)
        ]
        region = _box_region(px, hw, "boxes", {})
    elif kind == "polygon":
        region = _parse_polygon(value, hw, units, clip_to_image)
    else:
        region = _parse_mask(value, hw)
    _check_fraction(region.mask, max_fraction)
    return region


def _check_fraction(mask: np.ndarray, max_fraction: float | None) -> None:
    frac = float(mask.mean())
    if max_fraction is not None and frac > max_fraction:
        raise RegionError(
            f"the region covers {frac:.1%} of the image, more than max_fraction={max_fraction:.0%}: "
            "an edit needs surrounding context (raise max_fraction to allow it)"
        )


def feather_weight(mask: np.ndarray, feather: float) -> np.ndarray:
    """Weight map: 1 inside ``mask``, ``1 - d / (feather + 1)`` at Euclidean distance ``d <= feather``
    pixels outside it, exactly 0 beyond. So the band is ``feather`` pixels wide and every pixel in it
    has a weight strictly between 0 and 1."""
    if feather < 0 or not math.isfinite(feather):
        raise ConfigError(f"feather must be a finite number >= 0 pixels, found {feather}")
    if feather == 0 or not mask.any():
        return mask.astype(np.float32)
    # Only pixels within `feather` of the region can get a weight, so the distance transform runs on
    # the region's bounding box grown by the band (a 2000 px radiograph otherwise costs seconds).
    rows, cols = np.nonzero(mask)
    margin = int(math.ceil(feather)) + 1
    y0, y1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, mask.shape[0])
    x0, x1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, mask.shape[1])
    dist = ndimage.distance_transform_edt(~mask[y0:y1, x0:x1])
    local = np.clip(1.0 - dist / (feather + 1.0), 0.0, 1.0)
    local[dist > feather] = 0.0
    weight = np.zeros(mask.shape, np.float32)
    weight[y0:y1, x0:x1] = local
    return weight


def _lung_hw(lung: NdarrayOrTensor, hw: tuple[int, int]) -> np.ndarray:
    arr = lung.detach().cpu().numpy() if isinstance(lung, torch.Tensor) else np.asarray(lung)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != hw:
        raise RegionError(f"lung mask size {tuple(arr.shape)} does not match the image size {hw} (H, W)")
    return arr > 0.5 if arr.dtype.kind == "f" else arr > 0


def _image_hw(img: NdarrayOrTensor) -> tuple[int, int]:
    if img.ndim != 3 or img.shape[0] != 1:
        raise InvalidImageError(f"expected a channel-first (1, H, W) image, found shape {tuple(img.shape)}")
    return _hw(img.shape)


# ----------------------------------------------------------------------------------------------
# deterministic transforms
# ----------------------------------------------------------------------------------------------


class RegionMask(Transform):
    """Turn a region spec into a binary ``(1, H, W)`` mask and a feathered weight for an image.

    Args:
        region: default region spec (see :func:`parse_region`); can be overridden per call.
        units: ``"pixel"``, ``"fraction"`` or ``"auto"`` (see :func:`parse_region`).
        feather: width in pixels of the linear ramp of ``region_weight`` outside the region.
        max_fraction: largest image fraction a region may cover (``None``: no limit).
        clip_to_image: clip boxes/polygons extending past the image instead of raising.

    Calling it with ``(img, region=None, lung=None)`` returns ``(region_mask, region_weight)``, both
    float32 of the image's type; a ``lung`` mask clips the region (an empty result is a
    :class:`~monai_gan_aug.errors.RegionError`). When ``img`` is a ``MetaTensor`` the parsed region
    is recorded in ``img.meta["region"]`` and in the outputs' metadata.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        region: Any = None,
        units: str = "pixel",
        feather: float = 8,
        max_fraction: float | None = 0.5,
        clip_to_image: bool = False,
    ) -> None:
        if units not in UNITS:
            raise ConfigError(f"units must be one of {UNITS}, found {units!r}")
        if feather < 0:
            raise ConfigError(f"feather must be >= 0 pixels, found {feather}")
        if max_fraction is not None and not 0 < max_fraction <= 1:
            raise ConfigError(f"max_fraction must be in (0, 1] or None, found {max_fraction}")
        self.region = region
        self.units = units
        self.feather = feather
        self.max_fraction = max_fraction
        self.clip_to_image = clip_to_image

    def __call__(
        self, img: NdarrayOrTensor, region: Any = None, lung: NdarrayOrTensor | None = None
    ) -> tuple[NdarrayOrTensor, NdarrayOrTensor]:
        hw = _image_hw(img)
        spec = self.region if region is None else region
        if spec is None:
            raise RegionError("no region given: pass region=... to RegionMask or to the call")
        parsed = (
            spec
            if isinstance(spec, Region)
            else parse_region(spec, hw, self.units, self.clip_to_image, self.max_fraction)
        )
        mask = parsed.mask
        record = parsed.as_dict()
        if lung is not None:
            mask = mask & _lung_hw(lung, hw)
            if not mask.any():
                raise RegionError(
                    f"the region {record} does not overlap the lung mask: nothing left after clipping"
                )
            record.update(clipped_to_lung=True, area_px=int(mask.sum()))
        record["feather"] = float(self.feather)
        weight = feather_weight(mask, self.feather)
        if isinstance(img, MetaTensor):
            img.meta["region"] = record
        out_mask, *_ = convert_to_dst_type(mask[None].astype(np.float32), img, dtype=torch.float32)
        out_weight, *_ = convert_to_dst_type(weight[None], img, dtype=torch.float32)
        for out in (out_mask, out_weight):
            if isinstance(out, MetaTensor):
                out.meta["region"] = record
        return out_mask, out_weight


class RegionMaskd(MapTransform):
    """Dictionary wrapper of :class:`RegionMask`.

    Args:
        keys: image key(s) whose grid the region lives on (usually just ``"image"``).
        region: fixed region spec; used when ``region_key`` is absent from the data.
        region_key: data key holding a per-sample region spec (e.g. from a CLI or a manifest).
        mask_key: output key(s) of the binary mask, one per image key.
        weight_key: output key(s) of the feathered weight, one per image key.
        lung_key: data key of a lung mask to clip the region to (``None``: no clipping).
        units, feather, max_fraction, clip_to_image: as in :class:`RegionMask`.
        allow_missing_keys: don't raise when an image key is missing.
    """

    backend = RegionMask.backend

    def __init__(
        self,
        keys: KeysCollection,
        region: Any = None,
        region_key: str | None = None,
        mask_key: str | Sequence[str] = "region_mask",
        weight_key: str | Sequence[str] = "region_weight",
        lung_key: str | None = None,
        units: str = "pixel",
        feather: float = 8,
        max_fraction: float | None = 0.5,
        clip_to_image: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = RegionMask(region, units, feather, max_fraction, clip_to_image)
        self.region_key = region_key
        self.mask_key = ensure_tuple_rep(mask_key, len(self.keys))
        self.weight_key = ensure_tuple_rep(weight_key, len(self.keys))
        self.lung_key = lung_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        region = d.get(self.region_key) if self.region_key is not None else None
        lung = None
        if self.lung_key is not None:
            if self.lung_key not in d:
                raise RegionError(f"lung_key {self.lung_key!r} not found in the data (keys: {list(d)})")
            lung = d[self.lung_key]
        for key, mask_key, weight_key in self.key_iterator(d, self.mask_key, self.weight_key):
            d[mask_key], d[weight_key] = self.converter(d[key], region=region, lung=lung)
        return d


# ----------------------------------------------------------------------------------------------
# random transforms
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _load_prior_file(path: str | None) -> dict[str, Any]:
    try:
        if path is None:
            text = (resources.files("monai_gan_aug.data") / PRIOR_NAME).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        where = path or f"monai_gan_aug/data/{PRIOR_NAME}"
        raise DatasetError(
            f"box prior not found at {where}; rebuild it with scripts/make_rsna_box_prior.py "
            "<torchxrayvision wheel>"
        ) from err
    return json.loads(text)


def load_box_prior(path: str | Path | None = None) -> dict[str, Any]:
    """Load the empirical box prior.

    Args:
        path: a JSON file written by ``scripts/make_rsna_box_prior.py``; ``None``: the shipped one.

    Returns:
        dict with ``boxes``: float ``(N, 4)`` array of normalised ``(cx, cy, w, h)`` and
        ``boxes_per_image``: ``(counts, probabilities)`` arrays; plus ``source``/``license``.

    Raises:
        DatasetError: the file is missing or malformed.
    """
    raw = _load_prior_file(None if path is None else str(path))
    try:
        scale = float(raw["scale"])
        cols = raw["boxes"]
        boxes = np.stack(
            [np.asarray(cols[k], dtype=np.float64) / scale for k in ("cx", "cy", "w", "h")], axis=1
        )
        counts = {int(k): int(v) for k, v in raw["boxes_per_positive_image"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"malformed box prior {path or PRIOR_NAME}: {err}") from err
    if boxes.size == 0 or not counts:
        raise DatasetError(f"box prior {path or PRIOR_NAME} holds no boxes")
    n = np.array(sorted(counts), dtype=np.int64)
    p = np.array([counts[k] for k in n], dtype=np.float64)
    return {
        "boxes": boxes,
        "boxes_per_image": (n, p / p.sum()),
        "source": raw.get("source"),
        "license": raw.get("license"),
    }


class RandRegionMask(RandomizableTransform):
    """Draw pneumonia-like boxes from an empirical prior and rasterise them with :class:`RegionMask`.

    Each box is one real RSNA box (normalised centre and size) scaled to the image. With a lung
    mask, a drawn box is kept only if at least ``min_lung_overlap`` of its area lies in the lung;
    after ``max_tries`` failures the box's size is centred on a random lung pixel instead. Unions
    larger than ``max_fraction`` of the image are redrawn as well (then shrunk as a last resort).

    Args:
        num_boxes: boxes per image, or ``"prior"`` to draw it from the prior's boxes-per-image
            distribution (RSNA: 1 to 4).
        prior: path to a prior JSON, or ``None`` for the shipped RSNA prior.
        min_lung_overlap: fraction of a box's area that must lie in the lung (when a lung is given).
        max_tries: redraws per box before falling back.
        clip_to_lung: also clip the final mask to the lung (else the lung only steers the draw).
        feather, max_fraction: as in :class:`RegionMask`.

    Calling it with ``(img, lung=None, randomize=True)`` returns ``(region_mask, region_weight)``;
    the drawn boxes are recorded in ``meta["region"]`` (``kind="boxes"``, ``prior_index``, ``fallback``).
    """

    backend = RegionMask.backend

    def __init__(
        self,
        num_boxes: int | str = 1,
        prior: str | Path | None = None,
        min_lung_overlap: float = 0.5,
        max_tries: int = 20,
        clip_to_lung: bool = False,
        feather: float = 8,
        max_fraction: float | None = 0.5,
    ) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if not (num_boxes == "prior" or (isinstance(num_boxes, int) and num_boxes >= 1)):
            raise ConfigError(f"num_boxes must be an int >= 1 or 'prior', found {num_boxes!r}")
        if not 0 <= min_lung_overlap <= 1:
            raise ConfigError(f"min_lung_overlap must be in [0, 1], found {min_lung_overlap}")
        if max_tries < 1:
            raise ConfigError(f"max_tries must be >= 1, found {max_tries}")
        self.prior = load_box_prior(prior)
        self.num_boxes = num_boxes
        self.min_lung_overlap = min_lung_overlap
        self.max_tries = max_tries
        self.clip_to_lung = clip_to_lung
        self.max_fraction = max_fraction
        self.converter = RegionMask(feather=feather, max_fraction=max_fraction)
        self._draw: dict[str, Any] | None = None

    def _prior_box(self, hw: tuple[int, int]) -> tuple[int, list[int]]:
        h, w = hw
        idx = int(self.R.randint(len(self.prior["boxes"])))
        cx, cy, bw, bh = self.prior["boxes"][idx]
        return idx, self._box_at(cx * w, cy * h, bw * w, bh * h, hw)

    @staticmethod
    def _box_at(cx: float, cy: float, bw: float, bh: float, hw: tuple[int, int]) -> list[int]:
        """Integer box of at least 1x1 px centred at (cx, cy), clipped to the image."""
        h, w = hw
        bw, bh = max(bw, 1.0), max(bh, 1.0)
        x0, y0 = int(round(cx - bw / 2)), int(round(cy - bh / 2))
        x1, y1 = max(int(round(cx + bw / 2)), x0 + 1), max(int(round(cy + bh / 2)), y0 + 1)
        x0, y0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
        return [x0, y0, min(max(x1, x0 + 1), w), min(max(y1, y0 + 1), h)]

    def _lung_overlap(self, box: list[int], lung: np.ndarray | None) -> bool:
        if lung is None:
            return True
        x0, y0, x1, y1 = box
        return float(lung[y0:y1, x0:x1].mean()) >= self.min_lung_overlap

    def _fallback_box(self, box: list[int], lung: np.ndarray, hw: tuple[int, int]) -> list[int]:
        rows, cols = np.nonzero(lung)
        i = int(self.R.randint(len(rows)))
        return self._box_at(cols[i] + 0.5, rows[i] + 0.5, box[2] - box[0], box[3] - box[1], hw)

    def _union_fraction(self, boxes: list[list[int]], hw: tuple[int, int]) -> float:
        mask = np.zeros(hw, dtype=bool)
        for x0, y0, x1, y1 in boxes:
            mask[y0:y1, x0:x1] = True
        return float(mask.mean())

    def randomize(self, image_shape: Sequence[int], lung: np.ndarray | None = None) -> None:  # type: ignore[override]
        """Draw the boxes for an image of ``image_shape`` (and optional boolean lung mask)."""
        super().randomize(None)
        hw = _hw(image_shape)
        if lung is not None and not lung.any():
            raise RegionError("the lung mask is empty: cannot place a region inside the lung")
        if self.num_boxes == "prior":
            counts, probs = self.prior["boxes_per_image"]
            n = int(self.R.choice(counts, p=probs))
        else:
            n = int(self.num_boxes)
        limit = 1.0 if self.max_fraction is None else self.max_fraction
        boxes: list[list[int]] = []
        indices: list[int] = []
        fallback = False
        for _ in range(n):
            for _try in range(self.max_tries):
                idx, box = self._prior_box(hw)
                if self._lung_overlap(box, lung) and self._union_fraction(boxes + [box], hw) <= limit:
                    break
            else:  # no draw satisfied the constraints within max_tries
                fallback = True
                if lung is not None and not self._lung_overlap(box, lung):
                    box = self._fallback_box(box, lung, hw)
                while self._union_fraction(boxes + [box], hw) > limit:  # shrink about the centre
                    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                    box = self._box_at(cx, cy, (box[2] - box[0]) * 0.8, (box[3] - box[1]) * 0.8, hw)
            boxes.append(box)
            indices.append(idx)
        self._draw = {"boxes": boxes, "prior_index": indices, "fallback": fallback}

    def __call__(
        self, img: NdarrayOrTensor, lung: NdarrayOrTensor | None = None, randomize: bool = True
    ) -> tuple[NdarrayOrTensor, NdarrayOrTensor]:
        hw = _image_hw(img)
        lung_arr = None if lung is None else _lung_hw(lung, hw)
        if randomize:
            self.randomize(hw, lung_arr)
        if self._draw is None:
            raise RegionError("RandRegionMask called with randomize=False before any draw")
        region = parse_region({"boxes": self._draw["boxes"]}, hw, max_fraction=self.max_fraction)
        region.params.update(
            prior_index=self._draw["prior_index"],
            fallback=self._draw["fallback"],
            drawn_by="RandRegionMask",
            prior=self.prior["source"],
        )
        return self.converter(img, region=region, lung=lung if self.clip_to_lung else None)


class RandRegionMaskd(RandomizableTransform, MapTransform):
    """Dictionary wrapper of :class:`RandRegionMask`: one draw per sample, shared by all ``keys``.

    Args:
        keys: image key(s); every key gets the same drawn region on its grid (same-size images).
        lung_key: data key of a lung mask that steers the draw (and clips it if ``clip_to_lung``).
        mask_key, weight_key: output key(s), one per image key.
        num_boxes, prior, min_lung_overlap, max_tries, clip_to_lung, feather, max_fraction:
            as in :class:`RandRegionMask`.
        allow_missing_keys: don't raise when an image key is missing.
    """

    backend = RandRegionMask.backend

    def __init__(
        self,
        keys: KeysCollection,
        lung_key: str | None = None,
        mask_key: str | Sequence[str] = "region_mask",
        weight_key: str | Sequence[str] = "region_weight",
        num_boxes: int | str = 1,
        prior: str | Path | None = None,
        min_lung_overlap: float = 0.5,
        max_tries: int = 20,
        clip_to_lung: bool = False,
        feather: float = 8,
        max_fraction: float | None = 0.5,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        self.rand_region = RandRegionMask(
            num_boxes, prior, min_lung_overlap, max_tries, clip_to_lung, feather, max_fraction
        )
        self.lung_key = lung_key
        self.mask_key = ensure_tuple_rep(mask_key, len(self.keys))
        self.weight_key = ensure_tuple_rep(weight_key, len(self.keys))

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandRegionMaskd:
        super().set_random_state(seed, state)
        self.rand_region.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        lung = None
        if self.lung_key is not None:
            if self.lung_key not in d:
                raise RegionError(f"lung_key {self.lung_key!r} not found in the data (keys: {list(d)})")
            lung = d[self.lung_key]
        first = True
        for key, mask_key, weight_key in self.key_iterator(d, self.mask_key, self.weight_key):
            d[mask_key], d[weight_key] = self.rand_region(d[key], lung=lung, randomize=first)
            first = False
        return d


RegionMaskD = RegionMaskDict = RegionMaskd
RandRegionMaskD = RandRegionMaskDict = RandRegionMaskd
