"""Training data of the lesion opacity generator: real lesion windows and healthy windows with footprints.

Every item pairs two windows of ``window`` px at the films' own scale (the reference scale the
generator is trained and run at, see :data:`REFERENCE_SIDE`):

* ``real`` / ``real_mask``: a window of a film with an infection mask (covidqu ``covid``, or any
  manifest row with a lesion mask), centred on a random lesion pixel, and its binary mask: what
  the discriminator learns real pneumonia from;
* ``base`` / ``footprint`` / ``footprint_mask``: a window of a healthy film (covidqu ``normal``)
  and a footprint for the generator to fill: a real infection mask transplanted from another film
  (kept inside this film's lung), or with probability ``sampled_prob`` one drawn by
  :func:`monai_gan_aug.transforms.footprint.sample_footprint` inside the bounding box of such a
  transplanted mask component. ``footprint`` is the soft weight (edge blurred by ``edge_sigma``).

The films are read once into memory (2,000 films of 256 px are ~130 MB as float32).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import Randomizable
from PIL import Image
from scipy import ndimage
from torch.utils.data import Dataset

from ..errors import DatasetError

__all__ = ["REFERENCE_SIDE", "OpacityWindowDataset", "opacity_lists", "soft_edge"]

#: Film side (px) of the scale the opacity generator works at: covidqu films are 256 x 256 and show
#: the whole chest, so a film of any size is resampled to this side before windows are cut.
REFERENCE_SIDE = 256


def soft_edge(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A binary mask with a Gaussian-blurred edge, in [0, 1], zero far from the mask."""
    m = mask.astype(np.float32)
    if sigma <= 0:
        return m
    soft = ndimage.gaussian_filter(m, sigma)
    peak = float(soft.max())
    soft = soft / peak if peak > 0 else soft
    soft[soft < 1e-3] = 0.0
    return soft.astype(np.float32)


def _load_item(item: dict[str, Any], with_lesion: bool) -> dict[str, Any] | None:
    """Arrays of one film at the reference scale (``REFERENCE_SIDE`` square, as covidqu's films)."""
    def read(path: str, resample: int) -> np.ndarray:
        try:
            with Image.open(path) as im:
                im = im.convert("L")
                if im.size != (REFERENCE_SIDE, REFERENCE_SIDE):
                    im = im.resize((REFERENCE_SIDE, REFERENCE_SIDE), resample)
                return np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot read {path}: {exc}") from exc

    if not item.get("lung_mask"):
        return None
    out = {"file": str(item["image"]), "image": read(item["image"], Image.BILINEAR),
           "lung": read(item["lung_mask"], Image.NEAREST) > 127}
    if with_lesion:
        if not item.get("lesion_mask"):
            return None
        out["lesion"] = read(item["lesion_mask"], Image.NEAREST) > 127
        if not out["lesion"].any():
            return None
    return out


