"""``monai-gan-aug evaluate``: FID, KID, precision/recall, IS-style score and diversity of generated images."""

from __future__ import annotations

import argparse

from ._checks import positive_int, seed_int

__all__ = ["add_parser", "cmd_evaluate", "format_table", "format_forensic"]

# Kept here (not imported from metrics.evaluate.ALL_METRICS) so that --help does not import torch.
_METRICS = ("fid", "kid", "prdc", "is", "diversity")
_ROWS = (
    ("fid", "FID"), ("kid", "KID"), ("kid_std", "KID std"), ("precision", "precision"), ("recall", "recall"),
    ("density", "density"), ("coverage", "coverage"), ("inception_score", "IS-style score"),
    ("inception_score_std", "IS std"), ("msssim", "MS-SSIM (pairs)"), ("msssim_std", "MS-SSIM std"),
)


def format_table(result: dict) -> str:
    """The result as a two-column text table (metrics present only)."""
    lines = [f"real: {result['real']} ({result['n_real']} images)", f"fake: {result['fake']} ({result['n_fake']} images)"]
    if "extractor" in result:
        lines.append(f"features: {result['extractor']}")
    width = max(len(label) for _, label in _ROWS)
    lines += [f"  {label:<{width}}  {result[key]:.4f}" for key, label in _ROWS if key in result]
    return "\n".join(lines)


def format_forensic(result: dict) -> str:
    """The ``--forensic`` result (:func:`monai_gan_aug.metrics.forensic.c2st_folders`) as text."""
    c = result["c2st"]
    folds = ", ".join(f"{a:.3f}" for a in c["fold_aucs"])
    return "\n".join([
        f"real: {result['real']} ({result['n_real']} crops)", f"fake: {result['fake']} ({result['n_fake']} crops)",
        f"classifier two-sample test: {c['n_groups']} groups ({result['group_mode']}), {c['folds']} folds, "
        f"{c['steps']} steps per fold",
        f"  AUC  {c['auc']:.4f}  [{c['ci_low']:.4f}, {c['ci_high']:.4f}] ({c['confidence']:.0%}, {c['ci_method']})",
        f"  per-fold AUC  {folds}",
        "  (0.5 = the classifier cannot tell fake crops from real ones)",
    ])


def _cmd_forensic(args: argparse.Namespace) -> int:
    from ..metrics.forensic import c2st_folders
    from ._checks import check_outputs

    if args.json:  # before the (long) computation, not after it
        check_outputs([("--json", args.json)], inputs=[args.real, args.fake], overwrite=args.overwrite)
    result = c2st_folders(
        args.real, args.fake, group_mode=args.group_by, sep=args.group_sep, max_images=args.max_images,
        out_json=args.json, size=args.crop_size, folds=args.folds, steps=args.steps, seed=args.seed,
        device=args.device,
    )
    print(format_forensic(result))
    if args.json:
        print(f"wrote {args.json}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if getattr(args, "forensic", False):
        return _cmd_forensic(args)
    from ..metrics.evaluate import DEFAULT_CACHE_DIR, evaluate_folders
    from ._checks import check_outputs

    if args.json:  # before the (long) computation, not after it
        check_outputs([("--json", args.json)], inputs=[args.real, args.fake], overwrite=args.overwrite)

    cache_dir = None if args.no_cache else (args.cache_dir or DEFAULT_CACHE_DIR)
    result = evaluate_folders(
        args.real, args.fake, extractor=args.extractor, metrics=tuple(args.metrics), out_json=args.json,
        batch_size=args.batch_size, max_images=args.max_images, cache_dir=cache_dir,
        progress=False if args.quiet else None,
    )
    print(format_table(result))
    if args.json:
        print(f"wrote {args.json}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` verb."""
    p = sub.add_parser("evaluate", help="score generated images against real ones (FID, KID, PRDC, IS, diversity)",
                       description="Compare a folder/CSV of generated images with a folder/CSV of real ones. "
                       "Real-set features are cached on disk. Works offline.")
    p.add_argument("--real", required=True, help="folder or CSV manifest of real images")
    p.add_argument("--fake", required=True, help="folder or CSV manifest of generated images")
    p.add_argument("--extractor", default="inception",
                   help="inception | efficientnet_lite0 | judge (chest X-ray features) | path to a TorchScript file")
    p.add_argument("--metrics", nargs="+", default=["fid", "kid", "prdc"], choices=_METRICS)
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it shows on a terminal only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--max-images", type=positive_int, help="use at most this many images per side (default: all)")
    p.add_argument("--cache-dir", help="real-feature cache folder (default: the package's feature cache)")
    p.add_argument("--no-cache", action="store_true")
    f = p.add_argument_group(
        "forensic test", "--forensic runs only a classifier two-sample test (C2ST) between two sets of crops "
        "(e.g. --real: crops of real lesion regions, --fake: crops of edited regions): a small CNN is trained "
        "from scratch with K-fold cross-validation split by film, and the AUC of its held-out predictions is "
        "reported with a 95% bootstrap-over-films interval (0.5 = indistinguishable). Each crop's film (group) "
        "comes from a 'group', 'film' or 'patient' column of a CSV manifest, else from its file name (--group-by). "
        "Crops of the same film on both sides share the group.")
    f.add_argument("--forensic", action="store_true", help="run the C2ST instead of the feature metrics")
    f.add_argument("--group-by", choices=("prefix", "parent", "file"), default="prefix",
                   help="prefix: file name up to the first --group-sep (person12_crop3.png -> person12); "
                   "parent: the folder holding the file; file: every file its own group (default: prefix)")
    f.add_argument("--group-sep", default="_", help="separator of --group-by prefix (default: _)")
    f.add_argument("--crop-size", type=positive_int, default=64, help="crops are resized to this side (default: 64)")
    f.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds (default: 5)")
    f.add_argument("--steps", type=positive_int, default=300, help="optimiser steps per fold (default: 300)")
    f.add_argument("--seed", type=seed_int, default=0, help="seed of folds, weights, batches and bootstrap")
    f.add_argument("--device", default="cpu", help="torch device for the C2ST classifier (default: cpu)")
    p.set_defaults(func=cmd_evaluate)
