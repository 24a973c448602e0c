"""Ignite trainers subclassing monai.engines.Trainer, and the handlers they share.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "MultiNetworkGanTrainer": "base",
    "PrepareKeysBatch": "base",
    "resolve_adversarial_loss": "base",
    "CYCLEGAN_LOSS_KEYS": "cyclegan",
    "CycleGANTrainer": "cyclegan",
    "PIX2PIX_LOSS_KEYS": "pix2pix",
    "Pix2PixTrainer": "pix2pix",
    "masked_l1": "pix2pix",
    "LESION_LOSS_KEYS": "lesion",
    "LESION_AUX_KEYS": "lesion",
    "LesionInpaintTrainer": "lesion",
    "LesionOpacityTrainer": "opacity",
    "patch_weighted_hinge": "opacity",
    "DCGANTrainer": "latent",
    "EmaWithWarmup": "latent",
    "FastGANTrainer": "latent",
    "LatentGanTrainer": "latent",
    "WGANGPTrainer": "latent",
    "latent_dim_of": "latent",
    "ImagePool": "image_pool",
    "AtomicCheckpointSaver": "checkpoint",
    "ResumeCheckpointLoader": "checkpoint",
    "latest_checkpoint": "checkpoint",
    "SampleGridSaver": "samples",
    "make_grid": "samples",
    "save_grid": "samples",
    "ConfiguredLambdaLR": "schedulers",
    "LinearDecay": "schedulers",
    "build_adam": "schedulers",
    "linear_decay_scheduler": "schedulers",
    "GanMLFlowHandler": "tracking",
    "default_tracking_uri": "tracking",
    "flatten_params": "tracking",
    "loss_output_transform": "tracking",
    "TimeBudget": "budget",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
