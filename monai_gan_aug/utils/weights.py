"""Locate model weights shipped inside the package (``monai_gan_aug/weights/``)."""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingWeightsError

__all__ = ["WEIGHTS_DIR", "shipped_weights_path"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def shipped_weights_path(name: str) -> Path:
    """Return the path of a shipped weights file, e.g. ``shipped_weights_path("lung_unet.pt")``.

    Raises:
        MissingWeightsError: the file is not in this installation, with the folder searched.
    """
    path = WEIGHTS_DIR / name
    if not path.is_file():
        available = sorted(p.name for p in WEIGHTS_DIR.glob("*.pt"))
        raise MissingWeightsError(
            f"shipped weights {name!r} not found in {WEIGHTS_DIR} (available: {available or 'none'}). "
            "Reinstall monai-gan-aug, or pass the path of your own checkpoint."
        )
    return path
