"""Downstream utility of synthetic pneumonia films (issue #6): real-only vs real + synthetic classifiers.

On Kermany (``manifest_dataset`` + ``patient_split(seed=0)``), for each seed a class-balanced
low-data subset of the *train* split trains arm A; arm B adds ``--n-synthetic`` pneumonia-labelled
images made from *train-split* normal films by the shipped generator (``--method``). Both arms are
scored (ROC-AUC, accuracy at 0.5) on the whole real *test* split. Reports per-seed scores, the mean
paired difference B - A and a 95 % Student-t interval over seeds. See docs/downstream.md.

``--method online_cyclegan`` / ``online_lesion_inpaint`` (issue #8) run the *online* variant
instead: arm B trains on arm A's real subset with ``RandGANAugmentd`` in its data pipeline (normal
films turned into pneumonia with probability ``--prob``, label flipped; same optimiser steps as A).
``online_label_flip`` is their control: the same relabelling with the image left unchanged.

Usage (defaults: 2-15 min on this 2-core CPU depending on load, see docs/downstream.md)::

    nice -n 15 .venv/bin/python scripts/eval_downstream.py --method lesion_inpaint --json /tmp/downstream.json
    nice -n 15 .venv/bin/python scripts/eval_downstream.py --method online_cyclegan --json /tmp/online.json

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
#: offline methods synthesise a pool once; ``online_<generator>`` runs RandGANAugmentd while training
METHODS = ("lesion_inpaint", "cyclegan", "online_cyclegan", "online_lesion_inpaint", "online_label_flip")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder holding kermany/")
    p.add_argument("--method", choices=METHODS, default="lesion_inpaint",
                   help="offline pool (lesion_inpaint, cyclegan) or online RandGANAugmentd (online_*)")
    p.add_argument("--prob", type=float, default=0.5,
                   help="online methods: probability that a drawn normal film is turned into pneumonia")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0 .. seeds-1)")
    p.add_argument("--n-real", type=int, default=20, help="real training images per class")
    p.add_argument("--n-synthetic", type=int, default=40, help="synthetic pneumonia images added in arm B")
    p.add_argument("--size", type=int, default=128, help="classifier working size (px)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--network", choices=("xray_classifier", "densenet121"), default="xray_classifier")
    p.add_argument("--max-minutes", type=float, default=None, help="per-classifier wall-time cap")
    p.add_argument("--max-test", type=int, default=0, help="use only the first N test images (0: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the result here")
    return p.parse_args(argv)


def load_splits(data: Path, max_test: int) -> tuple[list[dict], list[dict]]:
    """Train and test items ``{"image": path, "label": 0/1, "patient", "lung_mask"}`` of Kermany."""
    from monai_gan_aug.data import manifest_dataset, patient_split

    split = patient_split(manifest_dataset(data / "kermany" / "manifest.csv"))
    keep = lambda rows: [  # noqa: E731
        {"image": r["image"], "label": r["class_index"], "patient": r["patient"],
         "lung_mask": r.get("lung_mask")}
        for r in rows if r["class_index"] in (0, 1)
    ]
    test = keep(split["test"])
    return keep(split["train"]), (test[:max_test] if max_test else test)


def table(result: dict) -> str:
    a_name, b_name = result.get("arms", ("real_only", "real_plus_synthetic"))
    tag = "+onl" if b_name == "real_plus_online" else "+syn"
    lines = [f"{'seed':>4}  {'AUC real':>9}  {'AUC ' + tag:>9}  {'acc real':>9}  {'acc ' + tag:>9}"
             f"  {'B seen normal/pneu':>18}"]
    for r in result["per_seed"]:
        a, b = r[a_name], r[b_name]
        seen = b.get("seen", {}).get("seen_per_class", ["?", "?"])
        lines.append(
            f"{r['seed']:>4}  {a['auc']:9.4f}  {b['auc']:9.4f}  {a['accuracy']:9.4f}  {b['accuracy']:9.4f}"
            f"  {seen[0]:>8}/{seen[1]:<9}"
        )
    for key in ("auc_difference", "accuracy_difference"):
        d = result[key]
        ci = "n/a (one seed)" if d["ci"] is None else f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"
        lines.append(f"{key}: mean B - A {d['mean']:+.4f}, 95% t-interval {ci}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    if not (data / "kermany" / "manifest.csv").is_file():
        print(f"SKIPPED: real data not found at {data} (kermany/manifest.csv)")
        return 0
    from monai_gan_aug.metrics.downstream import synthesize_pneumonia, utility_experiment

    t0 = time.time()
    train, test = load_splits(data, args.max_test)
    if args.method.startswith("online_"):
        return run_online(args, train, test, t0, argv)
    normals = [r for r in train if r["label"] == 0]
    if len(normals) < args.n_synthetic:
        print(f"error: only {len(normals)} normal training films for {args.n_synthetic} synthetic images")
        return 2
    # Sources of the synthetic images: the first n_synthetic train-split normals after a seeded shuffle.
    order = torch.randperm(len(normals), generator=torch.Generator().manual_seed(12345)).tolist()
    sources = [normals[i] for i in order[: args.n_synthetic]]
    log(f"{len(train)} train / {len(test)} test items; synthesising {len(sources)} with {args.method}")
    synthetic = synthesize_pneumonia(sources, args.method, seed=0, size=args.size)
    t_syn = time.time() - t0
    log(f"synthesis done in {t_syn:.0f}s")
    result = utility_experiment(
        train, synthetic, test, seeds=list(range(args.seeds)), n_real=args.n_real,
        n_synthetic=args.n_synthetic,
        size=args.size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, network=args.network,
        max_minutes=args.max_minutes, log=log,
    )
    result["synthesis_seconds"] = round(t_syn, 1)
    return report(result, args, t0, argv)


def run_online(args: argparse.Namespace, train: list[dict], test: list[dict], t0: float,
               argv: list[str] | None) -> int:
    """Arm B = the same real subset with RandGANAugmentd in the training pipeline (no synthetic pool)."""
    from monai_gan_aug.metrics.downstream import online_utility_experiment

    generator = args.method.removeprefix("online_")
    log(f"{len(train)} train / {len(test)} test items; online {generator}, prob {args.prob}")
    result = online_utility_experiment(
        train, test, method=generator, prob=args.prob, seeds=list(range(args.seeds)), n_real=args.n_real,
        size=args.size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, network=args.network,
        max_minutes=args.max_minutes, log=log,
    )
    return report(result, args, t0, argv)


def report(result: dict, args: argparse.Namespace, t0: float, argv: list[str] | None) -> int:
    result["method"] = args.method
    result["wall_seconds"] = round(time.time() - t0, 1)
    result["command"] = "scripts/eval_downstream.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(table(result))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
