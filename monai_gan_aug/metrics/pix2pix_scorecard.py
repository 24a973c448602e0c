"""Scorecard of the pathology-preserving pix2pix (issue #20): are the generated surroundings real-looking?

The model keeps a film's lesion region (boxes or infection mask) and generates everything else.
The scorecard compares generated films with real ones in four ways:

* **KID** (Inception and the pneumonia judge's features) of generated films against real COVID
  films, next to the **real-vs-real** row at the same ``n``: the cases are split into two disjoint
  halves, *sources* (the films the generator edits) and *references*; ``KID(generated(sources),
  references)`` is read against ``KID(sources, references)``, the floor set by sampling alone.
* a **forensic classifier two-sample test** (:func:`~monai_gan_aug.metrics.forensic.classifier_two_sample_test`)
  on crops taken **outside** the kept region of the generated films vs crops at the **same positions**
  of the real (source) films; both crops of a film share a group, so they fall in the same fold.
  AUC 0.5: indistinguishable; the issue's goal is ``<= 0.75``.
* the **seam ratio** (:func:`~monai_gan_aug.metrics.edit_quality.seam_ratio`) on the kept region's
  outline (goal ``<= 1.2``);
* whether the kept pixels are **bit-identical** to the input.

Everything works on in-memory ``(H, W)`` arrays in ``[0, 1]`` and boolean keep masks, so it is tested
on synthetic arrays; :func:`covidqu_cases` and :func:`generate` connect it to covidqu and to a
generator (``scripts/eval_pix2pix.py`` is the thin command line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DatasetError, RegionError
from .edit_quality import seam_ratio
from .forensic import classifier_two_sample_test
from .kid import kid_from_features

__all__ = [
    "Pix2PixCase",
    "covidqu_cases",
    "split_sources_references",
    "generate",
    "kept_bit_identical",
    "crop_positions",
    "crops_at",
    "outside_crops",
    "forensic_outside",
    "seam_ratios",
    "kid_rows",
    "pix2pix_scorecard",
    "format_pix2pix_scorecard",
]


@dataclass
class Pix2PixCase:
    """One real film with its kept region.

    Attributes:
        film: identifier (file stem), used as the group of its crops.
        image: path of the film.
        pixels: ``(H, W)`` float array in ``[0, 1]`` (as ``LoadXRay`` reads it).
        keep: ``(H, W)`` bool mask of the kept region.
        boxes: the kept boxes (end-exclusive), when the region is boxes.
    """

    film: str
    image: str
    pixels: np.ndarray = field(repr=False)
    keep: np.ndarray = field(repr=False)
    boxes: list[list[int]] = field(default_factory=list)


def _grey(path: str | Path) -> np.ndarray:
    from ..transforms.io import LoadXRay

    return np.asarray(LoadXRay()(str(path)))[0].astype(np.float32)


def covidqu_cases(root: str | Path, split: str = "val", region: str = "boxes", n: int | None = None,
                  part: str = "all", holdout_fraction: float = 0.1, seed: int = 0) -> list[Pix2PixCase]:
    """COVID films of a covidqu-layout folder with their kept region.

    Args:
        root: folder with ``manifest.csv``.
        split: manifest split (``val`` for the final report only; ``train`` with ``part="holdout"``
            for model selection).
        region: ``"boxes"`` (the manifest boxes) or ``"mask"`` (the infection mask).
        n: keep a seeded random ``n`` films (``None``: all, in manifest order).
        part, holdout_fraction: see :func:`~monai_gan_aug.data.pathology.covidqu_pathology_datalist`.
        seed: seed of the selection.
    """
    from PIL import Image

    from ..data.pathology import covidqu_pathology_datalist

    items = covidqu_pathology_datalist(root, split, region=region, normals=False, part=part,
                                       holdout_fraction=holdout_fraction)
    if n is not None and n < len(items):
        order = np.random.default_rng(seed).permutation(len(items))[: int(n)]
        items = [items[i] for i in sorted(order)]
    cases = []
    for it in items:
        pixels = _grey(it["image"])
        keep = np.zeros(pixels.shape, bool)
        boxes = [[int(round(v)) for v in b] for b in it.get("boxes", [])]
        for x0, y0, x1, y1 in boxes:
            keep[y0:y1, x0:x1] = True
        if it.get("keep_mask_file"):
            with Image.open(it["keep_mask_file"]) as im:
                arr = np.asarray(im.convert("L"))
            keep = arr > max(int(arr.max()) // 2, 0)
        if keep.any() and not keep.all():
            cases.append(Pix2PixCase(Path(it["image"]).stem, it["image"], pixels, keep, boxes))
    if not cases:
        raise DatasetError(f"no COVID film with a usable region in {root} (split {split!r}, part {part!r})")
    return cases


def split_sources_references(cases: Sequence[Any], seed: int = 0) -> tuple[list[Any], list[Any]]:
    """Two disjoint halves of equal size (seeded): the films to edit and the real reference films."""
    if len(cases) < 4:
        raise DatasetError(f"need at least 4 cases to split into sources and references, got {len(cases)}")
    order = np.random.default_rng(seed).permutation(len(cases))
    half = len(cases) // 2
    return [cases[i] for i in sorted(order[:half])], [cases[i] for i in sorted(order[half: 2 * half])]


def generate(cases: Sequence[Pix2PixCase], network: torch.nn.Module, size: int | None = None,
             feather: float = 0.0, norm_stats: str = "running") -> list[np.ndarray]:
    """Outputs of :class:`~monai_gan_aug.data.pathology.PathologyCompositeInferer` for each case."""
    from ..data.pathology import PathologyCompositeInferer

    size = int(size or getattr(network, "info", {}).get("working_size", 128))
    inferer = PathologyCompositeInferer(size=size, feather=feather, norm_stats=norm_stats)
    network.eval()
    outs = []
    for case in cases:
        x = torch.from_numpy(case.pixels)[None, None]
        k = torch.from_numpy(case.keep.astype(np.float32))[None, None]
        outs.append(inferer(x, network, keep_mask=k)[0, 0].numpy())
    return outs


def kept_bit_identical(originals: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
                       keeps: Sequence[np.ndarray]) -> np.ndarray:
    """Per film: are all kept pixels exactly equal (same float values, or same file values)?"""
    return np.array([bool(np.array_equal(np.asarray(o)[k], np.asarray(g)[k]))
                     for o, g, k in zip(originals, outputs, keeps, strict=True)])


def crop_positions(keep: np.ndarray, size: int, per_film: int, rng: np.random.Generator,
                   max_kept: float = 0.05, tries: int = 200) -> list[tuple[int, int]]:
    """Up to ``per_film`` top-left corners of ``size``-px windows holding at most ``max_kept`` kept pixels.

    Windows are drawn uniformly over the film (``tries`` draws at most); fewer are returned when
    the kept region leaves too little room.
    """
    h, w = keep.shape
    if size > min(h, w):
        raise ConfigError(f"crop size {size} exceeds the film {keep.shape}")
    integral = np.pad(keep.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    out: list[tuple[int, int]] = []
    for _ in range(int(tries)):
        if len(out) >= per_film:
            break
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        kept = integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x] + integral[y, x]
        if kept <= max_kept * size * size:
            out.append((y, x))
    return out


def crops_at(image: np.ndarray, positions: Sequence[tuple[int, int]], size: int) -> np.ndarray:
    """``(n, size, size)`` crops of ``image`` at the given top-left corners."""
    return np.stack([np.asarray(image)[y: y + size, x: x + size] for y, x in positions]) if positions else \
        np.zeros((0, size, size), np.float32)


def outside_crops(originals: Sequence[np.ndarray], outputs: Sequence[np.ndarray], keeps: Sequence[np.ndarray],
                  films: Sequence[str], size: int = 64, per_film: int = 2, seed: int = 0,
                  max_kept: float = 0.05) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Real and generated crops at the same positions outside the kept region, and their film ids."""
    rng = np.random.default_rng(seed)
    real, fake, groups = [], [], []
    for orig, out, keep, film in zip(originals, outputs, keeps, films, strict=True):
        pos = crop_positions(np.asarray(keep, bool), size, per_film, rng, max_kept)
        real.append(crops_at(orig, pos, size))
        fake.append(crops_at(out, pos, size))
        groups += [str(film)] * len(pos)
    if not groups:
        raise RegionError("no crop position outside the kept regions")
    return np.concatenate(real), np.concatenate(fake), groups


