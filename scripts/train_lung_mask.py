#!/usr/bin/env python
"""Train, evaluate and time the lung-field UNet shipped as ``monai_gan_aug/weights/lung_unet.pt``.

Data: the Kermany images with hand-drawn lung masks (``../shared/data/kermany``, 837 images),
split by patient with :func:`monai_gan_aug.data.splits.patient_split` (seed 0, 70/15/15), the
same split as every other model of the project. Train on train, select the checkpoint on val
(Dice at the working size, every epoch), report on val and test at the native resolution through
:class:`monai_gan_aug.transforms.lung.LungMask`, the same code users run.

Usage::

    python scripts/train_lung_mask.py train --out runs/lung --budget-min 26 --threads 1
    python scripts/train_lung_mask.py evaluate --weights monai_gan_aug/weights/lung_unet.pt
    python scripts/train_lung_mask.py benchmark --weights monai_gan_aug/weights/lung_unet.pt
    python scripts/train_lung_mask.py figure --out docs/images/lung_mask_examples.png

``train`` runs for a wall-time budget (the learning rate follows a cosine over the budget, so it
anneals fully whatever the machine's speed), then evaluates the best checkpoint and writes it
with its scores to ``--out/lung_unet.pt`` (``--ship`` also copies it into the package).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.networks.nets import UNet
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    Resize,
    SpatialPad,
    Transform,
)
from monai.utils import set_determinism
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai_gan_aug.data.splits import patient_split  # noqa: E402
from monai_gan_aug.networks.factory import load_network, save_network  # noqa: E402
from monai_gan_aug.transforms.lung import NORM_PERCENTILES, LungMask, to_working_size  # noqa: E402
from monai_gan_aug.utils.checkpoint import save_checkpoint  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "kermany"
SPLIT_SEED = 0


def load_items(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Read the manifest, keep images with a lung mask, split by patient."""
    with open(data_dir / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["mask_file"]]
    items = [{"image": str(data_dir / r["file"]), "label": str(data_dir / r["mask_file"]), "patient": r["patient"]} for r in rows]
    return patient_split(items, fractions=(0.7, 0.15, 0.15), seed=SPLIT_SEED)


def read_png(path: str) -> np.ndarray:
    """An 8-bit PNG as a ``(1, H, W)`` float32 array in ``[0, 1]``."""
    return (np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0)[None]


def read_mask(path: str) -> np.ndarray:
    """A 0/255 mask PNG as a ``(1, H, W)`` boolean array."""
    return (np.asarray(Image.open(path).convert("L")) > 127)[None]


