"""Tests of monai_gan_aug.losses.gradient_penalty against hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.losses.gradient_penalty import GradientPenaltyLoss, gradient_penalty
from monai_gan_aug.networks.patch_discriminator import PatchGANDiscriminator


def test_linear_critic_penalty_and_its_gradient():
    """f(x) = sum(w * x) has gradient w everywhere: penalty = lambda * (||w|| - 1)^2, whatever alpha."""
    torch.manual_seed(0)
    w = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    real, fake = torch.randn(3, 1, 4, 4, dtype=torch.float64), torch.randn(3, 1, 4, 4, dtype=torch.float64)
    penalty = gradient_penalty(lambda x: (w * x).flatten(1).sum(1), real, fake, lambda_gp=10.0)
    norm = w.detach().norm()
    assert torch.isclose(penalty, 10 * (norm - 1) ** 2)
    # create_graph=True: the penalty differentiates back into the critic's weights
    penalty.backward()
    assert torch.allclose(w.grad, 10 * 2 * (norm - 1) * w.detach() / norm)


def test_quadratic_critic_at_fixed_interpolation():
    """f(x) = sum(x^2): gradient 2 x_hat at x_hat = a * real + (1 - a) * fake."""
    real = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    fake = torch.tensor([[3.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    alpha = torch.tensor([0.25, 0.5], dtype=torch.float64)
    # x_hat = [[2.5, 0.5], [0.25, 0]] -> gradient norms 2*sqrt(6.5) and 0.5
    expected = 2.0 * (((2 * 6.5**0.5) - 1) ** 2 + (0.5 - 1) ** 2) / 2
    got = gradient_penalty(lambda x: (x**2).sum(1), real, fake, lambda_gp=2.0, alpha=alpha)
    assert torch.isclose(got, torch.tensor(expected, dtype=torch.float64))
    module = GradientPenaltyLoss(lambda_gp=2.0)
    assert torch.isclose(module(lambda x: (x**2).sum(1), real, fake, alpha=alpha), got)


def test_random_alpha_is_reproducible_and_in_range():
    real, fake = torch.ones(4, 1, 2, 2), torch.zeros(4, 1, 2, 2)
    seen = []

    def critic(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone())
        return x.sum()

    p1 = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    p2 = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    assert torch.equal(p1, p2) and torch.equal(seen[0], seen[1])
    alphas = seen[0][:, 0, 0, 0]  # x_hat = alpha for real = 1, fake = 0; one alpha per sample
    assert ((alphas >= 0) & (alphas <= 1)).all() and alphas.unique().numel() == 4
    assert torch.equal(seen[0], alphas.view(4, 1, 1, 1).expand(4, 1, 2, 2))


def test_patch_critic_trains():
    critic = PatchGANDiscriminator(ndf=4, receptive_field=34, norm="none")
    real, fake = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32, requires_grad=True)
    penalty = GradientPenaltyLoss()(critic, real, fake)
    penalty.backward()
    assert torch.isfinite(penalty) and penalty > 0
    # every weight shapes the input gradient (the output bias does not, so it gets no gradient)
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    assert fake.grad is None  # the penalty trains the critic only


def test_errors():
    with pytest.raises(InvalidImageError, match="one shape"):
        gradient_penalty(lambda x: x.sum(), torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ConfigError, match="alpha"):
        gradient_penalty(lambda x: x.sum(), torch.zeros(2, 3), torch.zeros(2, 3), alpha=torch.ones(3))
    with pytest.raises(ConfigError):
        GradientPenaltyLoss(lambda_gp=-1)
