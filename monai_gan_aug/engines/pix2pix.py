"""pix2pix trainer (Isola et al. 2017): conditional GAN on paired images, with an inpainting mode.

Plain mode: ``G(x) -> y``; the discriminator sees ``(x, y)`` concatenated along channels.

Inpainting mode (``inpainting=True``, pathology-preserving composite): with a region mask ``r``
(1 inside the region to synthesise, as ``RegionMaskd`` writes it) and ``m = 1 - r`` the known
pixels, the generator sees the masked image ``x * m`` (and ``r`` as an extra channel when
``mask_channel=True``) and the output is the composite ``x~ = x * m + G(x * m) * (1 - m)``: pixels
outside the region are the input's, exactly. Masking is done in the networks' ``[-1, 1]`` range,
so a hole reads as mid-grey (0), not as black.

Boundary band (``boundary_weight > 0``, inpainting only): an extra L1 on the synthesised pixels
within ``boundary_width`` px of the known ones, so the generated surroundings meet the kept region
without a step (the seam); its weighted value is published as ``loss_G_band`` and added to
``loss_G``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.engines.utils import IterationEvents
from torch import nn
from torch.optim import Optimizer

from ..errors import ConfigError, DatasetError
from .base import MultiNetworkGanTrainer, PrepareKeysBatch, resolve_adversarial_loss
from .runtime import set_requires_grad

__all__ = ["Pix2PixTrainer", "PIX2PIX_LOSS_KEYS", "boundary_band", "masked_l1"]

#: Every loss written to ``engine.state.output`` each iteration (plus ``lr_G`` and ``lr_D``).
PIX2PIX_LOSS_KEYS = ("loss_G", "loss_G_adv", "loss_G_L1", "loss_D", "loss_D_real", "loss_D_fake")


def masked_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, weighted per pixel by ``weight`` (broadcast over channels) if given."""
    diff = (pred - target).abs()
    if weight is None:
        return diff.mean()
    weight = weight.expand_as(diff)
    return (diff * weight).sum() / weight.sum().clamp_min(1e-8)