def forensic_outside(originals: Sequence[np.ndarray], outputs: Sequence[np.ndarray], keeps: Sequence[np.ndarray],
                     films: Sequence[str], size: int = 64, per_film: int = 2, seed: int = 0,
                     **c2st_kwargs: Any):
    """:func:`~monai_gan_aug.metrics.forensic.classifier_two_sample_test`: real (A) vs generated (B) outside crops."""
    real, fake, groups = outside_crops(originals, outputs, keeps, films, size, per_film, seed)
    c2st_kwargs.setdefault("size", size)
    return classifier_two_sample_test(real[:, None], fake[:, None], groups, groups, seed=seed, **c2st_kwargs)


def seam_ratios(originals: Sequence[np.ndarray], outputs: Sequence[np.ndarray], keeps: Sequence[np.ndarray],
                width: int = 3) -> np.ndarray:
    """:func:`~monai_gan_aug.metrics.edit_quality.seam_ratio` on the kept region's outline, per film."""
    return np.array([seam_ratio(o, g, k.astype(np.float32), width=width)
                     for o, g, k in zip(originals, outputs, keeps, strict=True)])


def _stack(images: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.as_tensor(np.asarray(i, np.float32))[None] for i in images])


def kid_rows(extractors: Mapping[str, Any], references: Sequence[np.ndarray],
             sets: Mapping[str, Sequence[np.ndarray]], num_subsets: int = 100, seed: int = 0,
             batch_size: int = 16) -> dict[str, dict[str, float]]:
    """``{set name: {"kid_<extractor>": mean, "kid_<extractor>_std": std}}`` of each set against ``references``.

    The subset size is the smallest set size, so every row is measured at the same ``n``.
    """
    n = min([len(references)] + [len(v) for v in sets.values()])
    if n < 2:
        raise DatasetError(f"KID needs at least 2 images per set, got {n}")
    rows: dict[str, dict[str, float]] = {name: {"n": float(n)} for name in sets}
    for ename, extractor in extractors.items():
        ref = extractor.extract(_stack(references), batch_size=batch_size)
        for name, images in sets.items():
            feats = extractor.extract(_stack(images), batch_size=batch_size)
            mean, std = kid_from_features(ref, feats, num_subsets=num_subsets, subset_size=n, seed=seed)
            rows[name][f"kid_{ename}"], rows[name][f"kid_{ename}_std"] = mean, std
    return rows


