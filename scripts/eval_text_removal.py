"""Evaluate burned-in text removal on the Kermany paediatric chest X-rays (with lung masks).

For every image of ``<data>/kermany/manifest.csv`` with a ``mask_file``, runs
:class:`~monai_gan_aug.transforms.text.RemoveBurnedInText` (default ``"components"`` method, no lung
mask given to it, so the lung field is an independent check) and prints:

* how many images had a marker detected and removed, and how many pixels;
* the fraction of lung-field pixels changed per image (``|after - before| > 0.5/255``), mean and max;
* a residual check: after removal, the number of images that still hold a *candidate* marker by a
  looser detector (candidate pixels >= 0.8 instead of 0.85, peak >= 0.85 instead of 0.9,
  mean top-hat contrast >= 0.2 instead of 0.3, edge gradient >= 0.25 instead of 0.3; same size,
  shape and border tests). It is template-free and shares the detector's assumptions, so it
  catches leftovers of found markers (halos, missed letters of a word) rather than markers of a
  kind the detector cannot see; those are what the contact sheets are for.

Writes a contact sheet of before/after crops around removed markers (``--sheet``), a sheet of the
images flagged by the residual check (``--residual-sheet``), and the figure for the docs
(``--figure``).

Usage::

    .venv/bin/python scripts/eval_text_removal.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai_gan_aug.transforms.text import (
    RemoveBurnedInText,
    TextDetectionParams,
    detect_text_components,
)

__all__ = ["main"]

LOOSE = TextDetectionParams(
    bright_threshold=0.8,
    seed_contrast=0.15,
    saturation=0.85,
    min_contrast=0.2,
    min_edge=0.25,
    sharp_edge=0.35,
    min_mean=0.93,
)
CHANGE_EPS = 0.5 / 255  # below half an 8-bit grey level a pixel counts as unchanged


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def _crop_box(mask: np.ndarray, pad: int = 24) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, mask.shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, mask.shape[1])
    return r0, r1, c0, c1


def _pair_tile(before: np.ndarray, after: np.ndarray, mask: np.ndarray, size: int = 160) -> Image.Image:
    """Before | after crop around ``mask``, each resized to ``size`` px high, the mask outlined in before."""
    r0, r1, c0, c1 = _crop_box(mask)
    tiles = []
    for arr in (before, after):
        crop = Image.fromarray((np.clip(arr[r0:r1, c0:c1], 0, 1) * 255).astype(np.uint8))
        scale = size / crop.height
        tiles.append(crop.resize((max(1, int(crop.width * scale)), size), Image.NEAREST))
    out = Image.new("L", (tiles[0].width * 2 + 4, size), 255)
    out.paste(tiles[0], (0, 0))
    out.paste(tiles[1], (tiles[0].width + 4, 0))
    return out


def _overlay(img: np.ndarray, mask: np.ndarray, size: int = 320) -> Image.Image:
    """Thumbnail with the removed pixels' outline drawn white on a darkened copy of the image."""
    edge = mask & ~ndimage.binary_erosion(mask)
    out = np.where(edge, 1.0, img * 0.7)
    im = Image.fromarray((out * 255).astype(np.uint8))
    im.thumbnail((size, size))
    return im


