"""Figure of the pix2pix_pathology bundle: held-out inputs with boxes, what G sees, the output.

Usage::

    python scripts/make_pix2pix_figure.py [--data ../shared/data] [--out docs/images/pix2pix_pathology.png]
    python scripts/make_pix2pix_figure.py --covid --out /tmp/p2p_covid.png   # covid_lesions: do not commit
    python scripts/make_pix2pix_figure.py --covidqu --weights G.pt --out /tmp/p2p_covidqu.png  # do not commit

``--covidqu``: four COVID films of the held-out part of covidqu's TRAIN split (``part=holdout`` of
``covidqu_pathology_datalist``) with their manifest boxes, at full resolution (256 px), and a fourth
column with another real held-out COVID film for comparison. The output must lie outside the
repository (covidqu images are never committed).

Rows: two held-out (patient split ``test``) Kermany films (CC BY 4.0; a normal, then a pneumonia)
with a hand-placed box, and two ``test``-split demo pneumonia radiographs with the bounding boxes
of their exact lesion masks; or, with ``--covid``, the first four boxed covid_lesions ``test``
films with their radiologist boxes (their licences vary: keep that figure out of the repository).
The outputs come from the bundle's own ``configs/inference.json`` with ``--weights`` (default:
the shipped ``monai_gan_aug/weights/pix2pix_pathology.pt``, not a local run's). Columns: input with
boxes | the generator's input (box content, the rest mid-grey) | output at native resolution,
stamped with whether every box pixel is identical to the input. Prints the per-image check and the mean absolute change outside the boxes.
Skips with a clear message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
TILE = 256  # px width of each column


def _covidqu_rows(data: Path) -> tuple[list[tuple[str, list[float]]], list[str]]:
    """(image, box) pairs of four held-out train COVID films, and four other real held-out films."""
    from monai_gan_aug.data.pathology import covidqu_pathology_datalist

    films = covidqu_pathology_datalist(data / "covidqu", "train", normals=False, part="holdout")
    return [(d["image"], b) for d in films[:4] for b in d["boxes"]], [d["image"] for d in films[4:8]]


def _rows(data: Path, covid: bool) -> list[tuple[str, list[float]]]:
    """(image path, box) pairs to show."""
    from monai_gan_aug.data.datasets import manifest_dataset
    from monai_gan_aug.data.splits import patient_split

    if covid:
        films = [d for d in patient_split(manifest_dataset(data / "covid_lesions" / "manifest.csv"))["test"]
                 if d.get("boxes")][:4]
        return [(d["image"], b) for d in films for b in d["boxes"]]
    from monai_gan_aug.data.demo import demo_dataset

    kermany = patient_split(manifest_dataset(data / "kermany" / "manifest.csv"))["test"]
    picks = [next(d for d in kermany if d["class_index"] == c) for c in (0, 1)]
    rows = []
    for d, frac in zip(picks, ([0.2, 0.3, 0.42, 0.62], [0.56, 0.45, 0.8, 0.75])):
        w, h = Image.open(d["image"]).size
        rows.append((d["image"], [frac[0] * w, frac[1] * h, frac[2] * w, frac[3] * h]))
    demo = [d for d in patient_split(demo_dataset())["test"] if d.get("boxes")][:2]
    return rows + [(d["image"], b) for d in demo for b in d["boxes"]]


def _tile(src: np.ndarray, pred: np.ndarray, boxes: np.ndarray, real: np.ndarray | None = None,
          tile: int = TILE) -> tuple[Image.Image, bool, float]:
    """One figure row, whether the box pixels are identical, and the mean change outside them."""
    keep = np.zeros_like(src, bool)
    for x0, y0, x1, y1 in boxes:
        keep[y0:y1, x0:x1] = True
    exact = bool(np.array_equal(pred[keep], src[keep]))
    change = float(np.abs(pred[~keep].astype(float) - src[~keep]).mean() / 255)
    a = Image.fromarray(src).convert("RGB")
    draw = ImageDraw.Draw(a)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(255, 40, 40), width=3)
    b = Image.fromarray(np.where(keep, src, 128).astype(np.uint8)).convert("RGB")
    c = Image.fromarray(pred).convert("RGB")
    ImageDraw.Draw(c).text((6, 6), f"box pixels identical: {exact}", fill=(255, 255, 0))
    ims = [a, b, c] + ([Image.fromarray(real).convert("RGB")] if real is not None else [])
    cols = [im.resize((tile, round(tile * im.height / im.width))) if im.width != tile else im for im in ims]
    canvas = Image.new("RGB", (len(cols) * (tile + 4), max(r.height for r in cols) + 4), "white")
    for i, col in enumerate(cols):
        canvas.paste(col, (i * (tile + 4), 0))
    return canvas, exact, change


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "pix2pix_pathology.png"))
    parser.add_argument("--covid", action="store_true", help="covid_lesions test films (do not commit)")
    parser.add_argument("--covidqu", action="store_true",
                        help="held-out covidqu train films + a real film column (write outside the repository)")
    parser.add_argument("--weights", default=None, help="pix2pix generator (default: the shipped weights)")
    parser.add_argument("--norm-stats", default="running", choices=("running", "image"),
                        help="batch-norm statistics at inference (PathologyCompositeInferer norm_stats)")
    args = parser.parse_args()
    data = Path(args.data)
    reals: list[str] = []
    if args.covidqu:
        if Path(args.out).resolve().is_relative_to(ROOT):
            print(f"refusing to write covidqu images inside the repository ({args.out}); use e.g. /tmp/p2p_covidqu.png")
            return 2
        if not (data / "covidqu" / "manifest.csv").is_file():
            print(f"SKIPPED: no covidqu data at {data / 'covidqu'}")
            return 0
    elif not (data / "kermany" / "manifest.csv").is_file():
        print(f"SKIPPED: no shared data at {data} (needs kermany/ and covid_lesions/ manifests)")
        return 0
    from monai_gan_aug.data.pathology import box_csv_datalist
    from monai_gan_aug.utils.weights import WEIGHTS_DIR

    weights = Path(args.weights) if args.weights else WEIGHTS_DIR / "pix2pix_pathology.pt"
    print("weights:", weights)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with open(work / "boxes.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image", "box"])
            if args.covidqu:
                rows, reals = _covidqu_rows(data)
            else:
                rows = _rows(data, args.covid)
            for image, box in rows:
                writer.writerow([image, ",".join(str(int(round(v))) for v in box)])
        subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file",
                        str(ROOT / "bundles" / "pix2pix_pathology" / "configs" / "inference.json"),
                        "--box_csv", str(work / "boxes.csv"), "--output_dir", str(work / "pred"),
                        "--ckpt_path", str(weights), "--norm_stats", args.norm_stats, "--num_threads", "1"],
                       check=True, cwd=ROOT)
        tiles = []
        for i, item in enumerate(box_csv_datalist(work / "boxes.csv")):
            src = np.asarray(Image.open(item["image"]).convert("L"))
            pred = np.asarray(Image.open(work / "pred" / (Path(item["image"]).stem + "_pathology_aug.png")))
            if pred.dtype != np.uint8:  # older outputs: 16-bit PNG of an 8-bit input, v -> 257 v
                pred = (pred / 257).round().astype(np.uint8)
            real = np.asarray(Image.open(reals[i]).convert("L")) if i < len(reals) else None
            tile, exact, change = _tile(src, pred, np.asarray(item["boxes"]).astype(int), real,
                                        tile=src.shape[1] if args.covidqu else TILE)
            print(f"{Path(item['image']).name}: box pixels identical {exact}, mean |change| outside {change:.3f}")
            tiles.append(tile)
    figure = Image.new("RGB", (tiles[0].width, sum(t.height for t in tiles)), "white")
    y = 0
    for tile in tiles:
        figure.paste(tile, (0, y))
        y += tile.height
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out, optimize=True)
    print("wrote", args.out, figure.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