def pix2pix_scorecard(sources: Sequence[Pix2PixCase], references: Sequence[Pix2PixCase],
                      outputs: Mapping[str, Sequence[np.ndarray]], extractors: Mapping[str, Any],
                      crop_size: int = 64, per_film: int = 2, seed: int = 0, num_subsets: int = 100,
                      c2st_kwargs: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Rows ``real vs real`` and one per generator in ``outputs`` (name -> outputs of ``sources``).

    Each generator row holds the KIDs, the forensic AUC with its interval (``forensic_auc``,
    ``forensic_ci``), the seam ratio's median and 90th percentile, and the fraction of films whose
    kept pixels are bit-identical.
    """
    originals = [c.pixels for c in sources]
    keeps = [c.keep for c in sources]
    films = [c.film for c in sources]
    sets = {"real vs real": originals, **{name: list(v) for name, v in outputs.items()}}
    rows: dict[str, dict[str, Any]] = kid_rows(extractors, [c.pixels for c in references], sets,
                                               num_subsets=num_subsets, seed=seed)
    for name, outs in outputs.items():
        c2st = forensic_outside(originals, outs, keeps, films, crop_size, per_film, seed, **dict(c2st_kwargs or {}))
        seams = seam_ratios(originals, outs, keeps)
        rows[name].update(
            forensic_auc=c2st.auc, forensic_ci=[c2st.ci_low, c2st.ci_high], forensic_crops=c2st.n_a + c2st.n_b,
            seam_median=float(np.median(seams)), seam_p90=float(np.percentile(seams, 90)),
            kept_identical=float(kept_bit_identical(originals, outs, keeps).mean()),
        )
    return rows


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def format_pix2pix_scorecard(rows: Mapping[str, Mapping[str, Any]], extractors: Sequence[str] = ("inception", "judge")) -> str:
    """A markdown table of :func:`pix2pix_scorecard` rows."""
    head = ["arm", "n"] + [f"KID {e}" for e in extractors] + ["forensic AUC (95% CI)", "seam median (p90)",
                                                               "kept bit-identical"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        cells = [name, str(int(r.get("n", 0)))]
        cells += [f"{_fmt(r.get(f'kid_{e}'))} ± {_fmt(r.get(f'kid_{e}_std'))}" for e in extractors]
        if "forensic_auc" in r:
            lo, hi = r["forensic_ci"]
            cells += [f"{r['forensic_auc']:.3f} ({lo:.3f}-{hi:.3f})", f"{r['seam_median']:.2f} ({r['seam_p90']:.2f})",
                      f"{100 * r['kept_identical']:.0f}%"]
        else:
            cells += ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
