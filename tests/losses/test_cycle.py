"""Tests of monai_gan_aug.losses.cycle."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.losses.cycle import CycleConsistencyLoss, IdentityLoss, ReconstructionLoss


def test_cycle_and_identity_are_weighted_l1():
    x, y = torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)
    y[0, 0, 0, 0] = -1.5  # |diff| = 1.5 at one of 32 values, 0.5 elsewhere
    l1 = (31 * 0.5 + 1.5) / 32
    assert torch.isclose(CycleConsistencyLoss()(y, x), torch.tensor(10 * l1))
    assert torch.isclose(CycleConsistencyLoss(weight=2.0)(y, x), torch.tensor(2 * l1))
    assert torch.isclose(IdentityLoss()(y, x), torch.tensor(5 * l1))
    assert CycleConsistencyLoss()(x, x) == 0


def test_reconstruction_is_normalised_by_mask_area():
    target = torch.zeros(1, 1, 8, 8)
    pred = torch.full((1, 1, 8, 8), 5.0)  # big error outside the masks: must not count
    loss = ReconstructionLoss(weight=2.0)
    for area in (1, 4, 16):
        mask = torch.zeros(1, 1, 8, 8)
        side = int(area**0.5)
        mask[..., :side, :side] = 1
        pred_in = pred.clone()
        pred_in[..., :side, :side] = 0.25
        assert torch.isclose(loss(pred_in, target, mask), torch.tensor(0.5))  # 2 * 0.25 whatever the area


def test_reconstruction_soft_mask_channels_and_no_mask():
    target = torch.zeros(2, 3, 4, 4)
    pred = torch.ones(2, 3, 4, 4)
    pred[:, 1] = 3.0
    soft = torch.full((2, 1, 4, 4), 0.5)
    # a single-channel weight broadcasts over the 3 channels: weighted mean of 1, 3, 1
    assert torch.isclose(ReconstructionLoss()(pred, target, soft), torch.tensor(5 / 3))
    per_channel = torch.zeros(2, 3, 4, 4)
    per_channel[:, 1] = 1
    assert torch.isclose(ReconstructionLoss()(pred, target, per_channel), torch.tensor(3.0))
    assert torch.isclose(ReconstructionLoss(weight=100)(pred, target), torch.tensor(100 * 5 / 3))


def test_reconstruction_empty_mask_is_zero_with_graph():
    pred = torch.rand(1, 1, 4, 4, requires_grad=True)
    loss = ReconstructionLoss()(pred, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    loss.backward()
    assert loss == 0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_errors():
    with pytest.raises(InvalidImageError, match="shapes differ"):
        CycleConsistencyLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(InvalidImageError, match="mask"):
        ReconstructionLoss()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(InvalidImageError, match="mask"):
        ReconstructionLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 3))
    with pytest.raises(ConfigError):
        IdentityLoss(weight=-1)
