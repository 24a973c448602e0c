"""Region-conditioned lesion inpainting: a class-conditional generator and a projection discriminator.

The generator sees a context window of a radiograph with the region blanked, the region mask, a
class (0 healthy, 1 pneumonia) and a noise map, and returns a fill for the region. Class
conditioning is by conditional instance normalisation (a per-class affine after each
normalisation, Dumoulin et al. 2017), which lets one network paint both healthy lung and
consolidation. Dilated residual blocks in the bottleneck give the receptive field needed to fill
large regions from their surroundings (Iizuka et al. 2017) without a deep, slow network on CPU.

The discriminator judges the composited window together with the mask (so it sees the fill in
context) and the class through a projection term (Miyato & Koyama 2018). Optionally it also carries
an auxiliary region classifier (AC-GAN, Odena et al. 2017) that sees *only the region's pixels*: a
projection term alone lets a generator pass with nearly the same fill for both classes, while a
classifier that cannot look at the surroundings forces the requested class to show inside the
region.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from ..errors import ConfigError, InvalidImageError

__all__ = ["ConditionalInstanceNorm2d", "LesionInpaintGenerator", "LesionDiscriminator", "RegionClassifier"]


class ConditionalInstanceNorm2d(nn.Module):
    """Instance normalisation whose affine scale and shift are chosen by the class index."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.scale = nn.Embedding(num_classes, num_features)
        self.shift = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.scale(y)[:, :, None, None] + self.shift(y)[:, :, None, None]


class _ConvNormAct(nn.Module):
    """Conv -> conditional instance norm -> LeakyReLU."""

    def __init__(self, cin: int, cout: int, num_classes: int, stride: int = 1, dilation: int = 1, k: int = 3):
        super().__init__()
        pad = dilation * (k - 1) // 2
        # Reflection needs padding smaller than the feature map: dilated convolutions on the small
        # bottleneck (8x8 at a 64 px window) pad with zeros instead.
        mode = "reflect" if dilation == 1 else "zeros"
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, padding_mode=mode)
        self.norm = ConditionalInstanceNorm2d(cout, num_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x), y), 0.2)


class _DilatedResBlock(nn.Module):
    def __init__(self, channels: int, num_classes: int, dilation: int) -> None:
        super().__init__()
        self.a = _ConvNormAct(channels, channels, num_classes, dilation=dilation)
        self.b = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.norm = ConditionalInstanceNorm2d(channels, num_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.b(self.a(x, y)), y)


class _Up(nn.Module):
    """Resize-conv upsampling (nearest x2 then conv), avoiding transposed-conv checkerboards."""

    def __init__(self, cin: int, cskip: int, cout: int, num_classes: int) -> None:
        super().__init__()
        self.conv = _ConvNormAct(cin + cskip, cout, num_classes)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1), y)


class LesionInpaintGenerator(nn.Module):
    """Fills a masked region of a radiograph window, conditioned on a class.

    Args:
        ngf: width of the first layer; deeper layers use 2x and 4x.
        n_res_blocks: dilated residual blocks in the bottleneck (dilations cycle 1, 2, 4, 8).
        num_classes: number of region classes (0 healthy, 1 pneumonia by default).
        use_noise: add a noise channel inside the region so that seeds give different fills.

    Inputs of ``forward``: ``image`` (B, 1, H, W) in [-1, 1] (values inside the region are
    ignored), ``mask`` (B, 1, H, W) with 1 in the region, ``class_index`` (B,) long, optional
    ``noise`` (B, 1, H, W). H and W must be multiples of :attr:`size_multiple`.

    Returns:
        The fill (B, 1, H, W) in [-1, 1]; callers composite ``image * (1 - m) + fill * m``.
    """

    size_multiple = 8

    def __init__(self, ngf: int = 32, n_res_blocks: int = 4, num_classes: int = 2, use_noise: bool = True) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.use_noise = use_noise
        c1, c2, c3 = ngf, ngf * 2, ngf * 4
        self.stem = _ConvNormAct(3, c1, num_classes, k=5)
        self.down1 = _ConvNormAct(c1, c2, num_classes, stride=2)
        self.down2 = _ConvNormAct(c2, c3, num_classes, stride=2)
        self.down3 = _ConvNormAct(c3, c3, num_classes, stride=2)
        self.blocks = nn.ModuleList(
            _DilatedResBlock(c3, num_classes, dilation=(1, 2, 4, 8)[i % 4]) for i in range(n_res_blocks)
        )
        self.up3 = _Up(c3, c3, c3, num_classes)
        self.up2 = _Up(c3, c2, c2, num_classes)
        self.up1 = _Up(c2, c1, c1, num_classes)
        self.out = nn.Conv2d(c1, 1, 3, padding=1, padding_mode="reflect")

    def _check(self, image: torch.Tensor, mask: torch.Tensor, class_index: torch.Tensor) -> None:
        if image.ndim != 4 or image.shape[1] != 1 or mask.shape != image.shape:
            raise InvalidImageError(
                f"expected image and mask of shape (B, 1, H, W), got {tuple(image.shape)} and {tuple(mask.shape)}"
            )
        h, w = image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise InvalidImageError(f"window size {h}x{w} is not a multiple of {self.size_multiple}")
        if class_index.shape != (image.shape[0],):
            raise InvalidImageError(f"class_index must have shape ({image.shape[0]},), got {tuple(class_index.shape)}")
        if int(class_index.min()) < 0 or int(class_index.max()) >= self.num_classes:
            raise InvalidImageError(f"class_index must be in [0, {self.num_classes}), got {class_index.tolist()}")

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, class_index: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        self._check(image, mask, class_index)
        if noise is None:
            noise = torch.randn_like(image) if self.use_noise else torch.zeros_like(image)
        elif not self.use_noise:
            noise = torch.zeros_like(image)
        y = class_index.long()
        x = torch.cat([image * (1 - mask), mask, noise * mask], dim=1)
        s1 = self.stem(x, y)
        s2 = self.down1(s1, y)
        s3 = self.down2(s2, y)
        h = self.down3(s3, y)
        for block in self.blocks:
            h = block(h, y)
        h = self.up3(h, s3, y)
        h = self.up2(h, s2, y)
        h = self.up1(h, s1, y)
        return torch.tanh(self.out(h))


