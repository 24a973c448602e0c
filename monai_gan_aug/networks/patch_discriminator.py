"""PatchGAN discriminators (pix2pix ``NLayerDiscriminator`` / ``PixelDiscriminator``, pix2pixHD multi-scale).

Design decision: :class:`PatchGANDiscriminator` wraps MONAI's
``monai.networks.nets.PatchDiscriminator`` instead of re-writing it, because with ``kernel_size=4,
padding=1, last_conv_kernel_size=4`` and ``num_layers_d = n_layers`` it is layer for layer the
pix2pix ``NLayerDiscriminator`` (stride-2 first conv without norm, ``n_layers - 1`` stride-2
conv-norm-LeakyReLU(0.2) layers, one stride-1 layer, a stride-1 1-channel output conv, N(0, 0.02)
init) for ``n_layers`` 1..3. It is restricted to those: for deeper nets MONAI keeps doubling the
filters where pix2pix caps them at ``8 * ndf``. The 1x1 "pixel" discriminator (stride 1
everywhere) is not expressible as a MONAI ``PatchDiscriminator`` and is built from MONAI
``Convolution`` blocks.

MONAI's ``forward`` returns ``[features..., output]``. Passed as is to ``PatchAdversarialLoss``
that list would be read as the outputs of several discriminators, so here ``forward`` returns the
output map only, or ``(output, features)`` with ``return_features=True`` (for feature matching).

Receptive fields (``receptive_field`` -> ``n_layers``): 1 -> pixel, 16 -> 1, 34 -> 2, 70 -> 3
(RF = 9 * 2**n - 2, 4x4 kernels, strides 2 x n then 1, 1).

:class:`MultiScalePatchGANDiscriminator` is the pix2pixHD design (the same PatchGAN applied to the
image and to 2x, 4x... average-pooled copies). MONAI's ``MultiScalePatchDiscriminator`` is not
used: its scales see the same full-resolution input and differ by depth (``num_layers_d * (i + 1)``
uncapped layers), which changes both the receptive fields and the widths.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from monai.networks.nets import PatchDiscriminator
from monai.networks.utils import normal_init
from torch import nn

from ..errors import ConfigError
from .blocks import check_choice, check_image_batch, check_int

__all__ = [
    "DISCRIMINATOR_NORMS",
    "RECEPTIVE_FIELDS",
    "PatchGANDiscriminator",
    "MultiScalePatchGANDiscriminator",
]

DISCRIMINATOR_NORMS = ("instance", "batch", "spectral", "none")
# receptive field (px) -> n_layers (0 = the 1x1 pixel discriminator)
RECEPTIVE_FIELDS: dict[int, int] = {1: 0, 16: 1, 34: 2, 70: 3}
_LEAKY = ("leakyrelu", {"negative_slope": 0.2})


class _PixelDiscriminator(nn.Sequential):
    """pix2pix ``PixelDiscriminator`` (1x1 convs) with MONAI's list-of-features forward."""

    def __init__(self, in_channels: int, ndf: int, norm: str | None, bias: bool, dropout: float) -> None:
        super().__init__()
        self.add_module("initial_conv", Convolution(2, in_channels, ndf, kernel_size=1, act=_LEAKY, norm=None,
                                                    bias=True))
        self.add_module("0", Convolution(2, ndf, 2 * ndf, kernel_size=1, act=_LEAKY, norm=norm, bias=bias,
                                         dropout=dropout))
        self.add_module("final_conv", Convolution(2, 2 * ndf, 1, kernel_size=1, conv_only=True, bias=True))
        self.apply(normal_init)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        out = []
        for layer in self.children():
            x = layer(x)
            out.append(x)
        return out


