"""Trainers of unconditional latent GANs: DCGAN, WGAN-GP and FastGAN.

All three draw latent codes ``z ~ N(0, I)``, generate images in ``[-1, 1]`` and compare them with
real images of the loader (mapped from ``[0, 1]``). They share
:class:`~monai_gan_aug.engines.base.MultiNetworkGanTrainer` with the image-to-image trainers, so
checkpoints (``checkpoint_objects``), AMP, channels-last, DDP, sample grids and MLflow logging work
the same way. Networks are named ``G`` and ``D`` (plus ``G_ema`` for FastGAN).

* :class:`DCGANTrainer`: one discriminator step then one generator step per batch, non-saturating
  BCE loss (Radford et al. 2016).
* :class:`WGANGPTrainer`: every iteration is a critic step (``E[D(fake)] - E[D(real)] + GP``); the
  generator steps every ``n_critic``-th iteration (Gulrajani et al. 2017, ``n_critic = 5``,
  ``lambda = 10``), so each generator update sees ``n_critic`` fresh real batches of the critic.
* :class:`FastGANTrainer`: hinge loss, DiffAugment on real and fake images, the discriminator's
  reconstruction loss, and an exponential moving average of the generator (Liu et al. 2021).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from monai.engines.utils import IterationEvents
from torch import nn
from torch.optim import Optimizer
from torch.optim.swa_utils import AveragedModel

from ..errors import ConfigError
from ..losses.gradient_penalty import gradient_penalty
from ..transforms.diffaugment import DiffAugment
from .base import MultiNetworkGanTrainer, PrepareKeysBatch, resolve_adversarial_loss
from .runtime import set_requires_grad

__all__ = ["LatentGanTrainer", "DCGANTrainer", "WGANGPTrainer", "FastGANTrainer", "EmaWithWarmup", "latent_dim_of"]


def latent_dim_of(generator: nn.Module) -> int:
    """The ``latent_dim`` attribute of ``generator`` (or of the module inside a wrapper)."""
    net = getattr(generator, "module", generator)
    dim = getattr(net, "latent_dim", None)
    if not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"{type(net).__name__} has no positive integer 'latent_dim'; pass latent_dim=")
    return dim


class EmaWithWarmup:
    """``avg_fn`` of ``AveragedModel``: ``ema = d * ema + (1 - d) * current`` with a warm-up of the decay.

    ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (TensorFlow's ``ExponentialMovingAverage``
    with ``num_updates``). Without it, a 0.999 average after a few hundred steps (a short CPU run) is
    still mostly the random initialisation: 0.999**528 = 59 % of it, which gave flat grey samples.

    Args:
        decay: the final decay.
        warmup: apply the warm-up (``False``: constant ``decay``).
    """

    def __init__(self, decay: float, warmup: bool = True) -> None:
        self.decay, self.warmup = float(decay), bool(warmup)

    def decay_at(self, num_updates: int) -> float:
        """The decay used for the update after ``num_updates`` earlier ones."""
        return min(self.decay, (1.0 + num_updates) / (10.0 + num_updates)) if self.warmup else self.decay

    def __call__(self, averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor | int) -> torch.Tensor:
        d = self.decay_at(int(num_averaged))
        return averaged * d + current * (1.0 - d)


class LatentGanTrainer(MultiNetworkGanTrainer):
    """Common part of the latent-GAN trainers: latent sampling, real-batch preparation, sample grids.

    Args:
        device: training device.
        max_epochs: epochs to train.
        train_data_loader: loader of dict batches with ``image_key`` holding ``(B, C, H, W)`` in ``[0, 1]``.
        generator: ``z -> image`` network; ``discriminator``: ``image -> score`` network.
        g_optimizer, d_optimizer: their optimisers.
        latent_dim: length of ``z`` (default: ``generator.latent_dim``).
        image_key: batch key of the real images.
        num_sample_images: images in each sample grid (drawn from a fixed latent batch).
        sample_seed: seed of that fixed latent batch.
        extra_networks: further networks to hold and checkpoint (e.g. ``{"G_ema": ...}``).
        kwargs: passed to :class:`MultiNetworkGanTrainer` (``lr_schedulers``, ``train_handlers``, ``amp``...).
    """

    #: name of the generator used for sample grids
    sample_generator = "G"

    def __init__(
        self, device: str | torch.device, max_epochs: int, train_data_loader: Any, generator: nn.Module,
        discriminator: nn.Module, g_optimizer: Optimizer, d_optimizer: Optimizer, latent_dim: int | None = None,
        image_key: str = "image", num_sample_images: int = 16, sample_seed: int = 0,
        extra_networks: Mapping[str, nn.Module] | None = None, **kwargs: Any,
    ) -> None:
        if num_sample_images < 1:
            raise ConfigError(f"num_sample_images must be >= 1, got {num_sample_images}")
        kwargs.setdefault("prepare_batch", PrepareKeysBatch((image_key,)))
        super().__init__(
            device=device, max_epochs=max_epochs, train_data_loader=train_data_loader,
            networks={"G": generator, "D": discriminator, **dict(extra_networks or {})},
            optimizers={"G": g_optimizer, "D": d_optimizer}, **kwargs,
        )
        self.latent_dim = int(latent_dim) if latent_dim is not None else latent_dim_of(generator)
        self.image_key = image_key
        gen = torch.Generator().manual_seed(int(sample_seed))
        self.fixed_latent = torch.randn(int(num_sample_images), self.latent_dim, generator=gen)

    def sample_latent(self, n: int) -> torch.Tensor:
        """``n`` codes from ``N(0, I)`` on the training device (torch's global RNG: ``set_determinism`` seeds it)."""
        return torch.randn(n, self.latent_dim, device=self.state.device)

    def real_batch(self, batchdata: Mapping[str, Any]) -> torch.Tensor:
        """The batch's real images in ``[-1, 1]`` on the device."""
        (real,) = self.prepare_batch(batchdata, self.state.device, self.non_blocking, **self.to_kwargs)
        return self.prepare_images(real)

    def sample_panels(self, batchdata: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
        """One panel ``G(z)`` of the fixed latent batch (and ``real`` images when a batch is given)."""
        gen = self.bare_networks[self.sample_generator]
        z = self.fixed_latent.to(self.state.device)

        def run() -> dict[str, torch.Tensor]:
            out = {"G(z)": gen(z)}
            if batchdata is not None and isinstance(batchdata.get(self.image_key), torch.Tensor):
                real = self.real_batch(batchdata)
                out["real"] = _repeat_to(real, z.shape[0])
            return out

        return self._forward_eval(run)

    def _finish(self, out: dict[str, float]) -> dict[str, float]:
        return self.publish_output(out)


def _repeat_to(x: torch.Tensor, n: int) -> torch.Tensor:
    reps = -(-n // x.shape[0])
    return x.repeat(reps, 1, 1, 1)[:n]


class DCGANTrainer(LatentGanTrainer):
    """DCGAN trainer: ``D`` step on real and ``G(z)``, then ``G`` step, per batch.

    ``engine.state.output``: ``loss_D``, ``loss_G``, ``D_real`` and ``D_fake`` (mean sigmoid
    probabilities, the usual DCGAN diagnostics) and ``lr_G``, ``lr_D``.

    Args:
        adversarial_loss: ``"vanilla"`` (BCE with logits, the paper), ``"lsgan"``, ``"hinge"`` or a
            callable ``f(pred, target_is_real, for_discriminator)``.
        kwargs: see :class:`LatentGanTrainer`.
    """

    def __init__(self, *args: Any, adversarial_loss: str | Callable = "vanilla", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adversarial_loss = resolve_adversarial_loss(adversarial_loss)

    def _iteration(self, engine: DCGANTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        real = engine.real_batch(batchdata)
        g, d = engine.networks["G"], engine.networks["D"]
        g.train()
        d.train()
        adv = engine.adversarial_loss
        z = engine.sample_latent(real.shape[0])

        engine.zero_grad(("D",))
        with engine.autocast():
            fake = g(z)
            pred_real, pred_fake = d(real), d(fake.detach())
            loss_d = adv(pred_real, True, True) + adv(pred_fake, False, True)
        engine.backward_step(loss_d, "D", ("D",))

        set_requires_grad([engine.bare_networks["D"]], False)
        engine.zero_grad(("G",))
        with engine.autocast():
            loss_g = adv(engine.bare_networks["D"](fake), True, False)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.backward_step(loss_g, "G", ("G",))
        set_requires_grad([engine.bare_networks["D"]], True)

        return engine._finish({
            "loss_D": float(loss_d.detach()), "loss_G": float(loss_g.detach()),
            "D_real": float(torch.sigmoid(pred_real.detach().float()).mean()),
            "D_fake": float(torch.sigmoid(pred_fake.detach().float()).mean()),
        })


class WGANGPTrainer(LatentGanTrainer):
    """WGAN-GP trainer: a critic step every iteration, a generator step every ``n_critic``-th.

    Critic loss ``E[D(G(z))] - E[D(x)] + lambda * E[(||grad D(x_hat)|| - 1)^2]`` with the penalty of
    :func:`monai_gan_aug.losses.gradient_penalty.gradient_penalty`; generator loss ``-E[D(G(z))]``.
    The paper's Adam settings are ``lr = 1e-4, betas = (0, 0.9)``; ``(0.5, 0.9)`` is a common, slightly
    more damped choice (the ``wgan_gp_ct`` bundle uses ``(0.5, 0.9)`` and documents both).

    ``engine.state.output``: ``loss_D`` (critic loss incl. penalty), ``wasserstein`` (the estimate
    ``E[D(x)] - E[D(G(z))]``), ``gradient_penalty`` (weighted), ``loss_G`` (of the latest generator
    step; 0 before the first), ``g_steps`` (generator updates so far), ``lr_G``, ``lr_D``.

    Args:
        n_critic: critic iterations per generator update (5 in the paper).
        lambda_gp: gradient-penalty weight (10 in the paper).
        drift_weight: weight of ``E[D(x)^2]`` (Karras et al. 2018's drift term; 0 = off).
        kwargs: see :class:`LatentGanTrainer`.
    """

    def __init__(
        self, *args: Any, n_critic: int = 5, lambda_gp: float = 10.0, drift_weight: float = 0.0, **kwargs: Any
    ) -> None:
        if int(n_critic) < 1:
            raise ConfigError(f"n_critic must be >= 1, got {n_critic}")
        if lambda_gp < 0 or drift_weight < 0:
            raise ConfigError(f"lambda_gp and drift_weight must be >= 0, got {lambda_gp}, {drift_weight}")
        super().__init__(*args, **kwargs)
        critic = self.bare_networks["D"]
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
            raise ConfigError("the WGAN-GP critic must not use batch norm (it couples the samples the "
                              "per-sample gradient penalty treats independently); use layer norm or none")
        self.n_critic, self.lambda_gp, self.drift_weight = int(n_critic), float(lambda_gp), float(drift_weight)
        self.last_loss_g = 0.0

    def _iteration(self, engine: WGANGPTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        real = engine.real_batch(batchdata)
        g, d = engine.networks["G"], engine.networks["D"]
        g.train()
        d.train()
        engine.zero_grad(("D",))
        with engine.autocast():
            with torch.no_grad():
                fake = g(engine.sample_latent(real.shape[0]))
            score_real, score_fake = d(real).float(), d(fake).float()
            wasserstein = score_real.mean() - score_fake.mean()
        # the penalty's double backward runs in float32 (autocast off) for a stable gradient norm
        gp = gradient_penalty(d, real.float(), fake.float(), lambda_gp=engine.lambda_gp)
        loss_d = -wasserstein + gp
        if engine.drift_weight > 0:
            loss_d = loss_d + engine.drift_weight * score_real.pow(2).mean()
        engine.backward_step(loss_d, "D", ("D",))

        if engine.state.iteration % engine.n_critic == 0:
            engine.last_loss_g = engine._generator_step(real.shape[0])
        return engine._finish({
            "loss_D": float(loss_d.detach()), "wasserstein": float(wasserstein.detach()),
            "gradient_penalty": float(gp.detach()), "loss_G": engine.last_loss_g,
            "g_steps": float(engine.state.iteration // engine.n_critic),
        })

    def _generator_step(self, n: int) -> float:
        critic = self.bare_networks["D"]
        set_requires_grad([critic], False)
        self.zero_grad(("G",))
        with self.autocast():
            loss_g = -critic(self.networks["G"](self.sample_latent(n))).float().mean()
        self.fire_event(IterationEvents.LOSS_COMPLETED)
        self.backward_step(loss_g, "G", ("G",))
        set_requires_grad([critic], True)
        return float(loss_g.detach())


class FastGANTrainer(LatentGanTrainer):
    """FastGAN trainer: hinge loss, DiffAugment, self-supervised reconstruction, EMA generator.

    Discriminator step: ``hinge(D(T(x)), real) + hinge(D(T(G(z))), fake) + recon_weight *
    (|dec_all - T(x)| + |dec_part - quadrant(T(x))|)`` with ``T`` the DiffAugment policy (drawn
    anew for every call) and the reconstructions of the real batch only. Generator step:
    ``-E[D(T(G(z)))]``. After every generator step ``G_ema = decay * G_ema + (1 - decay) * G``
    (``torch.optim.swa_utils.AveragedModel``); sample grids and exports use ``G_ema``.

    ``engine.state.output``: ``loss_D``, ``loss_D_real``, ``loss_D_fake``, ``loss_recon``, ``loss_G``,
    ``lr_G``, ``lr_D``.

    Args:
        ema_decay: EMA decay per step (the reference uses 0.999).
        ema_warmup: ramp the decay up as ``(1 + n) / (10 + n)`` (see :class:`EmaWithWarmup`).
        recon_weight: weight of the reconstruction loss.
        diffaugment: a :class:`DiffAugment`, a policy string, or ``None`` for the default
            ``"color,translation,cutout"`` (``""`` disables augmentation).
        part_seed: seed of the random quadrant choice.
        kwargs: see :class:`LatentGanTrainer`.
    """

    sample_generator = "G_ema"

    def __init__(
        self, *args: Any, ema_decay: float = 0.999, ema_warmup: bool = True, recon_weight: float = 1.0,
        diffaugment: DiffAugment | str | None = None, part_seed: int = 0, **kwargs: Any,
    ) -> None:
        if not 0.0 <= ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if recon_weight < 0:
            raise ConfigError(f"recon_weight must be >= 0, got {recon_weight}")
        generator = kwargs.get("generator", args[3] if len(args) > 3 else None)
        if not isinstance(generator, nn.Module):
            raise ConfigError("FastGANTrainer needs a generator module")
        ema = AveragedModel(copy.deepcopy(generator), avg_fn=EmaWithWarmup(ema_decay, ema_warmup), use_buffers=True)
        ema.requires_grad_(False)  # updated by averaging, never by an optimiser (and not DDP-wrapped)
        super().__init__(*args, extra_networks={"G_ema": ema}, **kwargs)
        if not callable(getattr(self.bare_networks["D"], "reconstruction_targets", None)):
            raise ConfigError("FastGANTrainer needs a self-supervised discriminator with reconstruction_targets "
                              "(e.g. FastGANDiscriminator)")
        self.ema_decay, self.recon_weight = float(ema_decay), float(recon_weight)
        self.diffaugment = diffaugment if isinstance(diffaugment, DiffAugment) else DiffAugment(
            "color,translation,cutout" if diffaugment is None else diffaugment)
        self.adversarial_loss = resolve_adversarial_loss("hinge")
        self._parts = random.Random(int(part_seed))

    def _iteration(self, engine: FastGANTrainer, batchdata: dict[str, Any]) -> dict[str, float]:
        real = engine.real_batch(batchdata)
        g, d = engine.networks["G"], engine.networks["D"]
        g.train()
        d.train()
        adv, aug = engine.adversarial_loss, engine.diffaugment
        part = engine._parts.randrange(4)

        engine.zero_grad(("D",))
        with engine.autocast():
            fake = g(engine.sample_latent(real.shape[0]))
            real_aug = aug(real)
            logits_real, rec_all, rec_part = d(real_aug, part=part)
            target_all, target_part = engine.bare_networks["D"].reconstruction_targets(real_aug, part)
            loss_recon = engine.recon_weight * (F.l1_loss(rec_all, target_all) + F.l1_loss(rec_part, target_part))
            loss_real = adv(logits_real, True, True)
            loss_fake = adv(d(aug(fake.detach())), False, True)
            loss_d = loss_real + loss_fake + loss_recon
        engine.backward_step(loss_d, "D", ("D",))

        critic = engine.bare_networks["D"]
        set_requires_grad([critic], False)
        engine.zero_grad(("G",))
        with engine.autocast():
            loss_g = adv(critic(aug(fake)), True, False)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.backward_step(loss_g, "G", ("G",))
        set_requires_grad([critic], True)
        engine.bare_networks["G_ema"].update_parameters(engine.bare_networks["G"])

        return engine._finish({
            "loss_D": float(loss_d.detach()), "loss_D_real": float(loss_real.detach()),
            "loss_D_fake": float(loss_fake.detach()), "loss_recon": float(loss_recon.detach()),
            "loss_G": float(loss_g.detach()),
        })
