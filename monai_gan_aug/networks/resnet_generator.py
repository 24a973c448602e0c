"""The CycleGAN / pix2pix ResNet generator (Johnson et al. 2016; Zhu et al. 2017), 2-D.

Layer for layer the ``ResnetGenerator`` of the public pytorch-CycleGAN-and-pix2pix code::

    ReflectionPad(3) Conv7x7(in, ngf) Norm ReLU
    n_downsampling x [Conv3x3 stride 2 (c -> 2c) Norm ReLU]
    n_blocks x ResidualBlock(pad Conv3x3 Norm ReLU [Dropout] pad Conv3x3 Norm, + identity)
    n_downsampling x [Up x2 (2c -> c) Norm ReLU]        # transposed conv or resize-conv
    ReflectionPad(3) Conv7x7(ngf, out) Tanh

so with ``in_channels=out_channels=3, ngf=64, norm="instance"`` it has the reference parameter
counts (11,378,179 with 9 blocks, 7,837,699 with 6). The output is in ``[-1, 1]``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .blocks import (
    NORM_TYPES,
    PADDING_TYPES,
    UPSAMPLE_TYPES,
    check_choice,
    check_image_batch,
    check_int,
    conv_bias,
    get_norm,
    get_padding,
    upsample_layer,
)

__all__ = ["ResidualBlock", "ResNetGenerator"]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with explicit padding and an identity shortcut (no final activation).

    Args:
        channels: input = output channels.
        norm: norm type (see :func:`~monai_gan_aug.networks.blocks.get_norm`).
        padding: ``"reflect"``, ``"replicate"`` or ``"zero"``.
        dropout: dropout probability between the two convolutions (pix2pix ``use_dropout``: 0.5).
    """

    def __init__(
        self, channels: int, norm: str = "instance", padding: str = "reflect", dropout: float = 0.0
    ) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [get_padding(padding, 1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   get_norm(norm, channels), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [get_padding(padding, 1), nn.Conv2d(channels, channels, 3, bias=bias),
                   get_norm(norm, channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResNetGenerator(nn.Module):
    """CycleGAN / pix2pix ResNet generator with a tanh output in ``[-1, 1]``.

    Args:
        in_channels: input channels (1 for radiographs; 2+ when conditioning channels are stacked).
        out_channels: output channels.
        ngf: filters of the first convolution (doubled at each downsampling).
        n_blocks: residual blocks at the bottleneck (9 for 256 px in CycleGAN, 6 for 128 px).
        n_downsampling: stride-2 stages; H and W must be multiples of ``2 ** n_downsampling``.
        norm: ``"instance"`` (default, as CycleGAN), ``"batch"``, ``"layer"``, ``"group"``, ``"none"``.
        upsample: ``"transpose"`` (reference: ConvTranspose 3x3, stride 2) or ``"resize_conv"``
            (interpolate x2 then Conv 3x3: no checkerboard artefacts, same parameter count).
        padding: padding inside the residual blocks and resize-convs (the 7x7 stem and output
            convolutions always use reflection padding, as in the reference).
        dropout: dropout probability inside the residual blocks.
        resize_mode: interpolation of resize-conv, ``"nearest"`` or ``"bilinear"``.

    Attributes:
        size_multiple: H and W must be multiples of this (``2 ** n_downsampling``); ``stride`` is an
            alias (the total downsampling factor).
        min_size: smallest accepted H/W (the bottleneck must be at least 2x2 for its 3x3 padding).

    Raises:
        ConfigError: invalid option at construction.
        InvalidImageError: (in ``forward``) input not ``(B, in_channels, H, W)`` with H and W
            multiples of ``size_multiple`` and at least ``min_size``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 64,
        n_blocks: int = 9,
        n_downsampling: int = 2,
        norm: str = "instance",
        upsample: str = "transpose",
        padding: str = "reflect",
        dropout: float = 0.0,
        resize_mode: str = "nearest",
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        ngf = check_int("ngf", ngf, 1)
        n_blocks = check_int("n_blocks", n_blocks, 0)
        n_downsampling = check_int("n_downsampling", n_downsampling, 0)
        norm = check_choice("norm", norm, NORM_TYPES)
        upsample = check_choice("upsample", upsample, UPSAMPLE_TYPES)
        padding = check_choice("padding", padding, PADDING_TYPES)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        self.size_multiple = self.stride = 2**n_downsampling
        self.min_size = 2 * self.size_multiple
        self.model = nn.Sequential(
            *self._encoder(ngf, n_downsampling, norm),
            *[ResidualBlock(ngf * self.stride, norm, padding, float(dropout)) for _ in range(n_blocks)],
            *self._decoder(ngf, n_downsampling, norm, upsample, padding, resize_mode),
        )

    def _encoder(self, ngf: int, n_downsampling: int, norm: str) -> list[nn.Module]:
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(self.in_channels, ngf, 7, bias=bias),
                                   get_norm(norm, ngf), nn.ReLU(True)]
        for i in range(n_downsampling):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), get_norm(norm, 2 * c),
                       nn.ReLU(True)]
        return layers

    def _decoder(
        self, ngf: int, n_downsampling: int, norm: str, upsample: str, padding: str, resize_mode: str
    ) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for i in range(n_downsampling, 0, -1):
            c = ngf * 2**i
            layers += [upsample_layer(upsample, c, c // 2, 3, conv_bias(norm), resize_mode, padding),
                       get_norm(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, self.out_channels, 7), nn.Tanh()]
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a ``(B, in_channels, H, W)`` batch in ``[-1, 1]`` to ``(B, out_channels, H, W)``."""
        check_image_batch(x, self.in_channels, self.size_multiple, self.min_size, type(self).__name__)
        return self.model(x)
