"""Adversarial (wrapping MONAI's), cycle/identity/reconstruction and gradient-penalty losses.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "ADVERSARIAL_MODES": "adversarial",
    "AdversarialLoss": "adversarial",
    "CycleConsistencyLoss": "cycle",
    "IdentityLoss": "cycle",
    "ReconstructionLoss": "cycle",
    "GradientPenaltyLoss": "gradient_penalty",
    "gradient_penalty": "gradient_penalty",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
