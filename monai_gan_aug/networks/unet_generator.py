"""The pix2pix U-Net generator (Isola et al. 2017), 2-D, with a tanh output in ``[-1, 1]``.

The network is the reference's nest of "skip-connection blocks", built from the innermost block
outwards; each non-outermost block is wrapped in MONAI's ``SkipConnection`` (concatenation)::

    block_i:  x -> [LeakyReLU(0.2) Conv4x4/2 Norm] -> block_{i+1} -> [ReLU Up x2 Norm (Dropout)] -> cat(x, .)

The outermost block has no activation/norm on its way down and ends with ReLU, Up x2, Tanh; the
innermost has no norm on its way down and no sub-block. Filters double from ``ngf`` down to a cap
of ``8 * ngf``, as in the reference (``unet_256`` = ``num_downs=8``, ``unet_128`` = ``num_downs=7``).
Dropout (pix2pix's noise source, 0.5 in the paper) sits in the ``8 * ngf`` decoder blocks that are
neither innermost nor among the four outermost (the reference's rule, e.g. 3 blocks for ``unet_256``).

One deliberate difference: the reference uses in-place LeakyReLU, which silently overwrites the
tensor that the skip connection then concatenates, so its skips carry activated features; here the
activation is not in place, so the skip carries the block input as the diagram says. The parameter
count is unchanged.
"""

from __future__ import annotations

import torch
from monai.networks.layers.simplelayers import SkipConnection
from torch import nn

from ..errors import ConfigError
from .blocks import (
    NORM_TYPES,
    UPSAMPLE_TYPES,
    check_choice,
    check_image_batch,
    check_int,
    conv_bias,
    get_norm,
    upsample_layer,
)

__all__ = ["UNetGenerator"]


class UNetGenerator(nn.Module):
    """pix2pix U-Net generator.

    Args:
        in_channels: input channels (1 for a radiograph, 2 for image + mask conditioning, ...).
        out_channels: output channels.
        ngf: filters of the outermost convolution (doubled per level, capped at ``8 * ngf``).
        num_downs: number of stride-2 levels (>= 2); H and W must be multiples of ``2 ** num_downs``.
        norm: ``"batch"`` (pix2pix default), ``"instance"``, ``"layer"``, ``"group"``, ``"none"``.
        dropout: dropout probability of the deep decoder blocks (pix2pix: 0.5; 0 disables).
        upsample: ``"transpose"`` (reference: ConvTranspose 4x4, stride 2) or ``"resize_conv"``
            (interpolate x2 then Conv 3x3, no checkerboard artefacts).
        resize_mode: interpolation of resize-conv, ``"nearest"`` or ``"bilinear"``.
        depth: alias of ``num_downs``; when given it takes precedence.
        full_res_features: 0 (the reference network) or ``f > 0``: the outermost block returns ``f``
            feature maps instead of the image, and a full-resolution head
            ``Conv3x3(cat(input, features)) -> ReLU -> Conv3x3 -> Tanh`` makes the output, so the
            input itself is skipped to the last layers at full resolution (the reference's highest
            skip is at half resolution).

    Attributes:
        size_multiple: H and W must be multiples of this (``2 ** num_downs``); ``stride`` is an alias.
        min_size: smallest accepted H/W (equal to ``size_multiple``: the bottleneck is 1x1).

    Raises:
        ConfigError: invalid option at construction.
        InvalidImageError: (in ``forward``) wrong shape, or H/W not multiples of ``size_multiple``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 64,
        num_downs: int = 7,
        norm: str = "batch",
        dropout: float = 0.0,
        upsample: str = "transpose",
        resize_mode: str = "nearest",
        depth: int | None = None,
        full_res_features: int = 0,
    ) -> None:
        super().__init__()
        self.full_res_features = check_int("full_res_features", full_res_features, 0)
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        ngf = check_int("ngf", ngf, 1)
        if depth is None:
            self.num_downs = check_int("num_downs", num_downs, 2)
        else:
            self.num_downs = check_int("depth", depth, 2)
        norm = check_choice("norm", norm, NORM_TYPES)
        upsample = check_choice("upsample", upsample, UPSAMPLE_TYPES)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        self.size_multiple = self.stride = 2**self.num_downs
        self.min_size = self.size_multiple
        opts = {"norm": norm, "upsample": upsample, "resize_mode": resize_mode}
        block: nn.Module | None = None
        for level in range(self.num_downs - 1, -1, -1):  # innermost first, as the reference builds it
            inner = ngf * min(2**level, 8)
            top = self.full_res_features or self.out_channels
            outer = top if level == 0 else ngf * min(2 ** (level - 1), 8)
            # Reference rule: dropout in the 8*ngf blocks below the four outermost, never the innermost.
            drop = float(dropout) if 4 <= level < self.num_downs - 1 else 0.0
            block = self._block(level, outer, inner, block, drop, **opts)
        self.model = block
        self.head: nn.Module | None = None
        if self.full_res_features:
            f = self.full_res_features
            self.head = nn.Sequential(
                nn.Conv2d(self.in_channels + f, f, 3, padding=1), nn.ReLU(),
                nn.Conv2d(f, self.out_channels, 3, padding=1), nn.Tanh(),
            )

    def _block(
        self, level: int, outer: int, inner: int, sub: nn.Module | None, dropout: float,
        norm: str, upsample: str, resize_mode: str,
    ) -> nn.Module:
        """One skip-connection block (the reference's ``UnetSkipConnectionBlock``)."""
        bias = conv_bias(norm)
        outermost, innermost = level == 0, sub is None
        down_in = self.in_channels if outermost else outer
        downconv = nn.Conv2d(down_in, inner, 4, stride=2, padding=1, bias=bias)
        up_in = inner if innermost else 2 * inner  # the sub-block returns cat(input, output)
        if outermost:
            down: list[nn.Module] = [downconv]
            up_conv = upsample_layer(upsample, up_in, outer, 4, True, resize_mode)
            last = nn.LeakyReLU(0.2) if self.full_res_features else nn.Tanh()
            up: list[nn.Module] = [nn.ReLU(), up_conv, last]
        else:
            down = [nn.LeakyReLU(0.2), downconv] + ([] if innermost else [get_norm(norm, inner)])
            up_conv = upsample_layer(upsample, up_in, outer, 4, bias, resize_mode)
            up = [nn.ReLU(), up_conv, get_norm(norm, outer)]
            up += [nn.Dropout(dropout)] if dropout > 0 else []
        body = nn.Sequential(*down, *([] if sub is None else [sub]), *up)
        return body if outermost else SkipConnection(body, dim=1, mode="cat")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a ``(B, in_channels, H, W)`` batch in ``[-1, 1]`` to ``(B, out_channels, H, W)``."""
        check_image_batch(x, self.in_channels, self.size_multiple, self.min_size, type(self).__name__)
        y = self.model(x)
        return y if self.head is None else self.head(torch.cat([x, y], 1))
