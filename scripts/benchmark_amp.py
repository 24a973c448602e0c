"""Train each bundle briefly in float32 and in bfloat16 autocast, NCHW and channels-last, on this CPU.

For every bundle training config (``bundles/<name>/configs/train*.json``) and every variant of
:data:`VARIANTS`, the script builds the bundle's own trainer (networks, data, losses, optimisers
from the config, same seed), runs ``--iters`` iterations without the saving/logging handlers, and
reports:

* seconds per iteration (median over the iterations after ``--warmup``);
* each loss: mean over the last ``--tail`` iterations, and whether any value was NaN/inf;
* for the bundles whose config has a :class:`~monai_gan_aug.metrics.handlers.GenerativeMetricsHandler`
  (``--metrics``): FID/KID of the trained generator against the config's real set, with the
  config's extractor (``judge``: the project's own feature network, no downloaded weights).

The data is the bundle's default (the radiographs embedded in the package) unless ``--set``
overrides it. One run at a time; the machine may be shared, so s/it carries the load of the moment
(the script prints ``os.getloadavg()`` before and after each run).

Run::

    python scripts/benchmark_amp.py --iters 40 --metrics \
        --runs cyclegan_pneumonia dcgan_xray \
        --set cyclegan_pneumonia:image_size=256

Prints one Markdown table row per run and writes all numbers as JSON lines with ``--json``.

``--speed`` only times the variants instead: each bundle's trainer is built once per variant and
the variants take turns (round-robin) on one fixed batch, so that load from other processes hits
them alike; median s/iteration and the speed-up against the first variant::

    python scripts/benchmark_amp.py --speed --iters 8
    python scripts/benchmark_amp.py --speed --iters 6 --runs cyclegan_pneumonia \
        --variants fp32_nchw fp32_cl bf16_cl --set cyclegan_pneumonia:image_size=256

Everything runs with one intra-op thread (``num_threads`` 1 in the config, ``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "bundles"

#: name -> (amp, channels_last); amp is passed to the trainer as is (False = float32).
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32_nchw": {"amp": False, "channels_last": False},
    "fp32_cl": {"amp": False, "channels_last": True},
    "bf16_nchw": {"amp": True, "amp_dtype": "bfloat16", "channels_last": False},
    "bf16_cl": {"amp": True, "amp_dtype": "bfloat16", "channels_last": True},
    "default": {},  # whatever the config resolves to on this machine
}

#: run name -> (bundle, training config file)
RUNS: dict[str, tuple[str, str]] = {
    "cyclegan_pneumonia": ("cyclegan_pneumonia", "train.json"),
    "lesion_inpaint": ("lesion_inpaint", "train.json"),
    "lesion_opacity": ("lesion_inpaint", "train_opacity.json"),
    "pix2pix_pathology": ("pix2pix_pathology", "train.json"),
    "dcgan_xray": ("dcgan_xray", "train.json"),
    "fastgan_xray": ("fastgan_xray", "train.json"),
    "wgan_gp_ct": ("wgan_gp_ct", "train.json"),
}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """``run:key=value`` -> {run: {key: value}} (value parsed as JSON when possible)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        run, _, kv = item.partition(":")
        key, _, val = kv.partition("=")
        if not run or not key or not _:
            raise SystemExit(f"--set wants run:key=value, got {item!r}")
        out.setdefault(run, {})[key] = _value(val)
    return out


