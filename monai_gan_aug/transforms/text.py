"""Removal of burned-in markers and text from radiographs (the "R" of paediatric films, "PA ERECT",
"PORTABLE", panel letters).

Two methods:

* ``"threshold"``: every pixel at or above ``bright_threshold`` (plus a ``dilate`` px halo) is set to
  ``fill_value``. Simple and predictable, but it also blanks saturated bone or metal anywhere in
  the image and leaves a black hole: use it only on images whose sole saturated pixels are text.
* ``"components"`` (default): finds small, saturated, high-contrast, letter-sized connected
  components near the image border (or, with a lung mask, outside the lung field) and inpaints
  them from their surroundings with OpenCV's Telea method. Why these tests: burned-in text is
  drawn at the detector's maximum value (saturated) with thin strokes that a white top-hat keeps
  whole; ribs and clavicles are rarely saturated and are long, so they fail the size/aspect tests;
  large bright blobs (humeral heads) vanish in the top-hat because they are wider than its kernel.

Both write the removed-pixel mask (``(1, H, W)`` float32) so it can be inspected. Images are
``(1, H, W)`` in ``[0, 1]`` (air dark). Sizes are fractions of the image's longest side so the
defaults work at any resolution.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, ensure_tuple_rep
from scipy import ndimage

from ..errors import ConfigError, InvalidImageError

__all__ = [
    "METHODS",
    "RemoveBurnedInText",
    "RemoveBurnedInTextD",
    "RemoveBurnedInTextDict",
    "RemoveBurnedInTextd",
    "TextDetectionParams",
    "detect_text_components",
]

METHODS = ("components", "threshold")
DILATE_FRACTION = 0.008  # default dilation, as a fraction of the longest side


@dataclass(frozen=True)
class TextDetectionParams:
    """Thresholds of the component detector (sizes are fractions of the image's longest side).

    Attributes:
        bright_threshold: a candidate text pixel is at least this bright.
        seed_contrast: white top-hat response (brightness above the local background) of a
            candidate pixel.
        saturation: a component's brightest pixel must reach this (burned-in text is drawn at the
            top of the range).
        min_contrast: a component's mean top-hat response (brightness above its local background).
        min_edge: largest intensity gradient (per pixel, central differences) within 2 px of the
            component. Text is drawn onto the image after acquisition, so its edges are sharp
            (>= 0.38 on the Kermany 512 px films); bone edges are blurred by the imaging chain
            (<= 0.25 on most films; up to 0.35 where over-contrasted clavicles/ribs saturate).
        sharp_edge, min_mean: a component must also have an edge of at least ``sharp_edge`` (small
            sharp letters) or a mean intensity of at least ``min_mean`` (bold letters are flat white
            inside, blurred a little by resizing; saturated bone tips average <= 0.95).
        tophat_size: kernel side of the top-hat; wider than a letter stroke, narrower than bones.
        min_size, max_size: range of a component's bounding-box longest side.
        max_aspect: longest / shortest bounding-box side (ribs, wires and clavicles are longer).
        border_fraction: without a lung mask, a component must lie within this distance of an edge.
        lung_margin: with a lung mask, a component must stay this far (px fraction) from the lung.
    """

    bright_threshold: float = 0.85
    seed_contrast: float = 0.2
    saturation: float = 0.9
    min_contrast: float = 0.3
    min_edge: float = 0.3
    sharp_edge: float = 0.45
    min_mean: float = 0.96
    tophat_size: float = 0.04
    min_size: float = 0.006
    max_size: float = 0.08
    max_aspect: float = 5.0
    border_fraction: float = 0.25
    lung_margin: float = 0.01

    def __post_init__(self) -> None:
        for name in (
            "bright_threshold",
            "seed_contrast",
            "saturation",
            "min_contrast",
            "min_edge",
            "min_mean",
            "tophat_size",
            "min_size",
            "max_size",
            "border_fraction",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"{name} must be in (0, 1], found {value}")
        if self.min_size >= self.max_size:
            raise ConfigError(f"min_size ({self.min_size}) must be below max_size ({self.max_size})")
        if self.max_aspect < 1:
            raise ConfigError(f"max_aspect must be >= 1, found {self.max_aspect}")
        if not 0 <= self.lung_margin < 1:
            raise ConfigError(f"lung_margin must be in [0, 1), found {self.lung_margin}")


def _odd(n: float) -> int:
    k = max(3, int(round(n)))
    return k if k % 2 else k + 1


def _keep(
    box: tuple[slice, slice],
    hw: tuple[int, int],
    p: TextDetectionParams,
    values: np.ndarray,
    tophat: np.ndarray,
    edge: float,
    far_from_lung: bool | None,
) -> bool:
    """Intensity, size, shape and location tests of one component (``values``/``tophat``: its pixels)."""
    if values.max() < p.saturation or tophat.mean() < p.min_contrast or edge < p.min_edge:
        return False
    if edge < p.sharp_edge and values.mean() < p.min_mean:
        return False
    side = max(hw)
    bh, bw = box[0].stop - box[0].start, box[1].stop - box[1].start
    if not p.min_size * side <= max(bh, bw) <= p.max_size * side:
        return False
    if max(bh, bw) / max(min(bh, bw), 1) > p.max_aspect:
        return False
    if far_from_lung is not None:
        return far_from_lung
    edge = min(box[0].start, box[1].start, hw[0] - box[0].stop, hw[1] - box[1].stop)
    return edge <= p.border_fraction * side


def detect_text_components(
    img: np.ndarray, lung: np.ndarray | None = None, params: TextDetectionParams | None = None
) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the pixels of text-like components (before any dilation).

    Args:
        img: float ``(H, W)`` image in ``[0, 1]``.
        lung: optional boolean ``(H, W)`` lung mask; components must then lie outside it.
        params: detector thresholds.
    """
    p = params or TextDetectionParams()
    hw = img.shape
    side = max(hw)
    kernel = np.ones((_odd(p.tophat_size * side),) * 2, np.uint8)
    tophat = cv2.morphologyEx(img.astype(np.float32), cv2.MORPH_TOPHAT, kernel)
    seeds = (img >= p.bright_threshold) & (tophat >= p.seed_contrast)
    if not seeds.any():
        return np.zeros(hw, dtype=bool)
    near_lung = None
    if lung is not None:
        near_lung = ndimage.binary_dilation(lung, iterations=max(1, int(round(p.lung_margin * side))))
    gy, gx = np.gradient(img.astype(np.float32))
    # the strongest gradient within 2 px of a component's pixels: reaches its outer edge
    grad = ndimage.maximum_filter(np.hypot(gx, gy), size=5)
    found = np.zeros(hw, dtype=bool)
    eight = np.ones((3, 3), int)
    # a letter's stroke may be split at the threshold: group seeds 1 px apart into one component
    labels, _ = ndimage.label(ndimage.binary_dilation(seeds, np.ones((3, 3), bool)), eight)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        pixels = (labels[box] == i) & seeds[box]
        if _judge(box, pixels, img, tophat, grad, near_lung, p, found):
            continue
        # rejected: if it is too long it may be a word whose letters the grouping merged, so
        # judge its 8-connected pieces one by one
        if max(s.stop - s.start for s in box) > p.max_size * side:
            sub, _ = ndimage.label(pixels, eight)
            for j, sub_box in enumerate(ndimage.find_objects(sub), start=1):
                abs_box = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, sub_box))
                _judge(abs_box, sub[sub_box] == j, img, tophat, grad, near_lung, p, found)
    return found


