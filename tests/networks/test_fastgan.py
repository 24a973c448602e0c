"""Tests of the FastGAN generator (skip-layer excitation) and self-supervised discriminator."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.networks.factory import build_network
from monai_gan_aug.networks.fastgan import FastGANDiscriminator, FastGANGenerator, SkipLayerExcitation, crop_quadrant


def test_generator_shapes_and_sle_pairs():
    g = FastGANGenerator(latent_dim=8, image_size=64, ngf=4)
    assert g.sle_pairs == [(4, 32), (8, 64)]
    x = g(torch.randn(2, 8))
    assert x.shape == (2, 1, 64, 64) and x.abs().max() <= 1
    assert FastGANGenerator(latent_dim=8, image_size=32, ngf=4, sle_ratio=16).sle_pairs == []


def test_sle_gates_channels_from_low_resolution_features():
    sle = SkipLayerExcitation(low_channels=3, high_channels=5)
    low, high = torch.randn(2, 3, 8, 8), torch.ones(2, 5, 32, 32)
    out = sle(low, high)
    # a per-(sample, channel) gate in (0, 1), constant over space
    assert out.shape == high.shape
    assert ((out > 0) & (out < 1)).all()
    assert torch.allclose(out, out[..., :1, :1].expand_as(out))
    assert not torch.allclose(out[0], out[1])  # depends on the low-resolution input


def test_sle_changes_generator_output():
    torch.manual_seed(0)
    g = FastGANGenerator(latent_dim=8, image_size=32, ngf=4).train()
    z = torch.randn(2, 8)
    before = g(z)
    with torch.no_grad():
        for p in g.sle.parameters():
            p.fill_(0.5)  # saturate the gates: the excitation path must reach the output
    after = g(z)
    assert (after - before).abs().max() > 1e-3 * before.abs().max()


def test_discriminator_logits_and_reconstructions():
    d = FastGANDiscriminator(image_size=32, ndf=4)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert d(x).shape == (2, 1, 5, 5)
    logits, rec_all, rec_part = d(x, part=3)
    assert logits.shape == (2, 1, 5, 5)
    assert rec_all.shape == rec_part.shape == (2, 1, 16, 16)
    t_all, t_part = d.reconstruction_targets(x, 3)
    assert t_all.shape == t_part.shape == (2, 1, 16, 16)
    # the quadrant target is the bottom-right quarter of the image (no resize needed at decoder_size 16)
    torch.testing.assert_close(t_part, x[..., 16:, 16:])
    torch.testing.assert_close(t_all, torch.nn.functional.avg_pool2d(x, 2))


def test_crop_quadrant():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert crop_quadrant(x, 0).flatten().tolist() == [0, 1, 4, 5]
    assert crop_quadrant(x, 1).flatten().tolist() == [2, 3, 6, 7]
    assert crop_quadrant(x, 2).flatten().tolist() == [8, 9, 12, 13]
    with pytest.raises(ConfigError):
        crop_quadrant(x, 4)


def test_bad_inputs_and_factory():
    with pytest.raises(ConfigError):
        FastGANDiscriminator(image_size=16)
    with pytest.raises(InvalidImageError):
        FastGANDiscriminator(image_size=32, ndf=4)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ConfigError):
        FastGANGenerator(sle_ratio=3)
    assert isinstance(build_network("fastgan_generator", latent_dim=4, image_size=16, ngf=2), FastGANGenerator)
    assert isinstance(build_network("fastgan_discriminator", image_size=32, ndf=2), FastGANDiscriminator)
