"""Lesion footprints: where inside a user's region the pneumonia actually goes.

A region (box, polygon, lung-clipped mask) marks where the disease *may* go, not its outline.
Real opacities are irregular and patchy, denser in the middle, sometimes several blobs, and rarely
fill their box. This module draws such a footprint inside the region:

* :func:`sample_footprint` draws the parameters from an empirical shape prior (measured on the
  COVID-QU-Ex infection masks, ``monai_gan_aug/data/lesion_shape_prior.json``, built by
  ``scripts/fit_lesion_shape_prior.py``) and calls :func:`footprint_from_params`, which thresholds
  a smoothed Gaussian random field plus a centre-weighted envelope over the region's bounding box
  at the level giving the drawn fill fraction, keeps 1-3 blobs, fills their holes and intersects
  them with the region. Every length is relative to the region's bounding box, so a 30 px box and a
  1000 px box get the same shapes (big regions are worked on a downsampled grid, then the score is
  interpolated back so that the edge stays smooth at full resolution).
* :func:`soft_footprint` gives the footprint a soft edge (alpha in ``[0, 1]``).
* :class:`LesionFootprint` (deterministic, explicit parameters incl. a seed) and
  :class:`RandLesionFootprint` (draws parameters, delegates), with dictionary twins that read a
  ``region_mask`` and write a ``lesion_mask``, recording the parameters in its metadata
  (``meta["lesion_footprint"]``).
* :func:`component_shapes` / :func:`measure_lesion_masks` / :func:`fit_shape_prior` measure real
  masks (used by the fit script and by the validation in ``docs/lesion_footprints.md``).

Shape measures: the *fill fraction* of a connected component is its area over its bounding box's
area; its *compactness* ``4 pi A / P^2`` uses ``P`` = the number of its pixels with a 4-neighbour
outside it (a disc scores about 1.2 with this perimeter; the marching-squares contour length,
reported as ``compactness_contour``, gives about 0.9).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
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

from ..errors import ConfigError, DatasetError, RegionError

__all__ = [
    "EXTENT_PRESETS",
    "FOOTPRINT_META_KEY",
    "LesionFootprint",
    "LesionFootprintD",
    "LesionFootprintDict",
    "LesionFootprintd",
    "MIN_COMPONENT_PX",
    "RandLesionFootprint",
    "RandLesionFootprintD",
    "RandLesionFootprintDict",
    "RandLesionFootprintd",
    "boundary_length",
    "component_shapes",
    "contour_length",
    "draw_footprint_params",
    "fit_shape_prior",
    "footprint_from_params",
    "load_shape_prior",
    "resolve_extent",
    "measure_lesion_masks",
    "sample_footprint",
    "soft_footprint",
]

PRIOR_NAME = "lesion_shape_prior.json"
FOOTPRINT_META_KEY = "lesion_footprint"
MIN_COMPONENT_PX = 30  # as the covidqu manifest's boxes: 8-connected components of >= 30 px
QUANTILE_PERCENTS = tuple(range(0, 101, 5))
GRID_SIDE = 96  # regions whose longer side exceeds this are worked on a downsampled grid
DEFAULT_SMOOTHNESS = (0.10, 0.18)  # field sigma as a fraction of the region's bbox side
DEFAULT_EXTENT = (0.5, 0.8)  # fraction of the region a lesion spans (user boxes are not tight)
TIGHT_EXTENT = (0.9, 1.0)  # boxes drawn around a lesion (covidqu component boxes, radiologist boxes)
#: named ``extent`` ranges: ``"loose"`` a box marking where a lesion may go, ``"tight"`` a box drawn
#: around one (a real component fills a median 54 % of its tight box: the prior's ``fill``)
EXTENT_PRESETS = {"loose": DEFAULT_EXTENT, "tight": TIGHT_EXTENT}
FIELD_AMPLITUDE = 0.85  # weight of the random field against the centre-weighted envelope
FINE_WEIGHT = 0.2  # weight of the finer octave of the field (ragged edges)
WARP_SCALE = 0.25  # smoothness of the coordinate warp (fraction of the bbox side)
WARP_AMPLITUDE = 0.2  # size of the coordinate warp (fraction of the bbox side)
CENTRE_JITTER = 0.12
MAIN_RADIUS = 0.42
MAX_ELONGATION = 3.0
EDGE_MARGIN = 0.12  # border band of the region (fraction of its bbox side) where the score drops
EDGE_WEIGHT = 6.0  # 3 until 2026-12-08: tight boxes then cut 35 % of footprints along the outline (docs/lesion_footprints.md)
MAX_BLOBS = 3

_S4 = ndimage.generate_binary_structure(2, 1)
_S8 = np.ones((3, 3), dtype=bool)


# ----------------------------------------------------------------------------------------------
# shape measures
# ----------------------------------------------------------------------------------------------


def boundary_length(mask: np.ndarray) -> float:
    """Perimeter as the number of pixels of ``mask`` that have a 4-neighbour outside it."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    return float((m & ~ndimage.binary_erosion(m, structure=_S4)).sum())


