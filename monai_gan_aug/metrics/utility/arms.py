"""Augmentation arms of the utility harness: what each arm adds to the same real films.

An :class:`Arm` is a plug-in: an optional *synthesizer* (a callable that turns one normal film,
its lung mask, a lesion region and a seed into a synthetic ``(image, label)`` pair, the label
being the exact footprint of what was painted), a *ratio* (synthetic films per real lesion film:
1.0 for 1:1, 2.0 for 2:1) and a flag for the classical MONAI augmentation. Every arm of a cell
is trained for the *same number of optimiser steps* (the task trainers draw a fixed number of
batches), so no arm wins by training longer; a larger pool only means the same steps see more
varied films.

Built-in arms (:data:`ARMS`):

* ``real_only``: the ``N`` lesion + ``N`` normal real films, no augmentation;
* ``classical``: the same films with MONAI ``RandAffined`` (image and mask together),
  ``RandAdjustContrastd`` and ``RandGaussianNoised`` online (what users do without a GAN);
* ``gan_lesion``: real films + lesions painted offline into the budget's normal films by the
  lesion opacity generator (:func:`monai_gan_aug.inferers.opacity_edit.edit_lesion`);
* ``opacity_baseline``: the same, painted by the non-learned
  :class:`~monai_gan_aug.transforms.opacity.RandLesionOpacity`.

Synthetic films come from the budget's *own* normal films (cycled when the ratio asks for more
films than there are normals), with regions drawn from the budget's own real lesion boxes clipped
to the film's lung (:func:`~monai_gan_aug.metrics.utility.budgets.draw_lesion_region`): an arm
gets no real film the real-only arm does not have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError
from .budgets import draw_lesion_region

__all__ = [
    "ARMS",
    "DEFAULT_LESION_WEIGHTS",
    "Arm",
    "Synthesizer",
    "GanLesionSynthesizer",
    "OpacityBaselineSynthesizer",
    "build_arm",
    "region_mask",
    "synthesize_arm_items",
]

#: the built-in arm names
ARMS = ("real_only", "classical", "gan_lesion", "opacity_baseline")
#: default lesion opacity generator of the ``gan_lesion`` arm (shipped with the package)
DEFAULT_LESION_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "lesion_opacity.pt"

#: ``(image (1, H, W) in [0, 1], lung (1, H, W) binary, region [x0, y0, x1, y1], seed) -> (image, label)``
Synthesizer = Callable[[torch.Tensor, torch.Tensor, Sequence[int], int], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass
class Arm:
    """One augmentation arm.

    Attributes:
        name: label in tables and plots (unique within a run).
        augment: train with the classical MONAI augmentation online.
        synthesizer: makes one synthetic ``(image, label)`` pair from a normal film, or ``None``.
        ratio: synthetic films per real lesion film (ignored without a synthesizer).
    """

    name: str
    augment: bool = False
    synthesizer: Synthesizer | None = None
    ratio: float = 0.0

    def n_synthetic(self, n_lesion: int) -> int:
        """How many synthetic films this arm adds to a budget of ``n_lesion`` real lesion films."""
        return 0 if self.synthesizer is None else int(round(self.ratio * n_lesion))


def region_mask(shape: Sequence[int], region: Sequence[int], lung: torch.Tensor | None = None) -> torch.Tensor:
    """Binary ``(1, H, W)`` float mask of ``region`` (end-exclusive box), intersected with ``lung`` if given."""
    h, w = int(shape[-2]), int(shape[-1])
    mask = torch.zeros(1, h, w)
    x0, y0, x1, y1 = (int(v) for v in region)
    mask[:, max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = 1.0
    if lung is not None:
        mask = mask * (torch.as_tensor(lung).reshape(1, h, w) > 0.5).float()
    return mask


class GanLesionSynthesizer:
    """Lesions painted by a learned lesion model through :func:`~monai_gan_aug.inferers.opacity_edit.edit_lesion`.

    The network is loaded once, on first use, with :func:`monai_gan_aug.networks.factory.load_network`;
    ``weights_sha256`` is then the sha256 of the bytes loaded (``None`` before), so a record names
    the file actually used even if it is replaced on disk later.
    The edit's region is the box clipped to the lung; the label is the footprint ``edit_lesion``
    returns (exactly what was painted).

    Args:
        weights: checkpoint path (default :data:`DEFAULT_LESION_WEIGHTS`).
        device: where the generator runs.
    """

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        self.weights = Path(weights) if weights is not None else DEFAULT_LESION_WEIGHTS
        self.device = torch.device(device)
        self._net: torch.nn.Module | None = None
        self.weights_sha256: str | None = None

    @property
    def network(self) -> torch.nn.Module:
        """The generator, loaded on first access."""
        if self._net is None:
            from ...networks.factory import load_network

            import hashlib
            import shutil
            import tempfile

            if not self.weights.is_file():
                raise ConfigError(f"lesion generator weights {self.weights} not found")
            with tempfile.TemporaryDirectory() as tmp:  # hash and load the same bytes
                copy = Path(tmp) / self.weights.name
                shutil.copyfile(self.weights, copy)
                self.weights_sha256 = hashlib.sha256(copy.read_bytes()).hexdigest()
                self._net = load_network(copy).to(self.device).eval()
        return self._net

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, lung: torch.Tensor, region: Sequence[int], seed: int):
        from monai.data import MetaTensor

        from ...inferers.opacity_edit import edit_lesion

        mask = region_mask(image.shape, region, lung)
        edited, label = edit_lesion(MetaTensor(image.float()), self.network, mask, None, class_index=1,
                                    seed=int(seed), lung=lung)
        return (torch.as_tensor(edited).detach().float().clamp(0, 1).reshape(image.shape),
                torch.as_tensor(label).float().reshape(image.shape))


class OpacityBaselineSynthesizer:
    """Lesions from the non-learned :class:`~monai_gan_aug.transforms.opacity.RandLesionOpacity`.

    A footprint is drawn inside the box clipped to the lung; the label is that footprint.

    Args:
        **kwargs: passed to ``RandLesionOpacity`` (parameter ranges, shape prior); ``prob`` is 1.
    """

    def __init__(self, **kwargs: Any) -> None:
        from ...transforms.opacity import RandLesionOpacity

        self.transform = RandLesionOpacity(prob=1.0, **kwargs)

    def __call__(self, image: torch.Tensor, lung: torch.Tensor, region: Sequence[int], seed: int):
        mask = region_mask(image.shape, region, lung)
        self.transform.set_random_state(seed=int(seed) % (2**32))
        out = self.transform(image.float(), region_mask=mask)
        label = torch.from_numpy(np.asarray(self.transform.footprint, dtype=np.float32)).reshape(image.shape)
        return torch.as_tensor(out).detach().float().clamp(0, 1).reshape(image.shape), label


def build_arm(spec: str, *, weights: str | Path | None = None, device: str | torch.device = "cpu") -> Arm:
    """An :class:`Arm` from ``name`` or ``name:ratio`` (``gan_lesion:2`` is 2 synthetic films per lesion film).

    Raises:
        ConfigError: an unknown name, a ratio on an arm without synthesis, or a ratio <= 0.
    """
    name, _, ratio_text = spec.partition(":")
    if name not in ARMS:
        raise ConfigError(f"arm must be one of {ARMS} (optionally name:ratio), got {spec!r}")
    if name in ("real_only", "classical"):
        if ratio_text:
            raise ConfigError(f"arm {name!r} adds no synthetic films; a ratio ({spec!r}) makes no sense")
        return Arm(name, augment=name == "classical")
    ratio = float(ratio_text) if ratio_text else 1.0
    if ratio <= 0:
        raise ConfigError(f"the synthetic ratio must be > 0, got {spec!r}")
    synth: Synthesizer = (GanLesionSynthesizer(weights, device) if name == "gan_lesion"
                          else OpacityBaselineSynthesizer())
    label = name if not ratio_text else f"{name}:{ratio_text}"
    return Arm(label, synthesizer=synth, ratio=ratio)


def synthesize_arm_items(
    arm: Arm,
    budget: Mapping[str, Sequence[Mapping[str, Any]]],
    seed: int,
    size: int,
) -> list[dict[str, Any]]:
    """The synthetic films ``arm`` adds to ``budget`` for one seed, resized to ``(1, size, size)``.

    Normal films of the budget are used in turn (cycled); each gets a region drawn from the
    budget's real lesion boxes and clipped to its lung (films where no box fits after 20 draws are
    skipped and the next one is tried), and is edited at its native resolution with the seed
    ``seed * 100003 + k``. Image and label are then resized together
    (:func:`~monai_gan_aug.metrics.utility.segmentation.prepare_segmentation_items`).

    Args:
        arm: the arm (an arm without a synthesizer returns ``[]``).
        budget: ``{"lesion": items with "boxes", "normal": items with "image" and "lung_mask"}``.
        seed: the run's seed.
        size: working size.

    Returns:
        Items ``{"image", "mask", "cls": 1, "patient", "synthetic": arm.name, "region"}``.
    """
    from .segmentation import _image_tensor, _mask_tensor, prepare_segmentation_items

    n = arm.n_synthetic(len(budget["lesion"]))
    if n == 0:
        return []
    normals = list(budget["normal"])
    if not normals:
        raise ConfigError(f"arm {arm.name!r} paints normal films but the budget has none")
    boxes = [b for d in budget["lesion"] for b in d.get("boxes", ())]
    rng = np.random.default_rng(seed * 7919 + 17)
    out: list[dict[str, Any]] = []
    k = 0
    while len(out) < n:
        if k >= 20 * n + len(normals):
            raise ConfigError(f"arm {arm.name!r}: no real lesion box fits the normal films' lungs")
        film = normals[k % len(normals)]
        image, lung = _image_tensor(film["image"]), _mask_tensor(film["lung_mask"])
        region = draw_lesion_region(boxes, lung[0].numpy() > 0.5, rng)
        k += 1
        if region is None:
            continue
        edited, label = arm.synthesizer(image, lung, region, seed * 100003 + k)  # type: ignore[misc]
        pair = prepare_segmentation_items([{"image": edited, "label": label}], size)[0]
        out.append({"image": pair["image"], "mask": pair["label"], "cls": 1, "patient": film.get("patient"),
                    "synthetic": arm.name, "region": list(region)})
    return out
