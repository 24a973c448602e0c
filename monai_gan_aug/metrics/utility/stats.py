"""Statistics of the utility harness: paired differences to the real-only arm over seeds.

Every arm of a (task, budget) cell is trained once per seed on the *same* real films (same seed,
same real subset), so the per-seed differences ``arm - real_only`` are paired; their mean gets a
two-sided Student-t interval (:func:`paired_difference_ci`). Moved here from
:mod:`monai_gan_aug.metrics.downstream`, which re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError

__all__ = ["paired_difference_ci", "mean_sd"]


def paired_difference_ci(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean of ``b - a`` over paired runs with a two-sided Student-t interval.

    Args:
        a: scores of the reference arm, one per seed.
        b: scores of the compared arm, same seeds in the same order.
        confidence: coverage of the interval.

    Returns:
        ``{"mean": m, "sd": s, "n": n, "ci": [lo, hi] or None}`` where ``s`` is the sample standard
        deviation (ddof 1) and the interval is ``m +- t_{confidence, n-1} * s / sqrt(n)`` (``None``
        when ``n < 2``).

    Raises:
        ConfigError: the sequences differ in length or are empty.
    """
    from scipy import stats

    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or len(a_arr) == 0:
        raise ConfigError(
            f"need two equal-length, non-empty 1-D sequences, got {a_arr.shape} and {b_arr.shape}"
        )
    d = b_arr - a_arr
    n, mean = len(d), float(d.mean())
    if n < 2:
        return {"mean": mean, "sd": None, "n": n, "ci": None}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "n": n, "ci": [mean - half, mean + half]}


def mean_sd(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "sd" (ddof 1, None for one value), "n"}`` of finite-or-not ``values``.

    Raises:
        ConfigError: ``values`` is empty.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or len(arr) == 0:
        raise ConfigError(f"need a non-empty 1-D sequence, got shape {arr.shape}")
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else None,
            "n": int(len(arr))}