def contour_length(mask: np.ndarray) -> float:
    """Length of the marching-squares contour at level 0.5 around ``mask`` (pixel units)."""
    p = np.pad(np.asarray(mask, dtype=bool), 1).astype(np.int8)
    a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    s = a + b + c + d
    odd = (s == 1) | (s == 3)
    saddle = (s == 2) & (a == d)
    straight = (s == 2) & (a != d)
    return float(odd.sum() * math.sqrt(0.5) + straight.sum() + saddle.sum() * math.sqrt(2.0))


def component_shapes(
    lesion: np.ndarray, lung: np.ndarray | None = None, min_area: int = MIN_COMPONENT_PX
) -> list[dict[str, Any]]:
    """Shape measures of the 8-connected components of a binary lesion mask.

    Args:
        lesion: binary ``(H, W)`` mask.
        lung: optional binary ``(H, W)`` lung mask: each component then records the index (1 or 2,
            ``0`` outside) of the lung component holding most of it.
        min_area: smaller components are ignored.

    Returns:
        one dict per component: ``area``, ``bbox`` (``x0, y0, x1, y1`` end-exclusive), ``fill``,
        ``compactness``, ``compactness_contour``, ``aspect`` (bbox height / width),
        ``hole_fraction`` (holes over filled area) and ``lung`` (when a lung mask is given).
    """
    lesion = np.asarray(lesion, dtype=bool)
    lab, _ = ndimage.label(lesion, structure=_S8)
    lung_lab = None
    if lung is not None:
        lung_lab, n_lung = ndimage.label(np.asarray(lung, dtype=bool), structure=_S8)
        if n_lung > 2:  # keep the two largest lung components
            sizes = ndimage.sum_labels(np.ones_like(lung_lab), lung_lab, range(1, n_lung + 1))
            keep = np.argsort(sizes)[::-1][:2] + 1
            remap = np.zeros(n_lung + 1, dtype=np.int64)
            remap[keep] = np.arange(1, len(keep) + 1)
            lung_lab = remap[lung_lab]
    out = []
    for i, sl in enumerate(ndimage.find_objects(lab), 1):
        if sl is None:
            continue
        comp = lab[sl] == i
        area = int(comp.sum())
        if area < min_area:
            continue
        filled = int(ndimage.binary_fill_holes(comp).sum())
        rec: dict[str, Any] = {
            "area": area,
            "bbox": [sl[1].start, sl[0].start, sl[1].stop, sl[0].stop],
            "fill": area / comp.size,
            "compactness": 4 * math.pi * area / boundary_length(comp) ** 2,
            "compactness_contour": 4 * math.pi * area / contour_length(comp) ** 2,
            "aspect": comp.shape[0] / comp.shape[1],
            "hole_fraction": (filled - area) / filled,
        }
        if lung_lab is not None:
            votes = np.bincount(lung_lab[sl][comp], minlength=3)
            rec["lung"] = int(np.argmax(votes[1:]) + 1) if votes[1:].any() else 0
        out.append(rec)
    return out


