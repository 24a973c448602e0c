"""Tests of monai_gan_aug.losses.adversarial."""

from __future__ import annotations

import math

import pytest
import torch

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.losses.adversarial import AdversarialLoss
from monai_gan_aug.networks.patch_discriminator import MultiScalePatchGANDiscriminator, PatchGANDiscriminator

ONES, ZEROS = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)


def test_lsgan_known_values():
    adv = AdversarialLoss("lsgan")
    assert adv(ONES, True, for_discriminator=True) == 0  # real scored 1: perfect
    assert adv(ZEROS, False, for_discriminator=True) == 0  # fake scored 0: perfect
    assert adv(ZEROS, True, for_discriminator=False) == 1  # generator fooled nobody: (0 - 1)^2
    pred = torch.tensor([[[[0.5, 2.0], [-1.0, 1.0]]]])
    expected = ((pred - 1) ** 2).mean()  # raw logits, no activation (MONAI no_activation_leastsq=True)
    assert torch.isclose(adv(pred, True, for_discriminator=True), expected)
    assert torch.isclose(adv.discriminator_loss(pred, pred), expected + (pred**2).mean())


def test_vanilla_is_bce_with_logits_and_stable():
    adv = AdversarialLoss("vanilla")
    assert torch.isclose(adv(ZEROS, True, for_discriminator=True), torch.tensor(math.log(2)))
    logits = torch.full((1, 1, 2, 2), -200.0, requires_grad=True)  # a very confident discriminator
    loss = adv.generator_loss(logits)
    loss.backward()
    assert torch.isclose(loss, torch.tensor(200.0))
    assert torch.allclose(logits.grad, torch.full_like(logits, -0.25))  # -1 / 4 elements: not vanishing


def test_hinge_discriminator_and_generator_asymmetry():
    adv = AdversarialLoss("hinge")
    assert adv(torch.full((1, 1, 2, 2), 3.0), True, for_discriminator=True) == 0  # beyond the margin
    assert adv(torch.full((1, 1, 2, 2), -1.0), False, for_discriminator=True) == 0
    assert adv(torch.full((1, 1, 2, 2), 0.5), True, for_discriminator=True) == 0.5  # relu(1 - 0.5)
    assert adv(torch.full((1, 1, 2, 2), 0.0), False, for_discriminator=True) == 1  # relu(1 + 0)
    # the generator has no margin: it keeps pushing even when D already says "real" beyond 1
    assert adv(torch.full((1, 1, 2, 2), 3.0), True, for_discriminator=False) == -3


def test_wgan():
    adv = AdversarialLoss("wgan")
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 0.0])
    assert adv.discriminator_loss(real, fake) == -3 + -0.5
    assert adv.generator_loss(fake) == 0.5


@pytest.mark.parametrize("mode", ["lsgan", "vanilla", "hinge", "wgan"])
def test_multiscale_list_is_mean_over_scales(mode):
    adv = AdversarialLoss(mode)
    a, b = torch.randn(2, 1, 6, 6), torch.randn(2, 1, 3, 3)
    for real, for_d in ((True, True), (False, True), (True, False)):
        expected = (adv(a, real, for_d) + adv(b, real, for_d)) / 2
        assert torch.isclose(adv([a, b], real, for_discriminator=for_d), expected)


@pytest.mark.parametrize("mode", ["lsgan", "vanilla", "hinge", "wgan"])
def test_trains_with_real_discriminators(mode):
    adv = AdversarialLoss(mode)
    d = PatchGANDiscriminator(ndf=4, receptive_field=34)
    loss = adv.discriminator_loss(d(torch.randn(2, 1, 32, 32)), d(torch.randn(2, 1, 32, 32)))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in d.parameters())
    md = MultiScalePatchGANDiscriminator(ndf=4, receptive_field=16, num_scales=2)
    assert torch.isfinite(adv.generator_loss(md(torch.randn(1, 1, 32, 32))))


def test_errors():
    with pytest.raises(ConfigError, match="mode"):
        AdversarialLoss("bce")
    adv = AdversarialLoss()
    with pytest.raises(ConfigError, match="target_is_real=True"):
        adv(ONES, False, for_discriminator=False)
    out_and_features = PatchGANDiscriminator(ndf=4, return_features=True)(torch.randn(1, 1, 32, 32))
    with pytest.raises(ConfigError, match="not \\(output, features\\)"):
        adv(out_and_features, True, for_discriminator=True)
    with pytest.raises(ConfigError):
        adv([], True, for_discriminator=True)
