"""Figure of the pix2pix_pathology bundle: held-out inputs with boxes, what G sees, the output.

Usage::

    python scripts/make_pix2pix_figure.py [--data ../shared/data] [--out docs/images/pix2pix_pathology.png]
    python scripts/make_pix2pix_figure.py --covid --out /tmp/p2p_covid.png   # covid_lesions: do not commit

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


def _tile(src: np.ndarray, pred: np.ndarray, boxes: np.ndarray) -> tuple[Image.Image, bool, float]:
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
    cols = [im.resize((TILE, round(TILE * im.height / im.width))) for im in (a, b, c)]
    canvas = Image.new("RGB", (3 * TILE + 8, max(r.height for r in cols) + 4), "white")
    for i, col in enumerate(cols):
        canvas.paste(col, (i * (TILE + 4), 0))
    return canvas, exact, change


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "pix2pix_pathology.png"))
    parser.add_argument("--covid", action="store_true", help="covid_lesions test films (do not commit)")
    parser.add_argument("--weights", default=None, help="pix2pix generator (default: the shipped weights)")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "kermany" / "manifest.csv").is_file():
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
            for image, box in _rows(data, args.covid):
                writer.writerow([image, ",".join(str(int(round(v))) for v in box)])
        subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file",
                        str(ROOT / "bundles" / "pix2pix_pathology" / "configs" / "inference.json"),
                        "--box_csv", str(work / "boxes.csv"), "--output_dir", str(work / "pred"),
                        "--ckpt_path", str(weights), "--num_threads", "1"], check=True, cwd=ROOT)
        tiles = []
        for item in box_csv_datalist(work / "boxes.csv"):
            src = np.asarray(Image.open(item["image"]).convert("L"))
            pred16 = np.asarray(Image.open(work / "pred" / (Path(item["image"]).stem + "_pathology_aug.png")))
            pred = (pred16 / 257).round().astype(np.uint8)  # 16-bit output of an 8-bit input: v -> 257 v
            tile, exact, change = _tile(src, pred, np.asarray(item["boxes"]).astype(int))
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
