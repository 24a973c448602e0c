"""Real-data budgets of the utility harness: which real films a run may train on, and lesion regions.

A budget ``N`` is ``N`` lesion (COVID) films plus ``N`` normal films from the training split,
drawn per seed. Budgets are *nested*: for one seed the ``N = 25`` films are the first 25 of the
``N = 50`` ones (one seeded permutation per class, cut at ``N``), so a learning curve compares the
same films growing, not unrelated draws. Synthetic lesions for normal films are placed in regions
drawn from the real lesion boxes *of the same budget* (no real information beyond the ``N`` films
enters an arm), clipped to the normal film's lung, as
:func:`monai_gan_aug.metrics.scorecard.covidqu_cases` does for the scorecard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, DatasetError

from ..region_judge import clip_box_to_lung, covidqu_rows
from ..region_judge import manifest_boxes as parse_boxes

__all__ = [
    "sample_items",
    "parse_boxes",
    "clip_box_to_lung",
    "covidqu_items",
    "nested_budget",
    "draw_lesion_region",
]


def sample_items(items: Sequence[Mapping[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` items drawn without replacement with ``numpy.random.default_rng(seed)``, in input order.

    Raises:
        ConfigError: ``n < 0``.
        DatasetError: fewer than ``n`` items.
    """
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    if n > len(items):
        raise DatasetError(f"asked for {n} items, only {len(items)} available")
    pick = np.random.default_rng(seed).choice(len(items), size=n, replace=False)
    return [dict(items[i]) for i in sorted(pick.tolist())]



def draw_lesion_region(boxes: Sequence[Sequence[int]], lung: np.ndarray, rng: np.random.Generator,
                       tries: int = 20) -> list[int] | None:
    """A real lesion box from ``boxes`` (drawn with ``rng``) clipped to ``lung``; ``None`` after ``tries`` misses.

    The boxes must be in the same pixel frame as ``lung`` (covidqu films share one 256 px frame).
    """
    if len(boxes) == 0:
        raise DatasetError("no real lesion box to draw a region from")
    for _ in range(tries):
        box = clip_box_to_lung(boxes[int(rng.integers(len(boxes)))], lung)
        if box is not None:
            return box
    return None


def covidqu_items(root: str | Path, split: str) -> list[dict[str, Any]]:
    """Films of one ``split`` of the shared covidqu folder as harness items.

    Returns:
        Items ``{"image": path, "lesion_mask": path, "lung_mask": path, "cls": 1 covid / 0 normal,
        "boxes": [[x0, y0, x1, y1], ...] (end-exclusive), "patient": id}`` in manifest order.

    Raises:
        DatasetError: no manifest, or the split is empty.
    """
    root = Path(root)
    rows = covidqu_rows(root, split)
    return [{"image": root / r["file"], "lesion_mask": root / r["lesion_mask_file"],
             "lung_mask": root / r["mask_file"],
             "cls": 1 if r["label"] == "covid" else 0, "boxes": parse_boxes(r["bbox"]), "patient": r["patient"]}
            for r in rows]


def nested_budget(items: Sequence[Mapping[str, Any]], n: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """``n`` lesion films (``cls`` 1) and ``n`` normal films (``cls`` 0), nested across ``n`` for one seed.

    Each class is permuted once with ``numpy.random.default_rng(seed)`` (lesion films first, then
    normals, from the same generator) and cut at ``n``: a smaller budget is a prefix of a larger one.

    Returns:
        ``{"lesion": [...], "normal": [...]}``.

    Raises:
        ConfigError: ``n < 1``.
        DatasetError: fewer than ``n`` films of a class.
    """
    if n < 1:
        raise ConfigError(f"a budget needs n >= 1 films per class, got {n}")
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, cls in (("lesion", 1), ("normal", 0)):
        pool = [i for i, d in enumerate(items) if int(d["cls"]) == cls]
        if len(pool) < n:
            raise DatasetError(f"budget {n} needs {n} {name} films, only {len(pool)} available")
        order = rng.permutation(len(pool))
        out[name] = [dict(items[pool[i]]) for i in order[:n]]
    return out
