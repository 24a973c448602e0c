"""The pneumonia "judge": a compact chest X-ray classifier (normal vs pneumonia).

It serves two purposes in the project:

* a downstream judge: does a GAN-edited image still look normal / now look like pneumonia
  (:func:`pneumonia_probability`);
* a chest-X-ray feature extractor for FID-style metrics (:meth:`XRayClassifier.features`, the
  penultimate layer), closer to the domain than ImageNet Inception features.

The backbone is MONAI's 2-D :class:`monai.networks.nets.ResNet` with one basic block per stage
(a "ResNet-10" with narrow widths), small enough to train and run on a CPU. The class owns its
input pipeline: callers pass ``(B, 1, H, W)`` images in ``[0, 1]`` of any size; they are resized
with the aspect ratio kept (longest side to ``spatial_size``), zero-padded (air is dark) to a
square, and standardised.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets import ResNet
from torch import nn

from ..errors import InvalidImageError
from ..utils.weights import shipped_weights_path

__all__ = [
    "XRayClassifier",
    "JUDGE_WEIGHTS",
    "PNEUMONIA_CLASS",
    "resize_pad_square",
    "load_pneumonia_judge",
    "pneumonia_probability",
]

#: file name of the shipped judge in ``monai_gan_aug/weights/``
JUDGE_WEIGHTS = "pneumonia_classifier.pt"
#: index of the pneumonia logit (class 0 is normal)
PNEUMONIA_CLASS = 1

# Values slightly outside [0, 1] come from interpolation overshoot; anything further is a caller
# passing [-1, 1] GAN output or raw HU/uint8 values, which would silently give garbage scores.
_RANGE_TOLERANCE = 0.05


def resize_pad_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` so the longest side is ``size`` (aspect kept), then zero-pad to square.

    The image is centred; padding is 0 (air/background in the project's convention). Downsampling
    is antialiased so that thin structures do not alias at 128 px.
    """
    h, w = images.shape[-2:]
    if (h, w) != (size, size):
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        images = F.interpolate(
            images, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1
        )
        top, left = (size - nh) // 2, (size - nw) // 2
        images = F.pad(images, (left, size - nw - left, top, size - nh - top), value=0.0)
    return images


class XRayClassifier(nn.Module):
    """Compact 2-D ResNet classifier for chest radiographs with a feature head for FID.

    Args:
        in_channels: image channels (1 for radiographs).
        num_classes: number of output logits (2: normal, pneumonia).
        spatial_size: working size in pixels; inputs are resized/padded to ``spatial_size`` square.
        block_inplanes: channel widths of the four ResNet stages; the last one is the feature size.
        layers: basic blocks per stage.
        dropout: dropout before the linear head (training only).
        mean: intensity subtracted after resizing (images are in ``[0, 1]``).
        std: intensity divisor after subtracting ``mean``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        spatial_size: int = 128,
        block_inplanes: Sequence[int] = (32, 64, 128, 256),
        layers: Sequence[int] = (1, 1, 1, 1),
        dropout: float = 0.2,
        mean: float = 0.5,
        std: float = 0.25,
    ) -> None:
        super().__init__()
        if spatial_size < 32:
            raise ValueError(f"spatial_size must be >= 32 (four stride-2 stages), got {spatial_size}")
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.spatial_size = int(spatial_size)
        self.mean, self.std = float(mean), float(std)
        self.backbone = ResNet(
            block="basic",
            layers=list(layers),
            block_inplanes=list(block_inplanes),
            spatial_dims=2,
            n_input_channels=in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            feed_forward=False,
        )
        self.feature_dim = int(block_inplanes[-1])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Validate ``(B, C, H, W)`` images in ``[0, 1]``, resize/pad to the working size, standardise.

        Raises:
            InvalidImageError: wrong shape or channel count, non-finite values, or values far
                outside ``[0, 1]`` (e.g. ``[-1, 1]`` GAN output that was not rescaled).
        """
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != self.in_channels:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise InvalidImageError(f"expected a (B, {self.in_channels}, H, W) tensor, got {shape}")
        if images.numel() == 0:
            raise InvalidImageError(f"empty image batch of shape {tuple(images.shape)}")
        images = images.float()
        lo, hi = torch.aminmax(images)
        if not (torch.isfinite(lo) and torch.isfinite(hi)):
            raise InvalidImageError("images contain NaN or Inf")
        if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
            raise InvalidImageError(
                f"expected intensities in [0, 1], found [{lo.item():.3g}, {hi.item():.3g}] "
                "(rescale [-1, 1] GAN output with (x + 1) / 2)"
            )
        images = resize_pad_square(images.clamp(0, 1), self.spatial_size)
        return (images - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(B, feature_dim)`` (global-average-pooled last stage)."""
        return self.backbone(self.prepare(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)``; index :data:`PNEUMONIA_CLASS` is pneumonia."""
        return self.head(self.dropout(self.features(images)))


def load_pneumonia_judge(device: str | torch.device = "cpu", path: str | None = None) -> XRayClassifier:
    """Load the shipped pneumonia judge (eval mode), or the checkpoint at ``path``.

    Raises:
        MissingWeightsError: the weights file is absent.
        CheckpointError: the file is not a loadable ``xray_classifier`` checkpoint.
    """
    from .factory import load_network  # local import: factory imports this module lazily by name

    net = load_network(path if path is not None else shipped_weights_path(JUDGE_WEIGHTS), map_location=device)
    if not isinstance(net, XRayClassifier):
        from ..errors import CheckpointError

        raise CheckpointError(f"expected an xray_classifier checkpoint, got {type(net).__name__}")
    return net.to(device)


@torch.no_grad()
def pneumonia_probability(model: XRayClassifier, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Softmax probability of pneumonia, shape ``(B,)``, for ``(B, 1, H, W)`` images in ``[0, 1]``.

    The model is used in eval mode (restored afterwards) and processed in batches.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        out = [
            torch.softmax(model(images[i : i + batch_size].to(device)), dim=1)[:, PNEUMONIA_CLASS].cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    if not out:
        raise InvalidImageError("pneumonia_probability needs at least one image")
    return torch.cat(out)
