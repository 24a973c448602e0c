"""Tests of the latent-GAN trainers: DCGAN, WGAN-GP (hand-computed penalty, n_critic) and FastGAN (EMA)."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Events
from torch import nn
from torch.utils.data import DataLoader

from monai_gan_aug.engines.checkpoint import AtomicCheckpointSaver, ResumeCheckpointLoader
from monai_gan_aug.engines.latent import DCGANTrainer, EmaWithWarmup, FastGANTrainer, WGANGPTrainer
from monai_gan_aug.errors import ConfigError
from monai_gan_aug.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from monai_gan_aug.networks.fastgan import FastGANDiscriminator, FastGANGenerator
from monai_gan_aug.networks.wgan import WGANCritic, WGANGenerator

SIZE = 16


def _loader(n: int = 4, batch: int = 2, size: int = SIZE, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader([{"image": torch.rand(1, size, size, generator=g)} for _ in range(n)], batch_size=batch)


def _params(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


class LinearCritic(nn.Module):
    """``D(x) = sum(w * x)`` per sample: its input gradient is ``w`` everywhere, so the penalty is known."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((1, SIZE, SIZE), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


class ConstantGenerator(nn.Module):
    """Ignores ``z`` and returns one learnable image: ``E[D(G(z))]`` is then known."""

    latent_dim = 3

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Parameter(torch.full((1, 1, SIZE, SIZE), 0.25))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.image.expand(z.shape[0], -1, -1, -1)


def _wgan(critic: nn.Module, gen: nn.Module, loader: DataLoader, **kwargs) -> WGANGPTrainer:
    return WGANGPTrainer(
        device="cpu", max_epochs=kwargs.pop("max_epochs", 1), train_data_loader=loader, generator=gen,
        discriminator=critic, g_optimizer=torch.optim.SGD(gen.parameters(), lr=0.1),
        d_optimizer=torch.optim.SGD(critic.parameters(), lr=0.1), num_sample_images=2, **kwargs)


def test_wgan_gp_critic_loss_matches_hand_computation():
    scale = 0.1  # ||w|| = 0.1 * 16 = 1.6 -> penalty 10 * 0.6^2 = 3.6, whatever the interpolation weights
    critic, gen = LinearCritic(scale), ConstantGenerator()
    loader = _loader(n=2, batch=2)
    trainer = _wgan(critic, gen, loader, n_critic=5, lambda_gp=10.0)
    trainer.run()
    out = trainer.state.output
    real = next(iter(loader))["image"] * 2 - 1  # trainer maps [0, 1] -> [-1, 1]
    d_real = (real * scale).flatten(1).sum(1).mean()
    d_fake = torch.tensor(0.25 * scale * SIZE * SIZE)
    gp = 10.0 * (scale * SIZE - 1.0) ** 2
    assert out["gradient_penalty"] == pytest.approx(gp, rel=1e-5)
    assert out["wasserstein"] == pytest.approx(float(d_real - d_fake), rel=1e-5, abs=1e-5)
    assert out["loss_D"] == pytest.approx(float(d_fake - d_real) + gp, rel=1e-5, abs=1e-5)
    # the critic took one SGD step on that loss: dL/dw = mean(fake) - mean(real) + dGP/dw
    grad_w = torch.full((1, SIZE, SIZE), 0.25) - real.mean(0) + 2 * 10.0 * (scale * SIZE - 1.0) * scale / (scale * SIZE)
    torch.testing.assert_close(critic.w.detach(), torch.full((1, SIZE, SIZE), scale) - 0.1 * grad_w, rtol=1e-4, atol=1e-5)


def test_wgan_gp_generator_steps_every_n_critic_iterations():
    critic, gen = LinearCritic(0.05), ConstantGenerator()
    trainer = _wgan(critic, gen, _loader(n=12, batch=2), n_critic=3)
    history = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: history.append((_params(gen), e.state.output["g_steps"])))
    start = _params(gen)
    trainer.run()
    changed = [not torch.equal(p, start if i == 0 else history[i - 1][0]) for i, (p, _) in enumerate(history)]
    assert changed == [False, False, True, False, False, True]
    assert [s for _, s in history] == [0, 0, 1, 1, 1, 2]


def test_wgan_gp_refuses_batch_norm_critic_and_runs_real_networks():
    gen = WGANGenerator(latent_dim=4, image_size=SIZE, ngf=4)
    with pytest.raises(ConfigError, match="batch norm"):
        _wgan(DCGANDiscriminator(image_size=SIZE, ndf=4), gen, _loader())
    trainer = _wgan(WGANCritic(image_size=SIZE, ndf=4), gen, _loader(), n_critic=1)
    trainer.run()
    assert all(torch.isfinite(torch.tensor(v)) for v in trainer.state.output.values())
    assert trainer.state.output["gradient_penalty"] > 0