def build(bundle: str, config: str, overrides: dict[str, Any], out_dir: str):
    """Parse the bundle config with ``overrides``; returns the parser (nothing instantiated yet)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_meta(str(BUNDLES / bundle / "configs" / "metadata.json"))
    parser.read_config(str(BUNDLES / bundle / "configs" / config))
    parser.update({"output_dir": out_dir, "num_threads": 1, "num_workers": 0, "resume": False, **overrides})
    return parser


def metrics_handler_id(parser) -> str | None:
    handlers = parser.get("train#handlers") or []
    for i, h in enumerate(handlers):
        if isinstance(h, dict) and str(h.get("_target_", "")).endswith("GenerativeMetricsHandler"):
            return f"train#handlers#{i}"
    return None


def run_one(run: str, variant: str, iters: int, warmup: int, tail: int, overrides: dict[str, Any],
            metrics: bool, metrics_samples: int) -> dict[str, Any]:
    from ignite.engine import Events
    from monai.utils import set_determinism

    bundle, config = RUNS[run]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ov = {**overrides, **VARIANTS[variant]}
        if metrics:
            ov.setdefault("metrics_every", 1)
            ov.setdefault("metrics_samples", metrics_samples)
        parser = build(bundle, config, ov, tmp)
        set_determinism(seed=int(parser.get("seed", 0)))
        trainer = parser.get_parsed_content("train#trainer")
        times: list[float] = []
        losses: dict[str, list[float]] = {}
        t_start = [0.0]

        @trainer.on(Events.ITERATION_STARTED)
        def _start(engine) -> None:
            t_start[0] = time.perf_counter()

        @trainer.on(Events.ITERATION_COMPLETED)
        def _done(engine) -> None:
            times.append(time.perf_counter() - t_start[0])
            for k, v in (engine.state.output or {}).items():
                if not k.startswith("lr_"):
                    losses.setdefault(k, []).append(float(v))
            if engine.state.iteration >= iters:
                engine.terminate()

        trainer.state.max_epochs = 10**6  # stop by iteration count, not by epoch
        load0 = os.getloadavg()[0]
        trainer.run()
        load1 = os.getloadavg()[0]
        steady = times[warmup:] or times
        result: dict[str, Any] = {
            "run": run, "variant": variant, "iters": len(times),
            "amp_dtype": str(trainer.amp_dtype).replace("torch.", "") if trainer.amp_dtype else "float32",
            "channels_last": bool(trainer.channels_last),
            "s_per_it": statistics.median(steady), "load": (round(load0, 2), round(load1, 2)),
            "nonfinite": sorted(k for k, v in losses.items() if not all(math.isfinite(x) for x in v)),
            "loss_tail": {k: statistics.fmean(v[-tail:]) for k, v in losses.items()},
            "loss_first": {k: v[0] for k, v in losses.items()},
        }
        hid = metrics_handler_id(parser) if metrics else None
        if hid is not None:
            handler = parser.get_parsed_content(hid)
            t0 = time.perf_counter()
            result["quality"] = handler.compute()
            result["quality_s"] = time.perf_counter() - t0
        return result


def speed(run: str, variants: list[str], iters: int, overrides: dict[str, Any]) -> dict[str, float]:
    """Seconds per training iteration of each variant on one fixed batch, calls interleaved round-robin.

    Every variant builds the bundle's trainer from the config (same seed); after one warm-up
    iteration each, the variants take turns (A/B/C/D/A/B/...), so that load from other processes
    on a shared machine hits them alike. Returns the median per variant.
    """
    from monai.utils import set_determinism

    bundle, config = RUNS[run]
    torch.set_num_threads(1)
    steps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            parser = build(bundle, config, {**overrides, **VARIANTS[variant]}, tmp)
            set_determinism(seed=int(parser.get("seed", 0)))
            trainer = parser.get_parsed_content("train#trainer")
            batch = next(iter(trainer.data_loader))
            trainer.state.iteration, trainer.state.epoch = 1, 1
            steps[variant] = (lambda t=trainer, b=batch: t._iteration(t, b))
            steps[variant]()  # warm-up (oneDNN primitive creation)
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(iters):
            for k, fn in steps.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def fmt_row(r: dict[str, Any]) -> str:
    losses = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r["loss_tail"].items()))
    q = r.get("quality") or {}
    qs = f"FID {q['fid']:.2f} / KID {q['kid']:.4f}" if q else "-"
    bad = ",".join(r["nonfinite"]) or "none"
    precision = f"{r['amp_dtype']}{' cl' if r['channels_last'] else ''}"
    return (f"| {r['run']} | {r['variant']} | {precision} | {r['iters']} | "
            f"{r['s_per_it']:.3f} | {losses} | {bad} | {qs} | {r['load'][0]}/{r['load'][1]} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--variants", nargs="+", default=["fp32_nchw", "fp32_cl", "bf16_nchw", "bf16_cl"],
                    choices=list(VARIANTS))
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tail", type=int, default=10, help="loss mean over the last this many iterations")
    ap.add_argument("--set", nargs="*", default=[], metavar="RUN:KEY=VALUE",
                    help="config overrides per run")
    ap.add_argument("--metrics", action="store_true",
                    help="FID/KID after training where the config has them")
    ap.add_argument("--metrics-samples", type=int, default=128)
    ap.add_argument("--json", type=Path, default=None, help="append results as JSON lines here")
    ap.add_argument("--speed", action="store_true",
                    help="only time the variants, interleaved on one fixed batch (no losses or metrics)")
    args = ap.parse_args(argv)
    sets = parse_sets(args.set)
    print(f"torch {torch.__version__}, mkldnn bf16 supported: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    if args.speed:
        print("| run | overrides | " + " | ".join(f"{v} s/it" for v in args.variants) + " | load |")
        print("|---|---|" + "---|" * len(args.variants) + "---|")
        for run in args.runs:
            load0 = os.getloadavg()[0]
            t = speed(run, args.variants, args.iters, sets.get(run, {}))
            base = t[args.variants[0]]
            cells = " | ".join(f"{t[v]:.3f} ({base / t[v]:.2f}x)" for v in args.variants)
            load = f"{load0:.2f}/{os.getloadavg()[0]:.2f}"
            print(f"| {run} | {sets.get(run, {}) or '-'} | {cells} | {load} |", flush=True)
            if args.json:
                row = {"mode": "speed", "run": run, "overrides": sets.get(run, {}), **t}
                with args.json.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
        return 0
    print("| run | variant | precision | iters | s/it | loss means (last iters) | non-finite | quality "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        for variant in args.variants:
            r = run_one(run, variant, args.iters, args.warmup, args.tail, sets.get(run, {}), args.metrics,
                        args.metrics_samples)
            r["overrides"] = sets.get(run, {})
            print(fmt_row(r), flush=True)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
