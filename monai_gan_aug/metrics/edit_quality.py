"""Pixel-level quality of a region edit: is there a seam, and is the anatomy's fine structure kept?

Two before/after measures of one edit (issue #16), both on a single ``(H, W)`` or ``(1, H, W)``
image in ``[0, 1]`` with the binary mask of the edited region:

* :func:`seam_ratio`: fine-scale edge strength on a thin band along the region's outline, edited
  over original. An edit whose border shows (a pasted patch, a drawn box) scores well above 1; an
  edit that blends in scores about 1.
* :func:`straight_seam_ratio`: the same for an axis-aligned box, with the fine-scale content first
  averaged *along* each box edge, so that a faint but straight seam (which the eye picks out
  easily) stands out of the texture, which averages away.
* :func:`structure_correlation`: Pearson correlation of the fine-scale content inside the region,
  before versus after. About 1 when the edit keeps the anatomy underneath (a smooth additive
  opacity), about 0 when the region's content is replaced by something unrelated.

"Fine-scale content" is the image minus its Gaussian blur (:func:`detail`), so smooth changes
(a broad opacity, a gentle brightness ramp) do not count as seams or as lost structure. Gradients
are Sobel (:func:`scipy.ndimage.sobel`) divided by 8, i.e. intensity change per pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import InvalidImageError, RegionError

__all__ = [
    "SEAM_FLOOR",
    "outline_band",
    "detail",
    "gradient_magnitude",
    "outline_edge_energy",
    "seam_ratio",
    "box_edge_profiles",
    "straight_seam_ratio",
    "structure_correlation",
]

#: edge strength (intensity per pixel) added to both sides of :func:`seam_ratio`: one 8-bit grey
#: level per pixel, below which an edge is invisible on a display, so flat images give ratio ~1
SEAM_FLOOR = 1.0 / 255.0


def _as_image(image: Any, name: str) -> np.ndarray:
    """``(H, W)`` float64 array from an ``(H, W)`` / ``(1, H, W)`` array or tensor."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or min(arr.shape) < 3:
        raise InvalidImageError(
            f"{name}: expected an (H, W) or (1, H, W) image (H, W >= 3), got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise InvalidImageError(f"{name} holds NaN or Inf values")
    return arr


def _as_mask(region_mask: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Boolean ``(H, W)`` mask (values > 0.5), of the image's ``shape`` if given; never empty."""
    if hasattr(region_mask, "detach"):
        region_mask = region_mask.detach().cpu().numpy()
    mask = np.asarray(region_mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if shape is None and mask.ndim != 2:
        raise RegionError(f"expected an (H, W) or (1, H, W) region mask, got shape {mask.shape}")
    if shape is not None and mask.shape != shape:
        raise RegionError(f"region mask has shape {mask.shape}, the image {shape}: they must match")
    mask = mask.astype(np.float64) > 0.5
    if not mask.any():
        raise RegionError("region mask is empty (no pixel > 0.5)")
    return mask


def _pair(original: Any, edited: Any, region_mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    before, after = _as_image(original, "original"), _as_image(edited, "edited")
    if before.shape != after.shape:
        raise InvalidImageError(f"original is {before.shape}, edited {after.shape}: they must match")
    return before, after, _as_mask(region_mask, before.shape)


def outline_band(region_mask: Any, width: int = 3) -> np.ndarray:
    """Pixels within ``width`` px of the region's outline, on both sides, as a boolean ``(H, W)`` array.

    Inside pixels at Euclidean distance ``1 .. width`` from the nearest outside pixel, and outside
    pixels at distance ``1 .. width`` from the nearest inside pixel
    (:func:`scipy.ndimage.distance_transform_edt`). The image border is not an outline: a region
    touching it has no band there.

    Raises:
        RegionError: empty mask, a mask covering the whole image (no outline), or ``width < 1``.
    """
    if width < 1:
        raise RegionError(f"band width must be >= 1 px, got {width}")
    mask = _as_mask(region_mask)
    if mask.all():
        raise RegionError("region mask covers the whole image: it has no outline")
    inside = mask & (ndimage.distance_transform_edt(mask) <= width)
    outside = ~mask & (ndimage.distance_transform_edt(~mask) <= width)
    return inside | outside


def detail(image: Any, sigma: float | None = 2.0) -> np.ndarray:
    """Fine-scale content: the ``(H, W)`` image minus its Gaussian blur of ``sigma`` px (reflect border).

    ``sigma=None`` returns the image itself.
    """
    arr = _as_image(image, "image")
    if sigma is None:
        return arr
    if sigma <= 0:
        raise InvalidImageError(f"sigma must be > 0 (or None), got {sigma}")
    return arr - ndimage.gaussian_filter(arr, sigma)


def gradient_magnitude(image: Any) -> np.ndarray:
    """Sobel gradient magnitude of an ``(H, W)`` image in intensity per pixel (Sobel / 8, reflect border)."""
    arr = _as_image(image, "image")
    return np.hypot(ndimage.sobel(arr, axis=0), ndimage.sobel(arr, axis=1)) / 8.0


def outline_edge_energy(
    image: Any, region_mask: Any, width: int = 3, detail_sigma: float | None = 2.0
) -> float:
    """Mean Sobel gradient magnitude of ``detail(image, detail_sigma)`` over :func:`outline_band`.

    Raises:
        InvalidImageError: malformed image. RegionError: see :func:`outline_band`.
    """
    arr = _as_image(image, "image")
    band = outline_band(_as_mask(region_mask, arr.shape), width)
    return float(gradient_magnitude(detail(arr, detail_sigma))[band].mean())


def seam_ratio(
    original: Any,
    edited: Any,
    region_mask: Any,
    width: int = 3,
    detail_sigma: float | None = 2.0,
    floor: float = SEAM_FLOOR,
) -> float:
    """How much stronger the edges along the region's outline are after the edit than before.

    Exactly: ``(E(edited) + floor) / (E(original) + floor)`` where ``E`` is
    :func:`outline_edge_energy`: the mean Sobel gradient magnitude (intensity per pixel) of the
    image's fine-scale content (image minus a Gaussian blur of ``detail_sigma`` px) over the band of
    pixels within ``width`` px of the mask's outline, inside and outside. The blur removes smooth
    changes, so a broad additive opacity or a feathered brightness ramp adds little; a sharp
    border (a pasted patch, a drawn box, a step in brightness) adds a lot. ``detail_sigma=None``
    measures the raw image's gradients (broad ramps then count as well). Edges along the outline
    that were there before the edit (anatomy crossing it) count on both sides of the ratio.

    The measure is orientation-blind and averages over the whole outline: a faint but perfectly
    straight seam (a box edge) that the eye picks up easily may move it little.

    Args:
        original, edited: ``(H, W)`` or ``(1, H, W)`` images in ``[0, 1]`` (arrays or tensors).
        region_mask: binary mask of the edited region (values > 0.5 are inside), same shape.
        width: band half-width in pixels.
        detail_sigma: Gaussian blur (px) subtracted before the gradient; ``None`` for raw gradients.
        floor: added to both energies (default one 8-bit grey level per pixel) so that flat images
            do not divide by zero.

    Returns:
        About 1 for an invisible border, well above 1 for a visible one (below 1: the edit smoothed
        edges that were there).

    Raises:
        InvalidImageError: malformed or mismatched images. RegionError: empty, full or mismatched
        mask.
    """
    before, after, mask = _pair(original, edited, region_mask)
    if floor < 0:
        raise InvalidImageError(f"floor must be >= 0, got {floor}")
    e_before = outline_edge_energy(before, mask, width, detail_sigma)
    e_after = outline_edge_energy(after, mask, width, detail_sigma)
    if e_before + floor == 0:
        raise InvalidImageError("the original has no edges on the outline and floor is 0: no ratio")
    return float((e_after + floor) / (e_before + floor))


def box_edge_profiles(
    image: Any, box: Any, width: int = 3, detail_sigma: float | None = 2.0
) -> list[np.ndarray]:
    """Profiles of ``detail(image)`` across each edge of ``box``, averaged along the edge.

    For the top edge (between rows ``y0 - 1`` and ``y0``) the profile is the mean over columns
    ``x0 .. x1 - 1`` of rows ``y0 - width .. y0 + width - 1`` (``2 * width`` values, outside first);
    likewise for the bottom (``y1``), left (``x0``) and right (``x1``) edges. Edges whose band would
    leave the image (a box touching or near the border) are skipped.

    Args:
        image: ``(H, W)`` or ``(1, H, W)`` image.
        box: ``(x0, y0, x1, y1)`` in pixels, end-exclusive (the project's box convention).
        width: pixels on each side of the edge.
        detail_sigma: see :func:`detail`.

    Raises:
        RegionError: a box that is empty, out of the image, or with no edge at least ``width`` px
            from the border; ``width < 1``.
    """
    arr = detail(image, detail_sigma)
    h, w = arr.shape
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError) as exc:
        raise RegionError(f"box must be (x0, y0, x1, y1), got {box!r}") from exc
    if width < 1:
        raise RegionError(f"band width must be >= 1 px, got {width}")
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise RegionError(f"box {(x0, y0, x1, y1)} is empty or outside the {w} x {h} image")
    profiles = []
    for pos, lo, hi in ((y0, 0, h), (y1, 0, h)):
        if pos - width >= lo and pos + width <= hi:
            profiles.append(arr[pos - width : pos + width, x0:x1].mean(axis=1))
    for pos, lo, hi in ((x0, 0, w), (x1, 0, w)):
        if pos - width >= lo and pos + width <= hi:
            profiles.append(arr[y0:y1, pos - width : pos + width].mean(axis=0))
    if not profiles:
        raise RegionError(f"box {(x0, y0, x1, y1)} has no edge at least {width} px inside the image")
    return profiles


def straight_seam_ratio(
    original: Any,
    edited: Any,
    box: Any,
    width: int = 3,
    detail_sigma: float | None = 2.0,
    floor: float = SEAM_FLOOR,
) -> float:
    """:func:`seam_ratio` for the straight edges of an axis-aligned box: coherent seams only.

    Exactly: ``(E(edited) + floor) / (E(original) + floor)`` where ``E`` is the mean absolute
    first difference of the :func:`box_edge_profiles` (fine-scale content averaged along each edge,
    then its change per pixel across the edge), averaged over the box's edges. Averaging along an
    edge of length ``L`` shrinks texture and noise by about ``sqrt(L)`` but keeps a straight
    seam, so a faint box outline that :func:`seam_ratio` barely registers scores well above 1
    here. It is blind to seams that are not straight and aligned with the box (use
    :func:`seam_ratio` for those).

    Args:
        original, edited: ``(H, W)`` or ``(1, H, W)`` images in ``[0, 1]`` of the same shape.
        box: ``(x0, y0, x1, y1)``, end-exclusive.
        width, detail_sigma, floor: as in :func:`seam_ratio`.

    Raises:
        InvalidImageError: malformed or mismatched images. RegionError: see :func:`box_edge_profiles`.
    """
    before, after = _as_image(original, "original"), _as_image(edited, "edited")
    if before.shape != after.shape:
        raise InvalidImageError(f"original is {before.shape}, edited {after.shape}: they must match")
    if floor < 0:
        raise InvalidImageError(f"floor must be >= 0, got {floor}")

    def energy(image: np.ndarray) -> float:
        profiles = box_edge_profiles(image, box, width, detail_sigma)
        return float(np.mean([np.abs(np.diff(p)).mean() for p in profiles]))

    e_before, e_after = energy(before), energy(after)
    if e_before + floor == 0:
        raise InvalidImageError("the original has no edges on the box outline and floor is 0: no ratio")
    return float((e_after + floor) / (e_before + floor))


def structure_correlation(original: Any, edited: Any, region_mask: Any, sigma: float = 2.0) -> float:
    """Pearson correlation, over the region's pixels, of the fine-scale content before and after the edit.

    The fine-scale content is :func:`detail` (image minus a Gaussian blur of ``sigma`` px). An
    additive opacity smoother than ``sigma`` leaves it unchanged (correlation ~1); so does a
    global contrast change. Content unrelated to the original (noise, another patient's texture)
    gives ~0; an inverted texture gives -1.

    Args:
        original, edited: ``(H, W)`` or ``(1, H, W)`` images in ``[0, 1]`` (arrays or tensors).
        region_mask: binary mask of the edited region (values > 0.5 are inside), same shape.
        sigma: blur (px) whose residual counts as fine structure.

    Returns:
        The correlation in ``[-1, 1]``; 0 when the edited region has no fine structure left at
        all (a flat fill).

    Raises:
        InvalidImageError: malformed or mismatched images, or an original without fine structure
            in the region (nothing to keep, the correlation is undefined).
        RegionError: empty or mismatched mask, or a region of fewer than 2 pixels.
    """
    before, after, mask = _pair(original, edited, region_mask)
    if mask.sum() < 2:
        raise RegionError("the region needs at least 2 pixels for a correlation")
    d_before, d_after = detail(before, sigma)[mask], detail(after, sigma)[mask]
    if d_before.std() < 1e-9:
        raise InvalidImageError("the original has no fine structure inside the region: nothing to compare")
    if d_after.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(d_before, d_after)[0, 1])
