"""Additive lesion opacity: what pneumonia adds to a radiograph, laid over the anatomy.

On a projection radiograph a consolidation or ground-glass opacity is extra attenuation along the
rays that cross it. With the image in ``[0, 1]``, air dark (MONOCHROME2 sense), ``1 - x`` behaves
like the transmitted fraction of the beam; an extra attenuation (optical density) ``d >= 0``
multiplies it by ``exp(-d)``::

    x' = 1 - (1 - x) * exp(-d)

so the film brightens where the disease is, the anatomy underneath stays visible with its local
contrast scaled by ``exp(-d)`` (ribs through ground glass), and only a dense opacity hides it (a
silhouette sign). Where ``d == 0`` the output is the input, bit for bit.

:func:`add_opacity` is the one composite used by the learned opacity generator (training and
inference) and by the non-learned baseline transforms, so the two differ only in the density they
propose.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type
from scipy import ndimage

from ..errors import ConfigError, InvalidImageError, RegionError

__all__ = [
    "DEFAULT_EDGE_SIGMA",
    "DEFAULT_PEAK_DENSITY",
    "DEFAULT_TEXTURE_AMOUNT",
    "DEFAULT_TEXTURE_SCALE",
    "LesionOpacity",
    "LesionOpacityD",
    "LesionOpacityDict",
    "LesionOpacityd",
    "RandLesionOpacity",
    "RandLesionOpacityD",
    "RandLesionOpacityDict",
    "RandLesionOpacityd",
    "add_opacity",
    "lesion_density",
    "opacity_density",
]


def add_opacity(image: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    """Lay an attenuation ``density`` (>= 0) over ``image`` in ``[0, 1]``.

    Args:
        image: image in ``[0, 1]``, any shape.
        density: non-negative optical density, broadcastable to ``image``.

    Returns:
        ``1 - (1 - image) * exp(-density)``, with the input's own values wherever ``density`` is 0
        (bit for bit: no round-off outside the lesion).
    """
    if torch.is_floating_point(density) and bool((density < 0).any()):
        raise InvalidImageError("opacity density must be non-negative")
    density = density.to(image.dtype) if torch.is_floating_point(image) else density.float()
    out = 1.0 - (1.0 - image) * torch.exp(-density)
    return torch.where(density > 0, out.clamp(0.0, 1.0).to(out.dtype), image.to(out.dtype))


def opacity_density(image: torch.Tensor, edited: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """The density that :func:`add_opacity` would need to turn ``image`` into ``edited``.

    ``-log((1 - edited) / (1 - image))``, clamped at 0; useful for inspecting an edit (the
    difference map in the attenuation domain) and for tests.
    """
    ratio = (1.0 - edited).clamp_min(eps) / (1.0 - image).clamp_min(eps)
    return (-torch.log(ratio)).clamp_min(0.0)


# ----------------------------------------------------------------------------------------------
# non-learned baseline: a textured density inside a lesion footprint
# ----------------------------------------------------------------------------------------------

#: Default ranges of :class:`RandLesionOpacity` (uniform draws). ``peak_density`` is calibrated on
#: covidqu train films (``docs/lesion_footprints.md``: median effective density added inside real
#: lesion masks laid on normal films 0.23, real covid lesions 0.24); ``texture_scale`` and ``edge_sigma`` are
#: fractions of the image's longer side, so the same draw looks the same on a 256 px PNG and a
#: 2000 px DICOM.
DEFAULT_PEAK_DENSITY = (0.13, 0.65)
DEFAULT_TEXTURE_SCALE = (0.01, 0.03)
DEFAULT_TEXTURE_AMOUNT = (0.15, 0.35)
DEFAULT_EDGE_SIGMA = (0.006, 0.02)
#: Fraction of the peak density at the footprint's rim (the profile rises to 1 in the core).
RIM_LEVEL = 0.35
OPACITY_META_KEY = "lesion_opacity"
_PARAM_NAMES = ("peak_density", "texture_scale", "texture_amount", "edge_sigma", "seed")
_MAX_TEXTURE_GRID_SIGMA = 3.0  # the texture noise is drawn on a grid where its sigma is <= this
_PROFILE_GRID = 128  # the core profile is computed on a grid of at most this side


def _hw_of(arr: NdarrayOrTensor, what: str) -> np.ndarray:
    """A 2-D numpy view of a ``(H, W)`` or ``(1, H, W)`` array or tensor."""
    a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise InvalidImageError(f"{what}: expected shape (H, W) or (1, H, W), found {tuple(arr.shape)}")
    return a


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance smoothed Gaussian noise; drawn on a coarser grid when ``sigma`` is large."""
    from .footprint import _resize_linear

    step = max(1, int(sigma // _MAX_TEXTURE_GRID_SIGMA))
    grid = (max(-(-shape[0] // step), 1), max(-(-shape[1] // step), 1))
    noise = ndimage.gaussian_filter(rng.standard_normal(grid), max(sigma / step, 0.5), mode="reflect")
    sd = float(noise.std())
    noise = noise / sd if sd > 0 else noise
    if step > 1:
        noise = _resize_linear(noise, (grid[0] * step, grid[1] * step))[: shape[0], : shape[1]]
    return noise.astype(np.float32)


def _core_profile(crop: np.ndarray, sigma_px: float) -> np.ndarray:
    """:data:`RIM_LEVEL` at the rim rising to 1 in the core: the distance inside the footprint
    relative to its own thickness, smoothed; computed on a grid of at most ``_PROFILE_GRID`` px."""
    from .footprint import _resize_linear, _resize_nearest

    step = max(1.0, max(crop.shape) / _PROFILE_GRID)
    grid = (max(round(crop.shape[0] / step), 1), max(round(crop.shape[1] / step), 1))
    small = crop if step == 1.0 else _resize_nearest(crop, grid)
    if not small.any():
        small = crop if step == 1.0 else _resize_linear(crop.astype(np.float32), grid) > 0
    dist = ndimage.distance_transform_edt(small)
    thick = max(float(np.percentile(dist[small], 90)) if small.any() else 1.0, 1.0)
    prof = np.clip(dist / thick, 0.0, 1.0)
    prof = ndimage.gaussian_filter(prof, max(0.25 * thick, sigma_px / step, 0.5))
    pmax = float(prof.max())
    prof = prof / pmax if pmax > 0 else prof
    if step > 1.0:
        prof = _resize_linear(prof, crop.shape)
    return (RIM_LEVEL + (1.0 - RIM_LEVEL) * prof).astype(np.float32)


def lesion_density(
    footprint: NdarrayOrTensor,
    peak_density: float,
    texture_scale: float = 0.015,
    texture_amount: float = 0.35,
    edge_sigma: float = 0.008,
    seed: int = 0,
) -> np.ndarray:
    """A smooth, irregular, textured optical density inside a footprint, denser in its core.

    ``density = peak_density * alpha * profile * texture`` where ``alpha`` is the soft footprint
    (:func:`~monai_gan_aug.transforms.footprint.soft_footprint`), ``profile`` rises from
    :data:`RIM_LEVEL` at the rim to 1 in the core (the footprint's distance transform, relative to
    its own thickness, smoothed), and ``texture = max(1 + texture_amount * n, 0)`` with ``n``
    unit-variance smoothed noise.

    Args:
        footprint: binary ``(H, W)`` or ``(1, H, W)`` footprint.
        peak_density: density in the core (before texture), ``>= 0``.
        texture_scale: correlation length (Gaussian sigma) of the texture, as a fraction of the
            image's longer side.
        texture_amount: relative strength of the texture (0: smooth).
        edge_sigma: sigma of the soft edge, as a fraction of the image's longer side.
        seed: seed of the texture noise.

    Returns:
        float32 ``(H, W)`` density, ``>= 0``, exactly 0 farther than ``3 * edge_sigma`` (in
        pixels) from the footprint.
    """
    from .footprint import soft_footprint

    fp = _binary(footprint)
    for name, value in (("peak_density", peak_density), ("texture_scale", texture_scale),
                        ("texture_amount", texture_amount), ("edge_sigma", edge_sigma)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, found {value}")
    density = np.zeros(fp.shape, dtype=np.float32)
    if not fp.any() or peak_density == 0:
        return density
    side = max(fp.shape)
    sigma_px = edge_sigma * side
    # work on the footprint's bbox grown by the soft edge's support
    margin = int(math.ceil(3 * sigma_px)) + 2
    rows, cols = np.flatnonzero(fp.any(axis=1)), np.flatnonzero(fp.any(axis=0))
    y0, y1 = max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, fp.shape[0])
    x0, x1 = max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, fp.shape[1])
    crop = fp[y0:y1, x0:x1]
    alpha = soft_footprint(crop, sigma_px)
    profile = _core_profile(crop, sigma_px)
    rng = np.random.default_rng(int(seed))
    if texture_amount > 0:
        noise = _smooth_noise(rng, crop.shape, max(texture_scale * side, 0.5))
        texture = np.maximum(1.0 + texture_amount * noise, 0.0)
    else:
        texture = 1.0
    local = (peak_density * alpha * profile * texture).astype(np.float32)
    local[alpha <= 0] = 0.0
    density[y0:y1, x0:x1] = local
    return density


def _binary(mask: NdarrayOrTensor) -> np.ndarray:
    a = _hw_of(mask, "footprint")
    return a > 0.5 if a.dtype.kind == "f" else a > 0


def _as_float_image(img: NdarrayOrTensor) -> torch.Tensor:
    t = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
    if t.ndim not in (2, 3) or (t.ndim == 3 and t.shape[0] != 1):
        raise InvalidImageError(f"expected an image (1, H, W) or (H, W), found shape {tuple(t.shape)}")
    return t if torch.is_floating_point(t) else t.float()


class LesionOpacity(Transform):
    """Deterministic non-learned lesion: :func:`add_opacity` of a :func:`lesion_density`.

    Args:
        peak_density, texture_scale, texture_amount, edge_sigma, seed: default parameters (see
            :func:`lesion_density`); each can be overridden per call through ``params``.

    Calling it with ``(img, footprint, params=None)`` returns the image with the opacity added:
    same type, shape and dtype as ``img`` (``[0, 1]`` float), bit-identical wherever the density
    is 0 (beyond the footprint's soft edge). A ``MetaTensor`` output records the parameters in
    ``meta["lesion_opacity"]``.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        peak_density: float = 0.3,
        texture_scale: float = 0.015,
        texture_amount: float = 0.35,
        edge_sigma: float = 0.008,
        seed: int = 0,
    ) -> None:
        self.params = {
            "peak_density": peak_density,
            "texture_scale": texture_scale,
            "texture_amount": texture_amount,
            "edge_sigma": edge_sigma,
            "seed": seed,
        }

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overridden by ``params`` (other keys in ``params`` are ignored)."""
        p = dict(self.params)
        if params:
            p.update({k: params[k] for k in _PARAM_NAMES if k in params})
        return p

    def density(self, footprint: NdarrayOrTensor, params: Mapping[str, Any] | None = None) -> np.ndarray:
        """The ``(H, W)`` density the transform would add for ``footprint``."""
        return lesion_density(footprint, **self.resolve(params))

    def __call__(
        self, img: NdarrayOrTensor, footprint: NdarrayOrTensor, params: Mapping[str, Any] | None = None
    ) -> NdarrayOrTensor:
        image = _as_float_image(img)
        fp = _hw_of(footprint, "footprint")
        if fp.shape != tuple(image.shape[-2:]):
            raise InvalidImageError(
                f"footprint size {fp.shape} does not match the image size {tuple(image.shape[-2:])}"
            )
        p = self.resolve(params)
        dens = torch.from_numpy(lesion_density(fp, **p)).to(image.device).reshape(image.shape)
        out_t = add_opacity(image, dens)
        out, *_ = convert_to_dst_type(out_t, img, dtype=out_t.dtype)
        if isinstance(out, MetaTensor):
            out.meta[OPACITY_META_KEY] = dict(p)
        return out


class RandLesionOpacity(RandomizableTransform):
    """Random non-learned lesion: draws the parameters (and a footprint) and calls :class:`LesionOpacity`.

    Args:
        prob: probability of adding a lesion (else the image is returned unchanged).
        peak_density, texture_scale, texture_amount, edge_sigma: ``(low, high)`` ranges of uniform
            draws (a single number fixes the value); defaults :data:`DEFAULT_PEAK_DENSITY` etc.
        prior: shape prior for the footprint draws (see
            :class:`~monai_gan_aug.transforms.footprint.RandLesionFootprint`).
        extent: ``"loose"`` (default: the region marks where the lesion may go) or ``"tight"`` (a
            box drawn around one), or a ``(low, high)`` range of the footprint's span.

    Calling it with ``(img, footprint=None, region_mask=None, randomize=True)``: without a
    footprint, one is drawn inside ``region_mask`` with ``RandLesionFootprint``. After the call,
    ``self.footprint`` holds the boolean ``(H, W)`` footprint used (``None`` when no lesion was
    added), ``self.params`` the drawn opacity parameters and ``self.footprint_params`` the drawn
    footprint parameters (``None`` when the footprint was given).
    """

    backend = LesionOpacity.backend

    def __init__(
        self,
        prob: float = 1.0,
        peak_density: float | Sequence[float] = DEFAULT_PEAK_DENSITY,
        texture_scale: float | Sequence[float] = DEFAULT_TEXTURE_SCALE,
        texture_amount: float | Sequence[float] = DEFAULT_TEXTURE_AMOUNT,
        edge_sigma: float | Sequence[float] = DEFAULT_EDGE_SIGMA,
        prior: str | Path | None = None,
        extent: str | float | Sequence[float] | None = None,
    ) -> None:
        from .footprint import RandLesionFootprint

        RandomizableTransform.__init__(self, prob=prob)
        self.ranges = {
            "peak_density": _range(peak_density, "peak_density"),
            "texture_scale": _range(texture_scale, "texture_scale"),
            "texture_amount": _range(texture_amount, "texture_amount"),
            "edge_sigma": _range(edge_sigma, "edge_sigma"),
        }
        self.opacity = LesionOpacity()
        self.rand_footprint = RandLesionFootprint(prior, extent)
        self.params: dict[str, Any] | None = None
        self.footprint: np.ndarray | None = None
        self.footprint_params: dict[str, Any] | None = None

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandLesionOpacity:
        super().set_random_state(seed, state)
        self.rand_footprint.set_random_state(*_sub_seed(self.R, seed, state))
        return self

    def randomize(self, data: Any = None) -> None:
        """Decide whether to add a lesion and draw its opacity parameters."""
        super().randomize(None)
        p = {k: float(self.R.uniform(lo, hi)) for k, (lo, hi) in self.ranges.items()}
        p = {k: round(v, 5) for k, v in p.items()}
        p["seed"] = int(self.R.randint(0, 2**31 - 1))
        self.params = p

    def __call__(
        self,
        img: NdarrayOrTensor,
        footprint: NdarrayOrTensor | None = None,
        region_mask: NdarrayOrTensor | None = None,
        randomize: bool = True,
    ) -> NdarrayOrTensor:
        if randomize:
            self.randomize()
        if self.params is None:
            raise ConfigError("RandLesionOpacity called with randomize=False before any draw")
        if not self._do_transform:
            self.footprint, self.footprint_params = None, None
            return img
        if footprint is None:
            if region_mask is None:
                raise RegionError("RandLesionOpacity needs a footprint or a region_mask to draw one in")
            drawn = self.rand_footprint(region_mask, randomize=randomize)
            self.footprint_params = dict(self.rand_footprint.params or {})
            fp = _binary(drawn)
        else:
            self.footprint_params = None
            fp = _binary(footprint)
        self.footprint = fp
        out = self.opacity(img, fp, self.params)
        if isinstance(out, MetaTensor):
            rec = dict(self.params)
            if self.footprint_params is not None:
                rec["footprint"] = {**self.footprint_params, "area_px": int(fp.sum())}
            out.meta[OPACITY_META_KEY] = rec
        return out


def _sub_seed(
    rng: np.random.RandomState, seed: int | None, state: np.random.RandomState | None
) -> tuple[int | None, None]:
    """A seed for a nested random transform that differs from the parent's, so that the two streams
    are not copies of each other: derived from ``seed``, or drawn from a given ``state``
    (``(None, None)``: both unseeded)."""
    if seed is not None:
        return (int(seed) * 1_000_003 + 12_345) % (2**31 - 1), None
    if state is not None:
        return int(rng.randint(0, 2**31 - 1)), None
    return None, None


def _range(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """``(low, high)`` from a number or a pair, checked."""
    try:
        vals = [float(value)] * 2 if isinstance(value, (int, float)) else [float(v) for v in value]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} must be a number or a (low, high) pair, found {value!r}") from err
    if len(vals) != 2 or not all(math.isfinite(v) for v in vals) or not 0 <= vals[0] <= vals[1]:
        raise ConfigError(
            f"{name} must be a number or a (low, high) pair with 0 <= low <= high, found {value!r}"
        )
    return vals[0], vals[1]


class LesionOpacityd(MapTransform):
    """Dictionary wrapper of :class:`LesionOpacity`.

    Args:
        keys: image key(s) (default ``"image"``).
        footprint_key: data key of the footprint (default ``"lesion_mask"``).
        params_key: optional data key of a per-sample parameter dict (overrides the defaults).
        peak_density, texture_scale, texture_amount, edge_sigma, seed: default parameters.
        allow_missing_keys: don't raise when an image key is missing.
    """

    backend = LesionOpacity.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        footprint_key: str = "lesion_mask",
        params_key: str | None = None,
        peak_density: float = 0.3,
        texture_scale: float = 0.015,
        texture_amount: float = 0.35,
        edge_sigma: float = 0.008,
        seed: int = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.opacity = LesionOpacity(peak_density, texture_scale, texture_amount, edge_sigma, seed)
        self.footprint_key = footprint_key
        self.params_key = params_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.footprint_key not in d:
            raise RegionError(f"footprint_key {self.footprint_key!r} not found in the data (keys: {list(d)})")
        params = d.get(self.params_key) if self.params_key is not None else None
        for key in self.key_iterator(d):
            d[key] = self.opacity(d[key], d[self.footprint_key], params)
        return d


class RandLesionOpacityd(RandomizableTransform, MapTransform):
    """Dictionary wrapper of :class:`RandLesionOpacity`: one draw per sample, shared by all ``keys``.

    Args:
        keys: image key(s) (default ``"image"``).
        region_key: data key of the region mask a footprint is drawn in (default ``"region_mask"``).
        footprint_key: data key of the footprint: used as given when present in the data, else
            drawn inside the region and written there (the label of the added lesion; all zeros
            when ``prob`` skipped the lesion). Default ``"lesion_mask"``.
        prob, peak_density, texture_scale, texture_amount, edge_sigma, prior, extent: as in
            :class:`RandLesionOpacity`.
        allow_missing_keys: don't raise when an image key is missing.

    The images' ``meta["lesion_opacity"]`` records the drawn parameters (``applied``: whether a
    lesion was added; ``footprint``: the drawn footprint's parameters), and the label's
    ``meta["lesion_footprint"]`` the footprint's. :class:`LesionOpacityd` with the recorded
    parameters and the written label reproduces the output.
    """

    backend = RandLesionOpacity.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        region_key: str = "region_mask",
        footprint_key: str = "lesion_mask",
        prob: float = 1.0,
        peak_density: float | Sequence[float] = DEFAULT_PEAK_DENSITY,
        texture_scale: float | Sequence[float] = DEFAULT_TEXTURE_SCALE,
        texture_amount: float | Sequence[float] = DEFAULT_TEXTURE_AMOUNT,
        edge_sigma: float | Sequence[float] = DEFAULT_EDGE_SIGMA,
        prior: str | Path | None = None,
        extent: str | float | Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=prob)
        self.rand_opacity = RandLesionOpacity(
            1.0, peak_density, texture_scale, texture_amount, edge_sigma, prior, extent
        )
        self.region_key = region_key
        self.footprint_key = footprint_key

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandLesionOpacityd:
        super().set_random_state(seed, state)
        self.rand_opacity.set_random_state(*_sub_seed(self.R, seed, state))
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        from .footprint import FOOTPRINT_META_KEY

        d = dict(data)
        self.randomize(None)
        first_key = next(iter(self.key_iterator(d)), None)
        if first_key is None:
            return d
        hw = tuple(_as_float_image(d[first_key]).shape[-2:])
        given = d.get(self.footprint_key)
        if not self._do_transform:
            if given is None:
                label = _label(torch.zeros((1, *hw), dtype=torch.float32), d[first_key])
                label.meta[FOOTPRINT_META_KEY] = {"applied": False}
                d[self.footprint_key] = label
            for key in self.key_iterator(d):
                d[key] = _record(d[key], {"applied": False})
            return d
        if given is None and self.region_key not in d:
            raise RegionError(
                f"neither footprint_key {self.footprint_key!r} nor region_key {self.region_key!r} "
                f"is in the data (keys: {list(d)})"
            )
        first, fp_rec = True, None
        for key in self.key_iterator(d):
            region = None if given is not None else d[self.region_key]
            out = self.rand_opacity(d[key], footprint=given, region_mask=region, randomize=first)
            if first and given is None:  # later keys reuse the footprint drawn for the first one
                assert self.rand_opacity.footprint is not None
                given = self.rand_opacity.footprint
                label = _label(torch.from_numpy(given[None].astype(np.float32)), d[first_key])
                fp_params = self.rand_opacity.footprint_params or {}
                fp_rec = {**fp_params, "area_px": int(given.sum())}
                label.meta[FOOTPRINT_META_KEY] = fp_rec
                d[self.footprint_key] = label
            first = False
            rec = {**(self.rand_opacity.params or {}), "applied": True}
            if fp_rec is not None:  # drawn here (not given in the data)
                rec["footprint"] = dict(fp_rec)
            d[key] = _record(out, rec)
        return d


def _label(mask: torch.Tensor, like: NdarrayOrTensor) -> MetaTensor:
    """The label as a ``MetaTensor`` carrying the image's metadata (file name, region, ...)."""
    meta = {}
    if isinstance(like, MetaTensor):
        meta = {k: v for k, v in like.meta.items() if k != OPACITY_META_KEY}
    return MetaTensor(mask, meta=meta)


def _record(img: NdarrayOrTensor, rec: dict[str, Any]) -> NdarrayOrTensor:
    if not isinstance(img, MetaTensor):
        img = MetaTensor(torch.as_tensor(img))
    img.meta[OPACITY_META_KEY] = rec
    return img


LesionOpacityD = LesionOpacityDict = LesionOpacityd
RandLesionOpacityD = RandLesionOpacityDict = RandLesionOpacityd