def _judge(
    box: tuple[slice, slice],
    pixels: np.ndarray,
    img: np.ndarray,
    tophat: np.ndarray,
    grad: np.ndarray,
    near_lung: np.ndarray | None,
    p: TextDetectionParams,
    found: np.ndarray,
) -> bool:
    """Test one component (``pixels`` within ``box``); if it is text, add it to ``found``
    (grown into its fainter strokes) and return True."""
    far = None if near_lung is None else not near_lung[box][pixels].any()
    if not _keep(
        box, img.shape, p, img[box][pixels], tophat[box][pixels], float(grad[box][pixels].max()), far
    ):
        return False
    # hysteresis near the letter: thin or anti-aliased strokes (the bar of an "A", the foot of an
    # "L") stay below bright_threshold but still stand out of the background
    m = max(2, max(s.stop - s.start for s in box) // 2)  # about half a letter
    pad = tuple(slice(max(s.start - m, 0), min(s.stop + m, dim)) for s, dim in zip(box, img.shape))
    start = _pixels_in(pad, box, pixels)
    found[pad] |= ndimage.binary_propagation(start, mask=(tophat[pad] >= p.seed_contrast / 2) | start)
    return True


def _inpaint(arr: np.ndarray, mask: np.ndarray, radius: float) -> np.ndarray:
    """Telea inpainting through 16-bit integers: OpenCV's float32 path returns garbage values
    (seen with opencv-python 5.0: values outside [-1, 2] for a [0, 1] image), the 16-bit one is
    exact to 1/65535."""
    u16 = np.round(arr * 65535.0).astype(np.uint16)
    filled = cv2.inpaint(u16, mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    out = arr.copy()
    out[mask] = filled[mask].astype(np.float32) / 65535.0  # pixels outside the mask stay bit-exact
    return out


def _pixels_in(outer: tuple[slice, slice], inner: tuple[slice, slice], pixels: np.ndarray) -> np.ndarray:
    """Place a mask given on the ``inner`` box into an array the shape of the ``outer`` box."""
    out = np.zeros(tuple(s.stop - s.start for s in outer), dtype=bool)
    out[tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer))] = pixels
    return out


