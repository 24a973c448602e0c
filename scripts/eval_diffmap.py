"""Difference-map lesion masks vs real lesion masks (issue #18): calibrate on covidqu train, report once on val.

Thin command line over :mod:`monai_gan_aug.metrics.diffmap`. Steps::

    # 1. settings on covidqu *train* COVID films: healing window/stride, polarity, smoothing,
    #    absolute thresholds of both sources, k of 'brightest k %'
    python scripts/eval_diffmap.py calibrate --out /tmp/dm18/calib.json --cache /tmp/dm18/cache
    # 2. the table, once, on covidqu val (COVID films: scores; normal films: marked lung fraction)
    #    and on covid_lesions (radiologist masks)
    python scripts/eval_diffmap.py evaluate --settings /tmp/dm18/calib.json --out /tmp/dm18/eval.json \
        --cache /tmp/dm18/cache
    # 3. figure of the healing source on the package's demo radiographs (shared-data films are not committed)
    python scripts/eval_diffmap.py figure --settings /tmp/dm18/calib.json --figure docs/images/diffmap_healing.png \
        --method "absolute (train)" --figure-rows 3 --out /tmp/dm18/figure.json
    # 4. pseudo-label UNet trained on healing masks of covidqu train COVID films, scored like the maps
    python scripts/eval_diffmap.py unet --settings /tmp/dm18/calib.json --cache /tmp/dm18/cache --out /tmp/dm18/unet.json

Sources: ``cyclegan`` (the shipped ``cyclegan_G_BA.pt``, or ``--g-ba``) and ``healing`` (the
shipped ``lesion_inpaint.pt`` healthy class, or ``--healing-weights``). The previous version of
this script (demo / covid_lesions with the band only) is in git history before issue #18.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai_gan_aug.inferers.difference_map import load_healthy_source
from monai_gan_aug.metrics import diffmap as dm

DATA = ROOT.parent / "shared" / "data"


def _differences(
    name: str, films: list[dict[str, Any]], net: torch.nn.Module, source: str, cache: Path | None, **kw: Any
) -> list[np.ndarray]:
    """Signed differences of ``films``, cached as ``<cache>/<name>.npz`` (keyed by source and settings)."""
    path = None
    if cache is not None:
        tag = "_".join(f"{k}{v}" for k, v in sorted(kw.items()))
        path = cache / f"{name}_{source}_{tag}.npz"
        if path.is_file():
            data = np.load(path)
            if list(data["names"]) == [f["name"] for f in films]:
                return [data[f"d{i}"] for i in range(len(films))]
    start = time.perf_counter()
    out = dm.film_differences(films, net, source, **kw)
    print(f"  {name} {source} {kw}: {len(films)} films in {time.perf_counter() - start:.0f} s", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, names=np.array([f["name"] for f in films]), **{f"d{i}": d for i, d in enumerate(out)}
        )
    return out


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    covid_train = dm.covidqu_items(args.covidqu, "train", "covid")
    films_all = dm.load_films(covid_train)
    pick = sorted(rng.choice(len(films_all), size=min(args.n_films, len(films_all)), replace=False).tolist())
    films = [films_all[i] for i in pick]
    k, k_dices = dm.choose_brightest(films_all)
    whole = dm.summarise(
        dm.film_scores(films, [dm.baseline_masks(f["image"], f["lung"], (k,)) for f in films]), 200
    )
    print(f"brightest k on {len(films_all)} train COVID films: {k} % ({k_dices})", flush=True)
    result: dict[str, Any] = {
        "split": "covidqu train, label covid",
        "n_films": len(films),
        "films": [f["name"] for f in films],
        "brightest_k": k,
        "brightest_dice": k_dices,
        "n_films_brightest": len(films_all),
        "sources": {},
        "baselines_on_these_films": {m: e["dice"][0] for m, e in whole.items()},
    }
    print(f"baselines on the {len(films)} films: {result['baselines_on_these_films']}", flush=True)
    grids = {
        "cyclegan": [{}],
        "healing": [{"window": w, "stride": s} for w in args.windows for s in args.strides],
    }
    for source in args.sources:
        net = load_healthy_source(source, args.g_ba if source == "cyclegan" else args.healing_weights)
        trials = []
        for geometry in grids[source]:
            signed = _differences("train", films, net, source, args.cache, **geometry)
            for polarity in ("abs", "positive"):
                for smooth in args.smooth:
                    t, d = dm.calibrate_absolute(films, signed, polarity, smooth)
                    table = dm.summarise(
                        dm.film_scores(
                            films, [dm.source_masks(f, s, polarity, smooth, t) for f, s in zip(films, signed)]
                        ),
                        n_boot=200,
                    )
                    trial = {
                        **geometry,
                        "polarity": polarity,
                        "smooth_sigma": smooth,
                        "absolute": t,
                        "dice_absolute": d,
                        "dice": {m: e["dice"][0] for m, e in table.items()},
                    }
                    print(f"  {source} {trial}", flush=True)
                    trials.append(trial)
        top = max(tr["dice_absolute"] for tr in trials)
        near = [tr for tr in trials if tr["dice_absolute"] >= top - args.tolerance]
        # cost ~ number of windows per film: (1 / (window * stride))^2; the cheapest of the near-best wins
        best = min(near, key=lambda tr: (1 / (tr.get("window", 1) * tr.get("stride", 1))) ** 2)
        result["sources"][source] = {
            "chosen": best,
            "trials": trials,
            "criterion": f"mean train Dice with the train-calibrated absolute threshold: the cheapest setting "
            f"(fewest windows) within {args.tolerance} of the best",
        }
    return result


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    settings = json.loads(Path(args.settings).read_text())
    k = int(settings["brightest_k"])
    nets = {
        s: load_healthy_source(s, args.g_ba if s == "cyclegan" else args.healing_weights)
        for s in settings["sources"]
    }
    sets = {
        "covidqu val covid": dm.covidqu_items(args.covidqu, "val", "covid"),
        "covidqu val normal": dm.covidqu_items(args.covidqu, "val", "normal"),
        "covid_lesions": dm.covid_lesions_items(args.covid_lesions),
    }
    out: dict[str, Any] = {"settings": args.settings, "brightest_k": k, "tables": {}}
    for name, items in sets.items():
        if args.sets and name not in args.sets:
            continue
        if args.max_images:
            items = items[: args.max_images]
        films = dm.load_films(items)
        if name == "covid_lesions":
            films = [f for f in films if f["gt"] is not None and f["gt"].any()]
        sources = {}
        for source, net in nets.items():
            chosen = settings["sources"][source]["chosen"]
            geometry = {key: chosen[key] for key in ("window", "stride") if key in chosen}
            signed = _differences(name.replace(" ", "_"), films, net, source, args.cache, **geometry)
            sources[source] = (
                signed,
                {
                    "polarity": chosen["polarity"],
                    "smooth_sigma": chosen["smooth_sigma"],
                    "absolute": chosen["absolute"],
                },
            )
        table = dm.score_table(films, sources, k, n_boot=args.n_boot)
        out["tables"][name] = {"n_films": len(films), "methods": table}
        print(f"\n## {name} ({len(films)} films)\n", flush=True)
        metrics = (
            ("marked",)
            if name == "covidqu val normal"
            else ("dice", "precision", "recall", "accuracy", "marked")
        )
        print(dm.table_markdown(table, metrics), flush=True)
        for method, entry in table.items():
            if "dice_gain_vs_best_baseline" in entry:
                g = entry["dice_gain_vs_best_baseline"]
                print(
                    f"  {method}: Dice - {g['baseline']} = {g['gain'][0]:+.3f} "
                    f"(95 % CI {g['gain'][1]:+.3f} to {g['gain'][2]:+.3f})",
                    flush=True,
                )
    return out


def figure(args: argparse.Namespace) -> dict[str, Any]:
    """Rows ``film | healed | map | thresholded map | ground truth`` of the healing source (``--method``)."""
    from monai_gan_aug.visualize import save_rgb

    settings = json.loads(Path(args.settings).read_text())
    chosen = settings["sources"]["healing"]["chosen"]
    if args.figure_data == "demo":  # the package's own demo radiographs: shareable
        from monai_gan_aug.data.demo import demo_dataset
        from monai_gan_aug.data.splits import patient_split

        items = patient_split([it for it in demo_dataset() if it.get("lesion_mask")])["test"]
    else:  # covidqu val COVID films: for looking at locally, never to commit (shared-data images)
        items = dm.covidqu_items(args.covidqu, "val", "covid")
    films = dm.load_films(items[args.figure_offset : args.figure_offset + args.figure_rows])
    net = load_healthy_source("healing", args.healing_weights)
    signed = dm.film_differences(films, net, "healing", window=chosen["window"], stride=chosen["stride"])
    rows = []
    for f, s in zip(films, signed):
        masks = dm.source_masks(f, s, chosen["polarity"], chosen["smooth_sigma"], chosen["absolute"])
        rows.append(dm.figure_row(f, s, masks[args.method], chosen["polarity"], chosen["smooth_sigma"]))
    save_rgb(rows, args.figure)
    from PIL import Image  # a 192-colour palette keeps the committed PNG small (< 400 KB)

    with Image.open(args.figure) as im:
        im.convert("RGB").quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(
            args.figure, optimize=True
        )
    return {
        "figure": args.figure,
        "data": args.figure_data,
        "films": [f["name"] for f in films],
        "method": args.method,
        "healing": chosen,
    }


def _resize(x: np.ndarray, size: int, mode: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))[None, None]
    kw = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    return torch.nn.functional.interpolate(t, size=(size, size), mode=mode, **kw)[0]


def unet(args: argparse.Namespace) -> dict[str, Any]:
    """Pseudo-label UNet: train on healing masks (train-calibrated threshold) of covidqu train COVID films, score val."""
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    settings = json.loads(Path(args.settings).read_text())
    chosen = settings["sources"]["healing"]["chosen"]
    k = int(settings["brightest_k"])
    geometry = {"window": chosen["window"], "stride": chosen["stride"]}
    kw = {
        "polarity": chosen["polarity"],
        "smooth_sigma": chosen["smooth_sigma"],
        "absolute": chosen["absolute"],
    }
    net_h = load_healthy_source("healing", args.healing_weights)
    rng = np.random.default_rng(args.seed)
    items = dm.covidqu_items(args.covidqu, "train", "covid")
    pick = sorted(rng.choice(len(items), size=min(args.unet_films, len(items)), replace=False).tolist())
    films = dm.load_films([items[i] for i in pick])
    signed = _differences("unet_train", films, net_h, "healing", args.cache, **geometry)
    size = args.unet_size
    xs = torch.stack([_resize(f["image"], size, "bilinear") for f in films])
    ys = torch.stack(
        [
            _resize(dm.source_masks(f, s, **kw)[args.unet_label], size, "nearest")
            for f, s in zip(films, signed)
        ]
    )
    torch.manual_seed(args.seed)
    model = UNet(2, 1, 1, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=1)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = DiceCELoss(sigmoid=True)
    start, it, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < args.unet_minutes * 60:
        idx = torch.randint(0, len(films), (8,))
        x, y = xs[idx], ys[idx]
        if it % 2:
            x, y = x.flip(-1), y.flip(-1)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        it += 1
    model.eval()
    out: dict[str, Any] = {
        "label": args.unet_label,
        "films": len(films),
        "iterations": it,
        "train_seconds": round(time.perf_counter() - start, 1),
        "final_loss": float(np.mean(losses[-50:])),
        "tables": {},
    }
    print(f"UNet: {it} iterations, loss {out['final_loss']:.3f}", flush=True)
    sets = {
        "covidqu val covid": dm.covidqu_items(args.covidqu, "val", "covid"),
        "covidqu val normal": dm.covidqu_items(args.covidqu, "val", "normal"),
        "covid_lesions": dm.covid_lesions_items(args.covid_lesions),
    }
    for name, its in sets.items():
        vf = [
            f
            for f in dm.load_films(its)
            if name != "covid_lesions" or (f["gt"] is not None and f["gt"].any())
        ]
        masks = []
        with torch.inference_mode():
            for f in vf:
                prob = torch.sigmoid(model(_resize(f["image"], size, "bilinear")[None]))
                full = torch.nn.functional.interpolate(prob, size=f["image"].shape, mode="bilinear")[
                    0, 0
                ].numpy()
                m = {"pseudo-label UNet (healing)": (full > 0.5) & f["lung"]}
                m.update(dm.baseline_masks(f["image"], f["lung"], (k,)))
                masks.append(m)
        scores = dm.film_scores(vf, masks)
        table = dm.summarise(scores, args.n_boot)
        for method, gain in dm.dice_gains(scores, args.n_boot).items():
            table[method]["dice_gain_vs_best_baseline"] = gain
        out["tables"][name] = {"n_films": len(vf), "methods": table}
        print(f"\n## {name} ({len(vf)} films)\n", flush=True)
        print(dm.table_markdown(table, ("dice", "precision", "recall", "accuracy", "marked")), flush=True)
        print(table["pseudo-label UNet (healing)"].get("dice_gain_vs_best_baseline"), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("step", choices=("calibrate", "evaluate", "figure", "unet"))
    p.add_argument("--covidqu", default=str(DATA / "covidqu"))
    p.add_argument("--covid-lesions", default=str(DATA / "covid_lesions"))
    p.add_argument("--sources", nargs="+", default=["cyclegan", "healing"], choices=["cyclegan", "healing"])
    p.add_argument("--g-ba", default=None, help="sick->healthy CycleGAN generator (default: shipped)")
    p.add_argument("--healing-weights", default=None, help="lesion inpainting generator (default: shipped)")
    p.add_argument(
        "--n-films", type=int, default=60, help="calibrate: train COVID films for the source settings"
    )
    p.add_argument(
        "--windows", type=float, nargs="+", default=[32, 48, 72], help="healing windows, reference px"
    )
    p.add_argument("--strides", type=float, nargs="+", default=[0.5, 0.33])
    p.add_argument("--tolerance", type=float, default=0.005, help="calibrate: Dice within which cheaper wins")
    p.add_argument("--smooth", type=float, nargs="+", default=[0.0, 2.0])
    p.add_argument("--settings", default=None, help="evaluate: the calibrate step's JSON")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument(
        "--sets",
        nargs="+",
        default=None,
        choices=("covidqu val covid", "covidqu val normal", "covid_lesions"),
        help="evaluate: only these sets (e.g. to fill the cache in parallel processes)",
    )
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None, help="folder caching the films' differences (.npz)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--figure", default=None, help="figure: the PNG to write")
    p.add_argument("--figure-data", choices=("demo", "covidqu"), default="demo")
    p.add_argument("--figure-rows", type=int, default=4)
    p.add_argument("--figure-offset", type=int, default=0)
    p.add_argument("--method", default="otsu", help="figure: the thresholding shown (a source_masks name)")
    p.add_argument("--unet-films", type=int, default=300, help="unet: covidqu train COVID films")
    p.add_argument("--unet-size", type=int, default=128)
    p.add_argument("--unet-minutes", type=float, default=15)
    p.add_argument(
        "--unet-label", default="absolute (train)", help="unet: the healing mask used as pseudo-label"
    )
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.step != "calibrate" and not args.settings:
        p.error(f"{args.step} needs --settings (the calibrate step's JSON)")
    if args.step == "figure" and not args.figure:
        p.error("figure needs --figure PATH.png")
    result = {"calibrate": calibrate, "evaluate": evaluate, "figure": figure, "unet": unet}[args.step](args)
    result["seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
