"""Feature sets of image collections, with an on-disk cache for the (fixed) real sets.

Real-set features are expensive (Inception runs at ~0.4 s per image on a CPU thread) and do not
change between evaluations, so :func:`cached_features` stores them in ``<cache_dir>/<key>.npz``,
keyed by the extractor's name and a hash of the file list (paths, sizes, modification times).
Files are written atomically, so concurrent runs never read half a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidImageError
from ..utils.atomic import atomic_write
from .extractors import FeatureExtractor

__all__ = ["DEFAULT_CACHE_DIR", "file_list_hash", "cache_key", "cached_features", "check_features"]

DEFAULT_CACHE_DIR = Path(
    os.environ.get("MONAI_GAN_AUG_CACHE", Path.home() / ".cache" / "monai_gan_aug" / "features")
)


def check_features(
    features: np.ndarray | torch.Tensor, name: str = "features", min_rows: int = 2
) -> np.ndarray:
    """Return ``features`` as a finite ``float64`` array ``(N, D)`` with ``N >= min_rows``.

    Raises:
        InvalidImageError: wrong rank, too few rows, or non-finite values.
    """
    arr = (
        features.detach().cpu().double().numpy()
        if isinstance(features, torch.Tensor)
        else np.asarray(features, np.float64)
    )
    if arr.ndim != 2 or arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise InvalidImageError(
            f"{name}: expected an (N, D) feature array with N >= {min_rows}, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise InvalidImageError(f"{name}: features contain NaN or Inf")
    return arr


def file_list_hash(files: Sequence[str | os.PathLike]) -> str:
    """SHA-256 (first 16 hex digits) of the sorted absolute paths with their sizes and mtimes."""
    entries = []
    for f in sorted(str(Path(p).resolve()) for p in files):
        st = os.stat(f)
        entries.append(f"{f}\t{st.st_size}\t{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


def cache_key(extractor: FeatureExtractor, files: Sequence[str | os.PathLike]) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in extractor.name)
    return f"{safe}__{len(files)}__{file_list_hash(files)}"


def cached_features(
    extractor: FeatureExtractor,
    files: Sequence[str | os.PathLike],
    load: Callable[[str], torch.Tensor],
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    batch_size: int = 32,
    probabilities: bool = False,
) -> np.ndarray:
    """Features of the images in ``files`` (in the given order), from the cache when present.

    Args:
        extractor: the feature extractor.
        files: image paths.
        load: reads one path into a ``(C, H, W)`` tensor in ``[0, 1]``.
        cache_dir: folder of ``.npz`` caches; ``None`` disables caching.
        batch_size: images per forward pass.
        probabilities: cache class probabilities instead of features.
    """
    files = [str(f) for f in files]
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{cache_key(extractor, files)}{'__probs' if probabilities else ''}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                if json.loads(str(data["files"])) == files:  # same order, else recompute
                    return data["features"]
    feats = extractor.extract((load(f) for f in files), batch_size=batch_size, probabilities=probabilities)
    if path is not None:
        with atomic_write(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh, features=feats, files=np.array(json.dumps(files)), extractor=np.array(extractor.name)
                )
    return feats
