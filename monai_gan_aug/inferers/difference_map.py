"""Difference-map inferer: run a sick->healthy generator and return where it changed the lung.

``X --TranslationInferer(G_BA)--> X' --DifferenceMap(lung)--> lesion mask``

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
from ..transforms.diffmap import DifferenceMap
from ..utils.weights import shipped_weights_path
from .translation import TranslationInferer

__all__ = [
    "DEFAULT_G_BA_WEIGHTS",
    "OUTPUTS",
    "DifferenceMapInferer",
    "DifferenceMapLabelD",
    "DifferenceMapLabelDict",
    "DifferenceMapLabeld",
    "dicom_seg_backend",
    "generator_size",
    "load_sick_to_healthy",
]

DEFAULT_G_BA_WEIGHTS = "cyclegan_G_BA.pt"
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


def generator_size(network: nn.Module, default: int = _DEFAULT_SIZE) -> int:
    """The working size a generator was trained at (``info["image_size"]`` of its checkpoint)."""
    info = getattr(network, "info", None) or {}
    return int(info.get("image_size", info.get("working_size", default)))


class DifferenceMapInferer(Inferer):
    """Lesion masks of ``(N, 1, H, W)`` radiographs in ``[0, 1]`` from a ``[-1, 1]`` sick->healthy generator.

    Args:
        size: working size of the generator; ``None`` reads ``info["image_size"]`` of the loaded
            checkpoint (256 if absent).
        detail_preserving: see :class:`TranslationInferer` (keep True: see the module docstring).
        low, high, min_size, polarity, smooth_sigma: see :class:`~monai_gan_aug.transforms.diffmap.DifferenceMap`.
        lung: ``"auto"`` segments the lungs with the shipped lung UNet (``LungMask``) when the call
            gets no ``lung``; ``None`` uses the whole image.
        lung_weights: lung UNet checkpoint for ``lung="auto"`` (``None``: shipped).
        output: ``"mask"`` (default), ``"map"`` or ``"both"`` (channel 0 mask, channel 1 map).

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
    ) -> None:
        super().__init__()
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
        """Healthy translation, lesion map, mask and lung mask of a batch, each float32 ``(N, 1, H, W)`` on CPU."""
        plain = inputs.as_tensor() if isinstance(inputs, MetaTensor) else torch.as_tensor(inputs)
        if plain.ndim == 3:
            plain = plain[None]
        if plain.ndim != 4 or plain.shape[1] != 1:
            raise InvalidImageError(
                f"expected (N, 1, H, W) or (1, H, W) radiographs, found shape {tuple(inputs.shape)}"
            )
        size = self.size or generator_size(network)
        translator = TranslationInferer(size=size, detail_preserving=self.detail_preserving)
        with torch.inference_mode():
            healthy = translator(plain.float(), network).detach().cpu()
        images = plain.detach().cpu().float()
        lungs = self._lung_masks(images, lung)
        masks, maps = [], []
        for i in range(images.shape[0]):
            mask, values = self.differ(images[i], healthy[i], lungs[i])
            masks.append(torch.as_tensor(np.asarray(mask)))
            maps.append(torch.as_tensor(np.asarray(values)))
        lung_out = torch.stack(
            [
                torch.ones_like(images[0])
                if m is None
                else torch.as_tensor(m).float().reshape(images[0].shape)
                for m in lungs
            ]
        )
        return {"healthy": healthy, "map": torch.stack(maps), "mask": torch.stack(masks), "lung": lung_out}

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