def _sheet(tiles: list[tuple[str, Image.Image]], path: Path, columns: int = 4) -> None:
    if not tiles:
        return
    cell_w = max(t.width for _, t in tiles) + 8
    cell_h = max(t.height for _, t in tiles) + 18
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("L", (cell_w * columns, cell_h * rows), 0)
    draw = ImageDraw.Draw(sheet)
    for i, (name, tile) in enumerate(tiles):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        sheet.paste(tile, (x, y + 16))
        draw.text((x + 2, y + 2), name[:34], fill=255)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def _figure(examples: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    """Whole images before / after / removed mask, one row per example, downsized for the docs."""
    rows = []
    for _, before, after, mask in examples:
        cells = []
        for arr in (before, after, mask.astype(np.float32)):
            im = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8))
            im.thumbnail((256, 256))
            cell = Image.new("L", (256, 256), 0)
            cell.paste(im, (0, 0))
            cells.append(cell)
        crop = _pair_tile(before, after, mask, size=128).resize((256, 128))
        cells.append(crop)
        rows.append(cells)
    fig = Image.new("L", (4 * 260, len(rows) * 260 + 20), 0)
    draw = ImageDraw.Draw(fig)
    for j, title in enumerate(("before", "after (components)", "removed pixels", "zoom: before | after")):
        draw.text((j * 260 + 4, 4), title, fill=255)
    for i, cells in enumerate(rows):
        for j, cell in enumerate(cells):
            fig.paste(cell, (j * 260, 20 + i * 260))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate burned-in text removal on Kermany chest X-rays.")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images with lung masks")
    parser.add_argument("--sheet", type=Path, default=Path("/tmp/text_removal_sheet.png"))
    parser.add_argument("--residual-sheet", type=Path, default=Path("/tmp/text_removal_residual.png"))
    parser.add_argument(
        "--missed-sheet",
        type=Path,
        default=Path("/tmp/text_removal_none.png"),
        help="thumbnails of images where nothing was removed (to look for missed markers)",
    )
    parser.add_argument(
        "--multi-sheet",
        type=Path,
        default=Path("/tmp/text_removal_multi.png"),
        help="images with 2+ removed areas, removed pixels outlined (to look for false positives)",
    )
    parser.add_argument("--figure", type=Path, default=None, help="e.g. docs/images/text_removal.png")
    args = parser.parse_args(argv)

    manifest = args.data / "kermany" / "manifest.csv"
    if not manifest.is_file():
        print(f"SKIP: Kermany data not found at {manifest} (pass --data); nothing evaluated")
        return 0
    with manifest.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["mask_file"]]
    rows = rows[: args.limit] if args.limit else rows

    remover = RemoveBurnedInText()  # the default: method="components"
    detected, removed_px, lung_changed, residual = [], [], [], []
    tiles, residual_tiles, examples, missed_tiles, multi_tiles = [], [], [], [], []
    start = time.perf_counter()
    for row in rows:
        before = _load(args.data / "kermany" / row["file"])
        lung = _load(args.data / "kermany" / row["mask_file"]) > 0.5
        after_t, mask_t = remover(before[None])
        after, mask = np.asarray(after_t)[0], np.asarray(mask_t)[0] > 0
        name = Path(row["file"]).stem
        lung_changed.append(float((np.abs(after - before)[lung] > CHANGE_EPS).mean()))
        if mask.any():
            detected.append(name)
            removed_px.append(int(mask.sum()))
            n_comp = ndimage.label(mask)[1]
            if n_comp >= 2 and len(multi_tiles) < 24:  # where false positives would show
                multi_tiles.append((f"{name} ({n_comp})", _overlay(before, mask)))
            if len(tiles) < 20:
                tiles.append((name, _pair_tile(before, after, mask)))
            if len(examples) < 3 and len(detected) % 7 == 1:
                examples.append((name, before, after, mask))
        elif len(missed_tiles) < 24:
            thumb = Image.fromarray((before * 255).astype(np.uint8))
            thumb.thumbnail((320, 320))
            missed_tiles.append((name, thumb))
        left = detect_text_components(after, None, LOOSE)
        if left.any():
            residual.append(name)
            if len(residual_tiles) < 20:
                residual_tiles.append((name, _pair_tile(before, after, left)))
    elapsed = time.perf_counter() - start

    n = len(rows)
    lc = np.array(lung_changed)
    print(
        f"images evaluated (Kermany, with lung masks): {n} in {elapsed:.1f} s ({elapsed / max(n, 1) * 1000:.0f} ms/image)"
    )
    print(f"marker detected and removed: {len(detected)} / {n} images ({len(detected) / max(n, 1):.1%})")
    if removed_px:
        print(
            f"removed pixels per image with a marker: median {np.median(removed_px):.0f}, max {max(removed_px)}"
        )
    print(
        f"lung-field pixels changed per image: mean {lc.mean():.4%}, max {lc.max():.4%} "
        f"(images over 1%: {int((lc > 0.01).sum())})"
    )
    print(f"residual check (looser detector after removal): {len(residual)} / {n} images still flagged")
    print(f"  flagged among images with a removed marker: {len(set(residual) & set(detected))}")
    _sheet(tiles, args.sheet)
    _sheet(residual_tiles, args.residual_sheet)
    _sheet(missed_tiles, args.missed_sheet, columns=6)
    _sheet(multi_tiles, args.multi_sheet, columns=6)
    print(f"images with 2+ separate removed areas: {len(multi_tiles)} shown in {args.multi_sheet}")
    worst = np.argsort(lc)[::-1][:3]
    print(
        "largest lung-field changes: " + ", ".join(f"{Path(rows[i]['file']).stem} {lc[i]:.3%}" for i in worst)
    )
    print(
        f"contact sheet of {len(tiles)} removals: {args.sheet}; residual flags sheet: {args.residual_sheet}"
    )
    if args.figure is not None and examples:
        _figure(examples, args.figure)
        print(f"figure: {args.figure} ({', '.join(e[0] for e in examples)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