def measure_lesion_masks(
    pairs: Iterable[tuple[np.ndarray, np.ndarray | None]], min_area: int = MIN_COMPONENT_PX
) -> dict[str, np.ndarray]:
    """Measure every lesion component of many films.

    Args:
        pairs: ``(lesion_mask, lung_mask_or_None)`` per film (binary ``(H, W)`` arrays); films
            without a lesion component count with 0 components.
        min_area: smallest component counted (pixels).

    Returns:
        arrays ``fill``, ``compactness``, ``compactness_contour``, ``aspect``, ``hole_fraction``,
        ``bbox_side`` (bbox sides over the image side, both axes) per component;
        ``components_per_film``; ``components_per_lung`` (per lung holding at least one component)
        and ``lesion_lung_fraction`` (lesion area inside the lung over lung area) per film with a lung.
    """
    keys = ("fill", "compactness", "compactness_contour", "aspect", "hole_fraction")
    acc: dict[str, list[float]] = {k: [] for k in keys}
    acc.update(bbox_side=[], components_per_film=[], components_per_lung=[], lesion_lung_fraction=[])
    for lesion, lung in pairs:
        lesion = np.asarray(lesion, dtype=bool)
        comps = component_shapes(lesion, lung, min_area)
        for c in comps:
            for k in keys:
                acc[k].append(c[k])
            x0, y0, x1, y1 = c["bbox"]
            acc["bbox_side"] += [(y1 - y0) / lesion.shape[0], (x1 - x0) / lesion.shape[1]]
        acc["components_per_film"].append(len(comps))
        if lung is not None:
            lung = np.asarray(lung, dtype=bool)
            per_lung = np.bincount([c["lung"] for c in comps], minlength=3)[1:]
            acc["components_per_lung"] += [int(n) for n in per_lung if n > 0]
            if lung.any():
                acc["lesion_lung_fraction"].append(float((lesion & lung).sum() / lung.sum()))
    return {k: np.asarray(v, dtype=np.float64) for k, v in acc.items()}


def _quantiles(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in np.percentile(values, QUANTILE_PERCENTS)]


def _histogram(values: np.ndarray) -> dict[str, int]:
    counts = np.bincount(values.astype(np.int64))
    return {str(i): int(n) for i, n in enumerate(counts) if n > 0}


def fit_shape_prior(measured: Mapping[str, np.ndarray], **info: Any) -> dict[str, Any]:
    """JSON-safe shape prior from :func:`measure_lesion_masks` output: quantiles and histograms only.

    Args:
        measured: the arrays returned by :func:`measure_lesion_masks`.
        **info: provenance entries copied into the prior (``source``, ``split``, ``made_by``...).

    Returns:
        dict with ``percents`` (0, 5, ..., 100), per-measure ``quantiles`` and the histograms
        ``components_per_film`` / ``components_per_lung`` (count -> number of films / lungs).
    """
    if len(measured.get("fill", ())) == 0:
        raise DatasetError("no lesion component to fit a shape prior on")
    quant = {
        k: _quantiles(measured[k])
        for k in ("fill", "compactness", "compactness_contour", "aspect", "hole_fraction", "bbox_side")
    }
    if len(measured.get("lesion_lung_fraction", ())):
        quant["lesion_lung_fraction"] = _quantiles(measured["lesion_lung_fraction"])
    return {
        "description": "Empirical shape prior of lesion (infection) mask components: "
        "8-connected components of >= %d px." % MIN_COMPONENT_PX,
        **info,
        "n_films": int(len(measured["components_per_film"])),
        "n_components": int(len(measured["fill"])),
        "percents": list(QUANTILE_PERCENTS),
        "quantiles": quant,
        "components_per_film": _histogram(measured["components_per_film"]),
        "components_per_lung": _histogram(measured["components_per_lung"]),
    }


@functools.lru_cache(maxsize=1)
def _shipped_prior_text() -> str:
    return (resources.files("monai_gan_aug.data") / PRIOR_NAME).read_text(encoding="utf-8")


def _load_prior_file(path: str | None) -> str:
    """The prior's text: the shipped file (read once) or a user's file (read on every call)."""
    try:
        return _shipped_prior_text() if path is None else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        where = path or f"monai_gan_aug/data/{PRIOR_NAME}"
        raise DatasetError(
            f"lesion shape prior not found at {where}; rebuild it with scripts/fit_lesion_shape_prior.py"
        ) from err


