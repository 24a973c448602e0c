"""Downstream utility of synthetic lesions for segmentation (issue #6): real-only vs real + synthetic UNets.

Real films: ``covid_lesions`` (adult, radiologist lesion masks ``masks_lesion/``), split with the
project's ``patient_split(seed=0)``: the ``train`` split (67 films) is the real training pool, the
``val`` + ``test`` splits (33 films, never seen by the shipped lesion generator either) are the
held-out test set. Synthetic films: ``--synthetic-pool`` Kermany *normal* films with lung masks
from the Kermany ``train`` split, with ``--num-boxes`` lesion regions painted inside the lung by the
shipped lesion generator; the painted region is their lesion label. For each seed arm A trains a
MONAI UNet on ``--n-real`` real films, arm B on the same films plus ``--n-synthetic`` synthetic
ones, for the same number of steps; both are scored (Dice, IoU, pixel accuracy) on the test films.
See docs/downstream_segmentation.md.

Usage (defaults: about 10-20 min on this shared 2-core CPU with one thread)::

    nice -n 15 .venv/bin/python scripts/eval_downstream_segmentation.py --threads 1 \
        --json /tmp/downstream_seg.json

Prints ``SKIPPED: ...`` and exits 0 when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                   help="folder holding covid_lesions/ and kermany/")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0 .. seeds-1)")
    p.add_argument("--n-real", type=int, default=15, help="real training films per seed")
    p.add_argument("--n-synthetic", type=int, default=30, help="synthetic films added in arm B per seed")
    p.add_argument("--synthetic-pool", type=int, default=60,
                   help="synthetic films made once; each seed samples --n-synthetic of them")
    p.add_argument("--num-boxes", default="2", help="lesion boxes per synthetic film (int or 'prior')")
    p.add_argument("--size", type=int, default=128, help="working size (px)")
    p.add_argument("--steps", type=int, default=400, help="optimiser steps per UNet (both arms)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the result here")
    return p.parse_args(argv)


def load_real(data: Path) -> tuple[list[dict], list[dict]]:
    """Real training pool (``train`` split) and test films (``val`` + ``test``) of covid_lesions."""
    from monai_gan_aug.data import manifest_dataset, patient_split

    split = patient_split(manifest_dataset(data / "covid_lesions" / "manifest.csv"))
    keep = lambda rows: [  # noqa: E731
        {"image": r["image"], "label": r["lesion_mask"], "patient": r["patient"]}
        for r in rows if r.get("lesion_mask")
    ]
    return keep(split["train"]), keep(split["val"] + split["test"])


def synthetic_sources(data: Path, n: int) -> list[dict]:
    """``n`` Kermany train-split normal films with lung masks, after a fixed seeded shuffle."""
    from monai_gan_aug.data import manifest_dataset, patient_split

    normals = [r for r in manifest_dataset(data / "kermany" / "manifest.csv")
               if r["class_index"] == 0 and r.get("lung_mask")]
    train = patient_split(normals)["train"]
    if len(train) < n:
        raise SystemExit(
            f"error: only {len(train)} Kermany train-split normal films with lung masks, asked for {n}"
        )
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(12345)).tolist()
    return [train[i] for i in order[:n]]


def table(result: dict) -> str:
    names = ("Dice real", "Dice +syn", "IoU real", "IoU +syn", "acc real", "acc +syn")
    lines = [f"{'seed':>4}  " + "  ".join(f"{n:>9}" for n in names)]
    for r in result["per_seed"]:
        a, b = r["real_only"], r["real_plus_synthetic"]
        lines.append(f"{r['seed']:>4}  " + "  ".join(
            f"{x[k]:9.4f}" for k in ("dice", "iou", "accuracy") for x in (a, b)))
    for key in ("dice", "iou", "accuracy"):
        m, d = result[f"{key}_mean"], result[f"{key}_difference"]
        ci = "n/a (one seed)" if d["ci"] is None else f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"
        lines.append(f"{key}: mean A {m['real_only']:.4f}, B {m['real_plus_synthetic']:.4f}; "
                     f"B - A {d['mean']:+.4f}, 95% t-interval {ci}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    needed = [data / "covid_lesions" / "manifest.csv", data / "kermany" / "manifest.csv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        print(f"SKIPPED: real data not found ({', '.join(missing)} missing)")
        return 0
    from monai_gan_aug.metrics.downstream_segmentation import (
        segmentation_utility_experiment,
        synthesize_lesion_items,
    )

    num_boxes = args.num_boxes if args.num_boxes == "prior" else int(args.num_boxes)
    t0 = time.time()
    train, test = load_real(data)
    sources = synthetic_sources(data, args.synthetic_pool)
    log(f"{len(train)} real training / {len(test)} test films; synthesising {len(sources)} lesion films")
    synthetic = synthesize_lesion_items(sources, seed=0, size=args.size, num_boxes=num_boxes)
    t_syn = time.time() - t0
    log(f"synthesis done in {t_syn:.0f}s")
    result = segmentation_utility_experiment(
        train, synthetic, test, seeds=list(range(args.seeds)), n_real=args.n_real,
        n_synthetic=args.n_synthetic, size=args.size, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, log=log,
    )
    result["synthetic_pool"] = len(synthetic)
    result["synthetic_label_fraction"] = float(torch.stack([s["label"] for s in synthetic]).mean())
    result["num_boxes"] = num_boxes
    result["threads"] = args.threads
    result["synthesis_seconds"] = round(t_syn, 1)
    result["wall_seconds"] = round(time.time() - t0, 1)
    given = sys.argv[1:] if argv is None else argv
    result["command"] = "scripts/eval_downstream_segmentation.py " + " ".join(given)
    if args.json:  # written before the table so that a long run's numbers are never lost
        Path(args.json).write_text(json.dumps(result, indent=2))
        log(f"wrote {args.json}")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
