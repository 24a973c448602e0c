"""``monai-gan-aug utility``: learning curves of a downstream model with and without synthetic films.

For each task, real budget ``N`` (``N`` lesion + ``N`` normal films of the covidqu ``train``
split), augmentation arm and seed, a fresh model is trained for the same number of optimiser steps
and scored on the covidqu ``val`` split (:func:`monai_gan_aug.metrics.utility.harness.run_utility`).
Writes into ``--out``: ``<task>.json`` (every run, updated after each one, then the summary),
``<task>.md`` (the learning-curve table: means and the paired difference to ``real_only`` with its
95 % interval) and ``<task>.png`` (primary metric vs ``N``). ``--quick`` is a CI-sized smoke run.
See docs/utility.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ._checks import positive_int

__all__ = ["QUICK", "add_parser", "cmd_utility", "held_out_subset"]

#: settings ``--quick`` imposes (tiny budgets, few steps, 64 px, a small held-out subset)
QUICK = {"budgets": [4], "seeds": 2, "steps": 6, "size": 64, "max_test": 24}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``utility`` verb."""
    p = subparsers.add_parser(
        "utility", help="learning curves: does synthetic data help a segmenter / classifier on real films?",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path("..") / "shared" / "data" / "covidqu"),
                   help="covidqu folder (manifest.csv with split train/val, masks/, masks_lesion/)")
    p.add_argument("--task", nargs="+", default=["segmentation"],
                   choices=["segmentation", "classification", "detection"],
                   help="downstream tasks to run")
    p.add_argument("--budgets", nargs="+", type=positive_int, default=[25, 50, 100, 200],
                   help="real lesion films per run (plus as many normal films)")
    p.add_argument("--arms", nargs="+", default=["real_only", "classical", "opacity_baseline"],
                   help="arms: real_only, classical, gan_lesion[:ratio], opacity_baseline[:ratio]")
    p.add_argument("--weights", default=None,
                   help="lesion generator of the gan_lesion arm (default: shipped weights/lesion_opacity.pt)")
    p.add_argument("--seeds", type=positive_int, default=3,
                   help="number of seeds (seed-start .. seed-start + seeds - 1)")
    p.add_argument("--seed-start", type=int, default=0,
                   help="first seed; runs are deterministic per seed, so later seeds can be added in a second run")
    p.add_argument("--steps", type=positive_int, default=300, help="optimiser steps of every model")
    p.add_argument("--size", type=positive_int, default=128, help="working size in pixels")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="default: 8 (segmentation, detection), 16 (classification)")
    p.add_argument("--max-test", type=positive_int, default=None,
                   help="score on a fixed, class-stratified subset of this many val films (default: all)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: overrides budgets, seeds, steps, size and max-test with {QUICK}")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_utility)
    return p


def held_out_subset(items: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    """``n`` films of ``items`` keeping the class proportions, chosen by a fixed seed (all when ``n`` is None).

    The subset is the same for every run and arm (seed 0), and drawn without looking at any score.
    """
    if n is None or n >= len(items):
        return list(items)
    import numpy as np

    rng = np.random.default_rng(0)
    pos = [i for i, d in enumerate(items) if d["cls"] == 1]
    neg = [i for i, d in enumerate(items) if d["cls"] == 0]
    k_pos = max(1, round(n * len(pos) / len(items)))
    pick = sorted(rng.choice(pos, k_pos, replace=False).tolist() + rng.choice(neg, n - k_pos, replace=False).tolist())
    return [items[i] for i in pick]


def cmd_utility(args: argparse.Namespace) -> int:
    """Run the harness for every requested task and write JSON, Markdown and PNG per task."""
    import torch

    from ..metrics.utility import (
        build_arm,
        covidqu_items,
        get_task,
        learning_curve_table,
        plot_learning_curves,
        run_utility,
    )

    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = covidqu_items(args.data, "train")
    test = held_out_subset(covidqu_items(args.data, "val"), args.max_test)
    arms = [build_arm(spec, weights=args.weights) for spec in args.arms]
    for name in args.task:
        kwargs = {} if args.batch_size is None else {"batch_size": args.batch_size}
        task = get_task(name, **kwargs)
        runs: list[dict[str, Any]] = []
        json_path = out / f"{name}.json"

        def save_partial(row: dict[str, Any], runs=runs, json_path=json_path) -> None:
            runs.append(row)
            json_path.write_text(json.dumps({"task": name, "partial": True, "runs": runs}, indent=1))

        t0 = time.time()
        result = run_utility(task, train, test, budgets=args.budgets, arms=arms,
                             seeds=list(range(args.seed_start, args.seed_start + args.seeds)),
                             steps=args.steps, size=args.size, log=_log, on_run=save_partial)
        result["settings"].update({"weights": _weights_record(arms), "threads": args.threads,
                                   "quick": bool(args.quick), "data": str(args.data),
                                   "argv": sys.argv[1:], "wall_seconds_total": round(time.time() - t0, 1)})
        json_path.write_text(json.dumps(result, indent=1))
        table = learning_curve_table(result)
        (out / f"{name}.md").write_text(table + "\n")
        plot_learning_curves(result, out / f"{name}.png")
        print(table)
        _log(f"{name}: wrote {json_path}, {out / f'{name}.md'}, {out / f'{name}.png'} "
             f"({result['settings']['wall_seconds_total']:.0f} s)")
    return 0


def _weights_record(arms: list[Any]) -> dict[str, str]:
    """Arm name -> ``"<file> sha256:<first 16 hex>"`` of the generator bytes each learned arm loaded."""
    out = {}
    for arm in arms:
        sha = getattr(arm.synthesizer, "weights_sha256", None)
        if sha is not None:
            out[arm.name] = f"{Path(arm.synthesizer.weights).name} sha256:{sha[:16]}"
    return out


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
