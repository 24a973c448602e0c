"""Patient-level train/val/test splits that never leak a patient across splits.

A patient's split is a pure function of its id and the seed (a hash), not of the order or the
size of the dataset: the same patient lands in the same split in every script and every model of
this project (lung masks, the pneumonia judge, GAN training), so "held-out" means the same thing
everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import DatasetError

__all__ = ["SPLIT_NAMES", "split_of_patient", "patient_split"]

SPLIT_NAMES = ("train", "val", "test")


def split_of_patient(patient: str, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> str:
    """Return ``"train"``, ``"val"`` or ``"test"`` for a patient id, deterministically.

    Args:
        patient: patient identifier (any string; an image id if patients are unknown).
        fractions: expected fractions of train, val and test; must sum to 1.
        seed: changes the assignment; keep the default to share splits across the project.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise DatasetError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    digest = hashlib.sha256(f"{seed}:{patient}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


def patient_split(
    items: Iterable[Mapping[str, Any]],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    key: str = "patient",
    fallback_key: str | None = "image",
) -> dict[str, list[dict[str, Any]]]:
    """Split MONAI-style data dicts by patient.

    Args:
        items: data dicts (e.g. from the dataset adapters in :mod:`monai_gan_aug.data.datasets`).
        fractions: train, val, test fractions (per patient, so image counts vary a little).
        seed: hash seed, see :func:`split_of_patient`.
        key: the dict key holding the patient id.
        fallback_key: used as the id when ``key`` is missing or empty (each image its own patient);
            ``None`` makes a missing patient id an error.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` with the input order kept in each split.
    """
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLIT_NAMES}
    for item in items:
        pid = item.get(key)
        if not pid:
            if fallback_key is None or not item.get(fallback_key):
                raise DatasetError(f"item has no {key!r} (and no {fallback_key!r} to fall back on): {dict(item)}")
            pid = str(item[fallback_key])
        out[split_of_patient(str(pid), fractions, seed)].append(dict(item))
    return out
