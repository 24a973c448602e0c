"""Score difference-map lesion masks against real lesion masks, with intensity baselines (issue #18).

A *film* here is a dict ``{"name", "label", "image" (H, W) float32 in [0, 1], "lung" (H, W) bool,
"gt" (H, W) bool or None}`` (:func:`load_films`). A difference-map *source* gives each film a
signed difference ``X - X'`` (:func:`film_differences`: CycleGAN ``G_BA`` or healing by
inpainting, through :class:`~monai_gan_aug.inferers.difference_map.DifferenceMapInferer`); the
masks are then cheap to recompute for every threshold (:func:`source_masks`), so settings are
chosen on a training split (:func:`calibrate_absolute`, :func:`choose_brightest`) and reported once
on a held-out one (:func:`score_table`).

Per film with a non-empty ground truth: Dice, precision, recall (an empty prediction has
precision 0) and the seed's pixel accuracy (over the whole image); per film of any class: the
marked fraction of the lung. Means come with percentile bootstrap-over-films 95 % intervals.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import DatasetError
from ..inferers.difference_map import (
    DifferenceMapInferer,
    otsu_threshold,
    raw_difference,
    threshold_difference,
)

__all__ = [
    "BASELINES",
    "BRIGHTEST_GRID",
    "RELATIVE_THRESHOLDS",
    "baseline_masks",
    "bootstrap_ci",
    "calibrate_absolute",
    "choose_brightest",
    "covid_lesions_items",
    "covidqu_items",
    "dice_gains",
    "figure_row",
    "film_differences",
    "film_scores",
    "load_films",
    "mask_scores",
    "min_size_for",
    "score_table",
    "source_masks",
    "summarise",
    "table_markdown",
]

#: the seed's thresholds on the map normalised by its maximum
RELATIVE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: brightest-k % of the lung: candidate k (chosen on a training split)
BRIGHTEST_GRID = (10, 20, 30, 40, 50, 60, 70, 80, 90)
#: smallest kept component (8-connected) on a 256 px film; scaled with the film's area
MIN_SIZE_256 = 20


def min_size_for(shape: Sequence[int], min_size_256: int = MIN_SIZE_256) -> int:
    """Component-size floor for a film of ``shape``: ``min_size_256`` px at 256 px, scaled with the area."""
    return round(min_size_256 * (max(shape[-2:]) / 256.0) ** 2)


# ----------------------------------------------------------------------------------------- data


def covidqu_items(root: str | os.PathLike, split: str, label: str | None = None) -> list[dict[str, Any]]:
    """``{"image", "lung_mask", "lesion_mask", "label", "name"}`` of the shared covidqu folder's ``split`` (one label or all)."""
    from .region_judge import covidqu_rows

    root = Path(root)
    rows = [r for r in covidqu_rows(root, split) if label is None or r["label"] == label]
    return [
        {
            "image": str(root / r["file"]),
            "lung_mask": str(root / r["mask_file"]),
            "lesion_mask": str(root / r["lesion_mask_file"]) if r.get("lesion_mask_file") else None,
            "label": r["label"],
            "name": Path(r["file"]).stem,
        }
        for r in rows
    ]