class LoadWorkingPaird(Transform):
    """Load an image/mask pair and bring both to the working size (the cached, deterministic part).

    The image goes through :func:`to_working_size`, exactly as at inference; the mask is resized
    with area averaging and re-thresholded, then padded the same way.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.resize = Resize(spatial_size=size, size_mode="longest", mode="area")
        self.pad = SpatialPad(spatial_size=(size, size), method="symmetric")

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        img, _, _ = to_working_size(torch.from_numpy(read_png(item["image"])), self.size)
        mask = self.pad(self.resize(torch.from_numpy(read_mask(item["label"]).astype(np.float32))))
        return {"image": img, "label": (torch.as_tensor(mask) > 0.5).float()}


def augmentations() -> list:
    """Geometric and intensity augmentations (MONAI dictionary transforms)."""
    keys = ("image", "label")
    return [
        RandAffined(keys, prob=0.8, rotate_range=0.2, scale_range=0.15, translate_range=(20, 20), shear_range=0.05,
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandAdjustContrastd("image", prob=0.5, gamma=(0.6, 1.6)),
        RandScaleIntensityd("image", factors=0.15, prob=0.3),
        RandShiftIntensityd("image", offsets=0.08, prob=0.3),
        RandGaussianSmoothd("image", sigma_x=(0.3, 1.2), sigma_y=(0.3, 1.2), prob=0.2),
        RandGaussianNoised("image", prob=0.3, std=0.03),
    ]


def network_kwargs(channels: tuple[int, ...], res_units: int) -> dict[str, Any]:
    return {"spatial_dims": 2, "in_channels": 1, "out_channels": 1, "channels": list(channels),
            "strides": [2] * (len(channels) - 1), "num_res_units": res_units, "norm": "batch"}


@torch.no_grad()
def working_dice(net: torch.nn.Module, loader: DataLoader) -> float:
    """Mean Dice at the working size (used for checkpoint selection only)."""
    metric = DiceMetric(include_background=True, reduction="mean")
    net.eval()
    for batch in loader:
        pred = (net(batch["image"]) > 0).float()
        metric(pred, batch["label"])
    net.train()
    return float(metric.aggregate().item())


def native_dice(weights: Path, items: list[dict[str, Any]], postprocess: bool) -> np.ndarray:
    """Per-image Dice at the native resolution, through the user-facing :class:`LungMask`."""
    seg = LungMask(weights=weights, device="cpu", postprocess=postprocess)
    metric = DiceMetric(include_background=True, reduction="none")
    for it in items:
        pred = seg(read_png(it["image"]))
        metric(pred[None], torch.from_numpy(read_mask(it["label"]).astype(np.float32))[None])
    return metric.aggregate().flatten().numpy()


def summarize(d: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(d.mean()), 4), "p5": round(float(np.percentile(d, 5)), 4),
            "min": round(float(d.min()), 4), "n": int(d.size)}


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    set_determinism(seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_items(Path(args.data))
    if args.limit:
        splits = {k: v[: args.limit] for k, v in splits.items()}
    print({k: len(v) for k, v in splits.items()}, flush=True)

    t0 = time.time()
    prep = LoadWorkingPaird(args.size)
    train_ds = CacheDataset(splits["train"], transform=Compose([prep, *augmentations()]), cache_rate=1.0, num_workers=0, progress=False)
    val_ds = CacheDataset(splits["val"], transform=prep, cache_rate=1.0, num_workers=0, progress=False)
    print(f"cached {len(train_ds)} train + {len(val_ds)} val images at {args.size}px in {time.time() - t0:.0f}s", flush=True)
    train_loader = DataLoader(train_ds, batch_size=args.batch, shuffle=True, num_workers=0, drop_last=True)
    val_loader = DataLoader(val_ds, batch_size=16, shuffle=False, num_workers=0)

    kwargs = network_kwargs(tuple(args.channels), args.res_units)
    net = UNet(**kwargs)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = DiceCELoss(sigmoid=True)
    budget = args.budget_min * 60.0
    best, best_epoch, epoch, history = -1.0, 0, 0, []
    start = time.time()
    best_path = out / "best.pt"
    while time.time() - start < budget:
        epoch += 1
        losses = []
        for batch in train_loader:
            frac = min(1.0, (time.time() - start) / budget)
            warm = min(1.0, (len(losses) + (epoch - 1) * len(train_loader) + 1) / 50)  # short warm-up
            for g in opt.param_groups:  # cosine over the wall-time budget
                g["lr"] = args.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
            loss = loss_fn(net(batch["image"]), batch["label"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        dice = working_dice(net, val_loader)
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "val_dice_working": round(dice, 4),
                        "elapsed_s": round(time.time() - start, 1), "lr": opt.param_groups[0]["lr"]})
        if dice > best:
            best, best_epoch = dice, epoch
            save_network(net, "lung_unet", kwargs, best_path, info={"epoch": epoch, "working_size": args.size})
        save_checkpoint({"net": net.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, out / "last.pt")
        print(json.dumps(history[-1]) + (" *" if best_epoch == epoch else ""), flush=True)
    train_time = time.time() - start
    print(f"trained {epoch} epochs in {train_time / 60:.1f} min; best val Dice (working size) {best:.4f} at epoch {best_epoch}", flush=True)

    net = load_network(best_path)
    scores = {}
    for split in ("val", "test"):
        for pp in (False, True):
            scores[f"{split}_dice_native{'_post' if pp else ''}"] = summarize(native_dice(best_path, splits[split], pp))
    print(json.dumps(scores, indent=1), flush=True)
    info = {
        "working_size": args.size,
        "preprocessing": f"per-image percentile {NORM_PERCENTILES} -> [0,1] clip; resize longest side to {args.size} (area); "
                         "symmetric zero pad to square",
        "postprocessing": "sigmoid prob resized bilinearly to native size, > 0.5; keep 2 largest components, fill holes",
        "loss": "DiceCELoss(sigmoid=True)", "optimizer": f"AdamW lr {args.lr} wd 1e-4, cosine over wall-time budget",
        "batch_size": args.batch, "epochs": epoch, "best_epoch": best_epoch, "train_time_s": round(train_time, 1),
        "threads": args.threads, "val_dice_working": round(best, 4),
        "split": "monai_gan_aug.data.splits.patient_split fractions (0.7, 0.15, 0.15)", "split_seed": SPLIT_SEED,
        "data": "kermany (shared/data/kermany, images with V7 lung masks)",
        "n_train": len(splits["train"]), "n_val": len(splits["val"]), "n_test": len(splits["test"]),
        **{k: v for k, v in scores.items()},
    }
    final = out / "lung_unet.pt"
    save_network(net, "lung_unet", kwargs, final, info=info)
    (out / "history.json").write_text(json.dumps({"history": history, "info": info}, indent=1))
    if args.ship:
        dest = ROOT / "monai_gan_aug" / "weights" / "lung_unet.pt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(final, dest)
        print(f"shipped {dest} ({dest.stat().st_size / 1e6:.2f} MB)")


def evaluate(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    splits = load_items(Path(args.data))
    for split in args.splits:
        for pp in (False, True):
            d = native_dice(Path(args.weights), splits[split], pp)
            print(f"{split} postprocess={pp}: {summarize(d)}", flush=True)


def benchmark(args: argparse.Namespace) -> None:
    """Median latency of LungMask on a 512-px Kermany test image (after one warm-up call)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    item = load_items(Path(args.data))["test"][0]
    img = read_png(item["image"])
    seg = LungMask(weights=args.weights, device="cpu")
    seg(img)  # loads the weights once
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        seg(img)
        times.append(time.perf_counter() - t)
    print(f"image {Path(item['image']).name} {img.shape[1:]}; torch threads {torch.get_num_threads()}; "
          f"median {np.median(times) * 1000:.1f} ms over {args.runs} runs (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")


