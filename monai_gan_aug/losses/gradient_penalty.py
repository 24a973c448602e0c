"""WGAN-GP gradient penalty (Gulrajani et al. 2017).

``lambda * E[(||grad_x D(x_hat)||_2 - target)**2]`` at random interpolates
``x_hat = alpha * real + (1 - alpha) * fake``, ``alpha ~ U(0, 1)`` per sample. The gradient is
taken with ``create_graph=True`` so that the penalty can be back-propagated into the critic.
For a patch critic (a map of scores) the scores are summed before differentiating, as in the
pytorch-CycleGAN-and-pix2pix ``cal_gradient_penalty``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError, InvalidImageError

__all__ = ["gradient_penalty", "GradientPenaltyLoss"]


def _interpolate(
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: float | torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Per-sample random (or given) interpolates between real and fake, as a leaf requiring grad."""
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor) or real.shape != fake.shape:
        found = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (real, fake)]
        raise InvalidImageError(f"gradient_penalty needs real and fake tensors of one shape, got {found}")
    if real.ndim < 2:
        raise InvalidImageError(f"gradient_penalty needs batched inputs (B, ...), got {tuple(real.shape)}")
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    if alpha is None:
        device = real.device if generator is None else generator.device
        alpha = torch.rand(shape, generator=generator, device=device)
    alpha = torch.as_tensor(alpha, dtype=real.dtype).to(real.device)
    if alpha.numel() not in (1, real.shape[0]):
        raise ConfigError(f"alpha must be a scalar or one value per sample ({real.shape[0]}), "
                          f"got {alpha.numel()} values")
    alpha = alpha.reshape(-1, *shape[1:]) if alpha.numel() > 1 else alpha
    mixed = alpha * real.detach() + (1 - alpha) * fake.detach()
    return mixed.requires_grad_(True)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    lambda_gp: float = 10.0,
    target_norm: float = 1.0,
    alpha: float | torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    """WGAN-GP penalty of ``critic`` between ``real`` and ``fake`` batches.

    Args:
        critic: callable mapping a batch to scores, ``(B,)``, ``(B, 1)`` or a ``(B, 1, h, w)`` map.
            A critic returning ``(output, features)`` (``return_features=True``) is accepted; the
            output is used.
        real: real batch ``(B, ...)``.
        fake: generated batch, same shape (detached here: the penalty trains the critic only).
        lambda_gp: penalty weight (10 in the paper).
        target_norm: the gradient norm aimed at (1; "one-centred" penalty).
        alpha: interpolation weights, a scalar or ``B`` values; random U(0, 1) per sample if None.
        generator: random generator for ``alpha`` (reproducibility).
        eps: added under the square root of the norm, so its gradient is finite at zero gradient.

    Returns:
        Scalar penalty, averaged over the batch.

    Raises:
        InvalidImageError: ``real``/``fake`` mismatched or unbatched.
        ConfigError: negative ``lambda_gp`` or a badly sized ``alpha``.
    """
    if lambda_gp < 0:
        raise ConfigError(f"lambda_gp must be >= 0, got {lambda_gp!r}")
    mixed = _interpolate(real, fake, alpha, generator)
    scores = critic(mixed)
    if isinstance(scores, tuple):  # (output, features) from return_features=True
        scores = scores[0]
    (grads,) = torch.autograd.grad(outputs=scores.sum(), inputs=mixed, create_graph=True)
    norms = torch.sqrt(grads.reshape(grads.shape[0], -1).pow(2).sum(dim=1) + eps)
    return lambda_gp * ((norms - target_norm) ** 2).mean()


class GradientPenaltyLoss(nn.Module):
    """Module form of :func:`gradient_penalty`: ``loss(critic, real, fake)``.

    Args:
        lambda_gp: penalty weight.
        target_norm: the gradient norm aimed at.
    """

    def __init__(self, lambda_gp: float = 10.0, target_norm: float = 1.0) -> None:
        super().__init__()
        if lambda_gp < 0:
            raise ConfigError(f"lambda_gp must be >= 0, got {lambda_gp!r}")
        self.lambda_gp = float(lambda_gp)
        self.target_norm = float(target_norm)

    def forward(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        alpha: float | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Penalty of ``critic`` at interpolates of ``real`` and ``fake`` (see :func:`gradient_penalty`)."""
        return gradient_penalty(critic, real, fake, self.lambda_gp, self.target_norm, alpha, generator)
