"""FastGAN (Liu et al. 2021, "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot
Image Synthesis"): a light generator with skip-layer excitation and a self-supervised discriminator.

* Generator: ``z`` -> 4x4 (transposed conv + BN + GLU), then doubling blocks (nearest upsample, 3x3
  conv, BN, GLU). A skip-layer excitation (SLE) module gates the channels of a high-resolution
  feature map with a vector computed from a low-resolution one (pool to 4x4, 4x4 conv, Swish,
  1x1 conv, sigmoid), for every pair of resolutions ``sle_ratio`` apart.
* Discriminator: strided 4x4 conv blocks down to 8x8, a 5x5 map of logits (trained with the hinge
  loss), and two small decoders trained to reconstruct the real input from the 8x8 features (the
  whole image) and from a random quadrant of the 16x16 features (that quadrant of the image): the
  self-supervision that keeps the discriminator from over-fitting 100 images.

Simplifications of the reference (said here so nobody is surprised): no noise injection in the
generator, no SLE inside the discriminator, no second (128 px) output, and an L1 rather than a
perceptual (LPIPS) reconstruction loss, since no pretrained LPIPS network may be downloaded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, InvalidImageError
from .dcgan import check_image_batch, check_image_size, check_latent, dcgan_init

__all__ = ["FastGANGenerator", "FastGANDiscriminator", "SkipLayerExcitation", "crop_quadrant"]


def _up(cin: int, cout: int) -> nn.Sequential:
    """Nearest x2, 3x3 conv to ``2 * cout``, BN, GLU over channels (-> ``cout``)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, 2 * cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(2 * cout), nn.GLU(dim=1))


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True))