class RegionClassifier(nn.Module):
    """Classifies what is inside a region from the region's pixels alone.

    The input outside the mask is zeroed and features are averaged over the (down-sampled) mask,
    so the decision cannot come from the surroundings: for a generated window it judges the fill.

    Args:
        ndf: width of the first layer (doubling up to 4x over four stride-2 layers).
        num_classes: number of region classes.

    ``forward(image, mask)`` returns class logits (B, num_classes).
    """

    def __init__(self, ndf: int = 32, num_classes: int = 2) -> None:
        super().__init__()
        widths = (ndf, ndf * 2, ndf * 4, ndf * 4)
        layers: list[nn.Module] = []
        cin = 2
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([image * mask, mask], dim=1))
        # Mask-weighted average pooling: area resampling keeps small regions' weight non-zero.
        weight = F.adaptive_avg_pool2d(mask, h.shape[-2:])
        pooled = (h * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-6)
        return self.head(pooled)


class LesionDiscriminator(nn.Module):
    """PatchGAN with a class projection, judging a composited window together with its region mask.

    Args:
        ndf: width of the first layer.
        n_layers: stride-2 layers (3 gives a 70 px receptive field, as pix2pix's default).
        num_classes: number of region classes.
        region_classifier: also build a :class:`RegionClassifier` (``classify_region``) for an
            auxiliary-classifier loss; off by default so older checkpoints keep loading.

    ``forward(image, mask, class_index)`` returns patch logits (B, 1, h, w): one score per patch
    plus the inner product of the patch features with the class embedding.
    """

    def __init__(self, ndf: int = 32, n_layers: int = 3, num_classes: int = 2, region_classifier: bool = False) -> None:
        super().__init__()
        self.region_classifier = RegionClassifier(ndf, num_classes) if region_classifier else None
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(2, ndf, 4, 2, 1)), nn.LeakyReLU(0.2)]
        ch = ndf
        for i in range(1, n_layers + 1):
            nxt = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [spectral_norm(nn.Conv2d(ch, nxt, 4, stride, 1)), nn.LeakyReLU(0.2)]
            ch = nxt
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Conv2d(ch, 1, 4, 1, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, ch))

    def forward(self, image: torch.Tensor, mask: torch.Tensor, class_index: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([image, mask], dim=1))
        out = self.head(h)
        # Projection term, evaluated on the same patch grid as the head (valid 4x4 conv -> crop 1 px).
        proj = (h * self.embed(class_index.long())[:, :, None, None]).sum(1, keepdim=True)
        proj = F.avg_pool2d(proj, kernel_size=4, stride=1, padding=1)[..., : out.shape[-2], : out.shape[-1]]
        return out + proj

    def classify_region(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes) of the region's content; needs ``region_classifier=True``."""
        if self.region_classifier is None:
            raise ConfigError("this discriminator was built without a region classifier (region_classifier=False)")
        return self.region_classifier(image, mask)
