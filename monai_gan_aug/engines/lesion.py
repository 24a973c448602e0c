"""Trainer of the region-conditioned lesion generator (the headline's model).

Each batch holds context windows (already cropped around a region, at the working size), the
region masks and the class of each region (0 healthy, 1 pneumonia). Two kinds of samples share
a batch:

* *reconstruction* samples keep their true class: the generator must refill the region with what
  was there (L1 inside the region) and fool the discriminator for that class;
* *swapped* samples ask for the other class (with probability ``swap_prob``): there is no ground
  truth, only the discriminator's class-conditional judgement. This is what the product does at
  inference (paint pneumonia into a healthy lung), so the generator is trained for it directly
  rather than hoping that a reconstruction-only model obeys its class input.

The discriminator sees real windows with their true class and composited fakes with the class
they were asked for.

With ``aux_weight > 0`` the discriminator's region classifier (AC-GAN) learns the class of *real*
regions from their pixels alone, and the generator is also scored by it on the class it was asked
for. Measured on the shared data, the projection discriminator alone let the generator paint
nearly the same fill for both classes; the auxiliary loss is what makes the class show. The
classifier never learns from fakes, so the generator cannot teach it its own notion of pneumonia.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.engines.utils import IterationEvents
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer

from ..errors import ConfigError, DatasetError
from .base import MultiNetworkGanTrainer, PrepareKeysBatch, resolve_adversarial_loss
from .pix2pix import masked_l1
from .runtime import set_requires_grad

__all__ = ["LesionInpaintTrainer", "LESION_LOSS_KEYS", "LESION_AUX_KEYS"]

#: Losses written to ``engine.state.output`` each iteration (plus ``lr_G`` and ``lr_D``).
LESION_LOSS_KEYS = ("loss_G", "loss_G_adv", "loss_G_L1", "loss_D", "loss_D_real", "loss_D_fake")
#: Extra outputs with ``aux_weight > 0``: classifier losses and its accuracy on real regions.
LESION_AUX_KEYS = ("loss_G_aux", "loss_D_aux", "acc_D_aux_real")


class LesionInpaintTrainer(MultiNetworkGanTrainer):
    """Ignite/MONAI trainer of :class:`~monai_gan_aug.networks.lesion_generator.LesionInpaintGenerator`.

    Args:
        device: training device.
        max_epochs: epochs to train.
        train_data_loader: loader of dict batches with ``image_key`` (N, 1, S, S) in [0, 1],
            ``mask_key`` (N, 1, S, S) binary and ``class_key`` (N,) integer classes.
        generator: ``G(image, mask, class_index, noise) -> fill`` in [-1, 1].
        discriminator: ``D(image, mask, class_index) -> patch logits``.
        g_optimizer, d_optimizer: optimisers.
        lr_schedulers: optional dict with keys ``G``/``D``.
        adversarial_loss: ``"hinge"`` (default), ``"lsgan"``, ``"vanilla"`` or a callable
            ``f(pred, target_is_real, for_discriminator)``.
        l1_weight: weight of the L1 inside the region on reconstruction samples.
        swap_prob: probability that a sample asks for the other class (adversarial loss only).
        num_classes: number of region classes.
        aux_weight: weight of the auxiliary region-classification loss (cross-entropy) for both
            networks; 0 turns it off. Needs a discriminator with ``classify_region``.
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
        adversarial_loss: str | Callable = "hinge",
        l1_weight: float = 10.0,
        swap_prob: float = 0.5,
        num_classes: int = 2,
        aux_weight: float = 0.0,
        image_key: str = "image",
        mask_key: str = "region_mask",
        class_key: str = "class_index",
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= swap_prob <= 1.0:
            raise ConfigError(f"swap_prob must be in [0, 1], got {swap_prob}")
        if l1_weight < 0:
            raise ConfigError(f"l1_weight must be >= 0, got {l1_weight}")
        if aux_weight < 0:
            raise ConfigError(f"aux_weight must be >= 0, got {aux_weight}")
        if aux_weight > 0 and getattr(discriminator, "region_classifier", None) is None:
            raise ConfigError("aux_weight > 0 needs a discriminator built with region_classifier=True")
        kwargs.setdefault("prepare_batch", PrepareKeysBatch((image_key, mask_key)))
        super().__init__(
            device=device, max_epochs=max_epochs, train_data_loader=train_data_loader,
            networks={"G": generator, "D": discriminator}, optimizers={"G": g_optimizer, "D": d_optimizer},
            lr_schedulers=lr_schedulers, scaler_names=("G", "D"), **kwargs,
        )
        self.adversarial_loss = resolve_adversarial_loss(adversarial_loss)
        self.l1_weight = float(l1_weight)
        self.swap_prob = float(swap_prob)
        self.num_classes = int(num_classes)
        self.class_key = class_key
        self.aux_weight = float(aux_weight)

    def _unpack(self, batchdata: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Windows in [-1, 1], binary masks and integer classes of a batch, on the device."""
        x, mask = self.prepare_batch(batchdata, self.state.device, self.non_blocking, **self.to_kwargs)
        if self.class_key not in batchdata:
            raise DatasetError(f"batch lacks the class key {self.class_key!r}; it has {sorted(batchdata)}")
        y = torch.as_tensor(batchdata[self.class_key]).reshape(-1).long().to(self.state.device)
        if y.shape[0] != x.shape[0]:
            raise DatasetError(f"{y.shape[0]} classes for {x.shape[0]} images")
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise DatasetError(f"classes must be in [0, {self.num_classes}), got {sorted(set(y.tolist()))}")
        mask = (mask[:, :1] > 0.5).to(x.dtype)
        if float(mask.flatten(1).sum(1).min()) == 0:
            raise DatasetError("a training window has an empty region mask")
        return self.prepare_images(x), mask, y

    def _requested_classes(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classes asked of the generator and a float flag (N,) of the samples keeping their own."""
        swap = torch.rand(y.shape[0], device=y.device) < self.swap_prob
        other = (y + torch.randint(1, self.num_classes, y.shape, device=y.device)) % self.num_classes
        return torch.where(swap, other, y), (~swap).float()

    @staticmethod
    def composite(x: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The window with its region replaced by ``fill``."""
        return x * (1.0 - mask) + fill * mask

    def _iteration(self, engine: LesionInpaintTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        if batchdata is None:
            raise ValueError("must provide batch data for current iteration.")
        x, mask, y = engine._unpack(batchdata)
        g, d, bare_d = engine.networks["G"], engine.networks["D"], engine.bare_networks["D"]
        g.train()
        d.train()
        adv = engine.adversarial_loss
        asked, keep = engine._requested_classes(y)
        noise = torch.randn_like(x)

        set_requires_grad([bare_d], False)
        engine.zero_grad(("G",))
        with engine.autocast():
            fake = engine.composite(x, g(x, mask, asked, noise), mask)
            loss_g_adv = adv(bare_d(fake, mask, asked), True, False)
            # L1 only where the generator was asked for the true class: per-sample weights.
            loss_g_l1 = masked_l1(fake, x, mask * keep[:, None, None, None]) * engine.l1_weight
            loss_g = loss_g_adv + loss_g_l1
            aux: dict[str, torch.Tensor] = {}
            if engine.aux_weight > 0:
                aux["loss_G_aux"] = F.cross_entropy(bare_d.classify_region(fake, mask), asked)
                loss_g = loss_g + engine.aux_weight * aux["loss_G_aux"]
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.backward_step(loss_g, "G", ("G",))

        set_requires_grad([bare_d], True)
        engine.zero_grad(("D",))
        with engine.autocast():
            loss_real = adv(d(x, mask, y), True, True)
            loss_fake = adv(d(fake.detach(), mask, asked), False, True)
            loss_d = 0.5 * (loss_real + loss_fake)
            if engine.aux_weight > 0:
                # Real regions only: the classifier must not learn the generator's version of a class.
                logits = bare_d.classify_region(x, mask)
                aux["loss_D_aux"] = F.cross_entropy(logits, y)
                aux["acc_D_aux_real"] = (logits.argmax(1) == y).float().mean()
                loss_d = loss_d + engine.aux_weight * aux["loss_D_aux"]
        engine.backward_step(loss_d, "D", ("D",))

        return engine.publish_output({
            "loss_G": loss_g, "loss_G_adv": loss_g_adv, "loss_G_L1": loss_g_l1,
            "loss_D": loss_d, "loss_D_real": loss_real, "loss_D_fake": loss_fake, **aux,
        })

    def sample_panels(self, batchdata: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``input, masked, as healthy, as pneumonia`` windows in [0, 1] on the CPU."""
        x, mask, _ = self._unpack(batchdata)
        g = self.bare_networks["G"]
        gen = torch.Generator(device="cpu").manual_seed(0)  # same noise every epoch: comparable grids
        noise = torch.randn(x.shape, generator=gen).to(x.device)

        def run() -> dict[str, torch.Tensor]:
            panels = {"input": x, "masked": x * (1 - mask)}
            for c, name in enumerate(("as_healthy", "as_pneumonia")[: self.num_classes]):
                cls = torch.full((x.shape[0],), c, device=x.device, dtype=torch.long)
                panels[name] = self.composite(x, g(x, mask, cls, noise), mask)
            return panels

        return self._forward_eval(run)
