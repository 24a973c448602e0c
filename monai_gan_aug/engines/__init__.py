"""Ignite trainers subclassing monai.engines.Trainer, and the handlers they share."""

from __future__ import annotations

from .base import (
    MultiNetworkGanTrainer,
    PrepareKeysBatch,
    resolve_adversarial_loss,
)
from .cyclegan import (
    CYCLEGAN_LOSS_KEYS,
    CycleGANTrainer,
)
from .pix2pix import (
    PIX2PIX_LOSS_KEYS,
    Pix2PixTrainer,
    masked_l1,
)
from .lesion import (
    LESION_LOSS_KEYS,
    LesionInpaintTrainer,
)
from .latent import (
    DCGANTrainer,
    EmaWithWarmup,
    FastGANTrainer,
    LatentGanTrainer,
    WGANGPTrainer,
    latent_dim_of,
)
from .image_pool import (
    ImagePool,
)
from .checkpoint import (
    AtomicCheckpointSaver,
    ResumeCheckpointLoader,
    latest_checkpoint,
)
from .samples import (
    SampleGridSaver,
    make_grid,
    save_grid,
)
from .schedulers import (
    ConfiguredLambdaLR,
    LinearDecay,
    build_adam,
    linear_decay_scheduler,
)
from .tracking import (
    GanMLFlowHandler,
    default_tracking_uri,
    flatten_params,
    loss_output_transform,
)
from .budget import (
    TimeBudget,
)

__all__ = [
    "MultiNetworkGanTrainer",
    "PrepareKeysBatch",
    "resolve_adversarial_loss",
    "CYCLEGAN_LOSS_KEYS",
    "CycleGANTrainer",
    "PIX2PIX_LOSS_KEYS",
    "Pix2PixTrainer",
    "masked_l1",
    "LESION_LOSS_KEYS",
    "LesionInpaintTrainer",
    "DCGANTrainer",
    "EmaWithWarmup",
    "FastGANTrainer",
    "LatentGanTrainer",
    "WGANGPTrainer",
    "latent_dim_of",
    "ImagePool",
    "AtomicCheckpointSaver",
    "ResumeCheckpointLoader",
    "latest_checkpoint",
    "SampleGridSaver",
    "make_grid",
    "save_grid",
    "ConfiguredLambdaLR",
    "LinearDecay",
    "build_adam",
    "linear_decay_scheduler",
    "GanMLFlowHandler",
    "default_tracking_uri",
    "flatten_params",
    "loss_output_transform",
    "TimeBudget",
]
