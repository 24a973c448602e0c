"""Generators, discriminators, critics and classifiers; :mod:`.factory` builds them from self-describing checkpoints.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "NETWORKS": "factory",
    "build_network": "factory",
    "load_network": "factory",
    "save_network": "factory",
    "ResNetGenerator": "resnet_generator",
    "ResidualBlock": "resnet_generator",
    "UNetGenerator": "unet_generator",
    "DISCRIMINATOR_NORMS": "patch_discriminator",
    "MultiScalePatchGANDiscriminator": "patch_discriminator",
    "PatchGANDiscriminator": "patch_discriminator",
    "RECEPTIVE_FIELDS": "patch_discriminator",
    "ConditionalInstanceNorm2d": "lesion_generator",
    "LesionDiscriminator": "lesion_generator",
    "RegionClassifier": "lesion_generator",
    "LesionInpaintGenerator": "lesion_generator",
    "LesionOpacityGenerator": "opacity_generator",
    "JUDGE_WEIGHTS": "classifier",
    "PNEUMONIA_CLASS": "classifier",
    "XRayClassifier": "classifier",
    "load_pneumonia_judge": "classifier",
    "pneumonia_probability": "classifier",
    "resize_pad_square": "classifier",
    "DCGANDiscriminator": "dcgan",
    "DCGANGenerator": "dcgan",
    "check_image_batch": "dcgan",
    "check_image_size": "dcgan",
    "check_latent": "dcgan",
    "dcgan_init": "dcgan",
    "CRITIC_ACTIVATIONS": "wgan",
    "CRITIC_NORMS": "wgan",
    "WGANCritic": "wgan",
    "WGANGenerator": "wgan",
    "FastGANDiscriminator": "fastgan",
    "FastGANGenerator": "fastgan",
    "SkipLayerExcitation": "fastgan",
    "crop_quadrant": "fastgan",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
