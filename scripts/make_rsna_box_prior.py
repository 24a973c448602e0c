"""Build ``monai_gan_aug/data/rsna_box_prior.json``: an empirical prior of pneumonia box sizes/positions.

The RSNA Pneumonia Detection Challenge labels (``stage_2_train_labels.csv``) ship inside the
torchxrayvision wheel (Apache-2.0) as ``torchxrayvision/data/kaggle_stage_2_train_labels.csv.zip``.
This script reads them from a wheel, the inner zip or the plain csv (no torchxrayvision install
needed), normalises every box to its 1024x1024 image and writes, column-major in integer
thousandths (to keep the file small): box centre x, centre y, width, height, plus the distribution
of boxes per positive image.

Usage::

    .venv/bin/python scripts/make_rsna_box_prior.py /path/to/torchxrayvision-1.5.7-py3-none-any.whl \
        [--out monai_gan_aug/data/rsna_box_prior.json]
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import zipfile
from pathlib import Path

__all__ = ["build_prior", "main", "read_labels_csv"]

LABELS_IN_WHEEL = "torchxrayvision/data/kaggle_stage_2_train_labels.csv.zip"
RSNA_IMAGE_SIZE = 1024  # every RSNA challenge image is 1024x1024
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "monai_gan_aug" / "data" / "rsna_box_prior.json"


def read_labels_csv(path: Path) -> str:
    """Return the text of ``stage_2_train_labels.csv`` from a wheel, its inner zip, or the csv itself."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"not a file: {path}")
    data = path.read_bytes()
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            if LABELS_IN_WHEEL not in wheel.namelist():
                raise SystemExit(f"{path} has no {LABELS_IN_WHEEL}")
            data = wheel.read(LABELS_IN_WHEEL)
    if data[:2] == b"PK":  # the labels zip (read from the wheel or given directly)
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            names = [n for n in inner.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise SystemExit(f"expected one csv inside the labels zip, found {names}")
            data = inner.read(names[0])
    return data.decode("utf-8")


def build_prior(csv_text: str) -> dict:
    """Normalise the positive boxes and count boxes per positive image."""
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    expected = {"patientId", "x", "y", "width", "height", "Target"}
    if not rows or not expected <= set(rows[0]):
        raise SystemExit(
            f"expected columns {sorted(expected)}, found {sorted(rows[0]) if rows else 'no rows'}"
        )
    columns: dict[str, list[int]] = {"cx": [], "cy": [], "w": [], "h": []}
    per_image: collections.Counter[str] = collections.Counter()
    for row in rows:
        if row["Target"] != "1":
            continue
        x, y, w, h = (float(row[k]) / RSNA_IMAGE_SIZE for k in ("x", "y", "width", "height"))
        # integer thousandths == the 3-decimal rounding, stored without "0." to halve the file size
        for key, value in (("cx", x + w / 2), ("cy", y + h / 2), ("w", w), ("h", h)):
            columns[key].append(round(value * 1000))
        per_image[row["patientId"]] += 1
    counts = collections.Counter(per_image.values())
    n_images = len({row["patientId"] for row in rows})
    return {
        "description": "Empirical prior of pneumonia boxes (RSNA Pneumonia Detection Challenge, stage 2 train).",
        "source": f"{LABELS_IN_WHEEL} from the torchxrayvision 1.5.7 wheel (PyPI)",
        "license": "torchxrayvision: Apache-2.0; labels: RSNA Pneumonia Detection Challenge (RSNA/Kaggle, "
        "annotations of NIH ChestX-ray14 images)",
        "made_by": "scripts/make_rsna_box_prior.py",
        "image_size": [RSNA_IMAGE_SIZE, RSNA_IMAGE_SIZE],
        "units": "thousandths of the image width (cx, w) and height (cy, h); x = column, y = row",
        "scale": 1000,
        "n_boxes": len(columns["cx"]),
        "n_images": n_images,
        "n_positive_images": len(per_image),
        "boxes_per_positive_image": {str(k): counts[k] for k in sorted(counts)},
        "boxes": columns,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="torchxrayvision wheel, the labels .csv.zip, or the .csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    prior = build_prior(read_labels_csv(args.source))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(prior, separators=(",", ":"))
    args.out.write_text(text + "\n", encoding="utf-8")
    print(
        f"wrote {args.out} ({len(text) / 1024:.1f} KiB): {prior['n_boxes']} boxes on "
        f"{prior['n_positive_images']} of {prior['n_images']} images; per image {prior['boxes_per_positive_image']}"
    )


if __name__ == "__main__":
    main()