def figure(args: argparse.Namespace) -> None:
    """Overlay figure: test-split images with the reference (green) and predicted (red) lung outlines.

    Picks the best, median and worst test images by Dice (plus one more at the 25th percentile) so
    the figure shows the failure modes, not only the good cases.
    """
    import cv2

    torch.set_num_threads(args.threads)
    items = load_items(Path(args.data))["test"]
    seg = LungMask(weights=args.weights, device="cpu")
    preds, dices = [], []
    for it in items:
        pred = seg(read_png(it["image"]))[0].numpy() > 0.5
        ref = read_mask(it["label"])[0]
        preds.append(pred)
        dices.append(2 * (pred & ref).sum() / max(pred.sum() + ref.sum(), 1))
    order = np.argsort(dices)
    picks = [order[-1], order[len(order) // 2], order[len(order) // 4], order[0]]
    panels = []
    for i in picks:
        img = (read_png(items[i]["image"])[0] * 255).astype(np.uint8)
        ref = read_mask(items[i]["label"])[0].astype(np.uint8)
        rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        for m, colour in ((ref, (0, 200, 0)), (preds[i].astype(np.uint8), (0, 0, 255))):
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, contours, -1, colour, 3)
        scale = args.panel / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        canvas = np.full((args.panel + 22, args.panel, 3), 255, np.uint8)
        y0, x0 = 22 + (args.panel - rgb.shape[0]) // 2, (args.panel - rgb.shape[1]) // 2
        canvas[y0 : y0 + rgb.shape[0], x0 : x0 + rgb.shape[1]] = rgb
        cv2.putText(canvas, f"{Path(items[i]['image']).stem}  Dice {dices[i]:.3f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(canvas)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.concatenate(panels, axis=1), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out}: test images with Dice {[round(float(dices[i]), 3) for i in picks]} (best, median, p25, worst)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", default=str(DEFAULT_DATA))
    t.add_argument("--out", default="runs/lung_unet")
    t.add_argument("--size", type=int, default=256)
    t.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    t.add_argument("--res-units", type=int, default=1)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--budget-min", type=float, default=26.0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=0, help="use only this many images per split (smoke test)")
    t.add_argument("--ship", action="store_true", help="copy the result to monai_gan_aug/weights/lung_unet.pt")
    e = sub.add_parser("evaluate")
    e.add_argument("--data", default=str(DEFAULT_DATA))
    e.add_argument("--weights", default=str(ROOT / "monai_gan_aug" / "weights" / "lung_unet.pt"))
    e.add_argument("--splits", nargs="+", default=["val", "test"])
    e.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("benchmark")
    b.add_argument("--data", default=str(DEFAULT_DATA))
    b.add_argument("--weights", default=str(ROOT / "monai_gan_aug" / "weights" / "lung_unet.pt"))
    b.add_argument("--runs", type=int, default=20)
    b.add_argument("--threads", type=int, default=0, help="0 keeps torch's default")
    f = sub.add_parser("figure")
    f.add_argument("--data", default=str(DEFAULT_DATA))
    f.add_argument("--weights", default=str(ROOT / "monai_gan_aug" / "weights" / "lung_unet.pt"))
    f.add_argument("--out", default=str(ROOT / "docs" / "images" / "lung_mask_examples.png"))
    f.add_argument("--panel", type=int, default=256)
    f.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    {"train": train, "evaluate": evaluate, "benchmark": benchmark, "figure": figure}[args.cmd](args)


if __name__ == "__main__":
    main()
