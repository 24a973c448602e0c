"""Device selection and mixed precision that do the right thing on CPU and on CUDA."""

from __future__ import annotations

import contextlib

import torch

from ..errors import ConfigError

__all__ = ["available_devices", "default_device", "autocast_context"]


def available_devices() -> list[str]:
    """Names of the devices this machine can run on, e.g. ``["cpu", "cuda:0"]``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def default_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return ``prefer`` if given (checked to exist here), else CUDA when available, else CPU.

    Raises:
        ConfigError: ``prefer`` is not a device name, or that device is not available here
            (the message lists the ones that are).
    """
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(
            f"unknown device {str(prefer)!r}; available here: {', '.join(available_devices())}"
        ) from None
    if device.type == "cpu":
        return device
    available = available_devices()
    if device.type == "cuda":
        ok = torch.cuda.is_available() and (device.index is None or device.index < torch.cuda.device_count())
    else:
        ok = device.type in {torch.device(name).type for name in available}
    if not ok:
        raise ConfigError(f"device {str(prefer)!r} is not available on this machine; available here: "
                          f"{', '.join(available)}")
    return device


def autocast_context(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Autocast to float16 on CUDA; a no-op elsewhere (CPU bf16 autocast is slower for these convnets)."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