def covid_lesions_items(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Items of the shared ``covid_lesions`` folder (radiologist lesion masks, lung masks)."""
    from ..data.datasets import manifest_dataset

    manifest = Path(root) / "manifest.csv"
    if not manifest.is_file():
        raise DatasetError(f"{manifest} not found (expected the shared covid_lesions folder)")
    items = manifest_dataset(str(manifest))
    for it in items:
        it["name"] = Path(it["image"]).stem
    return items


def _read_mask(path: str | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if not path:
        return None
    with Image.open(path) as im:
        m = np.asarray(im.convert("L")) > 0
    if m.shape != tuple(shape):
        raise DatasetError(f"mask {path} is {m.shape}, its image is {tuple(shape)}")
    return m


def load_films(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Read images (``LoadXRay``, [0, 1]), lung and lesion masks of ``items`` into film dicts."""
    from ..transforms.io import LoadXRay

    loader = LoadXRay()
    films = []
    for it in items:
        img = loader(it["image"]).as_tensor()[0].numpy().astype(np.float32)
        lung = _read_mask(it["lung_mask"], img.shape)
        films.append(
            {
                "name": it.get("name", Path(it["image"]).stem),
                "label": it.get("label"),
                "image": img,
                "lung": lung,
                "gt": _read_mask(it.get("lesion_mask"), img.shape),
            }
        )
    return films


# ------------------------------------------------------------------------------------- sources


def film_differences(
    films: Sequence[dict[str, Any]],
    network: torch.nn.Module,
    source: str,
    progress: Callable[[int], None] | None = None,
    **inferer_kwargs: Any,
) -> list[np.ndarray]:
    """Signed difference ``X - X'`` (float32 ``(H, W)``) of every film, healthy twin from ``source``."""
    inferer = DifferenceMapInferer(source=source, min_size=0, **inferer_kwargs)
    out = []
    for i, f in enumerate(films):
        img = torch.from_numpy(f["image"])[None, None]
        lung = torch.from_numpy(f["lung"].astype(np.float32))[None, None]
        parts = inferer.compute(img, network, lung=lung)
        out.append((img - parts["healthy"])[0, 0].numpy().astype(np.float32))
        if progress is not None:
            progress(i)
    return out


def source_masks(
    film: Mapping[str, Any],
    signed: np.ndarray,
    polarity: str = "abs",
    smooth_sigma: float = 0.0,
    absolute: float | None = None,
    relative: Sequence[float] = RELATIVE_THRESHOLDS,
    band: tuple[float, float] = (0.3, 0.8),
) -> dict[str, np.ndarray]:
    """Masks of one film's difference by every thresholding: the seed's band, ``rel>=t``, ``absolute``, ``otsu``."""
    lung = film["lung"]
    raw = raw_difference(signed, np.zeros_like(signed), lung, polarity, smooth_sigma)
    ms = min_size_for(raw.shape)
    out = {
        f"band {band[0]}-{band[1]}": threshold_difference(raw, lung, "band", band[0], band[1], min_size=ms)
    }
    for t in relative:
        out[f"rel>={t}"] = threshold_difference(raw, lung, "band", t, 1.0, min_size=ms)
    if absolute is not None:
        out["absolute (train)"] = threshold_difference(raw, lung, "absolute", threshold=absolute, min_size=ms)
    out["otsu"] = threshold_difference(raw, lung, "otsu", min_size=ms)
    return out


def baseline_masks(
    image: np.ndarray, lung: np.ndarray, brightest: Iterable[int] = (25,)
) -> dict[str, np.ndarray]:
    """'whole lung', 'otsu intensity' (bright side of Otsu's threshold of lung pixels) and 'brightest k%' masks."""
    inside = image[lung]
    out = {"whole lung": lung.copy()}
    if inside.size == 0:
        return {**out, "otsu intensity": lung.copy(), **{f"brightest {k}%": lung.copy() for k in brightest}}
    out["otsu intensity"] = lung & (image > otsu_threshold(inside))
    for k in brightest:
        out[f"brightest {k}%"] = lung & (image >= np.percentile(inside, 100 - k))
    return out


# ------------------------------------------------------------------------------------- scoring


def mask_scores(pred: np.ndarray, gt: np.ndarray | None, lung: np.ndarray) -> dict[str, float]:
    """Dice, precision, recall, pixel accuracy (when ``gt`` is not empty) and marked lung fraction of one mask."""
    pred = np.asarray(pred, bool)
    out = {"marked": float((pred & lung).sum() / max(int(lung.sum()), 1))}
    if gt is None or not gt.any():
        return out
    tp = float((pred & gt).sum())
    out["dice"] = 2 * tp / float(pred.sum() + gt.sum())
    out["precision"] = tp / float(pred.sum()) if pred.any() else 0.0
    out["recall"] = tp / float(gt.sum())
    out["accuracy"] = float((pred == gt).mean())
    return out


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile bootstrap-over-films 95 % interval; NaNs for an empty sample."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def film_scores(
    films: Sequence[Mapping[str, Any]], masks: Sequence[Mapping[str, np.ndarray]]
) -> dict[str, list[dict[str, float]]]:
    """Per method, the :func:`mask_scores` of every film (``masks[i]``: method -> mask of film ``i``)."""
    out: dict[str, list[dict[str, float]]] = {}
    for film, by_method in zip(films, masks):
        for method, pred in by_method.items():
            out.setdefault(method, []).append(mask_scores(pred, film["gt"], film["lung"]))
    return out


def summarise(
    scores: Mapping[str, Sequence[Mapping[str, float]]], n_boot: int = 2000
) -> dict[str, dict[str, Any]]:
    """Per method and metric: ``[mean, ci_low, ci_high]`` over the films that have the metric, and ``n``."""
    table: dict[str, dict[str, Any]] = {}
    for method, rows in scores.items():
        entry: dict[str, Any] = {}
        for metric in ("dice", "precision", "recall", "accuracy", "marked"):
            vals = [r[metric] for r in rows if metric in r]
            if vals:
                entry[metric] = list(bootstrap_ci(vals, n_boot))
        entry["n"] = sum(1 for r in rows if "dice" in r) or len(rows)
        table[method] = entry
    return table


def calibrate_absolute(
    films: Sequence[Mapping[str, Any]],
    signed: Sequence[np.ndarray],
    polarity: str = "abs",
    smooth_sigma: float = 0.0,
    quantiles: Sequence[float] = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2)),
) -> tuple[float, float]:
    """The absolute threshold (a quantile of the pooled in-lung difference) with the best mean Dice; ``(threshold, dice)``."""
    raws = [
        raw_difference(s, np.zeros_like(s), f["lung"], polarity, smooth_sigma) for f, s in zip(films, signed)
    ]
    pooled = np.concatenate([r[f["lung"]] for r, f in zip(raws, films)])
    best = (math.nan, -1.0)
    for t in np.unique(np.quantile(pooled, quantiles)):
        dices = [
            mask_scores(
                threshold_difference(
                    r, f["lung"], "absolute", threshold=float(t), min_size=min_size_for(r.shape)
                ),
                f["gt"],
                f["lung"],
            ).get("dice")
            for r, f in zip(raws, films)
        ]
        d = float(np.mean([x for x in dices if x is not None]))
        if d > best[1]:
            best = (float(t), d)
    return best


