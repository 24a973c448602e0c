"""CycleGAN trainer (Zhu et al. 2017) for unpaired translation, e.g. healthy -> pneumonia radiographs.

Naming: domain A (e.g. healthy) and domain B (e.g. pneumonia). ``G_AB`` translates A to B and
``G_BA`` B to A. ``D_A`` judges images of domain A (real A against ``G_BA(B)``), ``D_B`` judges
images of domain B (real B against ``G_AB(A)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from monai.engines.utils import IterationEvents
from torch import nn
from torch.optim import Optimizer

from ..errors import ConfigError
from .base import MultiNetworkGanTrainer, PrepareKeysBatch, resolve_adversarial_loss
from .image_pool import ImagePool
from .runtime import set_requires_grad

__all__ = ["CycleGANTrainer", "CYCLEGAN_LOSS_KEYS"]

#: Every loss written to ``engine.state.output`` each iteration (plus ``lr_<optimiser>``).
CYCLEGAN_LOSS_KEYS = (
    "loss_G", "loss_G_AB_adv", "loss_G_BA_adv", "loss_cycle_A", "loss_cycle_B", "loss_idt_A", "loss_idt_B",
    "loss_D_A", "loss_D_B",
)


class CycleGANTrainer(MultiNetworkGanTrainer):
    """Ignite/MONAI trainer of an unpaired CycleGAN.

    One iteration, as the public reference implementation:

    1. ``fake_B = G_AB(A)``, ``rec_A = G_BA(fake_B)``, ``fake_A = G_BA(B)``, ``rec_B = G_AB(fake_A)``.
    2. Generators (discriminators frozen): ``loss_G = adv(D_B(fake_B)) + adv(D_A(fake_A))
       + cycle_weight * (|rec_A - A| + |rec_B - B|) + identity_weight * cycle_weight * (|G_BA(A) - A| + |G_AB(B) - B|)``.
    3. Discriminators on real images and fakes drawn from 50-image history pools:
       ``loss_D_X = 0.5 * (adv(D_X(real), real) + adv(D_X(pool(fake)), fake))``.

    ``engine.state.output`` is a dict of floats: every key of :data:`CYCLEGAN_LOSS_KEYS` (weighted, as
    they enter the totals) and ``lr_G_AB``, ``lr_G_BA``, ``lr_D_A``, ``lr_D_B``. Images come from the
    loader in ``[0, 1]`` and are mapped to ``[-1, 1]`` for the networks.

    Args:
        device: training device.
        max_epochs: epochs to train.
        train_data_loader: loader of unpaired dict batches with ``image_keys``.
        g_ab, g_ba: generators A->B and B->A.
        d_a, d_b: discriminators of domain A and domain B.
        g_ab_optimizer, g_ba_optimizer, d_a_optimizer, d_b_optimizer: one optimiser per network.
        lr_schedulers: optional dict with keys among ``G_AB, G_BA, D_A, D_B`` (stepped every epoch), e.g.
            :func:`monai_gan_aug.engines.schedulers.linear_decay_scheduler`.
        adversarial_loss: mode name (``"lsgan"`` as the reference, ``"vanilla"``, ``"hinge"``,
            ``"wgan"``) or a callable ``f(pred, target_is_real, for_discriminator)``.
        cycle_loss: callable ``f(reconstruction, original)``; default L1.
        identity_loss: callable ``f(output, input)``; default L1.
        cycle_weight: weight of each cycle term (reference ``lambda_A = lambda_B = 10``).
        identity_weight: identity weight relative to ``cycle_weight`` (reference ``lambda_identity = 0.5``);
            0 skips the two identity forward passes.
        pool_size: capacity of each history pool (reference 50; 0 disables).
        image_keys: batch keys of domain A and domain B images.
        pool_seed: seed of the pools' random generators.
        fuse_batches: run each generator once on its cycle and identity inputs stacked (and each
            discriminator once on real and fake), instead of separate calls. ``None``: on unless a
            network has batch norm, whose statistics would change with the stacking.
        kwargs: passed to :class:`~monai_gan_aug.engines.base.MultiNetworkGanTrainer` (``amp``,
            ``channels_last``, ``compile``, ``train_handlers``, ``epoch_length``...).
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Any,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        g_ab_optimizer: Optimizer,
        g_ba_optimizer: Optimizer,
        d_a_optimizer: Optimizer,
        d_b_optimizer: Optimizer,
        lr_schedulers: Mapping[str, Any] | None = None,
        adversarial_loss: str | Callable = "lsgan",
        cycle_loss: Callable | None = None,
        identity_loss: Callable | None = None,
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        pool_size: int = 50,
        image_keys: Sequence[str] = ("image_a", "image_b"),
        pool_seed: int = 0,
        fuse_batches: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if len(image_keys) != 2:
            raise ConfigError(f"image_keys must name the domain A and domain B images, got {image_keys!r}")
        if cycle_weight < 0 or identity_weight < 0:
            raise ConfigError(f"loss weights must be >= 0, got cycle {cycle_weight}, identity {identity_weight}")
        kwargs.setdefault("prepare_batch", PrepareKeysBatch(image_keys))
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            networks={"G_AB": g_ab, "G_BA": g_ba, "D_A": d_a, "D_B": d_b},
            optimizers={"G_AB": g_ab_optimizer, "G_BA": g_ba_optimizer, "D_A": d_a_optimizer, "D_B": d_b_optimizer},
            lr_schedulers=lr_schedulers,
            pools={"A": ImagePool(pool_size, seed=pool_seed), "B": ImagePool(pool_size, seed=pool_seed + 1)},
            scaler_names=("G", "D"),
            **kwargs,
        )
        self.image_keys = tuple(image_keys)
        self.adversarial_loss = resolve_adversarial_loss(adversarial_loss)
        self.cycle_loss = cycle_loss if cycle_loss is not None else nn.L1Loss()
        self.identity_loss = identity_loss if identity_loss is not None else nn.L1Loss()
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for net in self.bare_networks.values()
                     for m in net.modules())
        self.fuse_batches = (not has_bn) if fuse_batches is None else bool(fuse_batches)

    def _generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Forward both cycles and return the weighted generator losses and the two fakes."""
        g_ab, g_ba = self.networks["G_AB"], self.networks["G_BA"]
        # The discriminators are called unwrapped here: their parameters are frozen in this phase,
        # so DDP must not expect gradients for them (that would stall its reducer).
        d_a, d_b = self.bare_networks["D_A"], self.bare_networks["D_B"]
        adv = self.adversarial_loss
        fake_b = g_ab(real_a)
        fake_a = g_ba(real_b)
        idt = self.identity_weight > 0
        if self.fuse_batches:
            # cycle and identity inputs of each generator in one call: fewer, larger convolutions
            # (same result: instance-norm statistics are per image)
            n = real_a.shape[0]
            out_ab = g_ab(torch.cat([fake_a, real_b], 0) if idt else fake_a)
            out_ba = g_ba(torch.cat([fake_b, real_a], 0) if idt else fake_b)
            rec_b, idt_b = out_ab[:n], (out_ab[n:] if idt else None)
            rec_a, idt_a = out_ba[:n], (out_ba[n:] if idt else None)
        else:
            rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
            idt_a, idt_b = (g_ba(real_a), g_ab(real_b)) if idt else (None, None)
        losses = {
            "loss_G_AB_adv": adv(d_b(fake_b), target_is_real=True, for_discriminator=False),
            "loss_G_BA_adv": adv(d_a(fake_a), target_is_real=True, for_discriminator=False),
            "loss_cycle_A": self.cycle_loss(rec_a, real_a) * self.cycle_weight,
            "loss_cycle_B": self.cycle_loss(rec_b, real_b) * self.cycle_weight,
        }
        if idt:
            w = self.identity_weight * self.cycle_weight
            losses["loss_idt_A"] = self.identity_loss(idt_a, real_a) * w
            losses["loss_idt_B"] = self.identity_loss(idt_b, real_b) * w
        else:
            losses["loss_idt_A"] = losses["loss_idt_B"] = torch.zeros((), device=real_a.device)
        return losses, fake_a, fake_b

    def _discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        adv, d = self.adversarial_loss, self.networks[name]
        if self.fuse_batches:
            pred_real, pred_fake = _split_batch(d(torch.cat([real, fake], 0)), real.shape[0])
        else:
            pred_real, pred_fake = d(real), d(fake)
        return 0.5 * (
            adv(pred_real, target_is_real=True, for_discriminator=True)
            + adv(pred_fake, target_is_real=False, for_discriminator=True)
        )

    def _iteration(self, engine: CycleGANTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        """One CycleGAN step; returns the losses and learning rates as floats."""
        if batchdata is None:
            raise ValueError("must provide batch data for current iteration.")
        real_a, real_b = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        real_a, real_b = engine.prepare_images(real_a), engine.prepare_images(real_b)
        d_names, g_names = ("D_A", "D_B"), ("G_AB", "G_BA")
        for n in g_names + d_names:
            engine.networks[n].train()

        set_requires_grad([engine.bare_networks[n] for n in d_names], False)
        engine.zero_grad(g_names)
        with engine.autocast():
            g_losses, fake_a, fake_b = engine._generator_losses(real_a, real_b)
            loss_g = sum(g_losses.values())
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.backward_step(loss_g, "G", g_names)

        set_requires_grad([engine.bare_networks[n] for n in d_names], True)
        engine.zero_grad(d_names)
        with engine.autocast():
            loss_d_a = engine._discriminator_loss("D_A", real_a, engine.pools["A"].query(fake_a))
            loss_d_b = engine._discriminator_loss("D_B", real_b, engine.pools["B"].query(fake_b))
        engine.backward_step(loss_d_a + loss_d_b, "D", d_names)

        return engine.publish_output({"loss_G": loss_g, **g_losses, "loss_D_A": loss_d_a, "loss_D_B": loss_d_b})

    def sample_panels(self, batchdata: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B)`` for a batch, in ``[0, 1]`` on the CPU."""
        real_a, real_b = self.prepare_batch(batchdata, self.state.device, self.non_blocking)
        real_a, real_b = self.prepare_images(real_a), self.prepare_images(real_b)
        g_ab, g_ba = self.bare_networks["G_AB"], self.bare_networks["G_BA"]

        def run() -> dict[str, torch.Tensor]:
            fake_b = g_ab(real_a)
            return {"A": real_a, "G_AB(A)": fake_b, "G_BA(G_AB(A))": g_ba(fake_b), "B": real_b, "G_BA(B)": g_ba(real_b)}

        return self._forward_eval(run)


def _split_batch(pred: Any, n: int) -> tuple[Any, Any]:
    """Split discriminator output(s) of a stacked batch at ``n`` (a tensor or one tensor per scale)."""
    if isinstance(pred, torch.Tensor):
        return pred[:n], pred[n:]
    pairs = [_split_batch(p, n) for p in pred]
    return [a for a, _ in pairs], [b for _, b in pairs]
