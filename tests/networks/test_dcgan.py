"""Tests of the DCGAN generator and discriminator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from monai_gan_aug.networks.factory import build_network, load_network, save_network


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_generator_shapes_and_range(size, upsample):
    g = DCGANGenerator(latent_dim=8, image_size=size, ngf=4, upsample=upsample)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 1, size, size)
    assert x.abs().max() <= 1.0  # tanh output
    # (B, latent, 1, 1) codes give the same images as (B, latent)
    z = torch.randn(2, 8)
    g.eval()
    torch.testing.assert_close(g(z), g(z[:, :, None, None]))


def test_upsampling_modes_use_their_layers():
    t = DCGANGenerator(latent_dim=4, image_size=16, ngf=4, upsample="transpose")
    r = DCGANGenerator(latent_dim=4, image_size=16, ngf=4, upsample="resize")
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in t.modules()) == 3  # projection + 2 doublings
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in r.modules()) == 1  # projection only
    assert sum(isinstance(m, nn.Upsample) for m in r.modules()) == 2
    assert any(isinstance(m, nn.BatchNorm2d) for m in t.modules())


def test_discriminator_one_logit_per_image_and_batch_norm():
    d = DCGANDiscriminator(image_size=32, ndf=4)
    out = d(torch.rand(5, 1, 32, 32) * 2 - 1)
    assert out.shape == (5,)
    assert any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in DCGANDiscriminator(image_size=32, ndf=4, norm="none").modules())


def test_128_px_generator_and_discriminator():
    g, d = DCGANGenerator(latent_dim=8, image_size=128, ngf=2), DCGANDiscriminator(image_size=128, ndf=2)
    assert d(g(torch.randn(1, 8))).shape == (1,)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="power of two"):
        DCGANGenerator(image_size=48)
    with pytest.raises(ConfigError, match="upsample"):
        DCGANGenerator(upsample="pixelshuffle")
    with pytest.raises(InvalidImageError, match=r"\(B, 8\)"):
        DCGANGenerator(latent_dim=8, image_size=16, ngf=2)(torch.randn(2, 7))
    with pytest.raises(InvalidImageError, match="32, 32"):
        DCGANDiscriminator(image_size=32, ndf=2)(torch.rand(1, 1, 16, 16))


def test_factory_round_trip(tmp_path):
    kwargs = {"latent_dim": 8, "image_size": 16, "ngf": 4, "upsample": "resize"}
    g = build_network("dcgan_generator", **kwargs)
    save_network(g, "dcgan_generator", kwargs, tmp_path / "g.pt", info={"epochs": 1})
    loaded = load_network(tmp_path / "g.pt")
    z = torch.randn(2, 8)
    torch.testing.assert_close(loaded(z), g.eval()(z))
    assert loaded.info["epochs"] == 1
    assert isinstance(build_network("dcgan_discriminator", image_size=16, ndf=2), DCGANDiscriminator)
