"""Lesion opacity generator: predicts what pneumonia *adds* to a radiograph inside a footprint.

Unlike an inpainting generator, it never blanks the region: it sees the whole window (the anatomy
stays an input) and returns a non-negative attenuation density ``d`` that is zero outside the
footprint's soft edge. The caller composites with
:func:`monai_gan_aug.transforms.opacity.add_opacity` (``x' = 1 - (1 - x) exp(-d)``), so ribs,
vessels and the heart border stay visible under the opacity unless it is dense, and the output
equals the input wherever ``d == 0``.

The body is MONAI's :class:`~monai.networks.nets.BasicUNet` with interpolation upsampling (no
transposed convolutions, so no checkerboard). Its inputs are the window, the soft footprint and a
noise map inside the footprint (different seeds give different lesions); its output passes a
sigmoid scaled by ``max_density`` and is multiplied by the soft footprint.
"""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNet
from torch import nn
from torch.nn import functional as F

from ..errors import InvalidImageError

__all__ = ["LesionOpacityGenerator"]


class LesionOpacityGenerator(nn.Module):
    """Footprint-conditioned attenuation-density generator.

    Args:
        features: BasicUNet features (six values: four encoder levels, bottleneck, last decoder).
        max_density: upper bound of the density (``exp(-max_density)`` of the beam is left).
        use_noise: feed a noise map inside the footprint (else zeros).
        smooth: side of the box filter applied to the output logits (1: none). Real opacities change
            gradually; without it the adversarial game found thin bright outlines along the
            footprint's edge the cheapest way to create contrast there (seen in the first run).

    ``forward(image, footprint, noise=None)``: ``image`` (B, 1, H, W) in [-1, 1], ``footprint``
    (B, 1, H, W) soft weight in [0, 1], ``noise`` (B, 1, H, W). H and W must be multiples of 16.
    Returns the density (B, 1, H, W), ``>= 0``, exactly 0 where ``footprint == 0``.
    """

    size_multiple = 16

    def __init__(
        self, features: tuple[int, ...] = (16, 32, 64, 96, 128, 16), max_density: float = 3.0,
        use_noise: bool = True, smooth: int = 5,
    ) -> None:
        super().__init__()
        if smooth < 1 or smooth % 2 == 0:
            raise ValueError(f"smooth must be an odd integer >= 1, got {smooth}")
        self.smooth = int(smooth)
        self.max_density = float(max_density)
        self.use_noise = use_noise
        self.body = BasicUNet(
            spatial_dims=2, in_channels=3, out_channels=1, features=tuple(features),
            act=("LeakyReLU", {"negative_slope": 0.2, "inplace": True}), norm=("instance", {"affine": True}),
            upsample="nontrainable",
        )

    def forward(self, image: torch.Tensor, footprint: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 1 or footprint.shape != image.shape:
            raise InvalidImageError(
                f"expected image and footprint of shape (B, 1, H, W), got {tuple(image.shape)} and "
                f"{tuple(footprint.shape)}"
            )
        h, w = image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise InvalidImageError(f"window size {h}x{w} is not a multiple of {self.size_multiple}")
        if noise is None or not self.use_noise:
            noise = torch.randn_like(image) if (self.use_noise and noise is None) else torch.zeros_like(image)
        x = torch.cat([image, footprint, noise * (footprint > 0).to(noise.dtype)], dim=1)
        logits = self.body(x)
        if self.smooth > 1:
            logits = F.avg_pool2d(logits, self.smooth, stride=1, padding=self.smooth // 2, count_include_pad=False)
        return self.max_density * torch.sigmoid(logits) * footprint
