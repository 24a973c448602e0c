"""Image fingerprints for duplicate finding: an exact pixel hash and two perceptual hashes.

* :func:`content_hash`: SHA-256 of the image's shape and its pixels quantised to 16 bits. Equal
  for the same radiograph stored twice, in any file format that keeps the pixels (an 8-bit PNG and
  the same pixels as a lossless TIFF or DICOM), different after any change of a pixel.
* :func:`phash`: the DCT hash: the image is shrunk to ``4 n x 4 n`` (area averaging), its 2-D
  DCT-II is taken, and the ``n x n`` lowest frequencies (without the DC term) are compared with
  their median. It survives resizing, re-encoding (JPEG), mild noise and brightness/contrast
  changes, but not a different film. Chest films all look alike at low frequencies: with the
  classic ``n = 8`` (64 bits) distinct Kermany films of different patients came within 0-4 bits
  of each other, so the default is ``n = 16`` (256 bits), where distinct films stay >= 46 bits
  apart and resized + noisy + JPEG copies within 4 (``docs/prepare.md``).
* :func:`dhash`: the difference hash: shrunk to ``n x (n + 1)``, each bit says whether a pixel is
  brighter than its right neighbour. Cheaper; a second opinion (not used for decisions here).

Near duplicates are images whose hashes differ in few bits (:func:`hamming`); the threshold is
chosen in :mod:`monai_gan_aug.data.dedup`. Hashes are lower-case hex strings (``n * n / 4``
digits), which fit in a CSV cell.

:class:`PerceptualHash` (array) and :class:`PerceptualHashd` (dictionary) compute all three for a
``(1, H, W)`` image in ``[0, 1]`` (:class:`~monai_gan_aug.transforms.io.LoadXRay`'s convention).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, ensure_tuple_rep
from scipy.fft import dctn

from ..errors import ConfigError, InvalidImageError

__all__ = [
    "DEFAULT_HASH_SIZE",
    "HASH_KINDS",
    "content_hash",
    "phash",
    "dhash",
    "hamming",
    "PerceptualHash",
    "PerceptualHashd",
    "PerceptualHashD",
    "PerceptualHashDict",
]

#: What :class:`PerceptualHash` computes, in its output order.
HASH_KINDS = ("sha256", "phash", "dhash")
#: Default side ``n`` of the hashes: ``n * n`` bits.
DEFAULT_HASH_SIZE = 16


def _hw(img: Any) -> np.ndarray:
    """``(1, H, W)`` or ``(H, W)`` tensor/array -> float32 ``(H, W)``."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidImageError(f"expected a (1, H, W) or (H, W) image, found shape {tuple(arr.shape)}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise InvalidImageError("image contains NaN/Inf values; cannot hash it")
    return arr


def _bits_to_hex(bits: np.ndarray) -> str:
    value = int("".join("1" if b else "0" for b in bits.ravel()), 2)
    return f"{value:0{(bits.size + 3) // 4}x}"


def content_hash(img: Any) -> str:
    """SHA-256 (hex) of the shape and the 16-bit-quantised pixels of an image in ``[0, 1]``.

    8-bit and 16-bit sources map to distinct 16-bit values, so equal hashes mean equal pixels.
    """
    arr = _hw(img)
    q = np.rint(np.clip(arr, 0.0, 1.0) * 65535.0).astype("<u2")
    h = hashlib.sha256(f"{q.shape[0]}x{q.shape[1]}:".encode())
    h.update(np.ascontiguousarray(q).tobytes())
    return h.hexdigest()