class SkipLayerExcitation(nn.Module):
    """Channel gate of a high-resolution map from a low-resolution one (FastGAN's SLE module).

    Args:
        low_channels: channels of the low-resolution map.
        high_channels: channels of the high-resolution map.
    """

    def __init__(self, low_channels: int, high_channels: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), nn.Conv2d(low_channels, high_channels, 4, 1, 0, bias=False), nn.SiLU(),
            nn.Conv2d(high_channels, high_channels, 1, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


class FastGANGenerator(nn.Module):
    """FastGAN generator ``z -> image`` in ``[-1, 1]``.

    Args:
        latent_dim: length of the latent vector.
        out_channels: image channels.
        image_size: output side, a power of two >= 16.
        ngf: channels at full resolution; doubled at every halving (capped at ``max_channels``).
        sle_ratio: resolution ratio of the SLE pairs (the paper: 16 at 256-1024 px, e.g. 8 -> 128;
            8 here by default so that 32-128 px models have one or two SLE connections).
        max_channels: channel cap.
    """

    def __init__(
        self, latent_dim: int = 128, out_channels: int = 1, image_size: int = 64, ngf: int = 16, sle_ratio: int = 8,
        max_channels: int = 256,
    ) -> None:
        super().__init__()
        if latent_dim < 1 or out_channels < 1 or ngf < 1:
            raise ConfigError(f"latent_dim, out_channels, ngf must be >= 1, got {latent_dim}, {out_channels}, {ngf}")
        if sle_ratio < 2 or sle_ratio & (sle_ratio - 1):
            raise ConfigError(f"sle_ratio must be a power of two >= 2, got {sle_ratio!r}")
        self.latent_dim, self.out_channels = int(latent_dim), int(out_channels)
        self.image_size = check_image_size(image_size, minimum=16)
        self.resolutions = [2**k for k in range(2, int(math.log2(self.image_size)) + 1)]  # 4 ... image_size
        ch = {r: min(ngf * self.image_size // r, max_channels) for r in self.resolutions}
        self.init = nn.Sequential(nn.ConvTranspose2d(latent_dim, 2 * ch[4], 4, 1, 0, bias=False),
                                  nn.BatchNorm2d(2 * ch[4]), nn.GLU(dim=1))
        self.ups = nn.ModuleDict({str(r): _up(ch[r // 2], ch[r]) for r in self.resolutions[1:]})
        self.sle_pairs = [(r // sle_ratio, r) for r in self.resolutions if r // sle_ratio >= 4]
        self.sle = nn.ModuleDict({str(hi): SkipLayerExcitation(ch[lo], ch[hi]) for lo, hi in self.sle_pairs})
        self.to_image = nn.Sequential(nn.Conv2d(ch[self.image_size], out_channels, 3, 1, 1), nn.Tanh())
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, latent_dim)`` codes -> ``(B, out_channels, image_size, image_size)`` images."""
        feats = {4: self.init(check_latent(z, self.latent_dim))}
        sle_from = {hi: lo for lo, hi in self.sle_pairs}
        for r in self.resolutions[1:]:
            f = self.ups[str(r)](feats[r // 2])
            if r in sle_from:
                f = self.sle[str(r)](feats[sle_from[r]], f)
            feats[r] = f
        return self.to_image(feats[self.image_size])


def crop_quadrant(x: torch.Tensor, part: int) -> torch.Tensor:
    """Quadrant ``part`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of ``(B, C, H, W)``."""
    if part not in (0, 1, 2, 3):
        raise ConfigError(f"part must be 0, 1, 2 or 3, got {part!r}")
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    r, c = divmod(part, 2)
    return x[..., r * h : (r + 1) * h, c * w : (c + 1) * w]


class _Decoder(nn.Sequential):
    """8x8 features -> ``(B, out_channels, size, size)`` image in ``[-1, 1]`` (upsample + GLU blocks)."""

    def __init__(self, cin: int, out_channels: int, size: int, base: int) -> None:
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(8)]
        c, r = cin, 8
        while r < size:
            cout = max(base, c // 2)
            layers.append(_up(c, cout))
            c, r = cout, r * 2
        layers += [nn.Conv2d(c, out_channels, 3, 1, 1), nn.Tanh()]
        super().__init__(*layers)


class FastGANDiscriminator(nn.Module):
    """FastGAN self-supervised discriminator.

    ``D(x)`` returns ``(B, 1, 5, 5)`` logits. ``D(x, part=k)`` also returns the reconstructions
    ``(logits, rec_all, rec_part)``: ``rec_all`` of the whole image and ``rec_part`` of quadrant ``k``,
    both ``(B, C, decoder_size, decoder_size)``; compare them with :meth:`reconstruction_targets`.

    Args:
        in_channels: image channels.
        image_size: input side, a power of two >= 32.
        ndf: channels at full resolution; doubled at every halving (capped at ``max_channels``).
        decoder_size: side of the reconstructions (default ``image_size // 2``, at least 16).
        max_channels: channel cap.
    """

    def __init__(
        self, in_channels: int = 1, image_size: int = 64, ndf: int = 16, decoder_size: int | None = None,
        max_channels: int = 256,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.image_size = check_image_size(image_size, minimum=32)
        self.decoder_size = check_image_size(decoder_size or max(16, self.image_size // 2), minimum=8)
        ch = {r: min(ndf * self.image_size // r, max_channels) for r in (2**k for k in range(3, int(math.log2(self.image_size)) + 1))}
        self.stem = nn.Sequential(nn.Conv2d(in_channels, ch[self.image_size], 3, 1, 1), nn.LeakyReLU(0.2, True))
        downs, r = [], self.image_size
        while r > 16:
            downs.append(_down(ch[r], ch[r // 2]))
            r //= 2
        self.down_to_16 = nn.Sequential(*downs)
        self.down_to_8 = _down(ch[16], ch[8])
        self.logits = nn.Sequential(nn.Conv2d(ch[8], ch[8], 1, 1, 0, bias=False), nn.BatchNorm2d(ch[8]),
                                    nn.LeakyReLU(0.2, True), nn.Conv2d(ch[8], 1, 4, 1, 0))
        base = max(8, ndf // 2)
        self.decoder_all = _Decoder(ch[8], in_channels, self.decoder_size, base)
        self.decoder_part = _Decoder(ch[16], in_channels, self.decoder_size, base)
        self.apply(dcgan_init)

    def forward(
        self, x: torch.Tensor, part: int | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, or ``(logits, rec_all, rec_part)`` when ``part`` (a quadrant index) is given."""
        check_image_batch(x, self.in_channels, self.image_size)
        f16 = self.down_to_16(self.stem(x))
        f8 = self.down_to_8(f16)
        logits = self.logits(f8)
        if part is None:
            return logits
        return logits, self.decoder_all(f8), self.decoder_part(crop_quadrant(f16, part))

    def reconstruction_targets(self, x: torch.Tensor, part: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The images the decoders should output for input ``x``: ``x`` and its quadrant ``part``, resized."""
        if x.ndim != 4:
            raise InvalidImageError(f"expected (B, C, H, W) images, got {tuple(x.shape)}")
        size = (self.decoder_size, self.decoder_size)

        def fit(t: torch.Tensor) -> torch.Tensor:
            return t if tuple(t.shape[-2:]) == size else F.interpolate(t, size=size, mode="area")

        return fit(x), fit(crop_quadrant(x, part))
