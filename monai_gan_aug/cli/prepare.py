"""``monai-gan-aug prepare``: turn a published chest X-ray data set into one clean, split folder.

``monai-gan-aug prepare --input DIR|CSV --out DIR [--min-size 256] [--duplicates drop|report|group]
[--near-threshold 24] [--remove-text [components|threshold]] [--lung-masks] [--format png|keep]
[--split 0.7,0.15,0.15] [--seed 0] [--resume | --overwrite] [--quiet]``

Reads class folders (Kaggle train/val/test), manifests, RSNA/NIH/SIIM label files; merges the
source splits; drops too-small images and duplicates (exact and perceptual-hash near copies,
across splits and classes; cross-class copies are conflicts); optionally removes burned-in text
and writes lung masks; writes ``images/``, ``manifest.csv`` with a patient-level split,
``duplicates.csv`` and ``report.json``, and prints a summary table. The work is done by
:func:`monai_gan_aug.data.prepare.prepare_dataset` (``docs/prepare.md``).
"""

from __future__ import annotations

import argparse

from ._checks import nonnegative_int, seed_int

__all__ = ["add_parser", "cmd_prepare", "split_fractions"]


def split_fractions(text: str) -> tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` -> three fractions >= 0 summing to 1 (argparse type)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected three numbers train,val,test (e.g. 0.7,0.15,0.15), got {text!r}"
        ) from None
    if len(values) != 3 or any(not 0 <= v <= 1 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected three fractions in [0, 1] summing to 1, got {text!r}")
    return values  # type: ignore[return-value]




def cmd_prepare(args: argparse.Namespace) -> int:
    """Run the ``prepare`` verb."""
    from ..data.prepare import PrepareOptions, prepare_dataset, summary_table

    options = PrepareOptions(
        min_size=args.min_size,
        duplicates=args.duplicates,
        near_threshold=None if args.near_threshold < 0 else args.near_threshold,
        remove_text=args.remove_text,
        lung_masks=args.lung_masks,
        output_format=args.format,
        fractions=args.split,
        seed=args.seed,
    )
    result = prepare_dataset(args.input, args.out, options, resume=args.resume, overwrite=args.overwrite,
                             progress=False if args.quiet else None)
    if not args.quiet:
        print(summary_table(result, options))
        print(f"wrote {args.out}/manifest.csv, duplicates.csv and report.json")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``prepare`` verb."""
    p = sub.add_parser(
        "prepare",
        help="merge, clean and split a chest X-ray data set (duplicates, small images, text)",
        description="Read a data set (class folders with train/val/test, a manifest CSV, RSNA "
        "stage_2_train_labels.csv, NIH Data_Entry_2017.csv, SIIM label files), merge its splits, drop "
        "images below --min-size and exact/near duplicates (perceptual hash, across splits and "
        "classes), optionally remove burned-in text and write lung masks, and write images/, "
        "manifest.csv (with a patient-level split), duplicates.csv and report.json into --out. "
        "The input is never written to; an interrupted run continues with --resume.",
    )
    p.add_argument("--input", required=True, help="data set folder or label CSV")
    p.add_argument("--out", required=True, help="output folder (new or empty; see --resume, --overwrite)")
    p.add_argument("--min-size", type=nonnegative_int, default=256,
                   help="drop images whose shorter side is below this many pixels (default 256; 0 keeps all)")
    p.add_argument("--duplicates", choices=("drop", "report", "group"), default="drop",
                   help="drop: keep one per group (train split first), drop cross-class conflicts; report: keep "
                   "all; group: keep all, same split per group (default drop)")
    p.add_argument("--near-threshold", type=int, default=24,
                   help="near duplicate: 256-bit pHash within this many bits (default 24; -1: exact only)")
    p.add_argument("--remove-text", nargs="?", const="components", choices=("components", "threshold"),
                   help="remove burned-in letters/markers (default method: components)")
    p.add_argument("--lung-masks", action="store_true",
                   help="write masks/ with a lung mask per image (the source's own, else the shipped lung UNet)")
    p.add_argument("--format", choices=("png", "keep"), default="png",
                   help="png (8-bit sources stay 8-bit), or keep: DICOM stays DICOM, others PNG")
    p.add_argument("--split", type=split_fractions, default=(0.7, 0.15, 0.15), metavar="TRAIN,VAL,TEST",
                   help="patient-level split fractions (default 0.7,0.15,0.15)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the patient-level split (default 0)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue an interrupted run in --out (same options)")
    group.add_argument("--overwrite", action="store_true",
                       help="replace the files of an earlier prepare run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars (they show on a terminal only) and no summary")
    p.set_defaults(func=cmd_prepare)
