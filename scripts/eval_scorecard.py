"""The headline edit's scorecard on held-out films (issue #16); logic in monai_gan_aug.metrics.scorecard.

    python scripts/eval_scorecard.py --data ../shared/data --threads 1 --json /tmp/scorecard.json

Arms, each editing the same held-out healthy films in the same boxes with the same seeds:
``opacity GAN`` (shipped ``lesion_opacity.pt`` or ``--opacity-weights``), ``previous repaint``
(``lesion_inpaint.pt``, pneumonia class), ``baseline opacity`` (``RandLesionOpacity``, no network),
``healthy fill`` (``lesion_inpaint.pt``, healthy class: the control), ``unedited`` (the "do
nothing" reference) and, covidqu only, ``real lesion transplant`` (real train lesions moved into the
boxes, level-matched: what real pneumonia pixels score in a normal film). Groups: normal films of covidqu ``val`` (boxes of real val lesions; forensic
reference: crops of real val lesions; scored by the covidqu region judge) and of the Kermany ``test``
patient split (RSNA-prior boxes; scored by the Kermany region judge).
Select settings on ``val`` only; ``--split test`` is for the final report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--groups", nargs="+", default=["covidqu", "kermany"], choices=["covidqu", "kermany"])
    parser.add_argument("--n", type=int, default=None, help="at most this many films per group")
    parser.add_argument("--opacity-weights", default=None, help="opacity generator (default: shipped)")
    parser.add_argument("--density-scale", type=float, default=1.0)
    parser.add_argument("--extent", choices=["loose", "tight"], default="loose",
                        help="footprint span of the opacity arms (GAN and baseline): 'tight' matches boxes drawn "
                             "around real lesions, as the covidqu group's are")
    parser.add_argument("--arms", nargs="+", default=None, help="subset of arm names to run")
    parser.add_argument("--forensic-steps", type=int, default=300, help="0: no forensic test")
    parser.add_argument("--covidqu-judge", default="covidqu",
                        help="region judge of the covidqu group: a shipped name (covidqu, covidqu_local) or a file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    data = Path(args.data)
    if not (data / "covidqu" / "manifest.csv").is_file():
        print(f"SKIPPED: no shared data at {data} (covidqu/manifest.csv)")
        return 0
    import torch

    from monai_gan_aug.metrics import scorecard as sc
    from monai_gan_aug.metrics.region_judge import load_region_judge
    from monai_gan_aug.networks.factory import load_network
    from monai_gan_aug.utils.weights import shipped_weights_path

    torch.set_num_threads(args.threads)
    opacity = load_network(args.opacity_weights or shipped_weights_path("lesion_opacity.pt"))
    repaint = load_network(shipped_weights_path("lesion_inpaint.pt"))
    arms = {
        "opacity GAN": sc.generator_arm(opacity, density_scale=args.density_scale, extent=args.extent),
        "previous repaint": sc.generator_arm(repaint, class_index=1),
        "baseline opacity": sc.baseline_arm(extent=args.extent),
        "healthy fill": sc.generator_arm(repaint, class_index=0),
        "unedited": sc.identity_arm(),
    }
    if args.arms:
        arms = {k: v for k, v in arms.items() if k in args.arms}
    cj = args.covidqu_judge
    judges = {"covidqu": load_region_judge(path=cj) if Path(cj).is_file() else load_region_judge(which=cj),
              "kermany": load_region_judge(which="kermany")}
    results = {}
    for group in args.groups:
        t0 = time.time()
        group_arms = dict(arms)
        if group == "covidqu":
            cases = sc.covidqu_cases(data / "covidqu", "val", args.n, args.seed)
            real = sc.real_lesion_crops(data / "covidqu", "val") if args.forensic_steps > 0 else None
            if not args.arms or "real lesion transplant" in args.arms:
                # control: real *train* lesions moved into the val boxes (never the forensic reference's pixels)
                group_arms["real lesion transplant"] = sc.transplant_arm(sc.real_lesion_donors(data / "covidqu", "train"))
        else:
            cases = sc.kermany_cases(data / "kermany", "test", args.n, args.seed)
            real = None  # paediatric films vs adult lesions: the test would measure the population
        rows = sc.score_arms(cases, group_arms, judge=judges[group], real_crops=real, forensic_steps=args.forensic_steps,
                             seed=args.seed, healthy_arm="healthy fill" if "healthy fill" in arms else None)
        results[group] = {"rows": rows, "minutes": (time.time() - t0) / 60}
        print(f"\n## {group} ({len(cases)} films, {results[group]['minutes']:.1f} min)\n")
        print(sc.format_scorecard(rows))
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
