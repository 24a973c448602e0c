"""Adversarial losses for PatchGAN-style discriminators: LSGAN, vanilla (BCE), hinge, WGAN.

All modes take raw discriminator logits (no activation), as a tensor or as a list of tensors (one
per scale of a multi-scale discriminator; the loss is the mean over scales, MONAI's convention).

How MONAI's ``monai.losses.PatchAdversarialLoss`` is used, and where it is not (read from its
source, MONAI 1.6):

* ``"lsgan"``: MONAI's loss with ``criterion="least_squares", no_activation_leastsq=True``, i.e.
  ``mean((D - label)**2)`` on the raw output, the LSGAN loss of CycleGAN. MONAI's default
  (``no_activation_leastsq=False``) would first pass the logits through a LeakyReLU(0.05), which is
  not the published loss.
* ``"vanilla"``: ``BCEWithLogits``. MONAI computes ``BCELoss(sigmoid(D))``, which underflows for
  confident discriminators (logit < ~-104 in float32: sigmoid = 0, log clamped at -100) and then
  gives the generator a zero gradient exactly when it needs one.
* ``"hinge"``: written here. MONAI's hinge passes the logits through ``tanh`` first, so
  ``min(tanh(D) - 1, 0)`` is never clipped: its discriminator loss is
  ``2 - mean(tanh(D_real)) + mean(tanh(D_fake))``, not the hinge loss. The standard one (Lim & Ye
  2017; SAGAN/BigGAN) is asymmetric: discriminator ``mean(relu(1 - D_real)) + mean(relu(1 + D_fake))``,
  generator ``-mean(D_fake)`` (no margin).
* ``"wgan"``: critic ``-mean(D_real) + mean(D_fake)``, generator ``-mean(D_fake)``.

Usage (each call returns a scalar)::

    adv = AdversarialLoss("lsgan")
    loss_d = adv(d(real), True, for_discriminator=True) + adv(d(fake.detach()), False, for_discriminator=True)
    loss_g = adv(d(fake), True, for_discriminator=False)
    # or: adv.discriminator_loss(d(real), d(fake.detach())), adv.generator_loss(d(fake))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from torch import nn

from ..errors import ConfigError

__all__ = ["ADVERSARIAL_MODES", "AdversarialLoss"]

ADVERSARIAL_MODES = ("lsgan", "vanilla", "hinge", "wgan")

Logits = torch.Tensor | Sequence[torch.Tensor]


def _as_list(prediction: Logits) -> list[torch.Tensor]:
    """Normalise a tensor or a list of per-scale tensors to a non-empty list of tensors."""
    if isinstance(prediction, torch.Tensor):
        return [prediction]
    items = list(prediction) if isinstance(prediction, Sequence) else []
    if not items or not all(isinstance(p, torch.Tensor) for p in items):
        raise ConfigError(
            "adversarial loss expects the discriminator logits as a tensor or a list of tensors "
            f"(one per scale); got {type(prediction).__name__} of {[type(p).__name__ for p in items]}. "
            "With return_features=True pass only the output, not (output, features)."
        )
    return items


class AdversarialLoss(nn.Module):
    """GAN loss on raw discriminator logits.

    Args:
        mode: ``"lsgan"`` (CycleGAN default), ``"vanilla"`` (BCE with logits, pix2pix),
            ``"hinge"`` or ``"wgan"``; see the module docstring.

    Raises:
        ConfigError: unknown mode; or (in ``forward``) a generator loss asked with
            ``target_is_real=False``, or logits that are not tensors.
    """

    def __init__(self, mode: str = "lsgan") -> None:
        super().__init__()
        if not isinstance(mode, str) or mode.lower() not in ADVERSARIAL_MODES:
            raise ConfigError(f"mode must be one of {list(ADVERSARIAL_MODES)}, got {mode!r}")
        self.mode = mode.lower()
        self._monai_lsgan = PatchAdversarialLoss(criterion="least_squares", no_activation_leastsq=True)

    def forward(self, prediction: Logits, target_is_real: bool, for_discriminator: bool) -> torch.Tensor:
        """Loss of discriminator logits against a real/fake target.

        Args:
            prediction: logits, a tensor or one tensor per scale.
            target_is_real: whether the logits should say "real" (discriminator on real images, or
                any generator loss) or "fake" (discriminator on generated images).
            for_discriminator: discriminator/critic loss (True) or generator loss (False); only
                hinge and WGAN differ between the two, but the flag is required so call sites say
                which one they mean.

        Returns:
            Scalar loss, averaged over the pixels of each map and over scales.
        """
        preds = _as_list(prediction)
        if not for_discriminator and not target_is_real:
            raise ConfigError("a generator loss always targets 'real': call with target_is_real=True "
                              "(or use generator_loss())")
        if self.mode == "lsgan":
            return self._monai_lsgan(preds, target_is_real=target_is_real,
                                     for_discriminator=for_discriminator)
        losses = [self._single(p, bool(target_is_real), bool(for_discriminator)) for p in preds]
        return torch.stack(losses).mean()

    def _single(self, pred: torch.Tensor, real: bool, for_discriminator: bool) -> torch.Tensor:
        if self.mode == "vanilla":
            target = torch.ones_like(pred) if real else torch.zeros_like(pred)
            return F.binary_cross_entropy_with_logits(pred, target)
        if not for_discriminator:  # hinge and WGAN generators both maximise the critic's score
            return -pred.mean()
        if self.mode == "hinge":
            return F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean()
        return -pred.mean() if real else pred.mean()  # WGAN critic

    def discriminator_loss(self, real_prediction: Logits, fake_prediction: Logits) -> torch.Tensor:
        """Discriminator/critic loss: the real-image term plus the fake-image term (no 0.5 factor)."""
        real = self(real_prediction, True, for_discriminator=True)
        return real + self(fake_prediction, False, for_discriminator=True)

    def generator_loss(self, fake_prediction: Logits) -> torch.Tensor:
        """Generator loss on the discriminator's logits for generated images."""
        return self(fake_prediction, True, for_discriminator=False)
