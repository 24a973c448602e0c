"""Tests of monai_gan_aug.networks.patch_discriminator."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.networks.factory import build_network, load_network, save_network
from monai_gan_aug.networks.patch_discriminator import (
    RECEPTIVE_FIELDS,
    MultiScalePatchGANDiscriminator,
    PatchGANDiscriminator,
)


@pytest.mark.parametrize("rf", sorted(RECEPTIVE_FIELDS))
def test_receptive_field_is_exact(rf):
    """The gradient of one central logit is non-zero on exactly an rf x rf square of input pixels."""
    torch.manual_seed(0)
    # norm "none": instance norm would couple every pixel through its statistics
    net = PatchGANDiscriminator(in_channels=1, ndf=4, receptive_field=rf, norm="none").double().eval()
    assert net.receptive_field == rf
    size = 96 if rf == 70 else 64
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    nonzero = x.grad[0, 0] != 0
    rows, cols = nonzero.any(1).nonzero().flatten(), nonzero.any(0).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == rf and cols.max() - cols.min() + 1 == rf
    assert rows.min() > 0 and rows.max() < size - 1  # the window is inside the image, not cut by padding
    assert nonzero.sum() == rf * rf


@pytest.mark.parametrize("rf", sorted(RECEPTIVE_FIELDS))
@pytest.mark.parametrize("norm", ["instance", "batch", "spectral", "none"])
def test_output_shapes_square_and_non_square(rf, norm):
    net = PatchGANDiscriminator(in_channels=2, ndf=4, receptive_field=rf, norm=norm)
    for size in ((64, 48), (32, 32)):
        out = net(torch.randn(2, 2, *size))
        assert out.shape == (2, 1, *net.output_size(*size))
    smallest = net(torch.randn(2, 2, net.min_size, net.min_size))
    assert smallest.shape[-1] >= 1


def test_known_output_sizes():
    # pix2pix's 30x30 patch map at 256 px
    assert PatchGANDiscriminator(receptive_field=70, ndf=4).output_size(256, 256) == (30, 30)
    assert PatchGANDiscriminator(receptive_field=70, ndf=4).output_size(64, 48) == (6, 4)
    assert PatchGANDiscriminator(receptive_field=1, ndf=4).output_size(64, 48) == (64, 48)


def test_parameter_count_matches_reference():
    # pytorch-CycleGAN-and-pix2pix "basic" D (n_layers=3, ndf=64, 3 channels, batch norm) prints 2.765 M.
    net = PatchGANDiscriminator(in_channels=3, ndf=64, receptive_field=70, norm="batch")
    convs = (3 * 64 * 16 + 64) + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + (512 * 16 + 1)
    bn = 2 * (128 + 256 + 512)
    assert sum(p.numel() for p in net.parameters()) == convs + bn == 2_765_633


def test_spectral_norm_bounds_each_conv():
    net = PatchGANDiscriminator(ndf=4, norm="spectral").train()
    for _ in range(20):  # power iterations run in training forward passes
        net(torch.randn(1, 1, 32, 32))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and all(hasattr(m, "parametrizations") for m in convs)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma < 1.05


def test_return_features_for_feature_matching():
    net = PatchGANDiscriminator(ndf=4, receptive_field=34, return_features=True)
    out, feats = net(torch.randn(1, 1, 32, 32))
    assert out.shape == (1, 1, 6, 6) and len(feats) == 3 and feats[0].shape[1] == 4


def test_errors():
    with pytest.raises(ConfigError, match="receptive_field"):
        PatchGANDiscriminator(receptive_field=22)
    with pytest.raises(ConfigError):
        PatchGANDiscriminator(norm="layer")
    net = PatchGANDiscriminator(ndf=4, receptive_field=70)
    with pytest.raises(InvalidImageError, match="at least 24"):
        net(torch.zeros(1, 1, 16, 64))
    with pytest.raises(InvalidImageError, match="1 input channel"):
        net(torch.zeros(1, 2, 32, 32))


def test_multiscale():
    net = MultiScalePatchGANDiscriminator(ndf=4, receptive_field=16, num_scales=3)
    outs = net(torch.randn(2, 1, 64, 48))
    assert [o.shape[-2:] for o in outs] == [(30, 22), (14, 10), (6, 4)]
    assert net.min_size == 24
    with pytest.raises(InvalidImageError):
        net(torch.zeros(1, 1, 16, 16))
    with_features = MultiScalePatchGANDiscriminator(ndf=4, receptive_field=16, return_features=True)
    outs, feats = with_features(torch.randn(1, 1, 32, 32))
    assert len(outs) == len(feats) == 2


def test_factory_round_trip_with_spectral_norm(tmp_path):
    kwargs = {"in_channels": 2, "ndf": 4, "receptive_field": 34, "norm": "spectral"}
    net = build_network("patch_discriminator", **kwargs)
    net(torch.randn(1, 2, 32, 32))  # one power iteration so the saved u/v differ from a fresh init
    net.eval()
    save_network(net, "patch_discriminator", kwargs, tmp_path / "d.pt")
    x = torch.randn(1, 2, 32, 32)
    assert torch.equal(net(x), load_network(tmp_path / "d.pt")(x))
