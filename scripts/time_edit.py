"""Seconds per region edit in process with the shipped opacity generator (issue #16's time target).

    python scripts/time_edit.py --data ../shared/data --threads 1

Median over 30 covidqu ``val`` normal films (256 px, real lesion boxes) after one warm-up edit,
and over five edits of ``RG1_UNCR.dcm`` (1,955 x 1,841 CR) with a 400 x 500 px box.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not (Path(args.data) / "covidqu" / "manifest.csv").is_file():
        print(f"SKIPPED: no shared data at {args.data}")
        return 0
    import numpy as np
    import torch
    from pydicom.data import get_testdata_file

    from monai_gan_aug.metrics import scorecard as sc
    from monai_gan_aug.networks.factory import load_network
    from monai_gan_aug.transforms.io import LoadXRay
    from monai_gan_aug.utils.weights import shipped_weights_path

    torch.set_num_threads(args.threads)
    arm = sc.generator_arm(load_network(shipped_weights_path("lesion_opacity.pt")))
    cases = sc.covidqu_cases(Path(args.data) / "covidqu", "val", n=30, seed=0)
    rg1 = LoadXRay()(get_testdata_file("RG1_UNCR.dcm"))
    big = sc.EditCase("RG1_UNCR", torch.as_tensor(rg1).float(), [1150, 700, 1550, 1200], None)
    for name, group in (("covidqu 256 px", cases), ("RG1_UNCR 1955 px", [big] * 5)):
        arm(group[0], 0)  # warm-up
        seconds = []
        for i, case in enumerate(group):
            t0 = time.perf_counter()
            arm(case, i)
            seconds.append(time.perf_counter() - t0)
        print(f"{name}: median {np.median(seconds):.3f} s per region, p90 {np.percentile(seconds, 90):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