def load_shape_prior(path: str | Path | None = None) -> dict[str, Any]:
    """Load the lesion shape prior (``None``: the shipped one) and check its fields.

    Raises:
        DatasetError: missing or malformed file.
    """
    text = _load_prior_file(None if path is None else str(path))
    try:
        prior = json.loads(text)
        percents = np.asarray(prior["percents"], dtype=np.float64)
        fill = np.asarray(prior["quantiles"]["fill"], dtype=np.float64)
        per_lung = {int(k): int(v) for k, v in prior["components_per_lung"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"malformed lesion shape prior {path or PRIOR_NAME}: {err}") from err
    if fill.shape != percents.shape or not per_lung or not np.all(np.diff(fill) >= 0):
        raise DatasetError(f"malformed lesion shape prior {path or PRIOR_NAME}: bad fill quantiles or counts")
    return prior


# ----------------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------------


def _inverse_cdf(prior: Mapping[str, Any], name: str, u: float) -> float:
    percents = np.asarray(prior["percents"], dtype=np.float64) / 100.0
    return float(np.interp(u, percents, np.asarray(prior["quantiles"][name], dtype=np.float64)))


def resolve_extent(extent: str | float | Sequence[float] | None = None) -> tuple[float, float]:
    """The ``(low, high)`` extent range of a preset name, a number or a pair (``None``: ``"loose"``).

    Raises:
        ConfigError: unknown preset, or values outside ``0 < low <= high <= 1``.
    """
    if extent is None:
        return DEFAULT_EXTENT
    if isinstance(extent, str):
        if extent not in EXTENT_PRESETS:
            raise ConfigError(f"extent must be one of {sorted(EXTENT_PRESETS)} or numbers in (0, 1], found {extent!r}")
        return EXTENT_PRESETS[extent]
    values = [float(extent)] * 2 if np.isscalar(extent) else [float(v) for v in extent]  # type: ignore[union-attr]
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or not 0 < values[0] <= values[1] <= 1:
        raise ConfigError(f"extent must be a number or a (low, high) pair with 0 < low <= high <= 1, found {extent!r}")
    return values[0], values[1]


def draw_footprint_params(
    rng: np.random.Generator | np.random.RandomState,
    prior: Mapping[str, Any] | None = None,
    extent: str | float | Sequence[float] | None = None,
) -> dict[str, Any]:
    """Draw footprint parameters from the shape prior.

    Args:
        rng: numpy ``Generator`` (a legacy ``RandomState``, as MONAI's ``self.R``, works too).
        prior: a loaded shape prior (:func:`load_shape_prior`); ``None``: the shipped one.
        extent: range of the ``extent`` draw (:func:`resolve_extent`): ``"loose"`` (default,
            :data:`DEFAULT_EXTENT`) for a box marking where a lesion may go, ``"tight"``
            (:data:`TIGHT_EXTENT`) for a box drawn around one.

    Returns:
        ``{"fill", "n_blobs", "smoothness", "extent", "seed"}`` for :func:`footprint_from_params`: ``fill``
        from the prior's fill-fraction quantiles, ``n_blobs`` (1-3) from its components-per-lung
        histogram, ``smoothness`` and ``extent`` uniform in :data:`DEFAULT_SMOOTHNESS` / the
        ``extent`` range, and a seed for the field.
    """
    extent_range = resolve_extent(extent)
    prior = load_shape_prior() if prior is None else prior
    fill = _inverse_cdf(prior, "fill", float(rng.random()))
    hist = {int(k): int(v) for k, v in prior["components_per_lung"].items() if 1 <= int(k)}
    counts = np.array(sorted(hist), dtype=np.int64)
    probs = np.array([hist[k] for k in counts], dtype=np.float64)
    n_blobs = int(min(rng.choice(counts, p=probs / probs.sum()), MAX_BLOBS))
    smoothness = float(rng.uniform(*DEFAULT_SMOOTHNESS))
    drawn_extent = float(rng.uniform(*extent_range))
    # a legacy RandomState (MONAI's ``Randomizable.R``) has randint instead of integers
    seed = int(rng.integers(0, 2**31 - 1) if hasattr(rng, "integers") else rng.randint(0, 2**31 - 1))
    return {
        "fill": round(fill, 4),
        "n_blobs": n_blobs,
        "smoothness": round(smoothness, 4),
        "extent": round(drawn_extent, 4),
        "seed": seed,
    }


def _as_region(region_mask: NdarrayOrTensor) -> np.ndarray:
    if isinstance(region_mask, torch.Tensor):
        arr = region_mask.detach().cpu().numpy()
    else:
        arr = np.asarray(region_mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise RegionError(f"expected a region mask (H, W) or (1, H, W), found shape {tuple(arr.shape)}")
    mask = arr if arr.dtype == bool else (arr >= 0.5 if arr.dtype.kind == "f" else arr > 0)
    if not mask.any():
        raise RegionError("the region mask is empty: no pixel to put a lesion footprint in")
    return mask


def _field(rng: np.random.Generator, shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """Unit-variance Gaussian random field: white noise smoothed by an (anisotropic) Gaussian."""
    noise = rng.standard_normal(shape)
    f = ndimage.gaussian_filter(noise, sigma, mode="reflect", truncate=3.0)
    sd = f.std()
    return f / sd if sd > 0 else f


def _resize_linear(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Separable bilinear resize with pixel-centre alignment (as ``align_corners=False``)."""
    if arr.shape == shape:
        return arr
    out = arr.astype(np.float32, copy=False)
    for axis, (n_in, n_out) in enumerate(zip(arr.shape, shape)):
        if n_in == n_out:
            continue
        pos = np.clip((np.arange(n_out, dtype=np.float32) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        i0 = np.floor(pos).astype(np.intp)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = (pos - i0).astype(np.float32)
        w = w[:, None] if axis == 0 else w[None, :]
        a, b = np.take(out, i0, axis=axis), np.take(out, i1, axis=axis)
        out = a + (b - a) * w
    return out


def _resize_nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a mask (sampling at the output pixel centres)."""
    idx = [
        np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.intp), n_in - 1)
        for n_in, n_out in zip(mask.shape, shape)
    ]
    return mask[np.ix_(*idx)]


def _top_k_threshold(values: np.ndarray, k: int) -> float:
    """The k-th largest value (so that ``values >= t`` holds at least ``k`` entries)."""
    k = int(min(max(k, 1), values.size))
    return float(np.partition(values, values.size - k)[values.size - k])


def _ellipse(shape: tuple[int, int], fill: float) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    ry = max(h / 2 * math.sqrt(min(fill / (math.pi / 4), 1.0)), 0.5)
    rx = max(w / 2 * math.sqrt(min(fill / (math.pi / 4), 1.0)), 0.5)
    return ((yy + 0.5 - h / 2) / ry) ** 2 + ((xx + 0.5 - w / 2) / rx) ** 2 <= 1.0


def _score(
    rng: np.random.Generator, grid_region: np.ndarray, n: int, smoothness: float, extent: float
) -> np.ndarray:
    """Random field plus a centre-weighted envelope on the work grid (higher: more lesion-like).

    The envelope is, per blob, an elongated, rotated ellipse in bbox-normalised coordinates whose
    coordinates are warped by a smooth random displacement (bent, lobulated blobs); the main blob
    sits near the region's centre of mass, satellites at region pixels far from the other blobs.
    """
    gh, gw = grid_region.shape
    sig = (max(smoothness * gh, 0.5), max(smoothness * gw, 0.5))
    field = _field(rng, (gh, gw), sig)
    fine = _field(rng, (gh, gw), (max(sig[0] / 3, 0.5), max(sig[1] / 3, 0.5)))
    warp_sig = (max(WARP_SCALE * gh, 0.5), max(WARP_SCALE * gw, 0.5))
    yy = (np.arange(gh) + 0.5)[:, None] / gh + WARP_AMPLITUDE * _field(rng, (gh, gw), warp_sig)
    xx = (np.arange(gw) + 0.5)[None, :] / gw + WARP_AMPLITUDE * _field(rng, (gh, gw), warp_sig)
    gr, gc = np.nonzero(grid_region)
    env = np.full((gh, gw), np.inf)
    centres: list[tuple[float, float]] = []
    for i in range(n):
        if i == 0:  # the main blob: near the region's centre of mass
            cy = (gr.mean() + 0.5) / gh + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER)
            cx = (gc.mean() + 0.5) / gw + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER)
            radius = MAIN_RADIUS * math.sqrt(extent)
        else:  # satellites: a random region pixel, preferably away from the others
            cand = rng.integers(0, len(gr), size=16)
            cyx = np.stack([(gr[cand] + 0.5) / gh, (gc[cand] + 0.5) / gw], 1)
            dist = np.min([np.hypot(cyx[:, 0] - a, cyx[:, 1] - b) for a, b in centres], axis=0)
            cy, cx = (float(v) for v in cyx[int(np.argmax(dist))])
            radius = float(rng.uniform(0.18, 0.3)) * math.sqrt(extent)
        centres.append((cy, cx))
        elong = float(rng.uniform(1.0, MAX_ELONGATION))
        theta = float(rng.uniform(0, math.pi))
        u = (yy - cy) * math.cos(theta) + (xx - cx) * math.sin(theta)
        v = -(yy - cy) * math.sin(theta) + (xx - cx) * math.cos(theta)
        env = np.minimum(env, (u / (radius * elong)) ** 2 + (v * elong / radius) ** 2)
    # keep away from the region's border (a lesion rarely runs along its box's sides)
    # (distance from pixel centres to the nearest outside pixel centre, less the half pixel to its edge)
    inner = ndimage.distance_transform_edt(np.pad(grid_region, 1), sampling=(1.0 / gh, 1.0 / gw))[1:-1, 1:-1]
    inner = np.maximum(inner - 0.5 / max(gh, gw), 0.0)
    edge = np.clip(1.0 - inner / EDGE_MARGIN, 0.0, 1.0) ** 2
    return FIELD_AMPLITUDE * (field + FINE_WEIGHT * fine) - env - EDGE_WEIGHT * edge



