"""Load every image and mask of the shared real data through the package and report what happened.

Reads ``kermany`` and ``covid_lesions`` with :func:`monai_gan_aug.data.datasets.manifest_dataset`,
loads each image with :class:`monai_gan_aug.transforms.io.LoadXRayd` and its masks (lung, and
lesion where present) with MONAI's ``LoadImaged`` (masks are label maps, not radiographs:
``LoadXRay`` rightly refuses the all-zero lesion masks of lesion-free images as constant), and
checks: image ``(1, H, W)`` float32 in ``[0, 1]`` and finite; each mask the same shape as its
image and binary (values within ``{0, 255}`` or ``{0, 1}``); boxes inside the image.
Prints counts per label and per patient split, every failure, and the time taken; exits 1 on any
failure, 0 with ``SKIPPED`` when the data folder is absent.

Usage::

    .venv/bin/python scripts/check_shared_data.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from monai.data import PILReader
from monai.transforms import LoadImaged

from monai_gan_aug.data.datasets import manifest_dataset
from monai_gan_aug.data.splits import patient_split
from monai_gan_aug.errors import MonaiGanAugError

DATASETS = ("kermany", "covid_lesions")
MASK_KEYS = ("lung_mask", "lesion_mask")
DEFAULT_DATA = Path(os.environ.get("MONAI_GAN_AUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def make_loaders() -> tuple[Any, Any]:
    """The image loader under test and a plain mask loader (row-major, so masks are (1, H, W))."""
    from monai_gan_aug.transforms.io import LoadXRayd  # imported late so SKIPPED needs no loader

    images = LoadXRayd(keys="image")
    masks = LoadImaged(keys=MASK_KEYS, reader=PILReader(reverse_indexing=False), image_only=True,
                       ensure_channel_first=True, allow_missing_keys=True)
    return images, masks


def check_item(item: dict[str, Any], loaders: tuple[Any, Any]) -> list[str]:
    """Load one data dict and return the problems found (empty when all is well)."""
    try:
        out = loaders[1](loaders[0](item))
    except (MonaiGanAugError, OSError, ValueError, RuntimeError) as e:  # report, never stop the sweep
        return [f"load failed: {type(e).__name__}: {e}"]
    image = torch.as_tensor(out["image"])
    problems = []
    if image.ndim != 3 or image.shape[0] != 1 or image.dtype != torch.float32:
        problems.append(f"image is {tuple(image.shape)} {image.dtype}, expected (1, H, W) float32")
    elif not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        problems.append(f"image values outside [0, 1]: min {image.min():.4g} max {image.max():.4g}")
    for key in MASK_KEYS:
        if key not in out:
            continue
        mask = torch.as_tensor(out[key])
        if mask.shape != image.shape:
            problems.append(f"{key} shape {tuple(mask.shape)} != image shape {tuple(image.shape)}")
            continue
        values = set(mask.unique().tolist())
        if not (values <= {0, 255} or values <= {0, 1}):
            problems.append(f"{key} is not binary: values {sorted(values)[:6]}")
    h, w = image.shape[-2:]
    for box in item.get("boxes", []):
        if box[2] > w or box[3] > h:
            problems.append(f"box {box} exceeds the image ({h}x{w})")
    return problems


def check_dataset(root: Path, name: str, loaders: tuple[Any, Any], limit: int | None) -> tuple[int, list[str]]:
    """Check one shared dataset; print its counts; return (items checked, failure lines)."""
    try:
        items = manifest_dataset(root / name / "manifest.csv")
    except MonaiGanAugError as e:
        return 0, [f"{name}: manifest: {e}"]
    items = items[:limit] if limit else items
    splits = patient_split(items)
    print(f"{name}: {len(items)} items, {len({i['patient'] for i in items})} patients")
    print(f"  labels: {dict(sorted(Counter(i['label'] for i in items).items()))}")
    print(f"  class_index: {dict(sorted(Counter(i['class_index'] for i in items).items()))}")
    for key in (*MASK_KEYS, "boxes"):
        print(f"  with {key}: {sum(key in i for i in items)}")
    for split, part in splits.items():
        print(f"  split {split}: {len(part)} images, {len({i['patient'] for i in part})} patients, "
              f"labels {dict(sorted(Counter(i['label'] for i in part).items()))}")
    owners: dict[str, set[str]] = {}
    for split, part in splits.items():
        for i in part:
            owners.setdefault(i["patient"], set()).add(split)
    failures = [f"{name}: patient {p} in splits {sorted(s)}" for p, s in owners.items() if len(s) > 1]
    for item in items:
        failures += [f"{name}: {item['image']}: {msg}" for msg in check_item(item, loaders)]
    return len(items), failures


def main(argv: list[str] | None = None) -> int:
    """Run the checks; return the process exit code (0 ok or skipped, 1 on any failure)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--limit", type=int, default=None, help="check only the first N items of each set")
    args = parser.parse_args(argv)
    if not all((args.data / name / "manifest.csv").is_file() for name in DATASETS):
        print(f"SKIPPED: shared data not found at {args.data} (expected {', '.join(DATASETS)} with manifest.csv)")
        return 0
    torch.set_num_threads(1)  # 2 shared cores: decoding PNGs does not need more
    loaders = make_loaders()
    start = time.perf_counter()
    total, failures = 0, []
    for name in DATASETS:
        t0 = time.perf_counter()
        n, fails = check_dataset(args.data, name, loaders, args.limit)
        print(f"  loaded in {time.perf_counter() - t0:.1f} s, failures: {len(fails)}")
        total, failures = total + n, failures + fails
    for line in failures:
        print(f"FAIL {line}")
    elapsed = time.perf_counter() - start
    print(f"{'FAILED' if failures else 'OK'}: {total} items checked, {len(failures)} failures, {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
