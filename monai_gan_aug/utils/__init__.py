"""Small shared helpers: atomic file writes, safe checkpoint I/O, device selection, shipped weights."""

from __future__ import annotations

from .atomic import atomic_write, atomic_write_bytes
from .checkpoint import load_checkpoint, save_checkpoint
from .device import autocast_context, default_device
from .weights import shipped_weights_path

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "autocast_context",
    "default_device",
    "load_checkpoint",
    "save_checkpoint",
    "shipped_weights_path",
]