def boundary_band(region: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels of ``region`` (1 = synthesised, ``(N, 1, H, W)``) within ``width`` px (chessboard) of its outside."""
    if int(width) < 1:
        raise ConfigError(f"boundary width must be >= 1, got {width}")
    known = 1.0 - region
    k = 2 * int(width) + 1
    near_known = torch.nn.functional.max_pool2d(known, k, stride=1, padding=int(width))
    return near_known * region


class Pix2PixTrainer(MultiNetworkGanTrainer):
    """Ignite/MONAI trainer of a conditional GAN (pix2pix), optionally as a masked inpainter.

    ``engine.state.output``: floats ``loss_G = loss_G_adv + loss_G_L1``, ``loss_G_adv``, ``loss_G_L1``
    (weighted), ``loss_D = 0.5 * (loss_D_real + loss_D_fake)``, ``loss_D_real``, ``loss_D_fake``,
    ``lr_G``, ``lr_D``.

    Args:
        device: training device.
        max_epochs: epochs to train.
        train_data_loader: loader of dict batches.
        generator: ``G``; its input channels are the condition's (+1 with ``mask_channel``).
        discriminator: ``D`` on ``cat(condition, image)``: ``in_channels = G input + G output channels``.
        g_optimizer, d_optimizer: optimisers.
        lr_schedulers: optional dict with keys ``G``/``D``.
        adversarial_loss: mode (``"vanilla"`` as pix2pix, ``"lsgan"``, ``"hinge"``, ``"wgan"``) or callable
            ``f(pred, target_is_real, for_discriminator)``.
        l1_weight: weight of the reconstruction L1 (pix2pix ``lambda_L1 = 100``).
        mask_aware_l1: weight the L1 by the region mask: ``1`` inside the region and
            ``l1_outside_weight`` outside (needs ``mask_key`` in the batch).
        l1_outside_weight: L1 weight outside the region when ``mask_aware_l1``.
        inpainting: composite mode (see the module docstring); needs ``mask_key``. The target defaults
            to the input image itself when ``target_key`` is absent from the batch.
        mask_channel: in inpainting mode, feed the region mask as an extra generator channel.
        boundary_weight: weight of the boundary-band L1 (inpainting only; 0 disables it and
            ``loss_G_band`` is not published).
        boundary_width: width in pixels of the band (see :func:`boundary_band`).
        input_key, target_key, mask_key: batch keys (images in ``[0, 1]``, mask binary ``(N, 1, H, W)``).
        kwargs: passed to :class:`~monai_gan_aug.engines.base.MultiNetworkGanTrainer`.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Any,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        lr_schedulers: Mapping[str, Any] | None = None,
        adversarial_loss: str | Callable = "vanilla",
        l1_weight: float = 100.0,
        mask_aware_l1: bool = False,
        l1_outside_weight: float = 0.1,
        inpainting: bool = False,
        mask_channel: bool = True,
        boundary_weight: float = 0.0,
        boundary_width: int = 8,
        input_key: str = "image_a",
        target_key: str = "image_b",
        mask_key: str = "region_mask",
        **kwargs: Any,
    ) -> None:
        if l1_weight < 0 or l1_outside_weight < 0 or boundary_weight < 0:
            raise ConfigError(f"L1 weights must be >= 0, got {l1_weight}, {l1_outside_weight}, {boundary_weight}")
        if boundary_weight > 0 and not inpainting:
            raise ConfigError("boundary_weight needs inpainting=True (the band is around the kept region)")
        if int(boundary_width) < 1:
            raise ConfigError(f"boundary_width must be >= 1, got {boundary_width}")
        # In inpainting mode the target may be the input itself, so it is optional there.
        required = (input_key,) if inpainting else (input_key, target_key)
        optional = (target_key, mask_key) if inpainting else (mask_key,)
        kwargs.setdefault("prepare_batch", PrepareKeysBatch(required, optional))
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            networks={"G": generator, "D": discriminator},
            optimizers={"G": g_optimizer, "D": d_optimizer},
            lr_schedulers=lr_schedulers,
            scaler_names=("G", "D"),
            **kwargs,
        )
        self.adversarial_loss = resolve_adversarial_loss(adversarial_loss)
        self.l1_weight = float(l1_weight)
        self.mask_aware_l1 = bool(mask_aware_l1)
        self.l1_outside_weight = float(l1_outside_weight)
        self.inpainting = bool(inpainting)
        self.mask_channel = bool(mask_channel)
        self.boundary_weight, self.boundary_width = float(boundary_weight), int(boundary_width)
        self.input_key, self.target_key, self.mask_key = input_key, target_key, mask_key

    def _unpack(self, batchdata: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Input, target (both ``[-1, 1]``) and region mask (``{0, 1}`` or ``None``) of a batch."""
        parts = self.prepare_batch(batchdata, self.state.device, self.non_blocking, **self.to_kwargs)
        if self.inpainting:
            x, target, mask = parts
            target = x if target is None else target
        else:
            x, target, mask = parts
        if (self.inpainting or self.mask_aware_l1) and mask is None:
            raise DatasetError(f"batch lacks the region mask {self.mask_key!r} needed by inpainting/mask-aware L1")
        if mask is not None and mask.shape[-2:] != x.shape[-2:]:
            raise DatasetError(f"mask {tuple(mask.shape)} does not match image {tuple(x.shape)}")
        mask = None if mask is None else (mask[:, :1] > 0.5).to(x.dtype)
        return self.prepare_images(x), self.prepare_images(target), mask

    def condition(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Generator input: ``x``, or ``x * (1 - r)`` (+ ``r`` channel) in inpainting mode."""
        if not self.inpainting:
            return x
        known = 1.0 - mask  # type: ignore[operator]
        cond = x * known
        return torch.cat([cond, mask], 1) if self.mask_channel else cond  # type: ignore[list-item]

    def generate(self, net: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition and output (the composite in inpainting mode) of generator ``net``."""
        cond = self.condition(x, mask)
        out = net(cond)
        if self.inpainting:
            out = x * (1.0 - mask) + out * mask  # type: ignore[operator]
        return cond, out

    def _l1(self, fake: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.mask_aware_l1 and mask is not None:
            weight = mask + (1.0 - mask) * self.l1_outside_weight
            return masked_l1(fake, target, weight)
        return masked_l1(fake, target)

    def _iteration(self, engine: Pix2PixTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        """One pix2pix step; returns the losses and learning rates as floats."""
        if batchdata is None:
            raise ValueError("must provide batch data for current iteration.")
        x, target, mask = engine._unpack(batchdata)
        g, d = engine.networks["G"], engine.networks["D"]
        g.train()
        d.train()
        adv = engine.adversarial_loss

        set_requires_grad([engine.bare_networks["D"]], False)
        engine.zero_grad(("G",))
        with engine.autocast():
            cond, fake = engine.generate(g, x, mask)
            # frozen D used unwrapped in the G phase (see CycleGANTrainer for why)
            loss_g_adv = adv(engine.bare_networks["D"](torch.cat([cond, fake], 1)), True, False)
            loss_g_l1 = engine._l1(fake, target, mask) * engine.l1_weight
            loss_g = loss_g_adv + loss_g_l1
            extra = {}
            if engine.boundary_weight > 0:
                band = boundary_band(mask, engine.boundary_width)  # type: ignore[arg-type]
                loss_band = masked_l1(fake, target, band) * engine.boundary_weight
                loss_g = loss_g + loss_band
                extra["loss_G_band"] = loss_band
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.backward_step(loss_g, "G", ("G",))

        set_requires_grad([engine.bare_networks["D"]], True)
        engine.zero_grad(("D",))
        with engine.autocast():
            loss_real = adv(d(torch.cat([cond, target], 1)), True, True)
            loss_fake = adv(d(torch.cat([cond, fake.detach()], 1)), False, True)
            loss_d = 0.5 * (loss_real + loss_fake)
        engine.backward_step(loss_d, "D", ("D",))

        return engine.publish_output({
            "loss_G": loss_g, "loss_G_adv": loss_g_adv, "loss_G_L1": loss_g_l1,
            "loss_D": loss_d, "loss_D_real": loss_real, "loss_D_fake": loss_fake, **extra,
        })

    def sample_panels(self, batchdata: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``input, G input (masked), output, target`` in ``[0, 1]`` on the CPU."""
        x, target, mask = self._unpack(batchdata)
        g = self.bare_networks["G"]

        def run() -> dict[str, torch.Tensor]:
            cond, fake = self.generate(g, x, mask)
            return {"input": x, "condition": cond[:, :1], "output": fake, "target": target}

        return self._forward_eval(run)
