"""Device selection and mixed precision that do the right thing on CPU and on CUDA."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["default_device", "autocast_context"]


def default_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return ``prefer`` if given, else CUDA when available, else CPU."""
    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_context(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Autocast to float16 on CUDA; a no-op elsewhere (CPU bf16 autocast is slower for these convnets)."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
