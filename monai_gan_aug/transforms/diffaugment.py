"""DiffAugment (Zhao et al. 2020): differentiable augmentations of real AND fake batches for GAN training.

The discriminator sees every image, real or generated, through the same random family of
augmentations, and gradients flow through the augmentation to the generator, so a discriminator
trained on few images (FastGAN on 100) cannot memorise them. Policies, applied in this order:

* ``color``: per-sample brightness shift U(-0.5, 0.5), saturation scale U(0, 2) (a no-op on
  single-channel images), contrast scale U(0.5, 1.5);
* ``translation``: per-sample integer shift of up to ``translation_ratio`` (1/8) of the side, zero fill;
* ``cutout``: per-sample zeroed square of ``cutout_ratio`` (1/2) of the side at a random centre.

Inputs are ``(B, C, H, W)`` batches in the network range ``[-1, 1]``. Every operation is an
addition, a multiplication or a gather, so gradients reach the input.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends
from torch import nn

from ..errors import ConfigError, InvalidImageError

__all__ = ["DIFFAUGMENT_POLICIES", "DiffAugment", "DiffAugmentd", "DiffAugmentD", "DiffAugmentDict", "diff_augment"]

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


def _rand(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``(B, 1, 1, 1)`` uniform draws on ``x``'s device and dtype."""
    dev = generator.device if generator is not None else x.device
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=dev).to(x.device, x.dtype)


def _color(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    x = x + (_rand(x, g) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, g) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, g) + 0.5) + mean


def _randint(low: int, high: int, n: int, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    dev = g.device if g is not None else x.device
    return torch.randint(low, high, (n,), generator=g, device=dev).to(x.device)


def _translation(x: torch.Tensor, ratio: float, g: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(-sh, sh + 1, b, x, g)
    dx = _randint(-sw, sw + 1, b, x, g)
    # gather from a zero-padded copy: output (i, j) takes input (i - dy, j - dx), zeros outside
    rows = (torch.arange(h, device=x.device)[None, :] - dy[:, None]).clamp(-1, h) + 1  # (B, H) into padded
    cols = (torch.arange(w, device=x.device)[None, :] - dx[:, None]).clamp(-1, w) + 1
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    bidx = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float, g: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(0, h + (1 - ch % 2), b, x, g)
    cx = _randint(0, w + (1 - cw % 2), b, x, g)
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    y0, x0 = (cy - ch // 2)[:, None, None], (cx - cw // 2)[:, None, None]
    inside = (yy >= y0) & (yy < y0 + ch) & (xx >= x0) & (xx < x0 + cw)
    return x * (~inside).to(x.dtype)[:, None]


def _parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    names = [p.strip() for p in policy.split(",")] if isinstance(policy, str) else [str(p) for p in policy]
    names = [p for p in names if p]
    unknown = [p for p in names if p not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ConfigError(f"unknown DiffAugment policies {unknown}; known: {DIFFAUGMENT_POLICIES}")
    return tuple(p for p in DIFFAUGMENT_POLICIES if p in names)


def diff_augment(
    x: torch.Tensor, policy: str | Sequence[str] = "color,translation,cutout", translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply the DiffAugment ``policy`` to a ``(B, C, H, W)`` batch (differentiable; see the module docstring).

    Raises:
        InvalidImageError: ``x`` is not a 4-D floating-point tensor.
        ConfigError: unknown policy or a ratio outside ``[0, 1]``.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        found = (tuple(x.shape), x.dtype) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidImageError(f"DiffAugment expects a float (B, C, H, W) batch, got {found}")
    if not (0 <= translation_ratio <= 1 and 0 <= cutout_ratio <= 1):
        raise ConfigError(f"ratios must be in [0, 1], got translation {translation_ratio}, cutout {cutout_ratio}")
    for p in _parse_policy(policy):
        if p == "color":
            x = _color(x, generator)
        elif p == "translation":
            x = _translation(x, translation_ratio, generator)
        else:
            x = _cutout(x, cutout_ratio, generator)
    return x.contiguous()


class DiffAugment(nn.Module):
    """Module form of :func:`diff_augment`, used by the trainers on real and generated batches.

    Args:
        policy: comma-separated subset of :data:`DIFFAUGMENT_POLICIES` (``""`` = identity).
        translation_ratio: maximum shift as a fraction of the side.
        cutout_ratio: side of the cut-out square as a fraction of the image side.
        seed: seed of a private generator (``None`` = torch's global random state).
    """

    def __init__(
        self, policy: str | Sequence[str] = "color,translation,cutout", translation_ratio: float = 0.125,
        cutout_ratio: float = 0.5, seed: int | None = None,
    ) -> None:
        super().__init__()
        self.policy = _parse_policy(policy)
        if not (0 <= translation_ratio <= 1 and 0 <= cutout_ratio <= 1):
            raise ConfigError(f"ratios must be in [0, 1], got translation {translation_ratio}, cutout {cutout_ratio}")
        self.translation_ratio, self.cutout_ratio = float(translation_ratio), float(cutout_ratio)
        self.generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return x
        return diff_augment(x, self.policy, self.translation_ratio, self.cutout_ratio, self.generator)

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)!r}, translation_ratio={self.translation_ratio}, cutout_ratio={self.cutout_ratio}"


class DiffAugmentd(MapTransform, RandomizableTransform):
    """Dictionary twin of :class:`DiffAugment` for batched ``(B, C, H, W)`` tensors in a dict.

    The random draws come from this transform's ``set_random_state`` seed, so a seeded MONAI
    ``Compose`` reproduces them.

    Args:
        keys: keys of the batches to augment.
        policy, translation_ratio, cutout_ratio: see :class:`DiffAugment`.
        prob: probability of augmenting a given call.
        allow_missing_keys: skip keys absent from the data.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self, keys: KeysCollection, policy: str | Sequence[str] = "color,translation,cutout",
        translation_ratio: float = 0.125, cutout_ratio: float = 0.5, prob: float = 1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.augment = DiffAugment(policy, translation_ratio, cutout_ratio)
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        g = torch.Generator().manual_seed(self._seed)
        for key in self.key_iterator(d):
            x = d[key]
            d[key] = diff_augment(x, self.augment.policy, self.augment.translation_ratio, self.augment.cutout_ratio, g)
        return d


DiffAugmentD = DiffAugmentDict = DiffAugmentd
