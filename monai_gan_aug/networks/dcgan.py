"""DCGAN (Radford et al. 2016) generator and discriminator for square single-channel images.

The generator maps a latent vector ``z`` (``(B, latent_dim)`` or ``(B, latent_dim, 1, 1)``) through a
4x4 projection and ``log2(image_size) - 2`` doubling blocks (strided transposed convolutions, or
nearest-neighbour resize + 3x3 convolution against checkerboard artefacts, Odena et al. 2016) to a
``tanh`` image in ``[-1, 1]``. Batch norm after every hidden layer, ReLU in the generator and
LeakyReLU(0.2) in the discriminator, as in the paper. The discriminator halves the resolution with
4x4 stride-2 convolutions down to 4x4 and ends in a 4x4 valid convolution: one logit per image.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError, InvalidImageError

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "check_image_batch", "check_image_size", "check_latent", "dcgan_init"]

_UPSAMPLE_MODES = ("transpose", "resize")


def check_image_size(image_size: int, minimum: int = 8) -> int:
    """Return ``image_size`` if it is a power of two >= ``minimum``, else raise :class:`ConfigError`."""
    size = int(image_size)
    if size < minimum or size & (size - 1):
        raise ConfigError(f"image_size must be a power of two >= {minimum}, got {image_size!r}")
    return size


def check_latent(z: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """Return ``z`` as ``(B, latent_dim, 1, 1)``; raise :class:`InvalidImageError` for any other shape."""
    if not isinstance(z, torch.Tensor):
        raise InvalidImageError(f"latent codes must be a tensor, got {type(z).__name__}")
    if z.ndim == 2 and z.shape[1] == latent_dim:
        return z[:, :, None, None]
    if z.ndim == 4 and z.shape[1] == latent_dim and z.shape[2:] == (1, 1):
        return z
    raise InvalidImageError(
        f"expected latent codes of shape (B, {latent_dim}) or (B, {latent_dim}, 1, 1), got {tuple(z.shape)}"
    )


def check_image_batch(x: torch.Tensor, channels: int, size: int) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels or tuple(x.shape[2:]) != (size, size):
        found = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidImageError(f"expected images of shape (B, {channels}, {size}, {size}), got {found}")


def up_block(in_ch: int, out_ch: int, upsample: str, norm: bool = True) -> list[nn.Module]:
    """Layers doubling the resolution: transposed 4x4/2 conv, or nearest resize + 3x3 conv."""
    if upsample == "transpose":
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=not norm)]
    else:
        layers = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    return layers


def dcgan_init(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02), batch-norm scale N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """DCGAN generator ``z -> image``.

    Args:
        latent_dim: length of the latent vector.
        out_channels: image channels.
        image_size: output side, a power of two >= 8 (64 and 128 in the bundle).
        ngf: channels of the last hidden layer; the 4x4 layer has ``ngf * 2**(n_up - 1)`` (capped
            at ``max_channels``).
        upsample: ``"transpose"`` (paper) or ``"resize"`` (nearest + conv, no checkerboard).
        max_channels: channel cap of the low-resolution layers (keeps 128 px models small).
    """

    def __init__(
        self, latent_dim: int = 100, out_channels: int = 1, image_size: int = 64, ngf: int = 64,
        upsample: str = "transpose", max_channels: int = 512,
    ) -> None:
        super().__init__()
        if upsample not in _UPSAMPLE_MODES:
            raise ConfigError(f"upsample must be one of {_UPSAMPLE_MODES}, got {upsample!r}")
        if latent_dim < 1 or out_channels < 1 or ngf < 1:
            raise ConfigError(f"latent_dim, out_channels, ngf must be >= 1, got {latent_dim}, {out_channels}, {ngf}")
        self.latent_dim, self.out_channels = int(latent_dim), int(out_channels)
        self.image_size = check_image_size(image_size)
        n_up = int(math.log2(self.image_size)) - 2
        chans = [min(ngf * 2 ** (n_up - 1 - i), max_channels) for i in range(n_up)]  # 4x4 ... image_size/2
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True)
        ]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += up_block(cin, cout, upsample) + [nn.ReLU(True)]
        layers += up_block(chans[-1], out_channels, upsample, norm=False) + [nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, latent_dim)`` codes -> ``(B, out_channels, image_size, image_size)`` images in ``[-1, 1]``."""
        return self.net(check_latent(z, self.latent_dim))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator ``image -> logit`` (``(B,)``; no sigmoid: use BCE-with-logits).

    Args:
        in_channels: image channels.
        image_size: input side, a power of two >= 8.
        ndf: channels of the first layer, doubled at every halving (capped at ``max_channels``).
        norm: ``"batch"`` (paper) or ``"none"``.
        max_channels: channel cap.
    """

    def __init__(
        self, in_channels: int = 1, image_size: int = 64, ndf: int = 64, norm: str = "batch", max_channels: int = 512
    ) -> None:
        super().__init__()
        if norm not in ("batch", "none"):
            raise ConfigError(f"norm must be 'batch' or 'none', got {norm!r}")
        self.in_channels = int(in_channels)
        self.image_size = check_image_size(image_size)
        n_down = int(math.log2(self.image_size)) - 2
        chans = [min(ndf * 2**i, max_channels) for i in range(n_down)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, chans[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, True))
        layers.append(nn.Conv2d(chans[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, S)`` images in ``[-1, 1]`` -> ``(B,)`` logits."""
        check_image_batch(x, self.in_channels, self.image_size)
        return self.net(x).flatten(1).mean(1)
