"""Evaluate the headline edit on held-out real images: speed, judge scores, locality, and a figure.

Usage::

    python scripts/eval_edit.py [--data ../shared/data] [--weights W] [--n 60] [--figure docs/images/edit_grid.png]

On held-out (patient-split ``test``, or ``val`` with ``--split val``) Kermany normal images, for
each image a pneumonia-sized box is drawn inside its lung (``RandRegionMask`` with the RSNA prior, seeded per image) and the edit
is applied. Reported, with bootstrap 95 % intervals:

* per-image time of load + lung-independent edit + save for 512 px images (and for RG1_UNCR.dcm);
* the pneumonia judge's (``load_pneumonia_judge``) whole-image rate of P(pneumonia) > 0.5 and mean
  P(pneumonia), before and after the edit, and the same with the region painted as *healthy*
  (a control: the same pipeline without the pneumonia class);
* the *region judge*'s (``monai_gan_aug.metrics.region_judge``: the same classifier architecture
  trained on windows around lung regions of the training split) score of the window around the
  region (side twice the box's longer side), before and after the pneumonia edit and after the
  healthy control: does the *edited region* read as pneumonia, which a whole-film score dilutes
  when the box is small;
* away from the region: the region judge on the mirrored window in the other lung, and the
  whole-film judge on the quadrant farthest from the region, before and after.

Prints a JSON summary; skips with a clear message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FEATHER = 8  # px of blending band around the region (the edit's default)


def _disjoint(window: tuple[int, int, int, int], box: list[int], margin: int) -> bool:
    """Whether a window ``(y0, x0, y1, x1)`` misses the box ``(x0, y0, x1, y1)`` grown by ``margin``."""
    wy0, wx0, wy1, wx1 = window
    return wx1 <= box[0] - margin or wx0 >= box[2] + margin or wy1 <= box[1] - margin or wy0 >= box[3] + margin


def _bootstrap(values: np.ndarray, reps: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), (reps, len(values)))
    means = values[idx].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def _far_crop(img: torch.Tensor, box: list[int]) -> torch.Tensor:
    """The image quadrant whose centre is farthest from the box centre."""
    h, w = img.shape[-2:]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    qy = 0 if cy > h / 2 else h // 2
    qx = 0 if cx > w / 2 else w // 2
    return img[..., qy : qy + h // 2, qx : qx + w // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--weights", default=None, help="lesion generator (default: shipped)")
    parser.add_argument("--region-judge", default=None, help="region judge weights (default: shipped)")
    parser.add_argument("--detail", type=float, default=None,
                        help="share of the input's fine detail kept in the region (default: the weights' own)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="held-out normal films to edit: 'val' to choose settings, 'test' to report")
    parser.add_argument("--n", type=int, default=60, help="held-out normal images to edit")
    parser.add_argument("--figure", default=None, help="write a grid of inputs, regions and outputs here")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the summary here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    manifest = Path(args.data) / "kermany" / "manifest.csv"
    if not manifest.is_file():
        print(f"SKIPPED: real data not found at {args.data} (kermany/manifest.csv)")
        return 0

    from monai_gan_aug.data.datasets import manifest_dataset
    from monai_gan_aug.data.splits import patient_split
    from monai_gan_aug.inferers.edit import PneumoniaEditor
    from monai_gan_aug.metrics.region_judge import (
        load_region_judge, mirrored_box, region_pneumonia_probability, region_window_bounds,
    )
    from monai_gan_aug.networks.classifier import load_pneumonia_judge, pneumonia_probability
    from monai_gan_aug.transforms.io import LoadXRay
    from monai_gan_aug.transforms.region import RandRegionMask
    from monai_gan_aug.visualize import edit_panel, save_rgb

    items = [d for d in patient_split(manifest_dataset(manifest))[args.split]
             if d["class_index"] == 0 and d.get("lung_mask")]
    items = items[: args.n]
    editor = PneumoniaEditor(weights=args.weights, feather=FEATHER, detail=args.detail)
    healthy_editor = PneumoniaEditor(weights=args.weights, feather=FEATHER, class_index=0, detail=args.detail)
    judge = load_pneumonia_judge()
    region_judge = load_region_judge(path=args.region_judge)
    loader = LoadXRay()
    from PIL import Image

    times, before, after, after_healthy, far_before, far_after, panels = [], [], [], [], [], [], []
    region_scores: list[list[float]] = []  # per image: before, pneumonia edit, healthy control
    mirror_scores: list[list[float]] = []  # per image: mirrored window before, after the pneumonia edit
    with tempfile.TemporaryDirectory() as tmp:
        for i, item in enumerate(items):
            lung = torch.from_numpy((np.asarray(Image.open(item["lung_mask"])) > 127).astype(np.float32))[None]
            image = loader(item["image"])
            drawer = RandRegionMask(feather=FEATHER)
            drawer.set_random_state(seed=i)
            drawn, _ = drawer(image, lung=lung)
            box = drawn.meta["region"]["boxes"][0]
            t0 = time.perf_counter()
            result = editor.edit_file(item["image"], {"box": box}, Path(tmp) / f"{i}.png", seed=i)
            times.append(time.perf_counter() - t0)
            control = healthy_editor.edit(result.image, {"box": box}, seed=i)
            batch = torch.stack([result.image.as_tensor(), result.edited.as_tensor(), control.edited.as_tensor()])
            p = pneumonia_probability(judge, batch)
            before.append(float(p[0]))
            after.append(float(p[1]))
            after_healthy.append(float(p[2]))
            films = [t.as_tensor() for t in (result.image, result.edited, control.edited)]
            region_scores.append(region_pneumonia_probability(region_judge, films, [box] * 3).tolist())
            mirror = mirrored_box(box, films[0].shape[-1])
            if _disjoint(region_window_bounds(mirror, films[0].shape[-2:]), box, margin=2 * FEATHER):
                mirror_scores.append(region_pneumonia_probability(region_judge, films[:2], [mirror] * 2).tolist())
            crops = torch.stack([_far_crop(result.image.as_tensor(), box), _far_crop(result.edited.as_tensor(), box)])
            q = pneumonia_probability(judge, crops)
            far_before.append(float(q[0]))
            far_after.append(float(q[1]))
            if args.figure and len(panels) < 6:
                panels.append(edit_panel(result.image, result.edited, result.region_mask, max_height=256))
        rg1 = _rg1_timing(editor, Path(tmp))

    b, a, h = np.array(before), np.array(after), np.array(after_healthy)
    fb, fa = np.array(far_before), np.array(far_after)
    r, m = np.array(region_scores), np.array(mirror_scores).reshape(-1, 2)
    summary = {
        "split": args.split,
        "images": len(items),
        "weights": str(editor.weights_path),
        "detail": editor.detail,
        "seconds_per_512px_image": {"median": float(np.median(times)), "max": float(np.max(times))},
        "rg1_uncr_seconds": rg1,
        "judge_rate_p_gt_0.5": {
            "before": float((b > 0.5).mean()), "after_pneumonia_edit": float((a > 0.5).mean()),
            "after_healthy_edit": float((h > 0.5).mean()),
            "after_pneumonia_ci95": _bootstrap((a > 0.5).astype(float)),
        },
        "judge_mean_p": {
            "before": float(b.mean()), "after_pneumonia_edit": float(a.mean()), "after_healthy_edit": float(h.mean()),
            "mean_shift_ci95": _bootstrap(a - b),
        },
        "region_judge": str(args.region_judge or "shipped"),
        "region_rate_p_gt_0.5": {
            "before": float((r[:, 0] > 0.5).mean()), "after_pneumonia_edit": float((r[:, 1] > 0.5).mean()),
            "after_healthy_edit": float((r[:, 2] > 0.5).mean()),
            "after_pneumonia_ci95": _bootstrap((r[:, 1] > 0.5).astype(float)),
        },
        "region_mean_p": {
            "before": float(r[:, 0].mean()), "after_pneumonia_edit": float(r[:, 1].mean()),
            "after_healthy_edit": float(r[:, 2].mean()), "mean_shift_ci95": _bootstrap(r[:, 1] - r[:, 0]),
            # paired per film: the same box painted as pneumonia vs as healthy lung
            "pneumonia_minus_healthy_edit": float((r[:, 1] - r[:, 2]).mean()),
            "pneumonia_minus_healthy_edit_ci95": _bootstrap(r[:, 1] - r[:, 2]),
        },
        "mirrored_window_region_judge": {
            "windows_disjoint_from_region": len(m),
            "mean_p_before": float(m[:, 0].mean()), "mean_p_after": float(m[:, 1].mean()),
            "mean_abs_change": float(np.abs(m[:, 1] - m[:, 0]).mean()),
            "max_abs_change": float(np.abs(m[:, 1] - m[:, 0]).max()) if len(m) else None,
        },
        "far_quadrant_whole_film_judge_mean_abs_change": float(np.abs(fa - fb).mean()),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    if args.figure and panels:
        width = max(p.shape[1] for p in panels)
        rows = [np.pad(p, ((0, 4), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in panels]
        save_rgb(rows, args.figure)
        print(f"wrote {args.figure}")
    return 0


def _rg1_timing(editor, tmp: Path) -> float | None:
    try:
        from pydicom.data import get_testdata_file

        src = get_testdata_file("RG1_UNCR.dcm", download=False)
    except Exception:  # noqa: BLE001 - pydicom-data not installed
        return None
    if not src:
        return None
    t0 = time.perf_counter()
    editor.edit_file(src, {"box": [1100, 700, 1400, 1100]}, tmp / "rg1.dcm", seed=0)
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
