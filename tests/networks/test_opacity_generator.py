"""LesionOpacityGenerator: non-negative density, zero outside the footprint, seeds matter."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.networks.opacity_generator import LesionOpacityGenerator


def _inputs():
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    fp = torch.zeros(2, 1, 32, 32)
    fp[:, :, 8:20, 10:24] = 1.0
    fp[:, :, 20:22, 10:24] = 0.5  # soft edge
    return x, fp


def test_density_is_bounded_non_negative_and_zero_outside_the_footprint():
    torch.manual_seed(0)
    g = LesionOpacityGenerator(features=(4, 4, 8, 8, 8, 4), max_density=2.5)
    x, fp = _inputs()
    d = g(x, fp, torch.randn_like(x))
    assert d.shape == x.shape
    assert float(d.min()) >= 0 and float(d.max()) <= 2.5
    assert torch.equal(d[fp == 0], torch.zeros_like(d[fp == 0]))
    assert float(d[fp == 1].min()) > 0


def test_noise_changes_the_lesion_and_fixed_noise_reproduces_it():
    torch.manual_seed(0)
    g = LesionOpacityGenerator(features=(4, 4, 8, 8, 8, 4)).eval()
    x, fp = _inputs()
    n1, n2 = torch.randn_like(x), torch.randn_like(x)
    assert torch.equal(g(x, fp, n1), g(x, fp, n1))
    assert not torch.allclose(g(x, fp, n1), g(x, fp, n2))


def test_gradients_reach_every_parameter():
    g = LesionOpacityGenerator(features=(4, 4, 8, 8, 8, 4))
    x, fp = _inputs()
    g(x, fp).sum().backward()
    assert all(p.grad is not None for p in g.parameters())


@pytest.mark.parametrize("shape", [(2, 1, 30, 32), (2, 2, 32, 32)])
def test_bad_shapes_are_refused(shape):
    g = LesionOpacityGenerator(features=(4, 4, 8, 8, 8, 4))
    with pytest.raises(InvalidImageError):
        g(torch.zeros(shape), torch.zeros(shape))