def footprint_from_params(
    region_mask: NdarrayOrTensor,
    fill: float,
    n_blobs: int = 1,
    seed: int = 0,
    smoothness: float = 0.14,
    extent: float = 1.0,
) -> np.ndarray:
    """Deterministic footprint inside a region.

    Args:
        region_mask: binary region ``(H, W)`` (or ``(1, H, W)``; array or tensor).
        fill: fill fraction of the footprint's own bounding box, in ``(0, 1]``: the footprint's
            area is aimed at ``fill * extent`` of the region's area.
        extent: about how much of the region the lesion spans, in ``(0, 1]`` (1: a tight box).
        n_blobs: number of blobs (1-3); blobs too small to survive are dropped.
        seed: seed of the random field and of the blob centres.
        smoothness: sigma of the random field as a fraction of the region's bounding box side
            (per axis); smaller gives more ragged edges.

    Returns:
        boolean ``(H, W)`` footprint, never empty, inside the region.

    Raises:
        RegionError: the region mask is empty or not 2-D.
        ConfigError: parameters out of range.
    """
    region = _as_region(region_mask)
    if not 0 < fill <= 1:
        raise ConfigError(f"fill must be in (0, 1], found {fill}")
    if not 1 <= int(n_blobs) <= MAX_BLOBS:
        raise ConfigError(f"n_blobs must be in 1..{MAX_BLOBS}, found {n_blobs}")
    if not 0 < extent <= 1:
        raise ConfigError(f"extent must be in (0, 1], found {extent}")
    if not 0 < smoothness <= 1:
        raise ConfigError(f"smoothness must be in (0, 1], found {smoothness}")
    rng = np.random.default_rng(int(seed))
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = region[y0:y1, x0:x1]
    bh, bw = crop.shape
    out = np.zeros(region.shape, dtype=bool)
    target = max(int(round(fill * extent * np.count_nonzero(crop))), 1)

    # work grid: the bbox itself, or a downsampled copy (aspect kept) for big regions
    scale = min(1.0, GRID_SIDE / max(bh, bw))
    gh, gw = max(int(round(bh * scale)), 1), max(int(round(bw * scale)), 1)
    grid_region = _resize_nearest(crop, (gh, gw))
    if not grid_region.any():
        grid_region = np.ones((gh, gw), dtype=bool)
    score = _score(rng, grid_region, int(n_blobs), smoothness, extent)

    # threshold, keep the n biggest (4-connected) blobs, fill holes; lower the level if fragmented
    vals = score[grid_region]
    want = max(int(round(target * gh * gw / (bh * bw))), 1)
    grid_target = want
    kept = np.zeros((gh, gw), dtype=bool)
    thr = 0.0
    for _ in range(3):
        thr = _top_k_threshold(vals, grid_target)
        lab, nlab = ndimage.label((score >= thr) & grid_region, structure=_S4)
        if nlab == 0:
            break
        sizes = np.bincount(lab.ravel())[1:]
        order = np.argsort(sizes)[::-1]
        big = [j + 1 for j in order[: int(n_blobs)] if sizes[j] >= max(0.1 * sizes[order[0]], 1)]
        kept = ndimage.binary_fill_holes(np.isin(lab, big))
        got = int(kept.sum())
        if got >= 0.85 * want or grid_target >= vals.size:
            break
        # a fragmented draw: lower the level (bounded, so that one big blob does not flood the region)
        grid_target = min(int(math.ceil(grid_target * min(want / max(got, 1), 1.5))), 2 * want, vals.size)
    # fold the component choice and hole filling into the score, then interpolate to full size
    eps = 1e-3
    score = np.where(kept, np.maximum(score, thr + eps), np.minimum(score, thr - eps))
    fp = (_resize_linear(score, (bh, bw)) >= thr) & crop
    if not fp.any():
        fp = _ellipse((bh, bw), fill) & crop
    if not fp.any():  # a region with no pixel in its bbox's central ellipse (a thin diagonal)
        fp = crop.copy()
    out[y0:y1, x0:x1] = fp
    return out


