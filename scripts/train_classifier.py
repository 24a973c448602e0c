"""Train the pneumonia judge (:class:`monai_gan_aug.networks.classifier.XRayClassifier`) on Kermany.

Uses the project-wide patient split (``patient_split(items, (0.7, 0.15, 0.15), seed=0)``): trains on
``train``, keeps the epoch with the best validation ROC-AUC, reports test AUC / accuracy /
sensitivity / specificity, and an out-of-distribution check on the adult covid_lesions images.

Example (the command that made the shipped weights; see docs/classifier.md)::

    nohup .venv/bin/python scripts/train_classifier.py --epochs 50 --max-minutes 22 \
        > /tmp/judge.log 2>&1 &

With ``--region-crops K`` it trains the *region judge* instead
(:mod:`monai_gan_aug.metrics.region_judge`): every film with a lung mask gives ``K`` windows around
boxes drawn from the RSNA prior inside its lung, labelled by the film's diagnosis; the split is the
same patient split (made before filtering, so held-out films stay held out everywhere)::

    .venv/bin/python scripts/train_classifier.py --region-crops 6 --size 96 --epochs 30 --max-minutes 20

With ``--dataset covidqu --region-crops K`` it trains the *covidqu (adult) region judge* on the
official covidqu ``train`` split only (:func:`monai_gan_aug.metrics.region_judge.covidqu_region_items`):
positives are windows around up to ``K`` real lesion boxes of every COVID film, negatives ``K``
windows around real lesion boxes transplanted onto every normal film (clipped to its lung). 15 % of
the train films (by film, ``patient_split(..., (0.85, 0.15, 0.0), seed=0)``) are held out to pick
the epoch and the Youden threshold. ``--away-negatives N`` adds up to ``N`` lesion-free boxes of
every COVID film as negatives, so that which collection a film comes from cannot separate the
classes alone. The covidqu ``val`` split is never used for training or selection; after training
it is scored once (real vs transplanted boxes, and windows on COVID films *away* from the
infection, the film-versus-region check) and the numbers go into ``info``. The shipped
``covidqu_region_judge.pt`` (docs/classifier.md)::

    nice -n 10 .venv/bin/python scripts/train_classifier.py --dataset covidqu --region-crops 3 --away-negatives 2 \
        --size 96 --epochs 20 --max-minutes 20 --threads 1 --out monai_gan_aug/weights/covidqu_region_judge.pt
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import DataLoader, Dataset
from monai.metrics import ROCAUCMetric
from monai.transforms import Compose
from monai.utils import set_determinism
from PIL import Image

from monai_gan_aug.data.splits import patient_split
from monai_gan_aug.errors import DatasetError
from monai_gan_aug.metrics.downstream import classifier_augmentation
from monai_gan_aug.networks.classifier import PNEUMONIA_CLASS, XRayClassifier, resize_pad_square
from monai_gan_aug.networks.factory import save_network
from monai_gan_aug.metrics.region_judge import (
    COVIDQU_REGION_JUDGE_WEIGHTS,
    REGION_CONTEXT,
    REGION_JUDGE_WEIGHTS,
    covidqu_away_items,
    covidqu_region_items,
    covidqu_rows,
    manifest_boxes,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
LABELS = {"normal": 0, "pneumonia": 1}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_manifest(folder: Path) -> list[dict]:
    """Rows of ``folder/manifest.csv`` with an absolute ``image`` path added."""
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise DatasetError(f"no manifest.csv in {folder}")
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["image"] = str(folder / row["file"])
    return rows


def load_resized(path: str, size: int) -> torch.Tensor:
    """Read an 8-bit grey PNG as ``(1, size, size)`` in [0, 1], resized/padded like the classifier."""
    arr = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
    return resize_pad_square(torch.from_numpy(arr)[None, None], size)[0]


def preload(rows: list[dict], size: int) -> list[dict]:
    return [{"image": load_resized(r["image"], size), "label": LABELS[r["label"]]} for r in rows]


def preload_regions(rows: list[dict], size: int, per_film: int, folder: Path) -> list[dict]:
    """``per_film`` region windows of every film with a lung mask (seeded by the film's file name)."""
    import zlib

    from monai_gan_aug.metrics.region_judge import draw_lung_boxes, region_window

    items = []
    for r in rows:
        if not r.get("mask_file"):
            continue
        image = torch.from_numpy(np.asarray(Image.open(r["image"]).convert("L"), dtype=np.float32) / 255.0)[None]
        lung = np.asarray(Image.open(folder / r["mask_file"]).convert("L")) > 127
        seed = zlib.crc32(r["file"].encode())  # stable across runs and Python hash seeds
        for box in draw_lung_boxes(image, lung, per_film, seed):
            items.append({"image": region_window(image, box, size), "label": LABELS[r["label"]]})
    return items


def covidqu_data(folder: Path, per_film: int, size: int, seed: int,
                 away_negatives: int = 0, context: float = REGION_CONTEXT,
                 population: str = "all") -> tuple[dict[str, list[dict]], dict]:
    """Train / held-out windows from the covidqu ``train`` split only, split by film; and split notes.

    The split into parts is made on all train films first (so a film is on the same side whatever
    ``population`` keeps), then the films of other populations are dropped.
    """
    from monai_gan_aug.data.covidqu import select_population

    rows = covidqu_rows(folder, "train")
    parts = patient_split(rows, fractions=(0.85, 0.15, 0.0), seed=0)  # ``patient`` is the file stem: by film
    parts = {name: select_population(part, population) for name, part in parts.items()}
    pool = [b for r in parts["train"] if r["label"] == "covid" for b in manifest_boxes(r["bbox"])]
    data = {name: [{"image": it["image"], "label": it["label"]}
                   for it in covidqu_region_items(folder, parts[name], per_film, size, seed=seed, pool=pool, context=context,
                                                  away_negatives=away_negatives)]
            for name in ("train", "val")}
    films = {name: {lab: sum(r["label"] == lab for r in parts[name]) for lab in ("normal", "covid")}
             for name in ("train", "val")}
    return data, {"films_per_part": films, "transplant_pool_boxes": len(pool)}


def covidqu_val_report(model: XRayClassifier, folder: Path, per_film: int, size: int, seed: int,
                       threshold: float, context: float = REGION_CONTEXT) -> dict:
    """Score the trained judge once on the covidqu ``val`` split (never used for selection).

    Real lesion boxes of COVID films vs val lesion boxes transplanted onto normal films (as the
    scorecard places them), and windows on COVID films away from the infection mask.
    """
    rows = covidqu_rows(folder, "val")
    items = covidqu_region_items(folder, rows, per_film, size, seed=seed, context=context)
    probs, labels = predict(model, items)
    out = {"at_0.5": binary_scores(probs, labels, 0.5), "at_youden_heldout": binary_scores(probs, labels, threshold)}
    first = [i for i, it in enumerate(items) if it["label"] == 0 and (i == 0 or items[i - 1]["film"] != it["film"])]
    out["normal_first_box_called_pneumonia"] = float((probs[first] >= 0.5).float().mean())
    out["normal_first_box_n"] = len(first)
    away = covidqu_away_items(folder, rows, size, seed=seed, context=context)
    covid_films = sum(r["label"] == "covid" for r in rows)
    if away:
        pa, _ = predict(model, away)
        frac = torch.tensor([a["window_lesion_fraction"] for a in away])
        clean = frac < 0.05
        pos, neg = probs[labels == 1], probs[labels == 0]

        def summ(p: torch.Tensor) -> dict:
            return {"n": int(p.numel()), "mean": float(p.mean()) if p.numel() else float("nan"),
                    "called_pneumonia": float((p >= 0.5).float().mean()) if p.numel() else float("nan")}

        out["away_from_lesion"] = {
            "covid_films": covid_films,
            "films_with_a_lesion_free_box": len(away),
            "box_lesion_free": summ(pa),
            "window_under_5pct_lesion": summ(pa[clean]),
            "lesion_boxes_same_split": summ(pos),
            "transplanted_boxes_on_normals": summ(neg),
            "auc_away_vs_normal_transplanted": auc(torch.cat([pa, neg]),
                                                   torch.cat([torch.ones(len(pa)), torch.zeros(len(neg))]).long()),
            "auc_lesion_vs_away": auc(torch.cat([pos, pa]),
                                      torch.cat([torch.ones(len(pos)), torch.zeros(len(pa))]).long()),
        }
    return out


def augmentation() -> Compose:
    return classifier_augmentation(translate_px=10)


@torch.no_grad()
def predict(
    model: XRayClassifier, items: list[dict], batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (pneumonia probabilities, labels) for preloaded items."""
    model.eval()
    probs, labels = [], []
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        x = torch.stack([c["image"] for c in chunk])
        probs.append(torch.softmax(model(x), 1)[:, PNEUMONIA_CLASS])
        labels.append(torch.tensor([c["label"] for c in chunk]))
    return torch.cat(probs), torch.cat(labels)


def auc(probs: torch.Tensor, labels: torch.Tensor) -> float:
    metric = ROCAUCMetric()
    metric(probs[:, None], labels[:, None])
    return float(metric.aggregate())


def binary_scores(probs: torch.Tensor, labels: torch.Tensor, threshold: float) -> dict[str, float]:
    pred = (probs >= threshold).long()
    tp = int(((pred == 1) & (labels == 1)).sum())
    tn = int(((pred == 0) & (labels == 0)).sum())
    pos, neg = int((labels == 1).sum()), int((labels == 0).sum())
    return {
        "auc": auc(probs, labels),
        "accuracy": (tp + tn) / len(labels),
        "sensitivity": tp / max(pos, 1),
        "specificity": tn / max(neg, 1),
        "threshold": threshold,
        "n_pneumonia": pos,
        "n_normal": neg,
    }


def youden_threshold(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Threshold maximising sensitivity + specificity - 1 (chosen on validation only)."""
    best_t, best_j = 0.5, -1.0
    for t in torch.unique(probs).tolist():
        s = binary_scores(probs, labels, t)
        j = s["sensitivity"] + s["specificity"] - 1
        if j > best_j:
            best_t, best_j = t, j
    return float(best_t)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder holding kermany/ and covid_lesions/"
    )
    p.add_argument("--out", type=Path, default=None,
                   help="default: monai_gan_aug/weights/pneumonia_classifier.pt (pneumonia_region_judge.pt with --region-crops)")
    p.add_argument("--dataset", choices=("kermany", "covidqu"), default="kermany",
                   help="kermany (default): films or RSNA-prior lung windows; covidqu: the adult region judge "
                        "(needs --region-crops)")
    p.add_argument("--away-negatives", type=int, default=0,
                   help="covidqu: also this many lesion-free boxes per COVID film as negatives (0: only normal films)")
    p.add_argument("--context", type=float, default=REGION_CONTEXT,
                   help="covidqu region judge: window side over the box's longer side (2: the box and as much "
                        "again around it; 1: the box only); stored in the weights' info and used when scoring")
    p.add_argument("--population", choices=("all", "adult"), default="all",
                   help="covidqu: 'adult' drops the 171 paediatric (Kermany) normal films of the train split "
                        "(monai_gan_aug.data.covidqu)")
    p.add_argument("--region-crops", type=int, default=0,
                   help="train the region judge on this many lung-region windows per film (0: whole films)")
    p.add_argument("--size", type=int, default=160, help="working size (px)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--max-minutes", type=float, default=22.0, help="stop training after this wall time")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    covidqu = args.dataset == "covidqu"
    if covidqu and args.region_crops < 1:
        raise SystemExit("--dataset covidqu trains a region judge: give --region-crops K (K >= 1)")
    if args.out is None:
        name = REGION_JUDGE_WEIGHTS if args.region_crops > 0 else "pneumonia_classifier.pt"
        name = COVIDQU_REGION_JUDGE_WEIGHTS if covidqu else name
        args.out = ROOT / "monai_gan_aug" / "weights" / name
    torch.set_num_threads(args.threads)
    set_determinism(seed=args.seed)
    t0 = time.time()

    split_notes: dict = {}
    if covidqu:
        data, split_notes = covidqu_data(args.data / "covidqu", args.region_crops, args.size, args.seed,
                                         args.away_negatives, args.context, args.population)
    else:
        rows = [r for r in read_manifest(args.data / "kermany") if r["label"] in LABELS]
        split = patient_split(rows, fractions=(0.7, 0.15, 0.15), seed=0)
        if args.region_crops > 0:
            folder = args.data / "kermany"
            data = {name: preload_regions(split[name], args.size, args.region_crops, folder)
                    for name in ("train", "val", "test")}
        else:
            data = {name: preload(split[name], args.size) for name in ("train", "val", "test")}
    counts = {n: np.bincount([d["label"] for d in v], minlength=2).tolist() for n, v in data.items()}
    log(f"loaded in {time.time() - t0:.0f}s; [normal, pneumonia] per split: {counts}")

    # Inverse-frequency class weights, so the 328 normals weigh as much as the 887 pneumonias.
    n_cls = torch.tensor(counts["train"], dtype=torch.float32)
    class_weight = n_cls.sum() / (2 * n_cls)

    kwargs = {"in_channels": 1, "num_classes": 2, "spatial_size": args.size}
    model = XRayClassifier(**kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=args.lr,
        total_steps=args.epochs * -(-len(data["train"]) // args.batch_size),
        pct_start=0.1,
    )
    loader = DataLoader(
        Dataset(data["train"], transform=augmentation()),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=0,
        drop_last=False,
    )

    best = {"auc": -1.0, "epoch": -1, "state": None}
    train_start = time.time()
    epochs_run = 0
    for epoch in range(args.epochs):
        model.train()
        total, n = 0.0, 0
        for batch in loader:
            x = batch["image"].as_tensor().clamp(0, 1)
            y = (
                batch["label"].as_tensor().long()
                if hasattr(batch["label"], "as_tensor")
                else batch["label"].long()
            )
            loss = F.cross_entropy(model(x), y, weight=class_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            n += len(y)
        epochs_run = epoch + 1
        val_auc = auc(*predict(model, data["val"]))
        if val_auc > best["auc"]:
            best = {
                "auc": val_auc,
                "epoch": epoch,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            }
        minutes = (time.time() - train_start) / 60
        log(
            f"epoch {epoch + 1}/{args.epochs} loss {total / n:.4f} val AUC {val_auc:.4f} "
            f"(best {best['auc']:.4f} @ {best['epoch'] + 1}) {minutes:.1f} min"
        )
        if minutes > args.max_minutes:
            log(f"stopping: wall-time budget of {args.max_minutes} min reached")
            break

    model.load_state_dict(best["state"])
    val_probs, val_labels = predict(model, data["val"])
    t_youden = youden_threshold(val_probs, val_labels)
    val = binary_scores(val_probs, val_labels, 0.5)
    log(f"val  @0.5: {json.dumps(val)}")
    if covidqu:
        train_minutes = round((time.time() - train_start) / 60, 1)
        interim = {"task": "covidqu region judge (interim save before the val report)", "heldout_auc": best["auc"]}
        save_network(model, "xray_classifier", kwargs, args.out, info=interim)
        report = covidqu_val_report(model, args.data / "covidqu", args.region_crops, args.size, args.seed, t_youden,
                                    args.context)
        log(f"covidqu val (reported once, not used for selection): {json.dumps(report)}")
        info = {
            "task": "region judge, covid lesion (1) vs normal lung region (0), covidqu adult films: windows "
                    f"({args.context}x the longer side, region_window) around up to {args.region_crops} real lesion "
                    f"boxes per COVID film vs {args.region_crops} real lesion boxes transplanted onto each normal film "
                    "and clipped to its lung (covidqu_region_items)"
                    + (f", plus up to {args.away_negatives} lesion-free boxes per COVID film as negatives"
                       if args.away_negatives else ""),
            "dataset": "shared/data/covidqu, official train split only (val never used for training or selection)",
            "split": "covidqu train split, patient_split fractions=(0.85,0.15,0.0) seed=0 by film "
                     "(train part / held-out part for epoch and threshold selection)",
            **split_notes,
            "windows_normal_covid": {n: counts[n] for n in ("train", "val")},
            "working_size": args.size,
            "context": args.context,
            "population": args.population,
            "preprocessing": "region_window (native-resolution crop, resampled), then longest side to working_size, "
                             "(x-0.5)/0.25",
            "epochs_run": epochs_run,
            "best_epoch": best["epoch"] + 1,
            "heldout_auc": best["auc"],
            "heldout_at_0.5": val,
            "youden_threshold_heldout": t_youden,
            "covidqu_val_report": report,
            "train_minutes": train_minutes,
            "threads": args.threads,
            "seed": args.seed,
            "command": "scripts/train_classifier.py "
            + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("data", "out")),
        }
        save_network(model, "xray_classifier", kwargs, args.out, info=info)
        log(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {(time.time() - t0) / 60:.1f} min")
        return
    test_probs, test_labels = predict(model, data["test"])
    test = binary_scores(test_probs, test_labels, 0.5)
    test_youden = binary_scores(test_probs, test_labels, t_youden)
    log(f"test @0.5: {json.dumps(test)}")
    log(f"test @{t_youden:.3f} (Youden on val): {json.dumps(test_youden)}")

    ood = {}
    covid_dir = args.data / "covid_lesions"
    if args.region_crops == 0 and (covid_dir / "manifest.csv").is_file():
        crow = read_manifest(covid_dir)
        for label in ("covid", "pneumonia", "normal"):
            sel = [r for r in crow if r["label"] == label]
            if not sel:
                continue
            x = torch.stack([load_resized(r["image"], args.size) for r in sel])
            with torch.no_grad():
                p = torch.softmax(model.eval()(x), 1)[:, PNEUMONIA_CLASS]
            ood[label] = {
                "n": len(sel),
                "mean_probability": float(p.mean()),
                "fraction_called_pneumonia": float((p >= 0.5).float().mean()),
            }
        log(f"out-of-distribution (covid_lesions, adults): {json.dumps(ood)}")

    region_task = (f"; region judge: {args.region_crops} windows per film ({REGION_CONTEXT}x the longer side of "
                   "RSNA-prior boxes inside the lung), labelled by the film's diagnosis") if args.region_crops else ""
    info = {
        "task": "normal (0) vs pneumonia (1), Kermany paediatric chest X-rays" + region_task,
        "dataset": "shared/data/kermany (1215 images)",
        "split": "monai_gan_aug.data.splits.patient_split fractions=(0.7,0.15,0.15) seed=0",
        "split_counts_normal_pneumonia": counts,
        "working_size": args.size,
        "preprocessing": "longest side to working_size (antialiased), zero-pad to square, (x-0.5)/0.25",
        "epochs_run": epochs_run,
        "best_epoch": best["epoch"] + 1,
        "val_auc": best["auc"],
        "test": test,
        "test_youden": test_youden,
        "youden_threshold_val": t_youden,
        "ood_covid_lesions": ood,
        "train_minutes": round((time.time() - train_start) / 60, 1),
        "threads": args.threads,
        "seed": args.seed,
        "command": "scripts/train_classifier.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("data", "out")),
    }
    save_network(model, "xray_classifier", kwargs, args.out, info=info)
    log(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