def test_dcgan_trainer_updates_both_networks_and_samples():
    g, d = DCGANGenerator(latent_dim=4, image_size=SIZE, ngf=4), DCGANDiscriminator(image_size=SIZE, ndf=4)
    g0, d0 = _params(g), _params(d)
    trainer = DCGANTrainer(device="cpu", max_epochs=1, train_data_loader=_loader(), generator=g, discriminator=d,
                           g_optimizer=torch.optim.Adam(g.parameters(), 2e-4), d_optimizer=torch.optim.Adam(d.parameters(), 2e-4),
                           num_sample_images=3)
    trainer.run()
    out = trainer.state.output
    assert set(out) == {"loss_D", "loss_G", "D_real", "D_fake", "lr_G", "lr_D"}
    assert 0 < out["D_real"] < 1 and 0 < out["D_fake"] < 1
    assert not torch.equal(_params(g), g0) and not torch.equal(_params(d), d0)
    panels = trainer.sample_panels(next(iter(_loader())))
    assert panels["G(z)"].shape == (3, 1, SIZE, SIZE) and panels["real"].shape == (3, 1, SIZE, SIZE)
    assert 0 <= float(panels["G(z)"].min()) and float(panels["G(z)"].max()) <= 1
    assert trainer.networks["G"].training  # eval-mode sampling restores train mode


def _fastgan(max_epochs: int = 1, loader: DataLoader | None = None, decay: float = 0.9, warmup: bool = False) -> FastGANTrainer:
    torch.manual_seed(0)
    g, d = FastGANGenerator(latent_dim=4, image_size=32, ngf=4), FastGANDiscriminator(image_size=32, ndf=4)
    return FastGANTrainer(device="cpu", max_epochs=max_epochs, train_data_loader=loader or _loader(size=32),
                          generator=g, discriminator=d, g_optimizer=torch.optim.Adam(g.parameters(), 1e-3),
                          d_optimizer=torch.optim.Adam(d.parameters(), 1e-3), ema_decay=decay, ema_warmup=warmup,
                          num_sample_images=2)


def test_fastgan_losses_and_ema_update():
    trainer = _fastgan(decay=0.9)
    g, ema = trainer.bare_networks["G"], trainer.bare_networks["G_ema"]
    after = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: after.append(_params(g)))
    trainer.run()
    out = trainer.state.output
    assert {"loss_D", "loss_D_real", "loss_D_fake", "loss_recon", "loss_G"} <= set(out)
    assert out["loss_recon"] > 0
    # AveragedModel copies G at the first update, then ema = 0.9 * ema + 0.1 * G
    torch.testing.assert_close(_params(ema.module), 0.9 * after[0] + 0.1 * after[1])
    assert not any(p.requires_grad for p in ema.parameters())
    assert trainer.sample_panels()["G(z)"].shape == (2, 1, 32, 32)


def test_fastgan_ema_warmup():
    trainer = _fastgan(decay=0.999, warmup=True)
    g, ema = trainer.bare_networks["G"], trainer.bare_networks["G_ema"]
    after = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: after.append(_params(g)))
    trainer.run()
    d = 2.0 / 11.0  # min(0.999, (1 + 1) / (10 + 1)) at the second update
    torch.testing.assert_close(_params(ema.module), d * after[0] + (1 - d) * after[1])
    assert EmaWithWarmup(0.999).decay_at(10_000) == 0.999 and EmaWithWarmup(0.999, warmup=False).decay_at(0) == 0.999


def test_fastgan_needs_self_supervised_discriminator():
    g = FastGANGenerator(latent_dim=4, image_size=32, ngf=4)
    d = DCGANDiscriminator(image_size=32, ndf=4)
    with pytest.raises(ConfigError, match="self-supervised"):
        FastGANTrainer(device="cpu", max_epochs=1, train_data_loader=_loader(size=32), generator=g, discriminator=d,
                       g_optimizer=torch.optim.Adam(g.parameters()), d_optimizer=torch.optim.Adam(d.parameters()))


def test_fastgan_checkpoint_resume(tmp_path):
    first = _fastgan(max_epochs=1)
    AtomicCheckpointSaver(str(tmp_path), first.checkpoint_objects(), save_final=True,
                          final_filename="checkpoint_final.pt").attach(first)
    first.run()
    second = _fastgan(max_epochs=2)
    ResumeCheckpointLoader(str(tmp_path), second.checkpoint_objects()).attach(second)
    iterations = []
    second.add_event_handler(Events.ITERATION_STARTED, lambda e: iterations.append(e.state.iteration))
    second.run()
    assert iterations == [3, 4]  # resumed after the 2 iterations of epoch 1
    assert second.state.epoch == 2
    assert "G_ema" in second.checkpoint_objects()
