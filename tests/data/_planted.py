"""A tiny Kaggle-layout folder (train/val/test x NORMAL/PNEUMONIA) with planted problems, for the prepare tests.

Planted: 2 exact duplicates (one across splits, one whose train copy must be the one kept), 2 near
duplicates (resized + noise; brightened + noise), 1 cross-class duplicate (the same film in NORMAL
and PNEUMONIA) and 2 images below the minimum size. Every other image is a distinct smooth random
"film", so nothing else is a duplicate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["MIN_SIZE", "build_planted_kaggle"]

MIN_SIZE = 48  # the tests' --min-size: base films are 64 x 56, the small ones 32 x 40


def _film(rng: np.random.Generator, hw: tuple[int, int] = (64, 56)) -> np.ndarray:
    """A random 8-bit image with structure at several scales (smoothed noise), like a film's texture.

    Pure low-frequency content would not do: its higher DCT coefficients are all near zero, and
    the perceptual hash's bits there flip with any noise.
    """
    img = sum(w * ndimage.gaussian_filter(rng.normal(size=hw), s) for w, s in ((1.0, 8.0), (0.5, 3.0), (0.25, 1.5)))
    img = (img - img.min()) / (img.max() - img.min())
    return np.rint(30 + 200 * img).astype(np.uint8)


def _save(arr: np.ndarray, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path.as_posix()


def build_planted_kaggle(root: Path, seed: int = 0) -> dict[str, set[str]]:
    """Write the folder under ``root``; return the planted cases as sets of paths relative to ``root``.

    Keys: ``exact`` (the copies that must be dropped), ``near`` (likewise), ``conflict`` (both
    members of the cross-class pair), ``small``, ``kept_over`` (originals a train copy wins over:
    dropped too, reported as exact), ``all``.
    """
    rng = np.random.default_rng(seed)
    rel: dict[str, set[str]] = {k: set() for k in ("exact", "near", "conflict", "small", "all")}
    films: dict[str, np.ndarray] = {}
    n = 0
    for split in ("train", "val", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            count = 4 if split == "train" else 2
            for _ in range(count):
                n += 1
                name = f"IM-{n:04d}-0001.png" if cls == "NORMAL" else f"person{n}_bacteria_{n}.png"
                films[f"{split}/{cls}/{name}"] = _film(rng)
    for key, arr in films.items():
        _save(arr, root / key)
    keys = sorted(films)
    train_normal = [k for k in keys if k.startswith("train/NORMAL")]
    train_pneu = [k for k in keys if k.startswith("train/PNEUMONIA")]
    val_pneu = [k for k in keys if k.startswith("val/PNEUMONIA")]
    test_normal = [k for k in keys if k.startswith("test/NORMAL")]
    # exact 1: a train NORMAL film copied into test (the test copy goes)
    _save(films[train_normal[0]], root / "test/NORMAL/IM-9001-0001.png")
    rel["exact"].add("test/NORMAL/IM-9001-0001.png")
    # exact 2: a val PNEUMONIA film also in train under another name (the train copy stays, the val one goes)
    _save(films[val_pneu[0]], root / "train/PNEUMONIA/person9002_virus_1.png")
    rel["exact"].add(val_pneu[0])
    # near 1: a train PNEUMONIA film resized to 90 % with noise, in test
    im = Image.fromarray(films[train_pneu[0]]).resize((50, 58), Image.LANCZOS)
    noisy = np.clip(np.asarray(im, np.float64) + rng.normal(0, 2, (58, 50)), 0, 255)
    _save(np.rint(noisy).astype(np.uint8), root / "test/PNEUMONIA/person9003_virus_2.png")
    rel["near"].add("test/PNEUMONIA/person9003_virus_2.png")
    # near 2: a test NORMAL film brightened with noise, in val (the val copy goes: val before test)
    bright = np.clip(films[test_normal[0]] * 1.05 + 6 + rng.normal(0, 2, films[test_normal[0]].shape), 0, 255)
    _save(np.rint(bright).astype(np.uint8), root / "val/NORMAL/IM-9004-0001.png")
    rel["near"].add(test_normal[0])
    # cross-class: a train NORMAL film also under train PNEUMONIA
    _save(films[train_normal[1]], root / "train/PNEUMONIA/person9005_bacteria_3.png")
    rel["conflict"] |= {train_normal[1], "train/PNEUMONIA/person9005_bacteria_3.png"}
    # too small: two distinct small films
    _save(_film(rng, (32, 40)), root / "train/NORMAL/IM-9006-0001.png")
    _save(_film(rng, (40, 32)), root / "test/PNEUMONIA/person9007_virus_4.png")
    rel["small"] |= {"train/NORMAL/IM-9006-0001.png", "test/PNEUMONIA/person9007_virus_4.png"}
    rel["all"] = {p.relative_to(root).as_posix() for p in root.rglob("*.png")}
    return rel