def sample_footprint(
    region_mask: np.ndarray,
    rng: np.random.Generator | np.random.RandomState,
    prior: dict | None = None,
    extent: str | float | Sequence[float] | None = None,
) -> np.ndarray:
    """Draw an irregular lesion footprint inside ``region_mask``, following the shape prior.

    Args:
        region_mask: binary region ``(H, W)``.
        rng: numpy ``Generator`` (same state -> same footprint); a ``RandomState`` works too.
        prior: a loaded shape prior; ``None``: the shipped covidqu prior.
        extent: ``"loose"`` (default) or ``"tight"`` box, or a range (:func:`resolve_extent`).

    Returns:
        boolean ``(H, W)`` footprint, never empty, inside the region.
    """
    params = draw_footprint_params(rng, prior, extent)
    return footprint_from_params(region_mask, **params)


def soft_footprint(footprint: np.ndarray, sigma: float) -> np.ndarray:
    """The footprint with a soft edge: a Gaussian blur of its indicator, float32 in ``[0, 1]``.

    ``sigma`` is in pixels (0: the hard footprint as float). The alpha is exactly 0 farther than
    ``3 * sigma`` from the footprint (the blur's kernel is truncated there).
    """
    fp = np.asarray(footprint).astype(np.float32)
    if sigma < 0 or not math.isfinite(sigma):
        raise ConfigError(f"sigma must be a finite number >= 0 pixels, found {sigma}")
    if sigma == 0 or not fp.any():
        return fp
    out = ndimage.gaussian_filter(fp, sigma, mode="constant", cval=0.0, truncate=3.0)
    out[out < 1e-6] = 0.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# transforms
