"""Adversarial (wrapping MONAI's), cycle/identity/reconstruction and gradient-penalty losses.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
