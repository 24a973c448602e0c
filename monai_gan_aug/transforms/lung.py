"""Lung-field segmentation of chest radiographs with the shipped 2-D MONAI UNet.

:class:`LungMask` (array) and :class:`LungMaskd` (dictionary) turn a ``(1, H, W)`` image in
``[0, 1]`` (air dark) into a binary ``(1, H, W)`` float32 lung mask at the image's own size:

1. :func:`to_working_size`: percentile intensity normalisation, aspect-preserving resize of the
   longest side to the network's working size, symmetric zero padding to a square. The training
   script (``scripts/train_lung_mask.py``) uses this same function, so training and inference see
   identical inputs.
2. The UNet predicts a logit map; the padding is cropped off and the sigmoid probability is
   resized bilinearly back to ``(H, W)`` and thresholded, so the mask edge is placed at the
   native resolution rather than being a blown-up working-size mask.
3. Optional clean-up: keep the two largest connected components, fill holes.

The weights are loaded once per (checkpoint, device) and cached; missing weights raise
:class:`~monai_gan_aug.errors.MissingWeightsError`, never an empty mask.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, Resize, ScaleIntensityRangePercentiles, SpatialPad, Transform
from monai.utils import TransformBackends, ensure_tuple_rep
from scipy import ndimage

from ..errors import ConfigError, InvalidImageError
from ..networks.factory import load_network
from ..utils.device import default_device
from ..utils.weights import shipped_weights_path

__all__ = [
    "LUNG_WEIGHTS_NAME",
    "DEFAULT_WORKING_SIZE",
    "to_working_size",
    "keep_largest_components",
    "load_lung_network",
    "LungMask",
    "LungMaskd",
    "LungMaskD",
    "LungMaskDict",
]

LUNG_WEIGHTS_NAME = "lung_unet.pt"
DEFAULT_WORKING_SIZE = 256
# Percentiles of the per-image intensity normalisation: makes the net indifferent to the
# window/level of the source (8-bit PNG, 12-bit DICOM, over-exposed scans).
NORM_PERCENTILES = (1.0, 99.0)
MIN_SIDE = 16  # below this an image cannot hold a recognisable chest

_CACHE: dict[tuple[str, str], torch.nn.Module] = {}
_CACHE_LOCK = threading.Lock()


def to_working_size(img: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
    """Normalise intensities, resize the longest side to ``size`` keeping aspect, pad to square.

    Args:
        img: a ``(1, H, W)`` float tensor in ``[0, 1]``.
        size: working size of the network (square side in pixels).

    Returns:
        ``(x, resized_hw, pad_before)``: the ``(1, size, size)`` float32 tensor fed to the network,
        the ``(h, w)`` of the resized image inside the padding, and the ``(top, left)`` padding.
    """
    x = torch.as_tensor(img, dtype=torch.float32)
    if isinstance(x, MetaTensor):  # keep the network input free of the caller's metadata
        x = x.as_tensor()
    x = ScaleIntensityRangePercentiles(*NORM_PERCENTILES, b_min=0.0, b_max=1.0, clip=True)(x)
    # "area" averages when shrinking (anti-aliasing); images are never smaller than ``size`` here
    # in practice, and "area" equals nearest when enlarging, which is harmless for a smooth mask.
    x = Resize(spatial_size=size, size_mode="longest", mode="area")(x)
    resized_hw = (int(x.shape[-2]), int(x.shape[-1]))
    pad = SpatialPad(spatial_size=(size, size), method="symmetric")
    (_, _), (top, _), (left, _) = pad.compute_pad_width(resized_hw)
    x = pad(x)
    return torch.as_tensor(x, dtype=torch.float32), resized_hw, (top, left)


def keep_largest_components(mask: np.ndarray, n: int = 2, min_fraction: float = 0.05, fill_holes: bool = True) -> np.ndarray:
    """Keep the ``n`` largest connected components of a 2-D binary mask and fill their holes.

    Args:
        mask: 2-D boolean array.
        n: number of components to keep (two lungs).
        min_fraction: a kept component smaller than this fraction of the largest one is dropped
            (a stray blob is not a second lung).
        fill_holes: fill enclosed holes (e.g. a dense opacity the net left out).
    """
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask.astype(bool)
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    order = np.argsort(sizes)[::-1][:n]
    keep = [i + 1 for i in order if sizes[i] >= min_fraction * sizes[order[0]]]
    out = np.isin(labels, keep)
    return ndimage.binary_fill_holes(out) if fill_holes else out


def load_lung_network(weights: str | os.PathLike | None = None, device: str | torch.device | None = None) -> torch.nn.Module:
    """Load (once, then from a cache) the lung UNet for ``device``.

    Args:
        weights: checkpoint path; ``None`` uses the shipped ``lung_unet.pt``.
        device: target device; ``None`` picks CUDA when available, else CPU.

    Raises:
        MissingWeightsError: the checkpoint does not exist.
        CheckpointError: it is not a loadable, self-describing network checkpoint.
    """
    path = Path(weights) if weights is not None else shipped_weights_path(LUNG_WEIGHTS_NAME)
    dev = default_device(device)
    key = (str(path.resolve()), str(dev))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_network(path, map_location=dev).to(dev).eval()
        return _CACHE[key]


def _check_image(img: Any) -> torch.Tensor:
    """Return ``img`` as a float32 tensor after checking it is a usable ``(1, H, W)`` image."""
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise InvalidImageError(f"LungMask expects a numpy array or torch tensor, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[0] != 1:
        raise InvalidImageError(f"LungMask expects a channel-first (1, H, W) image, got shape {tuple(img.shape)}")
    if min(img.shape[1:]) < MIN_SIDE:
        raise InvalidImageError(f"LungMask needs an image of at least {MIN_SIDE} px a side, got {tuple(img.shape[1:])}")
    x = torch.as_tensor(img).float()
    if not bool(torch.isfinite(x).all()):
        raise InvalidImageError("LungMask got an image with NaN or Inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InvalidImageError(f"LungMask expects intensities in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    if hi - lo < 1e-6:
        raise InvalidImageError(f"LungMask got a constant image (value {lo:.4g}): no anatomy to segment")
    return x


class LungMask(Transform):
    """Predict a binary lung-field mask of a chest radiograph with a trained 2-D UNet.

    Args:
        weights: checkpoint made by ``scripts/train_lung_mask.py`` (a self-describing
            ``lung_unet`` checkpoint); ``None`` uses the shipped weights.
        device: device to run on; ``None`` picks CUDA when available, else CPU.
        threshold: probability above which a pixel is lung.
        postprocess: keep the two largest components and fill holes.
        working_size: override the working size stored in the checkpoint (rarely useful).

    The weights are loaded at the first call, not at construction, so building a pipeline is cheap.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        threshold: float = 0.5,
        postprocess: bool = True,
        working_size: int | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
        if working_size is not None and working_size < MIN_SIDE:
            raise ConfigError(f"working_size must be >= {MIN_SIDE}, got {working_size}")
        self.weights = weights
        self.device = device
        self.threshold = threshold
        self.postprocess = postprocess
        self.working_size = working_size

    @property
    def network(self) -> torch.nn.Module:
        """The (cached) lung UNet for this transform's weights and device."""
        return load_lung_network(self.weights, self.device)

    def _size(self, net: torch.nn.Module) -> int:
        if self.working_size is not None:
            return self.working_size
        return int(getattr(net, "info", {}).get("working_size", DEFAULT_WORKING_SIZE))

    def probability(self, img: NdarrayOrTensor) -> torch.Tensor:
        """Return the lung probability map ``(1, H, W)`` (float32, CPU) at the image's own size."""
        x = _check_image(img)
        net = self.network
        dev = next(net.parameters()).device
        xw, (h, w), (top, left) = to_working_size(x, self._size(net))
        with torch.inference_mode():
            logits = net(xw[None].to(dev))[0, :, top : top + h, left : left + w]
            # resize the smooth probability, not the binary mask: the edge lands between native pixels
            prob = F.interpolate(torch.sigmoid(logits)[None].float(), size=tuple(x.shape[1:]), mode="bilinear", align_corners=False)
        return prob[0].cpu()

    def __call__(self, img: NdarrayOrTensor) -> MetaTensor:
        """Return the binary float32 ``(1, H, W)`` lung mask, carrying the input's metadata."""
        mask = (self.probability(img)[0] > self.threshold).numpy()
        if self.postprocess:
            mask = keep_largest_components(mask)
        meta = dict(img.meta) if isinstance(img, MetaTensor) else {}
        return MetaTensor(torch.from_numpy(mask[None].astype(np.float32)), meta=meta)


class LungMaskd(MapTransform):
    """Dictionary version of :class:`LungMask`: writes the lung mask under a new key.

    Args:
        keys: image key(s) to segment.
        output_keys: key(s) to write the masks to, one per image key (default ``"lung_mask"``).
        weights, device, threshold, postprocess, working_size: see :class:`LungMask`.
        allow_missing_keys: do not raise if an image key is missing.
    """

    backend = LungMask.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        output_keys: KeysCollection = "lung_mask",
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        threshold: float = 0.5,
        postprocess: bool = True,
        working_size: int | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = ensure_tuple_rep(output_keys, len(self.keys))
        if len(set(self.output_keys)) != len(self.output_keys) or set(self.output_keys) & set(self.keys):
            raise ConfigError(f"output_keys must be distinct and differ from keys, got keys={self.keys}, output_keys={self.output_keys}")
        self.segmenter = LungMask(weights, device, threshold, postprocess, working_size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, out_key in self.key_iterator(d, self.output_keys):
            d[out_key] = self.segmenter(d[key])
        return d


LungMaskD = LungMaskDict = LungMaskd
