"""``monai-gan-aug evaluate``: FID, KID, precision/recall, IS-style score and diversity of generated images."""

from __future__ import annotations

import argparse

from ._checks import positive_int

__all__ = ["add_parser", "cmd_evaluate", "format_table"]

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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..metrics.evaluate import DEFAULT_CACHE_DIR, evaluate_folders
    from ._checks import check_outputs

    if args.json:  # before the (long) computation, not after it
        check_outputs([("--json", args.json)], inputs=[args.real, args.fake], overwrite=args.overwrite)

    cache_dir = None if args.no_cache else (args.cache_dir or DEFAULT_CACHE_DIR)
    result = evaluate_folders(
        args.real, args.fake, extractor=args.extractor, metrics=tuple(args.metrics), out_json=args.json,
        batch_size=args.batch_size, max_images=args.max_images, cache_dir=cache_dir,
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--max-images", type=positive_int, help="use at most this many images per side (default: all)")
    p.add_argument("--cache-dir", help="real-feature cache folder (default: the package's feature cache)")
    p.add_argument("--no-cache", action="store_true")
    p.set_defaults(func=cmd_evaluate)
