"""Trainer of the lesion opacity generator (the headline's pneumonia model).

Each batch holds real lesion windows with their infection masks and healthy windows with a lesion
footprint (:class:`monai_gan_aug.data.opacity.OpacityWindowDataset`). The generator proposes a
density for the footprint, the healthy window is composited with
:func:`monai_gan_aug.transforms.opacity.add_opacity`, and a PatchGAN discriminator judges the
windows: real lesion windows against edited healthy windows. Only patches that overlap the mask
(the real lesion's, or the footprint) count in the adversarial losses (a patch-weighted mean), so
the decision is about the lesion and its surroundings, not about which collection a film came from
far from it. The discriminator is *not* shown the mask: with the mask as an input, the first run's
generator learnt to draw bright outlines along the footprint's edge (the cheapest contrast aligned
with the mask); without it, an outline has to look like real disease on its own.

The patch discriminator alone gave the generator too weak a reason to add anything (measured: the
mean density fell from 0.5 to 0.1 over two epochs and the edits became invisible). With a region
classifier (:class:`~monai_gan_aug.networks.lesion_generator.RegionClassifier`, which sees only the
pixels inside the mask) trained on *real* windows only, real lesions inside their masks (1)
against the unedited healthy windows inside the footprint (0), the generator is also scored by it
on the edited footprint (AC-GAN, Odena et al. 2017), so the footprint has to show what real
lesions show there. A small density penalty keeps the opacity from hiding more anatomy than these
two judges ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.engines.utils import IterationEvents
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer

from ..errors import ConfigError
from ..transforms.opacity import add_opacity
from .base import MultiNetworkGanTrainer, PrepareKeysBatch
from .runtime import set_requires_grad

__all__ = ["LesionOpacityTrainer", "OPACITY_LOSS_KEYS", "OPACITY_AUX_KEYS", "patch_weighted_hinge"]

#: Losses written to ``engine.state.output`` each iteration (plus ``lr_G`` and ``lr_D``).
OPACITY_LOSS_KEYS = ("loss_G", "loss_G_adv", "loss_G_density", "loss_D", "loss_D_real", "loss_D_fake",
                     "mean_density")

#: Extra outputs with a region classifier.
OPACITY_AUX_KEYS = ("loss_G_aux", "loss_C", "acc_C_real")

_KEYS = ("real", "real_mask", "base", "footprint", "footprint_mask")


def _logits(out: Any) -> torch.Tensor:
    """The last logit map of a discriminator that may return a list of features."""
    return out[-1] if isinstance(out, (list, tuple)) else out


def patch_weighted_hinge(logits: torch.Tensor, mask: torch.Tensor, target_is_real: bool,
                         for_discriminator: bool) -> torch.Tensor:
    """Hinge loss over the patches of ``logits``, weighted by each patch's share of ``mask``.

    Args:
        logits: (B, 1, h, w) patch logits.
        mask: (B, 1, H, W) binary mask at the input's resolution.
        target_is_real: the label of these patches.
        for_discriminator: discriminator hinge (``relu(1 -+ x)``) or generator loss (``-x``).
    """
    weight = F.adaptive_avg_pool2d(mask.float(), logits.shape[-2:])
    weight = weight / weight.flatten(1).sum(1).clamp_min(1e-6)[:, None, None, None]
    if for_discriminator:
        per_patch = F.relu(1.0 - logits) if target_is_real else F.relu(1.0 + logits)
    else:
        per_patch = -logits
    return (per_patch.float() * weight).sum((1, 2, 3)).mean()


class LesionOpacityTrainer(MultiNetworkGanTrainer):
    """Ignite/MONAI trainer of :class:`~monai_gan_aug.networks.opacity_generator.LesionOpacityGenerator`.

    Args:
        device: training device.
        max_epochs: epochs to train.
        train_data_loader: loader of dict batches with ``real``, ``real_mask``, ``base``,
            ``footprint`` and ``footprint_mask`` (N, 1, S, S), images in [0, 1].
        generator: ``G(image, footprint, noise) -> density``.
        discriminator: ``D(image) -> patch logits`` (e.g. a one-channel PatchGAN).
        g_optimizer, d_optimizer: optimisers.
        lr_schedulers: optional dict with keys ``G``/``D``.
        density_weight: weight of the mean density inside the footprint in the generator's loss.
        region_classifier: ``C(image, mask) -> (B, 2)`` logits (lesion = class 1), trained on real
            windows only; needs ``c_optimizer``. ``None`` turns the auxiliary loss off.
        c_optimizer: optimiser of ``region_classifier``.
        aux_weight: weight of the classifier's cross-entropy in the generator's loss.
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
        density_weight: float = 0.05,
        adversarial_loss: Callable | None = None,
        region_classifier: nn.Module | None = None,
        c_optimizer: Optimizer | None = None,
        aux_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if density_weight < 0 or aux_weight < 0:
            raise ConfigError(f"density_weight and aux_weight must be >= 0, got {density_weight}, {aux_weight}")
        if (region_classifier is None) != (c_optimizer is None):
            raise ConfigError("region_classifier and c_optimizer go together")
        kwargs.setdefault("prepare_batch", PrepareKeysBatch(_KEYS))
        networks = {"G": generator, "D": discriminator}
        optimizers = {"G": g_optimizer, "D": d_optimizer}
        if region_classifier is not None:
            networks["C"], optimizers["C"] = region_classifier, c_optimizer
        super().__init__(
            device=device, max_epochs=max_epochs, train_data_loader=train_data_loader,
            networks=networks, optimizers=optimizers,
            lr_schedulers=lr_schedulers, scaler_names=tuple(networks), **kwargs,
        )
        self.aux_weight = float(aux_weight) if region_classifier is not None else 0.0
        self.density_weight = float(density_weight)
        self.adversarial_loss = adversarial_loss or patch_weighted_hinge

    def _unpack(self, batchdata: Mapping[str, Any]) -> tuple[torch.Tensor, ...]:
        return self.prepare_batch(batchdata, self.state.device, self.non_blocking, **self.to_kwargs)

    def edit(self, base01: torch.Tensor, footprint: torch.Tensor, noise: torch.Tensor | None = None,
             generator: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(edited window in [0, 1], density)`` of healthy windows ``base01`` (in [0, 1])."""
        g = generator if generator is not None else self.networks["G"]
        density = g(self.prepare_images(base01), footprint, noise)
        return add_opacity(base01, density.float()), density

    def _iteration(self, engine: LesionOpacityTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        if batchdata is None:
            raise ValueError("must provide batch data for current iteration.")
        real, real_mask, base, footprint, fp_mask = engine._unpack(batchdata)
        g, d, bare_d = engine.networks["G"], engine.networks["D"], engine.bare_networks["D"]
        c = engine.networks.get("C")
        for net in engine.networks.values():
            net.train()
        adv = engine.adversarial_loss
        noise = torch.randn_like(base)
        aux: dict[str, torch.Tensor] = {}

        set_requires_grad([n for k, n in engine.bare_networks.items() if k != "G"], False)
        engine.zero_grad(("G",))
        with engine.autocast():
            fake01, density = engine.edit(base, footprint, noise)
            fake = engine.prepare_images(fake01)
            loss_g_adv = adv(_logits(bare_d(fake)), fp_mask, True, False)
            mean_density = (density * fp_mask).sum() / fp_mask.sum().clamp_min(1.0)
            loss_g_density = engine.density_weight * mean_density
            loss_g = loss_g_adv + loss_g_density
            if c is not None:
                lesion = torch.ones(base.shape[0], dtype=torch.long, device=base.device)
                aux["loss_G_aux"] = F.cross_entropy(engine.bare_networks["C"](fake, fp_mask), lesion)
                loss_g = loss_g + engine.aux_weight * aux["loss_G_aux"]
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.backward_step(loss_g, "G", ("G",))

        set_requires_grad([bare_d], True)
        engine.zero_grad(("D",))
        with engine.autocast():
            loss_real = adv(_logits(d(engine.prepare_images(real))), real_mask, True, True)
            loss_fake = adv(_logits(d(fake.detach())), fp_mask, False, True)
            loss_d = 0.5 * (loss_real + loss_fake)
        engine.backward_step(loss_d, "D", ("D",))

        if c is not None:
            # Real windows only: real lesions (1) vs the same footprints on unedited healthy films (0).
            set_requires_grad([engine.bare_networks["C"]], True)
            engine.zero_grad(("C",))
            with engine.autocast():
                images = torch.cat([engine.prepare_images(real), engine.prepare_images(base)])
                masks = torch.cat([real_mask, fp_mask])
                target = torch.cat([torch.ones(real.shape[0]), torch.zeros(base.shape[0])]).long().to(real.device)
                logits = c(images, masks)
                aux["loss_C"] = F.cross_entropy(logits, target)
                aux["acc_C_real"] = (logits.argmax(1) == target).float().mean()
            engine.backward_step(aux["loss_C"], "C", ("C",))

        return engine.publish_output({
            "loss_G": loss_g, "loss_G_adv": loss_g_adv, "loss_G_density": loss_g_density,
            "loss_D": loss_d, "loss_D_real": loss_real, "loss_D_fake": loss_fake, "mean_density": mean_density,
            **aux,
        })

    def sample_panels(self, batchdata: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``healthy input, footprint, edited, real lesion window`` in [0, 1] on the CPU."""
        real, real_mask, base, footprint, _ = self._unpack(batchdata)
        g = self.bare_networks["G"]
        gen = torch.Generator(device="cpu").manual_seed(0)  # same noise every epoch: comparable grids
        noise = torch.randn(base.shape, generator=gen).to(base.device)

        def run() -> dict[str, torch.Tensor]:
            edited, density = self.edit(base, footprint, noise, generator=g)
            # _forward_eval maps [-1, 1] to [0, 1]: hand it [-1, 1] panels.
            return {"input": base * 2 - 1, "footprint": footprint * 2 - 1, "edited": edited * 2 - 1,
                    "density": (density / g.max_density).clamp(0, 1) * 2 - 1, "real_lesion": real * 2 - 1}

        return self._forward_eval(run)
