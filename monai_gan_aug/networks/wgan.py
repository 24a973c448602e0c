"""WGAN-GP (Gulrajani et al. 2017) generator and critic, e.g. for axial chest CT slices.

The gradient penalty is defined per sample, and batch norm couples the samples of a batch, so the
critic must not use it (section 4 of the paper): it uses layer norm (``GroupNorm`` with one group,
normalising each sample over channels and space), instance norm, or no normalisation. Its output is
an unbounded score, not a probability. The generator is a DCGAN generator (batch norm is fine there).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from .dcgan import DCGANGenerator, check_image_batch, check_image_size, dcgan_init

__all__ = ["WGANGenerator", "WGANCritic", "CRITIC_NORMS", "CRITIC_ACTIVATIONS"]

CRITIC_NORMS = ("layer", "instance", "none")
CRITIC_ACTIVATIONS = ("leakyrelu", "swish")


class WGANGenerator(DCGANGenerator):
    """Generator of the WGAN-GP: the :class:`~monai_gan_aug.networks.dcgan.DCGANGenerator` architecture.

    Args:
        latent_dim, out_channels, image_size, ngf, upsample, max_channels: see ``DCGANGenerator``
            (``upsample="resize"`` by default: CT slices show checkerboards readily).
    """

    def __init__(
        self, latent_dim: int = 128, out_channels: int = 1, image_size: int = 64, ngf: int = 64,
        upsample: str = "resize", max_channels: int = 512,
    ) -> None:
        super().__init__(latent_dim, out_channels, image_size, ngf, upsample, max_channels)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # one group = layer norm over (C, H, W) of each sample
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.2) if kind == "leakyrelu" else nn.SiLU()  # SiLU = Swish with beta 1


class WGANCritic(nn.Module):
    """WGAN-GP critic ``image -> score`` (``(B,)``), without batch norm.

    Args:
        in_channels: image channels.
        image_size: input side, a power of two >= 8.
        ndf: channels of the first layer, doubled at every halving (capped at ``max_channels``).
        norm: ``"layer"`` (default), ``"instance"`` or ``"none"``; batch norm is refused.
        activation: ``"leakyrelu"`` (slope 0.2) or ``"swish"``.
        dropout: dropout probability after each hidden activation (0 = off).
        max_channels: channel cap.
    """

    def __init__(
        self, in_channels: int = 1, image_size: int = 64, ndf: int = 64, norm: str = "layer",
        activation: str = "leakyrelu", dropout: float = 0.0, max_channels: int = 512,
    ) -> None:
        super().__init__()
        if norm not in CRITIC_NORMS:
            raise ConfigError(f"critic norm must be one of {CRITIC_NORMS} (batch norm breaks the per-sample "
                              f"gradient penalty), got {norm!r}")
        if activation not in CRITIC_ACTIVATIONS:
            raise ConfigError(f"activation must be one of {CRITIC_ACTIVATIONS}, got {activation!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = int(in_channels)
        self.image_size = check_image_size(image_size)
        n_down = int(math.log2(self.image_size)) - 2
        chans = [min(ndf * 2**i, max_channels) for i in range(n_down)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, chans[0], 4, 2, 1), _act(activation)]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), _norm(norm, cout), _act(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
        layers.append(nn.Conv2d(chans[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, S)`` images in ``[-1, 1]`` -> ``(B,)`` critic scores."""
        check_image_batch(x, self.in_channels, self.image_size)
        return self.net(x).flatten(1).mean(1)