def _apply_spectral_norm(module: nn.Module) -> None:
    """Put spectral normalisation (Miyato et al. 2018) on every convolution of ``module``."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            _apply_spectral_norm(child)


class PatchGANDiscriminator(nn.Module):
    """pix2pix / CycleGAN PatchGAN discriminator: a map of real/fake logits, one per image patch.

    For conditional (pix2pix) use, concatenate input and output images on the channel axis and set
    ``in_channels`` accordingly (2 for single-channel radiographs).

    Args:
        in_channels: input channels.
        ndf: filters of the first convolution (doubled per layer).
        receptive_field: patch size seen by one output logit, one of 1, 16, 34, 70 (pix2pix
            ``pixel`` and ``n_layers`` 1, 2, 3).
        norm: ``"instance"`` (CycleGAN), ``"batch"`` (pix2pix), ``"spectral"`` (spectral norm on
            every convolution, no feature norm) or ``"none"``.
        dropout: dropout probability after the normalised layers.
        return_features: if True ``forward`` returns ``(output, [intermediate features])``.

    Attributes:
        receptive_field: true receptive field (px) of one output logit.
        n_layers: pix2pix ``n_layers`` (0 for the pixel discriminator).
        min_size: smallest accepted H/W (one output logit).

    Raises:
        ConfigError: invalid option at construction.
        InvalidImageError: (in ``forward``) wrong shape or image smaller than ``min_size``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        ndf: int = 64,
        receptive_field: int = 70,
        norm: str = "instance",
        dropout: float = 0.0,
        return_features: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        ndf = check_int("ndf", ndf, 1)
        if receptive_field not in RECEPTIVE_FIELDS:
            raise ConfigError(f"receptive_field must be one of {sorted(RECEPTIVE_FIELDS)} "
                              f"(pix2pix pixel / n_layers 1..3), got {receptive_field!r}")
        norm = check_choice("norm", norm, DISCRIMINATOR_NORMS)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
        self.receptive_field = int(receptive_field)
        self.n_layers = RECEPTIVE_FIELDS[self.receptive_field]
        self.return_features = bool(return_features)
        # 4x4 convs with padding 1: each stride-2 layer floors the size by 2, each stride-1 one takes 1 px;
        # the pixel discriminator needs 2 px so that instance norm has more than one value to normalise.
        self.min_size = 2 if self.n_layers == 0 else 3 * 2**self.n_layers
        feature_norm = norm if norm in ("instance", "batch") else None
        bias = norm != "batch"  # an affine-free or absent norm needs the conv bias (pix2pix use_bias)
        if self.n_layers == 0:
            self.model: nn.Module = _PixelDiscriminator(in_channels, ndf, feature_norm, bias, float(dropout))
        else:
            self.model = PatchDiscriminator(
                spatial_dims=2, channels=ndf, in_channels=in_channels, out_channels=1,
                num_layers_d=self.n_layers, kernel_size=4, activation=_LEAKY, norm=feature_norm, bias=bias,
                padding=1, dropout=float(dropout), last_conv_kernel_size=4,
            )
        if norm == "spectral":
            _apply_spectral_norm(self.model)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the logit map for an ``height x width`` input."""

        def one(s: int) -> int:
            return s // 2**self.n_layers - 2 if self.n_layers else s

        return one(height), one(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the ``(B, 1, h, w)`` logit map (no activation), plus features if ``return_features``."""
        check_image_batch(x, self.in_channels, 1, self.min_size, type(self).__name__)
        out = self.model(x)
        return (out[-1], out[:-1]) if self.return_features else out[-1]


class MultiScalePatchGANDiscriminator(nn.Module):
    """pix2pixHD multi-scale discriminator: one PatchGAN per scale, input average-pooled x2 between scales.

    Args:
        in_channels: input channels.
        ndf: filters of the first convolution of each PatchGAN.
        receptive_field: receptive field of each PatchGAN (at its own scale).
        norm: norm of each PatchGAN (see :class:`PatchGANDiscriminator`).
        num_scales: number of discriminators (scale ``i`` sees the image downsampled by ``2**i``).
        dropout: dropout of each PatchGAN.
        return_features: if True ``forward`` returns ``(outputs, features)`` (lists, one per scale).

    Attributes:
        min_size: smallest accepted H/W (the coarsest scale must still give one logit).
    """

    def __init__(
        self,
        in_channels: int = 1,
        ndf: int = 64,
        receptive_field: int = 70,
        norm: str = "instance",
        num_scales: int = 2,
        dropout: float = 0.0,
        return_features: bool = False,
    ) -> None:
        super().__init__()
        num_scales = check_int("num_scales", num_scales, 1)
        self.in_channels = in_channels
        self.return_features = bool(return_features)
        self.discriminators = nn.ModuleList(
            PatchGANDiscriminator(in_channels, ndf, receptive_field, norm, dropout, return_features=True)
            for _ in range(num_scales)
        )
        self.receptive_field = self.discriminators[0].receptive_field
        self.min_size = self.discriminators[0].min_size * 2 ** (num_scales - 1)
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(
        self, x: torch.Tensor
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Return the logit maps, finest scale first (plus per-scale features if ``return_features``)."""
        check_image_batch(x, self.in_channels, 1, self.min_size, type(self).__name__)
        outputs, features = [], []
        for i, disc in enumerate(self.discriminators):
            if i:
                x = self.downsample(x)
            out, feats = disc(x)
            outputs.append(out)
            features.append(feats)
        return (outputs, features) if self.return_features else outputs
