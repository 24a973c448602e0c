"""Score difference-map lesion masks against exact / radiologist lesion masks, with simple baselines.

Data sets:

* ``demo``: the embedded demo radiographs (``monai_gan_aug.data.demo.demo_dataset``), pneumonia
  images of the held-out ``test`` patient split (twins of training images never reach it), whose
  ``lesion_mask`` is exact (projection of the lesion volume);
* ``covid``: ``../shared/data/covid_lesions`` (radiologist ground-glass + consolidation masks,
  ``masks_lesion/``); no generator here was trained on these images.

Methods, all restricted to the same lung mask (the data set's own lung mask, ``--lung given``,
or the shipped lung UNet's, ``--lung predicted``):

* ``diffmap``: :class:`~monai_gan_aug.inferers.difference_map.DifferenceMapInferer` with the given
  sick->healthy generator, band ``--low``..``--high``, ``--min-size``;
* ``brightest{P}``: the brightest ``P`` % of lung pixels (opacities are bright);
* ``otsu``: Otsu's threshold of the lung pixels' intensities, bright side;
* ``whole_lung``: every lung pixel (upper bound on recall, a floor for Dice);
* ``unet`` (with ``--unet``): a segmentation UNet trained on difference-map pseudo-labels by the
  ``diffmap_segmentation`` bundle (input resized like in its training, sigmoid > 0.5, resized
  back, cut to the lung).

Per image: Dice and pixel accuracy (over the whole image); reported as means over images whose
lesion mask is not empty. Usage::

    python scripts/eval_diffmap.py --weights monai_gan_aug/weights/cyclegan_G_BA.pt --out /tmp/eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai_gan_aug.data.datasets import manifest_dataset
from monai_gan_aug.data.splits import patient_split
from monai_gan_aug.inferers.difference_map import DifferenceMapInferer, generator_size, load_sick_to_healthy
from monai_gan_aug.transforms.diffmap import band_mask
from monai_gan_aug.transforms.io import LoadXRay
from monai_gan_aug.transforms.lung import LungMask

COVID = ROOT.parent / "shared" / "data" / "covid_lesions" / "manifest.csv"
BRIGHTEST = (10, 25)


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    denom = pred.sum() + gt.sum()
    return float(2 * (pred & gt).sum() / denom) if denom else 1.0


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (maximises the between-class variance)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between))])


def baselines(image: np.ndarray, lung: np.ndarray) -> dict[str, np.ndarray]:
    inside = image[lung]
    out = {"whole_lung": lung.copy()}
    if inside.size == 0:
        return {**out, "otsu": lung.copy(), **{f"brightest{p}": lung.copy() for p in BRIGHTEST}}
    for p in BRIGHTEST:
        out[f"brightest{p}"] = lung & (image >= np.percentile(inside, 100 - p))
    out["otsu"] = lung & (image > otsu_threshold(inside))
    return out


def _read_mask(path: str, shape: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as im:
        m = np.asarray(im.convert("L")) > 0
    if m.shape != shape:
        raise ValueError(f"mask {path} is {m.shape}, image is {shape}")
    return m


def items_of(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    if name == "demo":
        from monai_gan_aug.data.demo import demo_dataset

        items = [it for it in demo_dataset() if it.get("lesion_mask")]
        items = patient_split(items)[args.demo_split]
    else:
        items = manifest_dataset(args.covid)
    return items[: args.max_images] if args.max_images else items


def figure_row(img: np.ndarray, values: np.ndarray, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``image | lesion map | difference-map mask | ground truth`` as one RGB row."""
    from monai_gan_aug.transforms.diffmap import overlay_rgb
    from monai_gan_aug.visualize import hot

    grey = np.repeat((np.clip(img, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)
    gap = np.full((img.shape[0], 4, 3), 255, np.uint8)
    parts = [grey, hot(values), overlay_rgb(img, pred), overlay_rgb(img, gt)]
    return np.concatenate([x for p in parts for x in (p, gap)][:-1], axis=1)


def unet_mask(unet: torch.nn.Module, img: torch.Tensor, lung: np.ndarray) -> np.ndarray:
    """The pseudo-label UNet's mask at the image's size (resize + edge pad as in the bundle's training)."""
    from monai.transforms import Resize, SpatialPad

    size = int(unet.info.get("image_size", 64))
    small = Resize(spatial_size=size, size_mode="longest", mode="area")(img)
    hw = small.shape[-2:]
    pad = SpatialPad((size, size), mode="edge")
    (_, _), (top, _), (left, _) = pad.compute_pad_width(hw)
    with torch.inference_mode():
        prob = torch.sigmoid(unet(torch.as_tensor(pad(small))[None].float()))[0]
    prob = prob[:, top : top + hw[0], left : left + hw[1]]
    full = torch.nn.functional.interpolate(prob[None], size=tuple(img.shape[-2:]), mode="bilinear")[0, 0]
    return (full.numpy() > 0.5) & lung


def evaluate(name: str, net: torch.nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    loader, lung_net = LoadXRay(), LungMask()
    inferer = DifferenceMapInferer(
        low=args.low, high=args.high, min_size=args.min_size, output="map", smooth_sigma=args.smooth
    )
    scores: dict[str, dict[str, list[float]]] = {}
    skipped = 0
    rows: list[np.ndarray] = []
    items = items_of(name, args)
    for item in items:
        img = loader(item["image"])
        hw = tuple(img.shape[-2:])
        gt = _read_mask(item["lesion_mask"], hw)
        if not gt.any():
            skipped += 1
            continue
        lung = _read_mask(item["lung_mask"], hw) if args.lung == "given" else lung_net(img).numpy()[0] > 0
        values = inferer(img[None], net, lung=torch.from_numpy(lung[None, None].astype(np.float32)))[
            0, 0
        ].numpy()
        preds = {"diffmap": band_mask(values, args.low, args.high, args.min_size)}
        preds.update(baselines(img.numpy()[0], lung))
        if args.unet_net is not None:
            preds["unet"] = unet_mask(args.unet_net, img.as_tensor(), lung)
        if args.figure and name == "demo" and len(rows) < args.figure_rows:  # demo images only: shareable
            rows.append(figure_row(img.numpy()[0], values, preds["diffmap"], gt))
        for method, pred in preds.items():
            s = scores.setdefault(method, {"dice": [], "accuracy": []})
            s["dice"].append(dice(pred, gt))
            s["accuracy"].append(float((pred == gt).mean()))
    if rows:
        from monai_gan_aug.visualize import save_rgb

        save_rgb(rows, args.figure)
    table = {m: {k: float(np.mean(v)) for k, v in s.items()} for m, s in scores.items()}
    return {"images": len(items) - skipped, "skipped_empty_gt": skipped, "methods": table}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--weights", default=None, help="sick->healthy generator (default: shipped cyclegan_G_BA.pt)"
    )
    p.add_argument("--datasets", nargs="+", default=["demo", "covid"], choices=["demo", "covid"])
    p.add_argument("--covid", default=str(COVID), help="covid_lesions manifest.csv")
    p.add_argument(
        "--demo-split",
        default="test",
        choices=("train", "val", "test"),
        help="patient split of the demo images (tune the band on val, report test)",
    )
    p.add_argument("--lung", choices=("given", "predicted"), default="given")
    p.add_argument("--low", type=float, default=0.3)
    p.add_argument("--high", type=float, default=0.8)
    p.add_argument("--min-size", type=int, default=20)
    p.add_argument("--smooth", type=float, default=0.0)
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument(
        "--unet",
        default=None,
        help="also score a UNet trained on pseudo-labels (bundle runs/models/model.pt)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--figure", default=None, help="PNG of demo examples: image | map | mask | ground truth")
    p.add_argument("--figure-rows", type=int, default=4)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    net = load_sick_to_healthy(args.weights)
    args.unet_net = None
    if args.unet:
        from monai_gan_aug.networks.factory import load_network

        args.unet_net = load_network(args.unet)
    result: dict[str, Any] = {
        "generator": str(args.weights or "shipped cyclegan_G_BA.pt"),
        "generator_info": getattr(net, "info", {}),
        "working_size": generator_size(net),
        "lung": args.lung,
        "demo_split": args.demo_split,
        "unet": args.unet,
        "band": [args.low, args.high],
        "min_size": args.min_size,
        "smooth_sigma": args.smooth,
        "datasets": {},
    }
    for name in args.datasets:
        start = time.perf_counter()
        result["datasets"][name] = evaluate(name, net, args)
        result["datasets"][name]["seconds"] = round(time.perf_counter() - start, 1)
        print(name, json.dumps(result["datasets"][name], indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