def choose_brightest(
    films: Sequence[Mapping[str, Any]], grid: Sequence[int] = BRIGHTEST_GRID
) -> tuple[int, dict[int, float]]:
    """The k of 'brightest k % of the lung' with the best mean Dice on ``films``; ``(k, {k: dice})``."""
    dices = {}
    for k in grid:
        vals = [
            mask_scores(
                baseline_masks(f["image"], f["lung"], (k,))[f"brightest {k}%"], f["gt"], f["lung"]
            ).get("dice")
            for f in films
        ]
        dices[k] = float(np.mean([v for v in vals if v is not None]))
    return max(dices, key=lambda k: dices[k]), dices


def score_table(
    films: Sequence[Mapping[str, Any]],
    sources: Mapping[str, tuple[Sequence[np.ndarray], Mapping[str, Any]]],
    brightest_k: int,
    n_boot: int = 2000,
) -> dict[str, dict[str, Any]]:
    """The evaluation table of ``films``: every source x thresholding, and the baselines.

    ``sources``: name -> (signed differences of the films, :func:`source_masks` keyword arguments,
    e.g. ``polarity``, ``smooth_sigma``, ``absolute``). Methods are named ``"<source>: <thresholding>"``.
    """
    masks = []
    for i, f in enumerate(films):
        by_method = {}
        for name, (signed, kwargs) in sources.items():
            for t, m in source_masks(f, signed[i], **kwargs).items():
                by_method[f"{name}: {t}"] = m
        by_method.update(baseline_masks(f["image"], f["lung"], (brightest_k,)))
        masks.append(by_method)
    scores = film_scores(films, masks)
    table = summarise(scores, n_boot)
    gains = dice_gains(scores, n_boot)
    for method, gain in gains.items():
        table[method]["dice_gain_vs_best_baseline"] = gain
    return table


BASELINES = ("whole lung", "otsu intensity", "brightest")


def dice_gains(
    scores: Mapping[str, Sequence[Mapping[str, float]]], n_boot: int = 2000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per non-baseline method: its mean Dice minus the best baseline's (best on these films), paired over films.

    Returns ``{"baseline", "gain": [mean, ci_low, ci_high]}`` (percentile bootstrap over films of the
    per-film differences). Choosing the best baseline on the evaluated films favours the baselines.
    """
    dice = {m: np.array([r["dice"] for r in rows if "dice" in r]) for m, rows in scores.items()}
    dice = {m: v for m, v in dice.items() if v.size}
    base = [m for m in dice if m.startswith(BASELINES)]
    if not base:
        return {}
    best = max(base, key=lambda m: dice[m].mean())
    return {
        m: {"baseline": best, "gain": list(bootstrap_ci(v - dice[best], n_boot, seed))}
        for m, v in dice.items()
        if m not in base and v.size == dice[best].size
    }


def table_markdown(
    table: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str] = ("dice", "precision", "recall", "accuracy"),
) -> str:
    """A markdown table ``method | metric (95 % CI) ...`` of a :func:`score_table` result."""
    head = "| method | " + " | ".join(metrics) + " | n |\n|---|" + "---:|" * (len(metrics) + 1) + "\n"
    lines = []
    for method, entry in table.items():
        cells = []
        for m in metrics:
            if m in entry:
                mean, lo, hi = entry[m]
                cells.append(f"{mean:.3f} ({lo:.3f}-{hi:.3f})")
            else:
                cells.append("")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {entry['n']} |")
    return head + "\n".join(lines) + "\n"


def figure_row(
    film: Mapping[str, Any],
    signed: np.ndarray,
    mask: np.ndarray,
    polarity: str = "abs",
    smooth_sigma: float = 0.0,
) -> np.ndarray:
    """``film | healed film | map (normalised, hot) | thresholded map | ground truth`` as one uint8 RGB row."""
    from ..transforms.diffmap import overlay_rgb
    from ..visualize import hot

    img = film["image"]
    grey = lambda a: np.repeat((np.clip(a, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)
    raw = raw_difference(signed, np.zeros_like(signed), film["lung"], polarity, smooth_sigma)
    peak = float(raw.max())
    gt = film["gt"] if film["gt"] is not None else np.zeros_like(film["lung"])
    parts = [
        grey(img),
        grey(img - signed),
        hot(raw / peak if peak > 0 else raw),
        overlay_rgb(img, mask),
        overlay_rgb(img, gt),
    ]
    gap = np.full((img.shape[0], 3, 3), 255, np.uint8)
    return np.concatenate([x for p in parts for x in (p, gap)][:-1], axis=1)
