"""Difference-map inferer: make a healthy twin of a radiograph and return where it differs in the lung.

``X --TranslationInferer(G_BA)--> X' --DifferenceMap(lung)--> lesion mask``  (``source="cyclegan"``)
``X --HealingInferer(lesion_inpaint, class 0)--> X' --DifferenceMap(lung)--> mask``  (``source="healing"``)

Two sources of the healthy twin ``X'``: the CycleGAN's sick->healthy generator ``G_BA`` translating
the whole film, or *healing by inpainting* (:class:`~monai_gan_aug.inferers.healing.HealingInferer`):
the headline lesion generator's healthy class repaints overlapping lung windows and the fills are
averaged. Thresholds (``thresholding``): ``"band"`` (the seed's ``low <= |X - X'| / max <= high``),
``"absolute"`` (``|X - X'| > threshold``, a threshold calibrated on a training split; unlike the
band it does not rescale every film to its own maximum, so a film the generator leaves alone gets
an empty mask) or ``"otsu"`` (Otsu's threshold of the difference inside the lung); then 8-connected
components smaller than ``min_size`` px are removed.

The generator runs at its working size on any image size through
:class:`~monai_gan_aug.inferers.translation.TranslationInferer`; with ``detail_preserving`` (the
default) ``X' = X + up(G(x) - x)``, so ``|X - X'|`` is exactly the generator's own change, free
of resampling differences between the working size and the native grid.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.transforms import MapTransform
from monai.utils import ensure_tuple_rep
from torch import nn

from ..errors import ConfigError, InvalidImageError
from ..networks.factory import load_network
from ..transforms.diffmap import DifferenceMap, band_mask, lesion_difference
from ..utils.weights import shipped_weights_path
from .healing import HealingInferer
from .translation import TranslationInferer

__all__ = [
    "DEFAULT_G_BA_WEIGHTS",
    "DEFAULT_HEALING_WEIGHTS",
    "OUTPUTS",
    "SOURCES",
    "THRESHOLDINGS",
    "DifferenceMapInferer",
    "DifferenceMapLabelD",
    "DifferenceMapLabelDict",
    "DifferenceMapLabeld",
    "dicom_seg_backend",
    "generator_size",
    "load_healthy_source",
    "load_sick_to_healthy",
    "otsu_threshold",
    "raw_difference",
    "remove_small_components",
    "threshold_difference",
]

DEFAULT_G_BA_WEIGHTS = "cyclegan_G_BA.pt"
#: the headline lesion generator; its class 0 repaints healthy lung (``source="healing"``)
DEFAULT_HEALING_WEIGHTS = "lesion_inpaint.pt"
#: where the healthy twin comes from
SOURCES = ("cyclegan", "healing")
#: how the difference becomes a mask
THRESHOLDINGS = ("band", "absolute", "otsu")
#: What ``__call__`` returns: the binary mask, the normalised map, or both stacked as 2 channels.
OUTPUTS = ("mask", "map", "both")
_DEFAULT_SIZE = 256


def load_sick_to_healthy(
    weights: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """Load the sick->healthy generator: ``weights`` or the shipped ``cyclegan_G_BA.pt``.

    Raises:
        MissingWeightsError: no weights given and none shipped (names the folder searched).
        CheckpointError: not a self-describing network checkpoint.
    """
    path = Path(weights) if weights is not None else shipped_weights_path(DEFAULT_G_BA_WEIGHTS)
    return load_network(path, map_location=device).to(device).eval()


def load_healthy_source(
    source: str = "cyclegan", weights: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """The network of a difference-map ``source``: ``G_BA`` (cyclegan) or the lesion inpainter (healing)."""
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {SOURCES}, found {source!r}")
    if source == "cyclegan":
        return load_sick_to_healthy(weights, device)
    path = Path(weights) if weights is not None else shipped_weights_path(DEFAULT_HEALING_WEIGHTS)
    return load_network(path, map_location=device).to(device).eval()


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (maximises the between-class variance); its value if constant."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise InvalidImageError("Otsu's threshold of an empty sample")
    if float(values.max()) == float(values.min()):
        return float(values.max())
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    # a gap between two modes gives a plateau of equal splits: take its middle
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    if np.all(np.diff(best) == 1):
        return float((centres[best[0]] + centres[best[-1]]) / 2)
    return float(centres[best[0]])


def remove_small_components(mask: np.ndarray, min_size: int) -> np.ndarray:
    """``mask`` without 8-connected components of fewer than ``min_size`` px.

    (MONAI's ``RemoveSmallObjects`` does the same but needs scikit-image, not a dependency here.)
    """
    return band_mask(np.asarray(mask, dtype=np.float32), 0.5, 1.0, int(min_size))


def raw_difference(
    image: Any, healthy: Any, lung: Any = None, polarity: str = "abs", smooth_sigma: float = 0.0
) -> np.ndarray:
    """``|X - X'|`` (or ``max(X - X', 0)``) inside the lung, optionally smoothed: float32 ``(H, W)``, not normalised.

    The unnormalised :func:`~monai_gan_aug.transforms.diffmap.lesion_map`
    (:func:`~monai_gan_aug.transforms.diffmap.lesion_difference`).
    """
    return lesion_difference(image, healthy, lung, polarity, smooth_sigma).astype(np.float32)


def threshold_difference(
    raw: np.ndarray,
    lung: np.ndarray | None = None,
    thresholding: str = "band",
    low: float = 0.3,
    high: float = 0.8,
    threshold: float | None = None,
    min_size: int = 0,
) -> np.ndarray:
    """Boolean lesion mask of a :func:`raw_difference` map (see the module docstring for the three ways)."""
    raw = np.asarray(raw, dtype=np.float32)
    inside = np.ones(raw.shape, bool) if lung is None else np.asarray(lung).reshape(raw.shape) > 0
    if thresholding == "band":
        peak = float(raw.max())
        values = raw / peak if peak > 0 else np.zeros_like(raw)
        return band_mask(values, low, high, min_size) & inside
    if thresholding == "absolute":
        if threshold is None:
            raise ConfigError("thresholding='absolute' needs a threshold (calibrate it on a training split)")
        mask = (raw > float(threshold)) & inside
    elif thresholding == "otsu":
        vals = raw[inside]
        if vals.size == 0 or float(vals.max()) <= 0:
            return np.zeros(raw.shape, bool)
        mask = (raw > otsu_threshold(vals)) & inside
    else:
        raise ConfigError(f"thresholding must be one of {THRESHOLDINGS}, found {thresholding!r}")
    return remove_small_components(mask, min_size) if min_size > 1 else mask


def generator_size(network: nn.Module, default: int = _DEFAULT_SIZE) -> int:
    """The working size a generator was trained at (``info["image_size"]`` of its checkpoint)."""
    info = getattr(network, "info", None) or {}
    return int(info.get("image_size", info.get("working_size", default)))


class DifferenceMapInferer(Inferer):
    """Lesion masks of ``(N, 1, H, W)`` radiographs in ``[0, 1]`` from a healthy twin made by ``network``.

    Args:
        size: working size of the generator (``source="cyclegan"``); ``None`` reads
            ``info["image_size"]`` of the loaded checkpoint (256 if absent).
        detail_preserving: see :class:`TranslationInferer` (keep True: see the module docstring).
        low, high, min_size, polarity, smooth_sigma: see :class:`~monai_gan_aug.transforms.diffmap.DifferenceMap`.
        lung: ``"auto"`` segments the lungs with the shipped lung UNet (``LungMask``) when the call
            gets no ``lung``; ``None`` uses the whole image.
        lung_weights: lung UNet checkpoint for ``lung="auto"`` (``None``: shipped).
        output: ``"mask"`` (default), ``"map"`` or ``"both"`` (channel 0 mask, channel 1 map).
        source: ``"cyclegan"`` (default: ``network`` is a ``[-1, 1]`` sick->healthy generator run on
            the whole film) or ``"healing"`` (``network`` is a lesion inpainting generator whose
            healthy class repaints overlapping lung windows, :class:`HealingInferer`).
        window, stride, heal_seed, batch_size: the healing windows (reference px), their step
            (fraction of the window), the fill noise's seed, windows per call; ``source="healing"`` only.
        thresholding: ``"band"`` (default, ``low``..``high`` of the map normalised by its maximum),
            ``"absolute"`` (difference > ``threshold``) or ``"otsu"`` (Otsu inside the lung).
        threshold: the absolute threshold (on the un-normalised difference, image units 0-1).

    ``inferer(inputs, network, lung=None)`` returns float32 ``(N, C, H, W)`` of the input's type;
    :meth:`compute` returns every intermediate (healthy image, map, mask, lung) for one batch.
    """

    def __init__(
        self,
        size: int | None = None,
        detail_preserving: bool = True,
        low: float = 0.3,
        high: float = 0.8,
        min_size: int = 20,
        polarity: str = "abs",
        smooth_sigma: float = 0.0,
        lung: str | None = "auto",
        lung_weights: str | os.PathLike | None = None,
        output: str = "mask",
        source: str = "cyclegan",
        window: float = 48,
        stride: float = 0.5,
        heal_seed: int = 0,
        batch_size: int = 32,
        thresholding: str = "band",
        threshold: float | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ConfigError(f"source must be one of {SOURCES}, found {source!r}")
        if thresholding not in THRESHOLDINGS:
            raise ConfigError(f"thresholding must be one of {THRESHOLDINGS}, found {thresholding!r}")
        if thresholding == "absolute" and threshold is None:
            raise ConfigError("thresholding='absolute' needs a threshold (calibrate it on a training split)")
        self.source, self.thresholding = source, thresholding
        self.threshold = None if threshold is None else float(threshold)
        self.healer = HealingInferer(window=window, stride=stride, batch_size=batch_size, seed=heal_seed)
        if lung not in ("auto", None):
            raise ConfigError(f"lung must be 'auto' or None, found {lung!r}")
        if output not in OUTPUTS:
            raise ConfigError(f"output must be one of {OUTPUTS}, found {output!r}")
        if size is not None and int(size) < 8:
            raise ConfigError(f"size must be >= 8, found {size}")
        self.size = None if size is None else int(size)
        self.detail_preserving = bool(detail_preserving)
        self.differ = DifferenceMap(low, high, min_size, polarity, smooth_sigma)
        self.lung = lung
        self.lung_weights = lung_weights
        self.output = output
        self._lung_transform: Any = None

    def _lung_masks(self, images: torch.Tensor, lung: torch.Tensor | Sequence | None) -> list[Any]:
        n = images.shape[0]
        if lung is not None:
            lung_t = torch.as_tensor(lung)
            lung_t = lung_t[None] if lung_t.ndim == 3 else lung_t
            if lung_t.shape[0] != n or lung_t.shape[-2:] != images.shape[-2:]:
                raise InvalidImageError(
                    f"lung masks {tuple(lung_t.shape)} do not match images {tuple(images.shape)}"
                )
            return [lung_t[i] for i in range(n)]
        if self.lung is None:
            return [None] * n
        if self._lung_transform is None:
            from ..transforms.lung import LungMask  # loads the lung UNet only when needed

            self._lung_transform = LungMask(weights=self.lung_weights)
        return [self._lung_transform(images[i].detach().cpu()) for i in range(n)]

    def compute(
        self, inputs: torch.Tensor, network: nn.Module, lung: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Healthy twin, lesion map, mask, lung mask and un-normalised difference of a batch.

        Keys ``healthy``, ``map``, ``mask``, ``lung``, ``difference`` (the polarity / smoothing applied,
        0 outside the lung), each float32 ``(N, 1, H, W)`` on CPU. With ``source="healing"``,
        ``healthy`` is ``X`` minus the averaged change and may leave ``[0, 1]`` slightly (clamp to show it).
        """
        plain = inputs.as_tensor() if isinstance(inputs, MetaTensor) else torch.as_tensor(inputs)
        if plain.ndim == 3:
            plain = plain[None]
        if plain.ndim != 4 or plain.shape[1] != 1:
            raise InvalidImageError(
                f"expected (N, 1, H, W) or (1, H, W) radiographs, found shape {tuple(inputs.shape)}"
            )
        images = plain.detach().cpu().float()
        lungs = self._lung_masks(images, lung)
        if self.source == "healing":
            healthy = torch.stack(
                [self.healer.heal_one(images[i], network, lungs[i])[0] for i in range(images.shape[0])]
            )
        else:
            size = self.size or generator_size(network)
            translator = TranslationInferer(size=size, detail_preserving=self.detail_preserving)
            with torch.inference_mode():
                healthy = translator(plain.float(), network).detach().cpu()
        masks, maps, raws = [], [], []
        for i in range(images.shape[0]):
            mask, values = self.differ(images[i], healthy[i], lungs[i])
            raw = raw_difference(
                images[i], healthy[i], lungs[i], self.differ.polarity, self.differ.smooth_sigma
            )
            if self.thresholding != "band":
                lung_i = None if lungs[i] is None else np.asarray(torch.as_tensor(lungs[i]).cpu())
                m = threshold_difference(raw, lung_i, self.thresholding, threshold=self.threshold,
                                         min_size=self.differ.min_size)
                mask = torch.as_tensor(m[None].astype(np.float32))
            masks.append(torch.as_tensor(np.asarray(mask)))
            maps.append(torch.as_tensor(np.asarray(values)))
            raws.append(torch.as_tensor(raw[None]))
        lung_out = torch.stack(
            [
                torch.ones_like(images[0])
                if m is None
                else torch.as_tensor(m).float().reshape(images[0].shape)
                for m in lungs
            ]
        )
        return {"healthy": healthy, "map": torch.stack(maps), "mask": torch.stack(masks),
                "lung": lung_out, "difference": torch.stack(raws)}

    def __call__(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        network: nn.Module,
        *args: Any,
        lung: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Lesion mask (and/or map) of ``inputs``; a ``MetaTensor`` input keeps its metadata."""
        out = self.compute(inputs, network, lung)
        result = {
            "mask": out["mask"],
            "map": out["map"],
            "both": torch.cat([out["mask"], out["map"]], dim=1),
        }[self.output]
        squeeze = inputs.ndim == 3
        result = result[0] if squeeze else result
        result = result.to(inputs.device)
        if isinstance(inputs, MetaTensor):
            meta_out = MetaTensor(
                result, meta=dict(inputs.meta), applied_operations=list(inputs.applied_operations)
            )
            meta_out.is_batch = inputs.is_batch
            meta_out.meta["difference_map"] = {
                "low": self.differ.low,
                "high": self.differ.high,
                "min_size": self.differ.min_size,
                "polarity": self.differ.polarity,
                "lung": self.lung,
                "output": self.output,
                "source": self.source,
                "thresholding": self.thresholding,
                "threshold": self.threshold,
                **({"healing": self.healer.settings()} if self.source == "healing" else {}),
            }
            return meta_out
        return result


def dicom_seg_backend() -> str | None:
    """Name of an importable DICOM-SEG writer (``highdicom`` or ``pydicom_seg``), else ``None``.

    Writing DICOM-SEG is not implemented here; bundles use this to say why they skip it.
    """
    import importlib.util

    return next(
        (name for name in ("highdicom", "pydicom_seg") if importlib.util.find_spec(name) is not None), None
    )


class DifferenceMapLabeld(MapTransform):
    """Write a difference-map pseudo-label: run the sick->healthy generator on ``keys`` and store the mask.

    For pseudo-label ("lazy label") training: put it after loading (and resizing) and cache the
    dataset, so each label is computed once.

    Args:
        keys: image key(s), ``(1, H, W)`` in ``[0, 1]``.
        weights: sick->healthy generator checkpoint (``None``: shipped ``cyclegan_G_BA.pt``); loaded
            once per (file, device) and cached.
        label_key: output key(s) of the binary mask.
        lung_key: key of a lung mask; ``None`` predicts one with the shipped lung UNet
            (``lung="auto"``) unless ``use_lung=False``.
        use_lung: restrict to the lung at all.
        device: device of the generator (default: CUDA if available).
        size, low, high, min_size, polarity, smooth_sigma: see :class:`DifferenceMapInferer`.
        allow_missing_keys: don't raise when an image key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        weights: str | os.PathLike | None = None,
        label_key: KeysCollection = "label",
        lung_key: str | None = None,
        use_lung: bool = True,
        device: str | torch.device | None = None,
        size: int | None = None,
        low: float = 0.3,
        high: float = 0.8,
        min_size: int = 20,
        polarity: str = "abs",
        smooth_sigma: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_key = ensure_tuple_rep(label_key, len(self.keys))
        self.weights = weights
        self.lung_key = lung_key
        self.device = device
        self.inferer = DifferenceMapInferer(
            size, True, low, high, min_size, polarity, smooth_sigma, lung="auto" if use_lung else None
        )

    def _network(self) -> nn.Module:
        from ..transforms.augment import load_generator  # shares the generator cache with RandGANAugmentd

        path = Path(self.weights) if self.weights is not None else shipped_weights_path(DEFAULT_G_BA_WEIGHTS)
        return load_generator(path, self.device)[0]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        lung = None
        if self.lung_key is not None:
            if self.lung_key not in d:
                raise ConfigError(f"lung_key {self.lung_key!r} not in the data (keys: {list(d)})")
            lung = torch.as_tensor(np.asarray(d[self.lung_key]), dtype=torch.float32)[None]
        for key, label_key in self.key_iterator(d, self.label_key):
            img = d[key]
            mask = self.inferer(torch.as_tensor(img)[None], self._network(), lung=lung)[0]
            d[label_key] = (
                MetaTensor(mask, meta=dict(getattr(img, "meta", {}))) if isinstance(img, MetaTensor) else mask
            )
        return d


DifferenceMapLabelD = DifferenceMapLabelDict = DifferenceMapLabeld
