"""Building blocks shared by the image-to-image GAN networks (ResNet / U-Net generators, PatchGAN).

* :func:`get_norm` / :func:`conv_bias`: one norm factory for every network, built on MONAI's
  ``get_norm_layer``, with the pix2pix conventions (instance norm without affine parameters, so
  the convolutions before it keep their bias; batch/group/layer norm have an affine shift, so the
  bias is dropped).
* :class:`ResizeConv2d` / :func:`upsample_layer`: x2 upsampling either by transposed convolution
  or by resize (nearest/bilinear) + convolution. Resize-conv avoids the checkerboard artefacts of
  strided transposed convolutions (Odena et al., Distill 2016), which matter on smooth
  radiographs.
* :func:`check_image_batch`: the shape checks every network runs before touching torch, so a
  wrong input gives an :class:`~monai_gan_aug.errors.InvalidImageError` stating the rule.
"""

from __future__ import annotations

import torch
from monai.networks.layers.utils import get_norm_layer
from torch import nn

from ..errors import ConfigError, InvalidImageError

__all__ = [
    "NORM_TYPES",
    "UPSAMPLE_TYPES",
    "PADDING_TYPES",
    "get_norm",
    "conv_bias",
    "get_padding",
    "ResizeConv2d",
    "upsample_layer",
    "check_choice",
    "check_int",
    "check_image_batch",
]

NORM_TYPES = ("instance", "batch", "layer", "group", "none")
UPSAMPLE_TYPES = ("transpose", "resize_conv")
PADDING_TYPES = ("reflect", "replicate", "zero")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` lower-cased if it is one of ``choices``, else raise :class:`ConfigError`."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value.lower()


def check_int(name: str, value: int, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _group_count(channels: int) -> int:
    """Largest of 32, 16, 8, 4, 2, 1 dividing ``channels`` (GroupNorm needs an exact division)."""
    return next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)


def get_norm(norm: str, channels: int) -> nn.Module:
    """Create a 2-D normalisation layer by name.

    Args:
        norm: ``"instance"`` (pix2pix/CycleGAN default: no affine parameters, no running stats),
            ``"batch"``, ``"layer"`` (GroupNorm with one group: normalises over C, H, W),
            ``"group"`` (GroupNorm with up to 32 groups) or ``"none"`` (identity).
        channels: number of feature channels.

    Raises:
        ConfigError: unknown ``norm``.
    """
    norm = check_choice("norm", norm, NORM_TYPES)
    if norm == "none":
        return nn.Identity()
    if norm == "instance":
        return get_norm_layer(("instance", {"affine": False, "track_running_stats": False}), 2, channels)
    if norm == "batch":
        return get_norm_layer("batch", 2, channels)
    groups = 1 if norm == "layer" else _group_count(channels)
    return get_norm_layer(("group", {"num_groups": groups}), 2, channels)


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by ``norm`` needs its own bias.

    A norm layer with an affine shift (batch/layer/group) makes a preceding bias redundant; the
    affine-free instance norm of pix2pix and ``"none"`` do not, so those keep it (as the reference
    implementation does with ``use_bias = norm_layer == InstanceNorm2d``).
    """
    return check_choice("norm", norm, NORM_TYPES) in ("instance", "none")


def get_padding(padding: str, size: int) -> nn.Module:
    """Explicit padding layer: ``"reflect"``, ``"replicate"`` or ``"zero"`` by ``size`` pixels."""
    padding = check_choice("padding", padding, PADDING_TYPES)
    if padding == "reflect":
        return nn.ReflectionPad2d(size)
    if padding == "replicate":
        return nn.ReplicationPad2d(size)
    return nn.ZeroPad2d(size)


class ResizeConv2d(nn.Sequential):
    """x2 upsampling by interpolation followed by a stride-1 convolution (resize-conv).

    Same output size and same parameter count as the equivalent transposed convolution, but every
    output pixel sees the same number of kernel taps, so no checkerboard pattern.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd convolution kernel size.
        bias: convolution bias.
        mode: interpolation, ``"nearest"`` or ``"bilinear"``.
        padding: ``"reflect"``, ``"replicate"`` or ``"zero"``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True,
        mode: str = "nearest", padding: str = "zero",
    ) -> None:
        mode = check_choice("resize mode", mode, ("nearest", "bilinear"))
        if kernel_size % 2 != 1:
            raise ConfigError(f"ResizeConv2d needs an odd kernel size to keep the size, got {kernel_size}")
        align = {"align_corners": False} if mode == "bilinear" else {}
        super().__init__(
            nn.Upsample(scale_factor=2, mode=mode, **align),
            get_padding(padding, kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=bias),
        )


def upsample_layer(
    kind: str, in_channels: int, out_channels: int, kernel_size: int, bias: bool,
    resize_mode: str = "nearest", padding: str = "zero",
) -> nn.Module:
    """A x2 upsampling convolution: transposed (``"transpose"``) or resize-conv (``"resize_conv"``).

    Args:
        kind: ``"transpose"`` or ``"resize_conv"``.
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: 3 (ResNet generator: padding 1, output padding 1) or 4 (U-Net: padding 1).
            Resize-conv always uses a 3x3 kernel, whatever the transposed kernel would be.
        bias: convolution bias.
        resize_mode: interpolation used by resize-conv.
        padding: padding used by resize-conv's convolution.
    """
    kind = check_choice("upsample", kind, UPSAMPLE_TYPES)
    if kind == "resize_conv":
        return ResizeConv2d(in_channels, out_channels, 3, bias=bias, mode=resize_mode, padding=padding)
    if kernel_size == 3:
        return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1,
                                  bias=bias)
    if kernel_size == 4:
        return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    raise ConfigError(f"transposed x2 upsampling supports kernel 3 or 4, got {kernel_size}")


def check_image_batch(
    x: torch.Tensor, in_channels: int, size_multiple: int, min_size: int, network: str
) -> None:
    """Validate a ``(B, C, H, W)`` batch before it enters a network.

    Args:
        x: the input.
        in_channels: channels the network was built for.
        size_multiple: H and W must be multiples of this (1: no rule).
        min_size: H and W must be at least this.
        network: the network's name, for the message.

    Raises:
        InvalidImageError: not a 4-D tensor, wrong channel count, size too small or not a multiple.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidImageError(f"{network} expects a (B, C, H, W) tensor, got {shape}")
    if x.shape[1] != in_channels:
        raise InvalidImageError(f"{network} was built for {in_channels} input channel(s), got {x.shape[1]} "
                                f"(input shape {tuple(x.shape)})")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % size_multiple or w % size_multiple:
        padded = f"{h + (-h) % size_multiple}x{w + (-w) % size_multiple}"
        raise InvalidImageError(
            f"{network} needs H and W divisible by {size_multiple}, got {h}x{w}; "
            f"pad or crop to a multiple of {size_multiple} (e.g. {padded})"
        )
    if min(h, w) < min_size:
        raise InvalidImageError(f"{network} needs H and W of at least {min_size} px, got {h}x{w}")
