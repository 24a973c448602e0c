"""Make ``docs/images/demo_pairs.png``: demo radiograph pairs, their difference and lesion mask.

Columns are pairs of the demo dataset (pair ``i`` is the same in every build with that seed, so
these are the first pairs of the default build); rows are the healthy image, its pneumonia twin,
the difference (x4, the twins are bit-identical outside the lesion), the lesion mask (white) over
the lung mask (grey); a last row shows one axial CT slice pair the same way.

Usage: ``.venv/bin/python scripts/make_demo_figure.py [--out docs/images/demo_pairs.png] [--pairs 4]``
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from monai_gan_aug.data.demo import build_demo_dataset

__all__ = ["main"]

TILE = 176
LABEL_W = 110
ROWS = ("healthy", "pneumonia twin", "difference x4", "lesion / lung", "CT: pair, diff, mask")


def _load(folder: Path, name: str) -> np.ndarray:
    image = Image.open(folder / name).convert("L").resize((TILE, TILE), Image.Resampling.BILINEAR)
    return np.asarray(image).astype(np.int16)


def _quad(folder: Path, normal: dict[str, str], sick: dict[str, str]) -> list[np.ndarray]:
    a, b = _load(folder, normal["file"]), _load(folder, sick["file"])
    lesion, lung = _load(folder, sick["lesion_mask_file"]) > 127, _load(folder, sick["mask_file"]) > 127
    masks = np.where(lesion, 255, np.where(lung, 90, 0))
    return [a, b, np.clip(4 * np.abs(b - a), 0, 255), masks]


def _pairs(path: Path) -> list[tuple[dict[str, str], dict[str, str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return list(zip(rows[0::2], rows[1::2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_out = Path(__file__).resolve().parents[1] / "docs" / "images" / "demo_pairs.png"
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="demo cache folder (default: the package default)")
    args = parser.parse_args()
    folder = build_demo_dataset(
        n_pairs=args.pairs, size=256, seed=args.seed, cache_dir=args.cache, n_ct_slices=8
    )
    columns = [_quad(folder, n, s) for n, s in _pairs(folder / "manifest.csv")]
    ct_normal, ct_sick = _pairs(folder / "ct_manifest.csv")[4]
    n_cols = len(columns)
    canvas = np.full((len(ROWS) * TILE, LABEL_W + n_cols * TILE), 255, np.uint8)
    for c, quad in enumerate(columns):
        for r, tile in enumerate(quad):
            canvas[r * TILE : (r + 1) * TILE, LABEL_W + c * TILE : LABEL_W + (c + 1) * TILE] = tile
    for c, tile in enumerate(_quad(folder, ct_normal, ct_sick)[:n_cols]):
        canvas[4 * TILE :, LABEL_W + c * TILE : LABEL_W + (c + 1) * TILE] = tile
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for r, name in enumerate(ROWS):
        draw.text((6, r * TILE + TILE // 2 - 6), name, fill=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"{args.out}  ({args.out.stat().st_size / 1024:.0f} KB) from {folder}")


if __name__ == "__main__":
    main()
