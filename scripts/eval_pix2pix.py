"""Scorecard of pix2pix_pathology generators on covidqu COVID films (issue #20).

Usage::

    # model selection: a held-out part of the TRAIN split (never select settings on val)
    python scripts/eval_pix2pix.py --split train --part holdout --n 80 \
        --weights shipped=monai_gan_aug/weights/pix2pix_pathology.pt --weights s1=/work/runs/p2p_covidqu/models/G.pt
    # final report only
    python scripts/eval_pix2pix.py --split val --n 200 --weights final=...

The films are split into two halves (seeded): sources (edited by each generator, kept region = the
manifest boxes or the infection mask) and real references. Rows: ``real vs real`` (sources vs
references: the KID floor at this n) and one per generator: Inception and judge KID against the
references, the forensic two-sample CNN on crops outside the kept region vs the same positions of
the real source films (AUC, 95% CI), the seam ratio on the region outline (median, p90) and the
share of films whose kept pixels are bit-identical. Logic: ``monai_gan_aug.metrics.pix2pix_scorecard``.
Prints a markdown table and writes ``--out`` (JSON). Optionally saves outputs as 8-bit PNGs
(``--save-dir``; never inside the repository: covidqu images must not be committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "covidqu"))
    p.add_argument("--split", default="train", choices=("train", "val"))
    p.add_argument("--part", default="holdout", choices=("all", "fit", "holdout"))
    p.add_argument("--holdout-fraction", type=float, default=0.1)
    p.add_argument("--region", default="boxes", choices=("boxes", "mask"))
    p.add_argument("--n", type=int, default=80, help="films in total (half sources, half references)")
    p.add_argument("--weights", action="append", required=True,
                   help="name=path[@image] of a generator (repeatable); '@image': batch norm with the image's "
                   "own statistics (PathologyCompositeInferer norm_stats='image')")
    p.add_argument("--feather", type=float, default=0.0, help="blend band outside the kept region (px)")
    p.add_argument("--crop-size", type=int, default=64)
    p.add_argument("--per-film", type=int, default=2)
    p.add_argument("--steps", type=int, default=300, help="forensic CNN steps per fold")
    p.add_argument("--extractors", default="inception,judge")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="JSON file of the rows")
    p.add_argument("--save-dir", help="write the generated films here (8-bit PNG), outside the repository")
    args = p.parse_args(argv)

    if not Path(args.data, "manifest.csv").is_file():
        print(f"skipped: no covidqu data at {args.data}", file=sys.stderr)
        return 0
    import numpy as np
    import torch
    from PIL import Image

    from monai_gan_aug.metrics.extractors import get_extractor
    from monai_gan_aug.metrics.pix2pix_scorecard import (
        covidqu_cases,
        format_pix2pix_scorecard,
        generate,
        pix2pix_scorecard,
        split_sources_references,
    )
    from monai_gan_aug.networks.factory import load_network

    torch.set_num_threads(args.threads)
    t0 = time.time()
    cases = covidqu_cases(args.data, args.split, args.region, n=args.n, part=args.part,
                          holdout_fraction=args.holdout_fraction, seed=args.seed)
    sources, references = split_sources_references(cases, seed=args.seed)
    outputs = {}
    for spec in args.weights:
        name, _, path = spec.partition("=")
        path, _, stats = path.partition("@")
        net = load_network(path)
        outputs[name] = generate(sources, net, feather=args.feather, norm_stats=stats or "running")
        if args.save_dir:
            d = Path(args.save_dir) / name
            d.mkdir(parents=True, exist_ok=True)
            for c, o in zip(sources, outputs[name]):
                Image.fromarray(np.rint(np.clip(o, 0, 1) * 255).astype(np.uint8)).save(d / f"{c.film}.png")
    extractors = {e: get_extractor(e) for e in args.extractors.split(",") if e}
    rows = pix2pix_scorecard(sources, references, outputs, extractors, crop_size=args.crop_size,
                             per_film=args.per_film, seed=args.seed, c2st_kwargs={"steps": args.steps})
    print(f"covidqu {args.split} (part {args.part}), region {args.region}, {len(sources)} sources + "
          f"{len(references)} references, feather {args.feather:g}, {time.time() - t0:.0f} s")
    print(format_pix2pix_scorecard(rows, tuple(extractors)))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