# ----------------------------------------------------------------------------------------------


def _to_output(fp: np.ndarray, like: NdarrayOrTensor, params: dict[str, Any]) -> NdarrayOrTensor:
    out, *_ = convert_to_dst_type(fp[None].astype(np.float32), like, dtype=torch.float32)
    if isinstance(out, MetaTensor):
        out.meta[FOOTPRINT_META_KEY] = dict(params)
    return out


class LesionFootprint(Transform):
    """Deterministic lesion footprint inside a region mask (:func:`footprint_from_params`).

    Args:
        fill, n_blobs, seed, smoothness, extent: default parameters (see :func:`footprint_from_params`);
            any of them can be overridden per call through ``params``.

    Calling it with ``(region_mask, params=None)`` returns the footprint as a float32 ``(1, H, W)``
    mask of the region's type; a ``MetaTensor`` output records the parameters used in
    ``meta["lesion_footprint"]``.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        fill: float = 0.55,
        n_blobs: int = 1,
        seed: int = 0,
        smoothness: float = 0.14,
        extent: float = 0.65,
    ) -> None:
        self.params = {
            "fill": fill,
            "n_blobs": n_blobs,
            "seed": seed,
            "smoothness": smoothness,
            "extent": extent,
        }

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overridden by ``params`` (unknown names are a ConfigError)."""
        p = {**self.params, **(dict(params) if params else {})}
        p.pop("area_px", None)  # recorded with the output, not a parameter
        unknown = set(p) - set(self.params)
        if unknown:
            raise ConfigError(
                f"unknown footprint parameters {sorted(unknown)}; expected {sorted(self.params)}"
            )
        return p

    def __call__(
        self, region_mask: NdarrayOrTensor, params: Mapping[str, Any] | None = None
    ) -> NdarrayOrTensor:
        p = self.resolve(params)
        fp = footprint_from_params(region_mask, **p)
        return _to_output(fp, region_mask, {**p, "area_px": int(fp.sum())})


