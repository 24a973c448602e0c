"""Score a folder (or manifest) of generated images against a real one: ``evaluate_folders``.

Backs the ``monai-gan-aug evaluate`` CLI verb. Each side is a folder (searched recursively for
images) or a CSV manifest (column ``file``, ``image`` or ``path``; relative paths are relative to
the CSV's folder). Images are read with :class:`monai_gan_aug.transforms.io.LoadXRay` (DICOM,
NIfTI, PNG, JPEG, TIFF) when available, else with PIL, as ``(1, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DatasetError, ImageReadError, InvalidImageError
from ..utils.atomic import atomic_write
from .diversity import msssim_diversity
from .extractors import FeatureExtractor, get_extractor
from .features import DEFAULT_CACHE_DIR, cached_features
from .fid import fid_from_features
from .inception_score import inception_score_from_probs
from .kid import kid_from_features
from .prdc import prdc_from_features

__all__ = ["IMAGE_SUFFIXES", "ALL_METRICS", "list_images", "load_image", "evaluate_folders"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom", ".nii", ".nii.gz")
ALL_METRICS = ("fid", "kid", "prdc", "is", "diversity")
_PATH_COLUMNS = ("file", "image", "path")
_PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_DIVERSITY_SIZE = 128  # common size when generated images differ in size


def list_images(source: str | os.PathLike, max_images: int | None = None) -> list[str]:
    """Image paths of a folder (recursive, sorted) or a CSV manifest (in row order).

    Raises:
        DatasetError: the folder/manifest does not exist, has no usable column, or lists no image.
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(
            str(p) for p in src.rglob("*") if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)
        )
    elif src.is_file() and src.suffix.lower() == ".csv":
        with open(src, newline="") as fh:
            rows = list(csv.DictReader(fh))
        column = next((c for c in _PATH_COLUMNS if rows and c in rows[0]), None)
        if column is None:
            raise DatasetError(
                f"{src}: manifest needs one of the columns {_PATH_COLUMNS}, "
                f"found {list(rows[0]) if rows else 'no rows'}"
            )
        files = [str((src.parent / r[column]).resolve()) for r in rows if r[column]]
    else:
        raise DatasetError(f"{src} is neither a folder of images nor a .csv manifest")
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {src}")
    return files[:max_images] if max_images else files


def load_image(path: str) -> torch.Tensor:
    """Read one image as a ``(1, H, W)`` float tensor in ``[0, 1]`` (LoadXRay if installed, else PIL)."""
    try:
        from ..transforms.io import LoadXRay
    except ImportError:  # the I/O module is optional for this helper
        return _load_pil(path)
    try:
        img = torch.as_tensor(LoadXRay(allow_non_radiograph=True)(path)).float()
    except InvalidImageError:
        # LoadXRay refuses constant images (nothing to edit), but a collapsed generator's blank
        # output is a legitimate, if bad, sample to score.
        if not path.lower().endswith(_PIL_SUFFIXES):
            raise
        return _load_pil(path)
    return img if img.ndim == 3 else img.reshape(1, *img.shape[-2:])


def _load_pil(path: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(
                im.convert("I;16") if im.mode.startswith("I") else im.convert("L"), dtype=np.float32
            )
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageReadError(f"cannot read {path} as an image: {exc}") from exc
    arr = arr / (65535.0 if arr.max() > 255 else 255.0)
    return torch.from_numpy(arr)[None]


def _same_size(images: list[torch.Tensor]) -> torch.Tensor:
    if len({tuple(im.shape) for im in images}) == 1:
        return torch.stack(images)
    return torch.cat(
        [
            F.interpolate(
                im[None],
                size=(_DIVERSITY_SIZE, _DIVERSITY_SIZE),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            for im in images
        ]
    )


def evaluate_folders(
    real: str | os.PathLike,
    fake: str | os.PathLike,
    extractor: str | FeatureExtractor | Any = "inception",
    metrics: Sequence[str] = ("fid", "kid", "prdc"),
    is_extractor: str | FeatureExtractor | Any | None = None,
    out_json: str | os.PathLike | None = None,
    batch_size: int = 32,
    max_images: int | None = None,
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    kid_subset_size: int = 1000,
    k: int = 5,
    is_splits: int = 10,
    diversity_pairs: int = 200,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Compare generated images with real ones; returns (and optionally writes) a JSON-able dict.

    Args:
        real: folder or CSV manifest of real images (its features are cached on disk).
        fake: folder or CSV manifest of generated images.
        extractor: feature extractor for FID / KID / PRDC (``"inception"``, ``"judge"``,
            ``"efficientnet_lite0"``, a TorchScript path, ...).
        metrics: subset of :data:`ALL_METRICS`.
        is_extractor: classifier for the Inception Score (defaults to ``extractor`` if it has a
            classifier head, else ``"efficientnet_lite0"``).
        out_json: write the result here (atomically).
        batch_size: images per forward pass.
        max_images: use at most this many images of each side (first in listing order).
        cache_dir: real-feature cache folder (``None`` disables).
        kid_subset_size: KID subset size. k: neighbours for PRDC. is_splits: IS splits.
        diversity_pairs: MS-SSIM pairs of generated images.
        progress: a progress bar of images read, with images/s and ETA (``None``: on a terminal).
    """
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown or not metrics:
        raise ConfigError(f"metrics must be a non-empty subset of {ALL_METRICS}, got {list(metrics)}")
    t0 = time.time()
    real_files, fake_files = list_images(real, max_images), list_images(fake, max_images)
    result: dict[str, Any] = {
        "real": str(real),
        "fake": str(fake),
        "n_real": len(real_files),
        "n_fake": len(fake_files),
    }
    needs_features = {"fid", "kid", "prdc"} & set(metrics)
    from tqdm import tqdm

    bar = tqdm(total=len(real_files) + len(fake_files), desc="evaluate", unit="image",
               disable=None if progress is None else not progress)

    def load(path: str) -> torch.Tensor:
        image = load_image(path)
        bar.update(1)
        return image

    if needs_features:
        ext = get_extractor(extractor)
        r = cached_features(ext, real_files, load, cache_dir, batch_size)
        f = ext.extract((load(p) for p in fake_files), batch_size=batch_size)
        result["extractor"] = ext.name
        if "fid" in metrics:
            result["fid"] = fid_from_features(r, f)
        if "kid" in metrics:
            result["kid"], result["kid_std"] = kid_from_features(r, f, subset_size=kid_subset_size)
        if "prdc" in metrics:
            result.update(prdc_from_features(r, f, k=k))
    if "is" in metrics:
        spec = is_extractor
        if spec is None:
            spec = extractor if needs_features and ext.num_classes else "efficientnet_lite0"
        cls = get_extractor(spec)
        probs = cls.extract((load_image(p) for p in fake_files), batch_size=batch_size, probabilities=True)
        result["is_classifier"] = cls.name
        result["inception_score"], result["inception_score_std"] = inception_score_from_probs(
            probs, splits=min(is_splits, len(probs))
        )
    if "diversity" in metrics:
        result["msssim"], result["msssim_std"] = msssim_diversity(
            _same_size([load_image(p) for p in fake_files]), num_pairs=diversity_pairs
        )
    result["seconds"] = round(time.time() - t0, 2)
    bar.close()
    if out_json is not None:
        with atomic_write(out_json) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result