def _shrink(arr: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    # area averaging when shrinking (anti-aliased); tiny images are enlarged (nearest-like for area)
    return cv2.resize(arr, (hw[1], hw[0]), interpolation=cv2.INTER_AREA).astype(np.float64)


def _check_size(hash_size: int) -> int:
    if int(hash_size) < 2:
        raise ConfigError(f"hash_size must be >= 2, found {hash_size}")
    return int(hash_size)


def phash(img: Any, hash_size: int = DEFAULT_HASH_SIZE) -> str:
    """DCT perceptual hash (``hash_size ** 2`` bits, hex) of a ``(1, H, W)`` / ``(H, W)`` image.

    The DC term (mean brightness) is the first bit, always set for a non-black image; the other
    bits say whether each low-frequency coefficient is above their median.
    """
    n = _check_size(hash_size)
    small = _shrink(_hw(img), (4 * n, 4 * n))
    low = dctn(small, type=2, norm="ortho")[:n, :n].ravel()
    return _bits_to_hex(low > np.median(low[1:]))


def dhash(img: Any, hash_size: int = DEFAULT_HASH_SIZE) -> str:
    """Difference hash (``hash_size ** 2`` bits, hex): is each thumbnail pixel brighter than its right neighbour."""
    n = _check_size(hash_size)
    small = _shrink(_hw(img), (n, n + 1))
    return _bits_to_hex(small[:, :-1] > small[:, 1:])


def hamming(a: str | int, b: str | int) -> int:
    """Number of differing bits between two hashes (hex strings or integers)."""
    x = (int(a, 16) if isinstance(a, str) else int(a)) ^ (int(b, 16) if isinstance(b, str) else int(b))
    return bin(x).count("1")


class PerceptualHash(Transform):
    """Fingerprints of a ``(1, H, W)`` image: ``{"sha256", "phash", "dhash", "height", "width"}``.

    The image is not changed; this array transform *returns* the fingerprints (a dict of strings
    and ints), for use in dataset helpers (:mod:`monai_gan_aug.data.dedup`).

    Args:
        kinds: which hashes (a subset of :data:`HASH_KINDS`).
        hash_size: side ``n`` of the perceptual hashes (``n * n`` bits).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, kinds: Sequence[str] = HASH_KINDS, hash_size: int = DEFAULT_HASH_SIZE) -> None:
        unknown = [k for k in kinds if k not in HASH_KINDS]
        if unknown or not kinds:
            raise ConfigError(f"kinds must be a non-empty subset of {HASH_KINDS}, found {list(kinds)}")
        self.kinds = tuple(kinds)
        self.hash_size = _check_size(hash_size)

    def __call__(self, img: Any) -> dict[str, Any]:
        arr = _hw(img)
        funcs = {"sha256": content_hash, "phash": lambda a: phash(a, self.hash_size),
                 "dhash": lambda a: dhash(a, self.hash_size)}
        out: dict[str, Any] = {k: funcs[k](arr) for k in self.kinds}
        out["height"], out["width"] = int(arr.shape[0]), int(arr.shape[1])
        return out


class PerceptualHashd(MapTransform):
    """Dictionary twin of :class:`PerceptualHash`: stores each image's fingerprints beside it.

    Args:
        keys: image keys (``(1, H, W)`` in ``[0, 1]``, e.g. after ``LoadXRayd``); not modified.
        hash_keys: output key(s), one per image key; default ``"<key>_hash"``.
        kinds, hash_size: see :class:`PerceptualHash`.
        allow_missing_keys: skip keys absent from the data.
    """

    backend = PerceptualHash.backend

    def __init__(
        self,
        keys: KeysCollection,
        hash_keys: str | Sequence[str] | None = None,
        kinds: Sequence[str] = HASH_KINDS,
        hash_size: int = DEFAULT_HASH_SIZE,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.hasher = PerceptualHash(kinds, hash_size)
        names = hash_keys if hash_keys is not None else [f"{k}_hash" for k in self.keys]
        self.hash_keys = ensure_tuple_rep(names, len(self.keys))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, hash_key in self.key_iterator(d, self.hash_keys):
            d[hash_key] = self.hasher(d[key])
        return d


PerceptualHashD = PerceptualHashDict = PerceptualHashd
