"""Build networks by name and load them from self-describing checkpoints.

A shipped or trained weights file is a plain dict, loadable with ``weights_only=True``::

    {"network": "resnet_generator",          # a name in NETWORKS below
     "network_kwargs": {...},                # constructor arguments (plain values only)
     "state_dict": {...},                    # the weights
     "info": {...}}                          # how it was trained, scores, data; plain values only

Only names in the allow-list below can be built, so a checkpoint can never name arbitrary code.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import torch

from ..errors import CheckpointError
from ..utils.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["NETWORKS", "build_network", "load_network", "save_network"]

# name -> "module:Class"; modules are imported lazily so that listing names stays cheap.
NETWORKS: dict[str, str] = {
    "resnet_generator": "monai_gan_aug.networks.resnet_generator:ResNetGenerator",
    "unet_generator": "monai_gan_aug.networks.unet_generator:UNetGenerator",
    "patch_discriminator": "monai_gan_aug.networks.patch_discriminator:PatchGANDiscriminator",
    "lesion_generator": "monai_gan_aug.networks.lesion_generator:LesionInpaintGenerator",
    "lesion_discriminator": "monai_gan_aug.networks.lesion_generator:LesionDiscriminator",
    "lesion_opacity_generator": "monai_gan_aug.networks.opacity_generator:LesionOpacityGenerator",
    "lung_unet": "monai.networks.nets:UNet",
    "xray_classifier": "monai_gan_aug.networks.classifier:XRayClassifier",
    "dcgan_generator": "monai_gan_aug.networks.dcgan:DCGANGenerator",
    "dcgan_discriminator": "monai_gan_aug.networks.dcgan:DCGANDiscriminator",
    "wgan_generator": "monai_gan_aug.networks.wgan:WGANGenerator",
    "wgan_critic": "monai_gan_aug.networks.wgan:WGANCritic",
    "fastgan_generator": "monai_gan_aug.networks.fastgan:FastGANGenerator",
    "fastgan_discriminator": "monai_gan_aug.networks.fastgan:FastGANDiscriminator",
}


def build_network(name: str, **kwargs: Any) -> torch.nn.Module:
    """Instantiate the network registered as ``name`` with ``kwargs``."""
    if name not in NETWORKS:
        raise CheckpointError(f"unknown network {name!r}; known: {sorted(NETWORKS)}")
    module_name, class_name = NETWORKS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**kwargs)


def save_network(
    net: torch.nn.Module, name: str, network_kwargs: dict[str, Any], path: str | os.PathLike,
    info: dict[str, Any] | None = None,
) -> None:
    """Save ``net`` as a self-describing checkpoint (atomic write); see the module docstring."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    save_checkpoint({"network": name, "network_kwargs": dict(network_kwargs), "state_dict": state,
                     "info": dict(info or {})}, path)


def load_network(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Build and load a network from a self-describing checkpoint; returned in eval mode."""
    ckpt = load_checkpoint(path, map_location=map_location)
    missing = {"network", "network_kwargs", "state_dict"} - set(ckpt)
    if missing:
        raise CheckpointError(f"{path} is not a self-describing network checkpoint (missing {sorted(missing)})")
    net = build_network(ckpt["network"], **ckpt["network_kwargs"])
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit network {ckpt['network']!r}: {exc}") from exc
    net.info = ckpt.get("info", {})  # type: ignore[attr-defined]
    return net.eval()