def opacity_lists(
    dataset_dir: str | os.PathLike | None = None, split: str = "train", max_items: int | None = None,
    population: str = "all",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Lesion films and healthy films for the opacity generator, at the reference scale.

    Args:
        dataset_dir: ``None`` for the embedded demo dataset (pneumonia twins with exact lesion
            masks); a folder holding ``covidqu/manifest.csv`` (the shared-data layout) or a
            ``manifest.csv`` with ``lesion_mask_file`` and ``mask_file`` columns.
        split: the manifest's ``split`` column where it has one, else a patient split.
        max_items: at most this many films of each kind (quick runs).
        population: ``"adult"`` keeps only adult films (covidqu's normal class includes paediatric
            Kermany films, :mod:`monai_gan_aug.data.covidqu`), ``"paediatric"`` only those,
            ``"all"`` every film (other datasets: rows without a covidqu source path count as adult).

    Returns:
        ``(lesion_items, healthy_items)``: dicts with ``image``, ``lung`` and (lesion films)
        ``lesion`` arrays; films without a lung mask or a lesion pixel are skipped.
    """
    from .datasets import manifest_dataset
    from .splits import patient_split

    if dataset_dir is None or str(dataset_dir) in ("", "demo"):
        from .demo import demo_dataset  # local: builds the demo data on first use

        items = patient_split(demo_dataset())[split]
    else:
        root = Path(dataset_dir)
        manifest = root / "covidqu" / "manifest.csv"
        manifest = manifest if manifest.is_file() else (root if root.suffix == ".csv" else root / "manifest.csv")
        if not manifest.is_file():
            raise DatasetError(f"{dataset_dir}: no covidqu/manifest.csv or manifest.csv with lesion masks")
        items = manifest_dataset(manifest)
        items = [d for d in items if d.get("split") == split] if items and "split" in items[0] else \
            patient_split(items)[split]
    from .covidqu import select_population

    items = select_population(items, population)
    lesion, healthy = [], []
    for d in items:
        sick = int(d.get("class_index", 0)) != 0
        if max_items and len(lesion if sick else healthy) >= max_items:
            continue
        loaded = _load_item(d, with_lesion=sick)
        if loaded is not None:
            (lesion if sick else healthy).append(loaded)
    if not lesion or not healthy:
        raise DatasetError(f"{dataset_dir or 'demo'} split {split!r}: {len(lesion)} films with a lesion mask, "
                           f"{len(healthy)} healthy films with a lung mask; need both")
    return lesion, healthy


def _crop(a: np.ndarray, cy: int, cx: int, side: int) -> np.ndarray:
    """``side`` x ``side`` window centred at (cy, cx), reflect-padded at the film's edge."""
    half = side // 2
    pad = ((half, half), (half, half))
    padded = np.pad(a, pad, mode="reflect") if a.dtype != bool else np.pad(a, pad)
    return padded[cy: cy + side, cx: cx + side]


class OpacityWindowDataset(Dataset, Randomizable):
    """Random (real lesion window, healthy window + footprint) pairs; see the module docstring.

    Args:
        lesion_items: films with ``image``, ``lung`` and ``lesion`` arrays.
        healthy_items: films with ``image`` and ``lung`` arrays, all of one size as the lesion films.
        window: window side in px.
        length: items per epoch.
        edge_sigma: soft edge of the footprint (px).
        sampled_prob: probability of a sampled (shape-model) footprint instead of a transplanted one.
        jitter: the window centre moves up to this fraction of the window from the chosen pixel.
    """

    def __init__(
        self, lesion_items: list[dict[str, Any]], healthy_items: list[dict[str, Any]], window: int = 128,
        length: int = 2000, edge_sigma: float = 2.0, sampled_prob: float = 0.0, jitter: float = 0.25,
    ) -> None:
        if not lesion_items or not healthy_items:
            raise DatasetError("need at least one lesion film and one healthy film")
        self.lesion_items, self.healthy_items = lesion_items, healthy_items
        self.window, self.length = int(window), int(length)
        self.edge_sigma, self.sampled_prob, self.jitter = float(edge_sigma), float(sampled_prob), float(jitter)
        self._coords = [np.argwhere(it["lesion"]) for it in lesion_items]

    def __len__(self) -> int:
        return self.length

    def _centre(self, coords: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int]:
        cy, cx = coords[self.R.randint(len(coords))]
        j = int(self.jitter * self.window)
        cy = int(np.clip(cy + self.R.randint(-j, j + 1), 0, shape[0] - 1))
        cx = int(np.clip(cx + self.R.randint(-j, j + 1), 0, shape[1] - 1))
        return cy, cx

    def _footprint(self, lung: np.ndarray) -> np.ndarray:
        """A transplanted real infection mask inside this lung (or a sampled one inside its bbox)."""
        near_lung = ndimage.binary_dilation(lung, iterations=3)
        for _ in range(20):
            k = self.R.randint(len(self.lesion_items))
            donor = self.lesion_items[k]["lesion"]
            if donor.shape != lung.shape:
                continue
            fp = donor & near_lung
            if fp.sum() < 30:
                continue
            if self.R.rand() < self.sampled_prob:
                from ..transforms.footprint import sample_footprint  # local: optional shape model

                lab, n = ndimage.label(fp)
                sizes = ndimage.sum(fp, lab, range(1, n + 1))
                region = np.zeros_like(fp)
                sl = ndimage.find_objects(lab)[int(np.argmax(sizes))]
                region[sl] = True
                fp = sample_footprint(region & near_lung, self.R)
                if fp.sum() < 30:
                    continue
            return fp
        raise DatasetError("could not place a lesion footprint inside a healthy film's lung")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        w = self.window
        k = self.R.randint(len(self.lesion_items))
        real = self.lesion_items[k]
        cy, cx = self._centre(self._coords[k], real["image"].shape)
        real_img = _crop(real["image"], cy, cx, w)
        real_mask = _crop(real["lesion"], cy, cx, w)

        base = self.healthy_items[self.R.randint(len(self.healthy_items))]
        fp = self._footprint(base["lung"])
        by, bx = self._centre(np.argwhere(fp), fp.shape)
        fp_win = _crop(fp, by, bx, w)
        if not fp_win.any():  # jitter pushed it out: centre on the footprint itself
            by, bx = np.argwhere(fp)[0]
            fp_win = _crop(fp, int(by), int(bx), w)
        base_img = _crop(base["image"], by, bx, w)

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None]

        return {
            "real": t(real_img / 255.0), "real_mask": t(real_mask),
            "base": t(base_img / 255.0), "footprint": t(soft_edge(fp_win, self.edge_sigma)),
            "footprint_mask": t(fp_win),
        }
