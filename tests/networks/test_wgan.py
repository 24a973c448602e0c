"""Tests of the WGAN-GP generator and critic (no batch norm in the critic)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.networks.factory import build_network
from monai_gan_aug.networks.wgan import CRITIC_ACTIVATIONS, CRITIC_NORMS, WGANCritic, WGANGenerator


@pytest.mark.parametrize("norm,activation", list(itertools.product(CRITIC_NORMS, CRITIC_ACTIVATIONS)))
def test_critic_has_no_batch_norm(norm, activation):
    c = WGANCritic(image_size=32, ndf=4, norm=norm, activation=activation, dropout=0.2)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in c.modules())
    assert c(torch.randn(3, 1, 32, 32)).shape == (3,)
    act = nn.LeakyReLU if activation == "leakyrelu" else nn.SiLU
    assert any(isinstance(m, act) for m in c.modules())


def test_layer_norm_is_per_sample():
    # the penalty treats samples independently: a sample's score must not depend on the rest of the batch
    c = WGANCritic(image_size=16, ndf=4, norm="layer").eval()
    x = torch.randn(4, 1, 16, 16)
    torch.testing.assert_close(c(x)[:1], c(x[:1]))
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in c.modules())


def test_dropout_option():
    assert any(isinstance(m, nn.Dropout) for m in WGANCritic(image_size=16, ndf=4, dropout=0.3).modules())
    assert not any(isinstance(m, nn.Dropout) for m in WGANCritic(image_size=16, ndf=4).modules())


def test_batch_norm_and_bad_options_refused():
    with pytest.raises(ConfigError, match="batch norm"):
        WGANCritic(norm="batch")
    with pytest.raises(ConfigError, match="activation"):
        WGANCritic(activation="relu")
    with pytest.raises(ConfigError, match="dropout"):
        WGANCritic(dropout=1.0)


def test_generator_and_factory():
    g = build_network("wgan_generator", latent_dim=8, image_size=16, ngf=4)
    assert isinstance(g, WGANGenerator) and g(torch.randn(2, 8)).shape == (2, 1, 16, 16)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.net[3:])  # resize-conv upsampling by default
    assert isinstance(build_network("wgan_critic", image_size=16, ndf=4), WGANCritic)
