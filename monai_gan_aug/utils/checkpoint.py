"""Checkpoint I/O that is safe to load: plain dicts of tensors and numbers, ``weights_only=True``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, MissingWeightsError
from .atomic import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Save a checkpoint dict atomically (temp file + rename).

    Args:
        obj: a dict of state dicts, tensors and plain Python values only, so that it can be
            loaded back with ``weights_only=True``.
        path: destination file.

    Returns:
        The destination path.
    """
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (never unpickles arbitrary objects).

    Args:
        path: checkpoint file.
        map_location: device to map tensors to.

    Raises:
        MissingWeightsError: the file does not exist.
        CheckpointError: the file is corrupt, truncated, or holds objects other than tensors and
            plain values.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch's advice on foreign pickles; the error below says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... depending on damage
        # torch's own text is several lines of advice about loading untrusted code; never pass it on.
        raise CheckpointError(
            f"{path} is not a checkpoint of this project (not a PyTorch file of tensors and plain "
            f"values, or damaged: {type(exc).__name__})"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} is not a checkpoint of this project (it holds a {type(obj).__name__}, "
                              "expected a dict of state dicts)")
    return obj
