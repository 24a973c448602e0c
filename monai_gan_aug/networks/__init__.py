"""Generators, discriminators, critics and classifiers; :mod:`.factory` builds them from self-describing checkpoints."""

from __future__ import annotations

from .factory import (
    NETWORKS,
    build_network,
    load_network,
    save_network,
)
from .resnet_generator import (
    ResNetGenerator,
    ResidualBlock,
)
from .unet_generator import (
    UNetGenerator,
)
from .patch_discriminator import (
    DISCRIMINATOR_NORMS,
    MultiScalePatchGANDiscriminator,
    PatchGANDiscriminator,
    RECEPTIVE_FIELDS,
)
from .lesion_generator import (
    ConditionalInstanceNorm2d,
    LesionDiscriminator,
    LesionInpaintGenerator,
)
from .classifier import (
    JUDGE_WEIGHTS,
    PNEUMONIA_CLASS,
    XRayClassifier,
    load_pneumonia_judge,
    pneumonia_probability,
    resize_pad_square,
)
from .dcgan import (
    DCGANDiscriminator,
    DCGANGenerator,
    check_image_batch,
    check_image_size,
    check_latent,
    dcgan_init,
)
from .wgan import (
    CRITIC_ACTIVATIONS,
    CRITIC_NORMS,
    WGANCritic,
    WGANGenerator,
)
from .fastgan import (
    FastGANDiscriminator,
    FastGANGenerator,
    SkipLayerExcitation,
    crop_quadrant,
)

__all__ = [
    "NETWORKS",
    "build_network",
    "load_network",
    "save_network",
    "ResNetGenerator",
    "ResidualBlock",
    "UNetGenerator",
    "DISCRIMINATOR_NORMS",
    "MultiScalePatchGANDiscriminator",
    "PatchGANDiscriminator",
    "RECEPTIVE_FIELDS",
    "ConditionalInstanceNorm2d",
    "LesionDiscriminator",
    "LesionInpaintGenerator",
    "JUDGE_WEIGHTS",
    "PNEUMONIA_CLASS",
    "XRayClassifier",
    "load_pneumonia_judge",
    "pneumonia_probability",
    "resize_pad_square",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "check_image_batch",
    "check_image_size",
    "check_latent",
    "dcgan_init",
    "CRITIC_ACTIVATIONS",
    "CRITIC_NORMS",
    "WGANCritic",
    "WGANGenerator",
    "FastGANDiscriminator",
    "FastGANGenerator",
    "SkipLayerExcitation",
    "crop_quadrant",
]
