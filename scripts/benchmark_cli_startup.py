"""Whole-process time of ``monai-gan-aug edit`` for two commits, interleaved (docs/cli_reliability.md).

Each commit is extracted with ``git archive`` into ``WORK/<name>`` and put first on ``PYTHONPATH``;
every run is a fresh ``python -m monai_gan_aug.cli edit`` on a 512 px PNG and on pydicom's
RG1_UNCR.dcm with the default (shipped) weights, under ``nice -n 15`` and ``OMP_NUM_THREADS=1``.
Prints the median (and minimum) wall time and the median CPU time (user + sys) per input and commit.

    python scripts/benchmark_cli_startup.py --before 4d52c32 --after HEAD --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _inputs(work: Path) -> dict[str, list[str]]:
    import numpy as np
    from PIL import Image
    from pydicom.data import get_testdata_file

    yy, xx = np.mgrid[0:512, 0:512]
    img = 0.5 + 0.3 * np.sin(xx / 17) * np.cos(yy / 23) + np.random.default_rng(0).normal(0, 0.03, (512, 512))
    Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(work / "chest512.png")
    shutil.copy(get_testdata_file("RG1_UNCR.dcm", download=False), work / "RG1_UNCR.dcm")
    return {"png512": ["--image", str(work / "chest512.png"), "--box", "100,150,220,270"],
            "RG1_UNCR.dcm": ["--image", str(work / "RG1_UNCR.dcm"), "--box", "900,700,1300,1100"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="commit measured first")
    p.add_argument("--after", default="HEAD", help="commit measured second")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--work", default="/tmp/bench_cli_startup", help="scratch folder (recreated)")
    args = p.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    trees = {"before": args.before, "after": args.after}
    for name, commit in trees.items():
        (work / name).mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(work / name)], input=archive.stdout, check=True)
    cases = _inputs(work)
    res: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for rep in range(args.runs):
        for case, case_args in cases.items():
            for name in trees:
                ext = ".dcm" if case.endswith(".dcm") else ".png"
                cmd = ["nice", "-n", "15", sys.executable, "-m", "monai_gan_aug.cli", "edit", *case_args,
                       "--out", str(work / f"out_{name}{ext}"), "--overwrite", "--quiet"]
                env = {**os.environ, "PYTHONPATH": str(work / name), "OMP_NUM_THREADS": "1"}
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, cwd=work)  # not the checkout: -m puts cwd first
                wall = time.perf_counter() - t
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                res.setdefault((case, name), []).append(
                    (wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
        print("run", rep, "load average", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
    for (case, name), v in sorted(res.items()):
        walls, cpus = [x[0] for x in v], [x[1] for x in v]
        print(f"{case:14s} {name:6s} ({trees[name]}) wall median {statistics.median(walls):5.2f} s "
              f"(min {min(walls):5.2f}), CPU median {statistics.median(cpus):5.2f} s")


if __name__ == "__main__":
    main()
