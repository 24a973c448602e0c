"""Tests of monai_gan_aug.networks.resnet_generator (and the shared blocks it uses)."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.networks.blocks import ResizeConv2d
from monai_gan_aug.networks.factory import build_network, load_network, save_network
from monai_gan_aug.networks.resnet_generator import ResNetGenerator


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def hand_count(cin: int, cout: int, ngf: int, n_blocks: int, n_down: int = 2) -> int:
    """Parameters of the reference ResnetGenerator with instance norm (no affine, so conv biases)."""
    total = conv(cin, ngf, 7) + conv(ngf, cout, 7)
    for i in range(n_down):
        c = ngf * 2**i
        total += conv(c, 2 * c, 3) + conv(2 * c, c, 3)  # down conv + matching up conv
    return total + n_blocks * 2 * conv(ngf * 2**n_down, ngf * 2**n_down, 3)


@pytest.mark.parametrize("upsample", ["transpose", "resize_conv"])
@pytest.mark.parametrize("size", [(32, 32), (64, 48), (24, 40)])
def test_output_shape_and_tanh_range(upsample, size):
    torch.manual_seed(0)
    net = ResNetGenerator(ngf=8, n_blocks=2, upsample=upsample)
    x = torch.rand(2, 1, *size) * 2 - 1
    y = net(x)
    assert y.shape == (2, 1, *size)
    assert y.abs().max() <= 1.0
    # an input far outside [-1, 1] still gives a tanh-bounded output
    assert net(x * 100).abs().max() <= 1.0


@pytest.mark.parametrize("norm", ["instance", "batch", "layer", "group", "none"])
def test_norm_options_train_and_backward(norm):
    net = ResNetGenerator(in_channels=2, out_channels=1, ngf=8, n_blocks=1, norm=norm, dropout=0.5).train()
    y = net(torch.randn(2, 2, 16, 24))
    assert y.shape == (2, 1, 16, 24)
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_bilinear_resize_and_padding_modes():
    for padding in ("reflect", "replicate", "zero"):
        net = ResNetGenerator(ngf=4, n_blocks=1, upsample="resize_conv", resize_mode="bilinear",
                              padding=padding)
        assert net(torch.zeros(1, 1, 16, 16)).shape == (1, 1, 16, 16)


def test_size_multiple_and_errors():
    net = ResNetGenerator(ngf=4, n_blocks=1, n_downsampling=3)
    assert net.size_multiple == net.stride == 8 and net.min_size == 16
    with pytest.raises(InvalidImageError, match="divisible by 8"):
        net(torch.zeros(1, 1, 36, 32))
    with pytest.raises(InvalidImageError, match="at least 16"):
        net(torch.zeros(1, 1, 8, 32))
    with pytest.raises(InvalidImageError, match="1 input channel"):
        net(torch.zeros(1, 3, 32, 32))
    with pytest.raises(InvalidImageError, match=r"\(B, C, H, W\)"):
        net(torch.zeros(1, 32, 32))


@pytest.mark.parametrize(
    "kwargs", [{"norm": "weird"}, {"upsample": "pixelshuffle"}, {"padding": "circular"}, {"ngf": 0},
               {"n_blocks": -1}, {"dropout": 1.5}, {"in_channels": 1.5}]
)
def test_config_errors(kwargs):
    with pytest.raises(ConfigError):
        ResNetGenerator(**kwargs)


def test_parameter_counts_match_reference():
    # pytorch-CycleGAN-and-pix2pix prints 11.378 M for resnet_9blocks, 7.837 M for resnet_6blocks
    # (3 channels, ngf 64, instance norm).
    assert n_params(ResNetGenerator(3, 3, ngf=64, n_blocks=9)) == hand_count(3, 3, 64, 9) == 11_378_179
    assert n_params(ResNetGenerator(3, 3, ngf=64, n_blocks=6)) == hand_count(3, 3, 64, 6) == 7_837_699
    # single channel: only the 7x7 stem and output convs change
    assert n_params(ResNetGenerator(1, 1, ngf=64, n_blocks=9)) == hand_count(1, 1, 64, 9) == 11_365_633
    # resize-conv (3x3 conv) has exactly as many weights as the 3x3 transposed conv it replaces
    assert n_params(ResNetGenerator(1, 1, ngf=8, upsample="resize_conv")) == hand_count(1, 1, 8, 9)


def test_resize_conv_has_no_checkerboard_on_constant_input():
    torch.manual_seed(0)
    x = torch.ones(1, 4, 8, 8)
    resize = ResizeConv2d(4, 4, 3, padding="reflect")
    transposed = torch.nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # away from the borders
    y_resize, y_transposed = resize(x)[inner], transposed(x)[inner]
    # a constant image stays constant per channel through resize-conv ...
    assert torch.allclose(y_resize, y_resize[..., :1, :1].expand_as(y_resize), atol=1e-6)
    # ... while a stride-2 transposed conv paints a period-2 pattern on it
    assert (y_transposed[..., 0::2, 0::2] - y_transposed[..., 1::2, 1::2]).abs().max() > 1e-3


def test_factory_round_trip(tmp_path):
    kwargs = {"ngf": 4, "n_blocks": 1, "upsample": "resize_conv"}
    net = build_network("resnet_generator", **kwargs).eval()
    save_network(net, "resnet_generator", kwargs, tmp_path / "g.pt")
    loaded = load_network(tmp_path / "g.pt")
    x = torch.rand(1, 1, 16, 12)
    assert torch.equal(net(x), loaded(x))
