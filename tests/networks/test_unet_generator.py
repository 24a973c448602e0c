"""Tests of monai_gan_aug.networks.unet_generator."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.networks.factory import build_network, load_network, save_network
from monai_gan_aug.networks.unet_generator import UNetGenerator


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def hand_count(cin: int, cout: int, ngf: int, num_downs: int) -> int:
    """Parameters of the reference UnetGenerator with batch norm (convs without bias except the last)."""
    total = 0
    for level in range(num_downs):
        inner = ngf * min(2**level, 8)
        outer = cout if level == 0 else ngf * min(2 ** (level - 1), 8)
        down_in = cin if level == 0 else outer
        up_in = inner if level == num_downs - 1 else 2 * inner
        total += down_in * inner * 16 + up_in * outer * 16  # 4x4 down conv and 4x4 transposed up conv
        if level == 0:
            total += outer  # the output conv keeps its bias
        else:
            # BN affine parameters: after the up conv, and after the down conv unless innermost
            total += 2 * outer + (2 * inner if level < num_downs - 1 else 0)
    return total


@pytest.mark.parametrize("upsample", ["transpose", "resize_conv"])
@pytest.mark.parametrize("size", [(32, 32), (64, 48)])
def test_output_shape_and_tanh_range(upsample, size):
    torch.manual_seed(0)
    net = UNetGenerator(ngf=8, num_downs=4, upsample=upsample)
    x = torch.rand(2, 1, *size) * 2 - 1
    y = net(x)
    assert y.shape == (2, 1, *size)
    assert net(x * 100).abs().max() <= 1.0


@pytest.mark.parametrize("norm", ["batch", "instance", "layer", "group", "none"])
def test_norm_options_train_and_backward(norm):
    net = UNetGenerator(in_channels=2, out_channels=1, ngf=4, num_downs=3, norm=norm).train()
    y = net(torch.randn(2, 2, 16, 24))
    assert y.shape == (2, 1, 16, 24)
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_minimum_size_bottleneck_is_one_pixel():
    net = UNetGenerator(ngf=4, num_downs=5, norm="instance")
    assert net.size_multiple == net.stride == net.min_size == 32
    assert net(torch.rand(1, 1, 32, 64)).shape == (1, 1, 32, 64)


def test_size_errors():
    net = UNetGenerator(ngf=4, num_downs=3)
    with pytest.raises(InvalidImageError, match="divisible by 8"):
        net(torch.zeros(1, 1, 20, 16))
    with pytest.raises(InvalidImageError, match="1 input channel"):
        net(torch.zeros(1, 2, 16, 16))


@pytest.mark.parametrize(
    "kwargs", [{"num_downs": 1}, {"norm": "spectral"}, {"upsample": "x"}, {"dropout": -0.1}, {"depth": 0}]
)
def test_config_errors(kwargs):
    with pytest.raises(ConfigError):
        UNetGenerator(**kwargs)


def test_depth_alias():
    assert UNetGenerator(ngf=2, depth=3).num_downs == 3


def test_parameter_counts_match_reference():
    # pytorch-CycleGAN-and-pix2pix prints 54.414 M for unet_256 and 41.829 M for unet_128 (3 channels).
    assert n_params(UNetGenerator(3, 3, ngf=64, num_downs=8)) == hand_count(3, 3, 64, 8) == 54_413_955
    assert n_params(UNetGenerator(3, 3, ngf=64, num_downs=7)) == hand_count(3, 3, 64, 7) == 41_828_995
    assert n_params(UNetGenerator(1, 1, ngf=8, num_downs=6)) == hand_count(1, 1, 8, 6)


def test_dropout_placement_follows_pix2pix():
    # unet_256: dropout in the 3 decoder blocks at 8*ngf below the four outermost, not the innermost
    def drops(n: int) -> int:
        net = UNetGenerator(ngf=1, num_downs=n, dropout=0.5)
        return sum(isinstance(m, torch.nn.Dropout) for m in net.modules())

    assert (drops(8), drops(7), drops(5)) == (3, 2, 0)


def test_skip_connection_carries_full_resolution_detail():
    # Change one input pixel: thanks to the outermost skip, the output changes at that pixel even in a
    # network whose bottleneck is 1x1.
    torch.manual_seed(0)
    net = UNetGenerator(ngf=4, num_downs=4, norm="none").eval()
    x = torch.zeros(1, 1, 16, 16, requires_grad=True)
    net(x)[0, 0, 5, 7].backward()
    assert x.grad[0, 0, 5, 7].abs() > 0
    assert (x.grad != 0).sum() > 200  # and the 1x1 bottleneck sees (nearly) the whole image


def test_factory_round_trip(tmp_path):
    kwargs = {"ngf": 4, "num_downs": 3, "norm": "instance", "upsample": "resize_conv"}
    net = build_network("unet_generator", **kwargs).eval()
    save_network(net, "unet_generator", kwargs, tmp_path / "u.pt")
    x = torch.rand(1, 1, 16, 24)
    assert torch.equal(net(x), load_network(tmp_path / "u.pt")(x))


def test_full_resolution_head_skips_the_input_to_the_last_layers():
    torch.manual_seed(0)
    ref = UNetGenerator(in_channels=2, ngf=4, num_downs=3)
    net = UNetGenerator(in_channels=2, ngf=4, num_downs=3, full_res_features=5)
    assert ref.head is None and net.head is not None
    x = torch.rand(2, 2, 16, 16) * 2 - 1
    y = net(x)
    assert y.shape == (2, 1, 16, 16) and y.abs().max() <= 1
    x2 = x.clone()
    x2[0, 0, 3, 3] += 1.0  # one input pixel reaches the output directly through the 3x3 head
    assert not torch.equal(net(x2)[0, 0, 2:5, 2:5], y[0, 0, 2:5, 2:5])