def _image_hw(img: NdarrayOrTensor) -> np.ndarray:
    if img.ndim != 3 or img.shape[0] != 1:
        raise InvalidImageError(f"expected a channel-first (1, H, W) image, found shape {tuple(img.shape)}")
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    arr = arr[0].astype(np.float32)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidImageError("image is empty or contains NaN/Inf values")
    if arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise InvalidImageError(f"expected intensities in [0, 1], found [{arr.min():.3g}, {arr.max():.3g}]")
    return np.clip(arr, 0.0, 1.0)


class RemoveBurnedInText(Transform):
    """Remove burned-in text/markers from a ``(1, H, W)`` image in ``[0, 1]``.

    Args:
        method: ``"components"`` (detect letter-like components and inpaint, default) or
            ``"threshold"`` (blank every pixel >= ``bright_threshold``).
        dilate: pixels added around detected text before removal, for the anti-aliased edges and
            the dark drop shadow many markers are drawn with; ``None``: 0.8% of the longest side,
            at least 2 (4 px at 512 px; 2 px left a visible dark "ghost" of the shadow on Kermany films).
        inpaint_radius: radius of OpenCV's Telea inpainting (``"components"``).
        fill_value: value written by ``"threshold"``.
        params: detector thresholds (:class:`TextDetectionParams`); its ``bright_threshold`` is
            also the threshold of ``"threshold"``.

    Calling it with ``(img, lung=None)`` returns ``(cleaned, text_mask)``, both of the image's type;
    ``text_mask`` is the float32 ``(1, H, W)`` mask of the replaced pixels. When ``img`` is a
    ``MetaTensor`` the number of removed pixels and the method are recorded in
    ``meta["burned_in_text"]``.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        method: str = "components",
        dilate: int | None = None,
        inpaint_radius: float = 3.0,
        fill_value: float = 0.0,
        params: TextDetectionParams | None = None,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, found {method!r}")
        if (dilate is not None and dilate < 0) or inpaint_radius <= 0:
            raise ConfigError(f"dilate must be >= 0 and inpaint_radius > 0, found {dilate}, {inpaint_radius}")
        if not 0 <= fill_value <= 1:
            raise ConfigError(f"fill_value must be in [0, 1], found {fill_value}")
        self.method = method
        self.dilate = dilate
        self.inpaint_radius = float(inpaint_radius)
        self.fill_value = float(fill_value)
        self.params = params or TextDetectionParams()

    def text_mask(self, arr: np.ndarray, lung: np.ndarray | None = None) -> np.ndarray:
        """Boolean ``(H, W)`` mask of the pixels this transform replaces (after dilation)."""
        if self.method == "threshold":
            mask = arr >= self.params.bright_threshold
        else:
            mask = detect_text_components(arr, lung, self.params)
        dilate = (
            self.dilate if self.dilate is not None else max(2, int(round(DILATE_FRACTION * max(arr.shape))))
        )
        if dilate and mask.any():
            mask = ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=dilate)
        return mask

    def __call__(
        self, img: NdarrayOrTensor, lung: NdarrayOrTensor | None = None
    ) -> tuple[NdarrayOrTensor, NdarrayOrTensor]:
        arr = _image_hw(img)
        lung_arr = None
        if lung is not None:
            lung_np = lung.detach().cpu().numpy() if isinstance(lung, torch.Tensor) else np.asarray(lung)
            lung_arr = lung_np.reshape(lung_np.shape[-2:]) > 0.5 if lung_np.size == arr.size else None
            if lung_arr is None:
                raise InvalidImageError(
                    f"lung mask shape {tuple(lung_np.shape)} does not match the image {arr.shape}"
                )
        mask = self.text_mask(arr, lung_arr)
        out = arr.copy()
        if mask.any():
            if self.method == "threshold":
                out[mask] = self.fill_value
            else:
                out = _inpaint(arr, mask, self.inpaint_radius)
        cleaned, *_ = convert_to_dst_type(out[None], img, dtype=torch.float32)
        text_mask, *_ = convert_to_dst_type(mask[None].astype(np.float32), img, dtype=torch.float32)
        record = {"method": self.method, "removed_px": int(mask.sum())}
        for t in (img, cleaned):
            if isinstance(t, MetaTensor):
                t.meta["burned_in_text"] = record
        return cleaned, text_mask


class RemoveBurnedInTextd(MapTransform):
    """Dictionary wrapper of :class:`RemoveBurnedInText`.

    Args:
        keys: image key(s) to clean in place.
        mask_key: output key(s) of the removed-pixel mask, one per image key (``None``: not kept).
        lung_key: data key of a lung mask (components must then lie outside the lung field).
        method, dilate, inpaint_radius, fill_value, params: as in :class:`RemoveBurnedInText`.
        allow_missing_keys: don't raise when an image key is missing.
    """

    backend = RemoveBurnedInText.backend

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: str | Sequence[str] | None = "text_mask",
        lung_key: str | None = None,
        method: str = "components",
        dilate: int | None = None,
        inpaint_radius: float = 3.0,
        fill_value: float = 0.0,
        params: TextDetectionParams | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.remover = RemoveBurnedInText(method, dilate, inpaint_radius, fill_value, params)
        self.mask_key = ensure_tuple_rep(mask_key, len(self.keys))
        self.lung_key = lung_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.lung_key is not None and self.lung_key not in d:
            raise ConfigError(f"lung_key {self.lung_key!r} not found in the data (keys: {list(d)})")
        lung = d.get(self.lung_key) if self.lung_key is not None else None
        for key, mask_key in self.key_iterator(d, self.mask_key):
            d[key], text_mask = self.remover(d[key], lung=lung)
            if mask_key is not None:
                d[mask_key] = text_mask
        return d


RemoveBurnedInTextD = RemoveBurnedInTextDict = RemoveBurnedInTextd
