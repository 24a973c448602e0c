"""Regions from MONAI Label requests and label masks (no monailabel import: testable anywhere).

A client marks where to edit in one of these request fields (pixels of the stored image,
``x`` = column, ``y`` = row):

* ``box`` or ``roi``: ``[x0, y0, x1, y1]`` (end-exclusive), the project's box convention;
* ``location`` + ``size``: ``[x, y]`` and ``[w, h]`` (what MONAI Label's 2-D viewers send);
* ``foreground``: points or a scribble ``[[x, y], ...]``, turned into their bounding box plus
  ``margin`` pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import RegionError

__all__ = ["box_from_request", "regions_from_label", "LABEL_CLASSES"]

#: Label-mask values and the region class they train: 1 pneumonia, 2 healthy lung (class 0).
LABEL_CLASSES = {1: 1, 2: 0}


def _floats(value: Any, n: int, name: str) -> list[float]:
    try:
        out = [float(v) for v in np.asarray(value, dtype=float).reshape(-1)]
    except (TypeError, ValueError) as e:
        raise RegionError(f"{name} must be {n} numbers, got {value!r}") from e
    if len(out) != n:
        raise RegionError(f"{name} must be {n} numbers, got {len(out)}: {value!r}")
    return out


def _points_box(points: Any, margin: float) -> list[float]:
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] < 2 or pts.shape[0] == 0:
        raise RegionError(f"foreground must be a list of [x, y] points, got {points!r}")
    x0, y0 = pts[:, 0].min() - margin, pts[:, 1].min() - margin
    x1, y1 = pts[:, 0].max() + 1 + margin, pts[:, 1].max() + 1 + margin
    return [float(x0), float(y0), float(x1), float(y1)]


def box_from_request(request: Mapping[str, Any], margin: float = 4.0) -> list[float]:
    """The edit box ``[x0, y0, x1, y1]`` a request asks for (see the module docstring).

    Raises:
        RegionError: no region field, or a malformed one.
    """
    for key in ("box", "roi"):
        if request.get(key) not in (None, [], ""):
            return _floats(request[key], 4, key)
    if request.get("location") is not None and request.get("size") is not None:
        (x, y), (w, h) = _floats(request["location"], 2, "location"), _floats(request["size"], 2, "size")
        return [x, y, x + w, y + h]
    if request.get("foreground"):
        return _points_box(request["foreground"], margin)
    raise RegionError(
        "the request marks no region: send 'box' ([x0, y0, x1, y1]), 'roi', 'location' + 'size', "
        "or 'foreground' points ([[x, y], ...]) in its params"
    )


def regions_from_label(label: np.ndarray) -> list[tuple[list[float], int]]:
    """``(box, class_index)`` of every labelled region of a 2-D label mask.

    Each label value in :data:`LABEL_CLASSES` (1 pneumonia, 2 healthy lung) gives one region: the
    bounding box of its pixels. Other values are ignored.
    """
    arr = np.asarray(label)
    arr = arr.reshape(arr.shape[-2:]) if arr.ndim > 2 and int(np.prod(arr.shape[:-2])) == 1 else arr
    if arr.ndim != 2:
        raise RegionError(f"expected a 2-D label mask, got shape {arr.shape}")
    out = []
    for value, cls in LABEL_CLASSES.items():
        rows, cols = np.nonzero(arr == value)
        if rows.size:
            out.append(([float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)], cls))
    return out


def box_list(boxes: Sequence[Sequence[float]]) -> list[list[float]]:
    """Boxes as plain float lists (JSON-friendly)."""
    return [[float(v) for v in b] for b in boxes]
