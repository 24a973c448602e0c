"""Adversarial (wrapping MONAI's), cycle/identity/reconstruction and gradient-penalty losses."""

from __future__ import annotations

from .adversarial import (
    ADVERSARIAL_MODES,
    AdversarialLoss,
)
from .cycle import (
    CycleConsistencyLoss,
    IdentityLoss,
    ReconstructionLoss,
)
from .gradient_penalty import (
    GradientPenaltyLoss,
    gradient_penalty,
)

__all__ = [
    "ADVERSARIAL_MODES",
    "AdversarialLoss",
    "CycleConsistencyLoss",
    "IdentityLoss",
    "ReconstructionLoss",
    "GradientPenaltyLoss",
    "gradient_penalty",
]
