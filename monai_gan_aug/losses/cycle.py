"""L1 image losses of image-to-image GANs: cycle consistency, identity, masked reconstruction.

* :class:`CycleConsistencyLoss`: ``lambda * |F(G(x)) - x|_1`` (CycleGAN, lambda = 10).
* :class:`IdentityLoss`: ``weight * |G(y) - y|_1`` (CycleGAN: 0.5 * lambda = 5).
* :class:`ReconstructionLoss`: L1 inside a (possibly soft) mask, divided by the mask's area, so
  the loss of an inpainting generator does not depend on how large the region is; without a mask
  it is pix2pix's plain L1 term (weight 100 in the paper).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, InvalidImageError

__all__ = ["CycleConsistencyLoss", "IdentityLoss", "ReconstructionLoss"]


def _check_weight(weight: float) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ConfigError(f"loss weight must be a number >= 0, got {weight!r}")
    return float(weight)


def _check_pair(prediction: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if not isinstance(prediction, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise InvalidImageError(
            f"{name} expects tensors, got {type(prediction).__name__} and {type(target).__name__}"
        )
    if prediction.shape != target.shape:
        raise InvalidImageError(f"{name}: prediction and target shapes differ: {tuple(prediction.shape)} vs "
                                f"{tuple(target.shape)}")


class _WeightedL1(nn.Module):
    """``weight * mean(|prediction - target|)``."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = _check_weight(weight)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Weighted mean absolute error between two same-shaped batches."""
        _check_pair(prediction, target, type(self).__name__)
        return self.weight * torch.nn.functional.l1_loss(prediction, target)


class CycleConsistencyLoss(_WeightedL1):
    """Cycle-consistency loss ``weight * mean|reconstructed - original|`` (call as ``loss(F(G(x)), x)``).

    Args:
        weight: lambda (CycleGAN default 10).
    """

    def __init__(self, weight: float = 10.0) -> None:
        super().__init__(weight)


class IdentityLoss(_WeightedL1):
    """Identity loss ``weight * mean|G(y) - y|`` (call as ``loss(G(y), y)``).

    Keeps G from changing an image that is already in its target domain.

    Args:
        weight: CycleGAN uses ``lambda_identity * lambda_cycle = 0.5 * 10 = 5``.
    """

    def __init__(self, weight: float = 5.0) -> None:
        super().__init__(weight)


class ReconstructionLoss(nn.Module):
    """L1 reconstruction loss inside a mask, normalised by the mask area.

    ``weight * sum(m * |prediction - target|) / sum(m)``, with the mask broadcast to the images'
    channels (the denominator counts every masked value). Soft masks (e.g. the feathered
    ``region_weight``) are weights. An all-zero mask gives a loss of 0 (still connected to the
    graph), since a batch without any region has nothing to reconstruct.

    Args:
        weight: loss weight (pix2pix: 100 for the unmasked L1 term).
        eps: guards the division when the mask is (almost) empty.
    """

    def __init__(self, weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.weight = _check_weight(weight)
        self.eps = float(eps)

    def forward(
        self, prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Masked mean absolute error.

        Args:
            prediction: ``(B, C, H, W)`` generated images.
            target: same shape, the ground truth.
            mask: ``(B, 1 or C, H, W)`` weights in ``[0, 1]``; ``None`` means everywhere.

        Raises:
            InvalidImageError: shapes do not match or the mask does not broadcast to the images.
        """
        _check_pair(prediction, target, type(self).__name__)
        diff = (prediction - target).abs()
        if mask is None:
            return self.weight * diff.mean()
        if not isinstance(mask, torch.Tensor) or mask.ndim != diff.ndim or mask.shape[0] != diff.shape[0] \
                or mask.shape[2:] != diff.shape[2:] or mask.shape[1] not in (1, diff.shape[1]):
            found = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise InvalidImageError(f"ReconstructionLoss: mask must be (B, 1 or C, H, W) matching images "
                                    f"{tuple(diff.shape)}, got {found}")
        mask = mask.to(diff.dtype).expand_as(diff)
        return self.weight * (diff * mask).sum() / mask.sum().clamp_min(self.eps)