class RandLesionFootprint(RandomizableTransform):
    """Draw footprint parameters from the shape prior and delegate to :class:`LesionFootprint`.

    Args:
        prior: path to a shape prior JSON, or ``None`` for the shipped covidqu prior.
        extent: ``"loose"`` (default: the box marks where a lesion may go) or ``"tight"`` (a box
            drawn around the lesion), or a ``(low, high)`` range (:func:`resolve_extent`).

    Calling it with ``(region_mask, randomize=True)`` returns the footprint ``(1, H, W)``; the drawn
    parameters are in ``self.params`` and (for a ``MetaTensor``) ``meta["lesion_footprint"]``.
    """

    backend = LesionFootprint.backend

    def __init__(self, prior: str | Path | None = None,
                 extent: str | float | Sequence[float] | None = None) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self.prior = load_shape_prior(prior)
        self.extent = resolve_extent(extent)
        self.footprint = LesionFootprint()
        self.params: dict[str, Any] | None = None

    def randomize(self, data: Any = None) -> None:
        """Draw one parameter set (the field's seed included)."""
        super().randomize(None)
        gen = np.random.default_rng(int(self.R.randint(0, 2**31 - 1)))
        self.params = draw_footprint_params(gen, self.prior, self.extent)

    def __call__(self, region_mask: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        if randomize:
            self.randomize()
        if self.params is None:
            raise ConfigError("RandLesionFootprint called with randomize=False before any draw")
        return self.footprint(region_mask, self.params)


def _as_meta(out: NdarrayOrTensor, params: dict[str, Any]) -> MetaTensor:
    if not isinstance(out, MetaTensor):
        out = MetaTensor(torch.as_tensor(out))
    out.meta[FOOTPRINT_META_KEY] = dict(params)
    return out


class LesionFootprintd(MapTransform):
    """Dictionary wrapper of :class:`LesionFootprint`.

    Args:
        keys: region mask key(s) (default ``"region_mask"``).
        footprint_key: output key(s), one per region key (default ``"lesion_mask"``).
        params_key: optional data key holding a per-sample parameter dict (overrides the defaults).
        fill, n_blobs, seed, smoothness, extent: default parameters (see :func:`footprint_from_params`).
        allow_missing_keys: don't raise when a key is missing.

    The output is a ``MetaTensor`` whose ``meta["lesion_footprint"]`` records the parameters.
    """

    backend = LesionFootprint.backend

    def __init__(
        self,
        keys: KeysCollection = "region_mask",
        footprint_key: str | Sequence[str] = "lesion_mask",
        params_key: str | None = None,
        fill: float = 0.55,
        n_blobs: int = 1,
        seed: int = 0,
        smoothness: float = 0.14,
        extent: float = 0.65,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.footprint = LesionFootprint(fill, n_blobs, seed, smoothness, extent)
        self.footprint_key = ensure_tuple_rep(footprint_key, len(self.keys))
        self.params_key = params_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        params = d.get(self.params_key) if self.params_key is not None else None
        for key, out_key in self.key_iterator(d, self.footprint_key):
            out = self.footprint(d[key], params)
            d[out_key] = _as_meta(out, {**self.footprint.resolve(params), "area_px": int(out.sum())})
        return d


class RandLesionFootprintd(RandomizableTransform, MapTransform):
    """Dictionary wrapper of :class:`RandLesionFootprint`: one draw per sample, shared by all keys.

    Args:
        keys: region mask key(s) (default ``"region_mask"``).
        footprint_key: output key(s), one per region key (default ``"lesion_mask"``).
        prior: path to a shape prior JSON, or ``None`` for the shipped one.
        extent: ``"loose"`` (default) or ``"tight"`` box, or a range (see :class:`RandLesionFootprint`).
        allow_missing_keys: don't raise when a key is missing.

    The output is a ``MetaTensor`` whose ``meta["lesion_footprint"]`` records the drawn parameters;
    :class:`LesionFootprintd` with those parameters reproduces it.
    """

    backend = RandLesionFootprint.backend

    def __init__(
        self,
        keys: KeysCollection = "region_mask",
        footprint_key: str | Sequence[str] = "lesion_mask",
        prior: str | Path | None = None,
        extent: str | float | Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        self.rand_footprint = RandLesionFootprint(prior, extent)
        self.footprint_key = ensure_tuple_rep(footprint_key, len(self.keys))

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandLesionFootprintd:
        super().set_random_state(seed, state)
        self.rand_footprint.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        first = True
        for key, out_key in self.key_iterator(d, self.footprint_key):
            out = self.rand_footprint(d[key], randomize=first)
            first = False
            assert self.rand_footprint.params is not None
            d[out_key] = _as_meta(out, {**self.rand_footprint.params, "area_px": int(out.sum())})
        return d


LesionFootprintD = LesionFootprintDict = LesionFootprintd
RandLesionFootprintD = RandLesionFootprintDict = RandLesionFootprintd
