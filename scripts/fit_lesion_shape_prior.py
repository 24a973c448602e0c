"""Build ``monai_gan_aug/data/lesion_shape_prior.json``: the lesion shape prior of the footprint sampler.

Measures the 8-connected infection-mask components (>= 30 px) of the COVID-QU-Ex films of the
**train** split of ``../shared/data/covidqu`` (fill fraction, compactness, aspect, holes,
components per film and per lung, lesion / lung area) with
:func:`monai_gan_aug.transforms.footprint.measure_lesion_masks` and writes quantiles and histograms
only (no image data).

``--validate val --figure docs/images/lesion_footprints.png`` then compares the real components of
the val split with footprints sampled in their bounding boxes (table + figure of masks only), and
``--calibrate-opacity train`` (instead of fitting) compares the brightness real lesions add with
what :class:`~monai_gan_aug.transforms.opacity.RandLesionOpacity` adds at the same relative lung
positions of normal films. Results: ``docs/lesion_footprints.md``.

Usage::

    .venv/bin/python scripts/fit_lesion_shape_prior.py [--data ../shared/data/covidqu] \
        [--split train] [--out monai_gan_aug/data/lesion_shape_prior.json] \
        [--validate val --figure docs/images/lesion_footprints.png]
    .venv/bin/python scripts/fit_lesion_shape_prior.py --calibrate-opacity train
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from monai_gan_aug.transforms.footprint import (
    component_shapes,
    fit_shape_prior,
    load_shape_prior,
    measure_lesion_masks,
    sample_footprint,
)

__all__ = [
    "calibrate_opacity",
    "covidqu_masks",
    "footprint_figure",
    "main",
    "map_to_lung",
    "validate_footprints",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "covidqu"
DEFAULT_OUT = ROOT / "monai_gan_aug" / "data" / "lesion_shape_prior.json"


def covidqu_masks(data: Path, split: str, label: str = "covid") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(lesion_mask, lung_mask)`` boolean arrays of the ``label`` films of one split."""
    with open(data / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split and r["label"] == label]
    if not rows:
        raise SystemExit(f"no {label!r} film of split {split!r} in {data / 'manifest.csv'}")
    for r in rows:
        lesion = np.asarray(Image.open(data / r["lesion_mask_file"]).convert("L")) > 127
        lung = np.asarray(Image.open(data / r["mask_file"]).convert("L")) > 127
        yield lesion, lung


def validate_footprints(data: Path, split: str = "val", seed: int = 0, prior: dict | None = None) -> dict:
    """Real components of ``split`` vs footprints sampled in the same boxes (boxes = real bboxes).

    Returns the per-component measures of both (``real``, ``sampled``) plus, per box, the sampled
    footprint's coverage of the box, and the crops for the figure.
    """
    rng = np.random.default_rng(seed)
    real, sampled, coverage, sides, crops = [], [], [], [], []
    for lesion, lung in covidqu_masks(data, split):
        for comp in component_shapes(lesion, lung):
            x0, y0, x1, y1 = comp["bbox"]
            region = np.zeros(lesion.shape, dtype=bool)
            region[y0:y1, x0:x1] = True
            fp = sample_footprint(region, rng, prior)
            real.append(comp)
            sampled += component_shapes(fp)
            coverage.append(float(fp.sum() / region.sum()))
            sub = fp[y0:y1, x0:x1]
            sides.append(sum(int(edge.any()) for edge in (sub[0], sub[-1], sub[:, 0], sub[:, -1])))
            if len(crops) < 64:
                crops.append((comp["bbox"], lesion & region, fp))
    return {
        "real": real,
        "sampled": sampled,
        "coverage": np.asarray(coverage),
        "sides": np.asarray(sides),
        "crops": crops,
    }


def footprint_figure(crops: list, out: Path, n: int = 12, tile: int = 112, seed: int = 0) -> None:
    """Real masks (top row) above sampled footprints in the same box (bottom row); box in grey."""
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(crops), size=min(n, len(crops)), replace=False))
    cols = []
    for i in pick:
        (x0, y0, x1, y1), real, fp = crops[i]
        pad = max(2, (max(x1 - x0, y1 - y0)) // 8)
        r0, r1, c0, c1 = max(y0 - pad, 0), y1 + pad, max(x0 - pad, 0), x1 + pad
        pair = []
        for m in (real, fp):
            img = np.full(m.shape, 0, np.uint8)
            img[y0:y1, x0:x1] = 70  # the box
            img[m] = 255
            im = Image.fromarray(img[r0:r1, c0:c1])
            scale = tile / max(im.size)
            size = (max(round(im.size[0] * scale), 1), max(round(im.size[1] * scale), 1))
            im = im.resize(size, Image.NEAREST)
            canvas = np.full((tile + 8, tile + 8), 30, np.uint8)
            a = np.asarray(im)
            canvas[4 : 4 + a.shape[0], 4 : 4 + a.shape[1]] = a
            pair.append(canvas)
        cols.append(np.concatenate(pair, 0))
    from PIL import ImageDraw

    grid = np.concatenate(cols, 1)
    label_w = 64
    canvas = Image.new("L", (grid.shape[1] + label_w, grid.shape[0]), 30)
    canvas.paste(Image.fromarray(grid), (label_w, 0))
    draw = ImageDraw.Draw(canvas)
    half = grid.shape[0] // 2
    draw.text((6, half // 2 - 6), "real", fill=255)
    draw.text((6, half + half // 2 - 6), "sampled", fill=255)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)


def _table(val: dict) -> str:
    rows = ["| measure | set | p5 | p25 | p50 | p75 | p95 | n |", "|---|---|---|---|---|---|---|---|"]
    for name in ("fill", "compactness", "compactness_contour", "aspect"):
        for label in ("real", "sampled"):
            v = np.array([c[name] for c in val[label]])
            q = np.percentile(v, [5, 25, 50, 75, 95])
            rows.append(f"| {name} | {label} | " + " | ".join(f"{x:.2f}" for x in q) + f" | {len(v)} |")
    q = np.percentile(val["coverage"], [5, 25, 50, 75, 95])
    cells = " | ".join(f"{x:.2f}" for x in q)
    rows.append(f"| footprint area / box area | sampled | {cells} | {len(val['coverage'])} |")
    hist = np.bincount(val["sides"], minlength=5) / len(val["sides"])
    touch = ", ".join(f"{k}: {hist[k]:.0%}" for k in range(5))
    return "\n".join(rows) + f"\n\nSampled footprints touching k of their box's 4 sides: {touch}."


def _films(data: Path, split: str, label: str) -> list[dict]:
    with open(data / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split and r["label"] == label]
    out = []
    for r in rows:
        item = {
            "image": np.asarray(Image.open(data / r["file"]).convert("L"), dtype=np.float32) / 255.0,
            "lung": np.asarray(Image.open(data / r["mask_file"]).convert("L")) > 127,
        }
        if label == "covid":
            item["lesion"] = np.asarray(Image.open(data / r["lesion_mask_file"]).convert("L")) > 127
        if item["lung"].any():
            out.append(item)
    return out


def _lung_bbox(lung: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(lung.any(1)), np.flatnonzero(lung.any(0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def map_to_lung(mask: np.ndarray, lung_from: np.ndarray, lung_to: np.ndarray) -> np.ndarray:
    """Move ``mask`` to the same relative position in another film's lungs (lung bbox to lung bbox,
    nearest neighbour), clipped to that film's lung."""
    from monai_gan_aug.transforms.footprint import _resize_nearest

    a0, a1, b0, b1 = _lung_bbox(lung_from)
    c0, c1, d0, d1 = _lung_bbox(lung_to)
    out = np.zeros(lung_to.shape, dtype=bool)
    out[c0:c1, d0:d1] = _resize_nearest(mask[a0:a1, b0:b1], (c1 - c0, d1 - d0))
    return out & lung_to


def calibrate_opacity(data: Path, split: str = "train", n_normals: int = 5, seed: int = 0,
                      params: dict | None = None) -> dict:
    """Brightness real lesions add vs what the baseline adds, at the same relative lung positions.

    For every covid film of ``split``: its lesion mask is mapped into the lungs of ``n_normals``
    random normal films. Real: the covid film's mean intensity inside its lesion minus the normal
    films' mean inside the mapped mask (and the same for the covid film's lesion-free lung, a
    control for how the two classes' films differ anyway), also as an effective density
    ``log(mean(1 - x_normal) / mean(1 - x_covid))``. Baseline: :class:`RandLesionOpacity` (with
    ``params`` overriding its ranges) applied to each normal film with the mapped mask as
    footprint; the same two numbers inside the mask.
    """
    from monai_gan_aug.transforms.opacity import RandLesionOpacity

    rng = np.random.default_rng(seed)
    covid, normal = _films(data, split, "covid"), _films(data, split, "normal")
    t = RandLesionOpacity(**(params or {}))
    t.set_random_state(seed)
    res: dict[str, list[float]] = {k: [] for k in (
        "real_delta", "real_density", "control_delta", "did_density", "base_delta", "base_density",
        "base_mean_density")}
    for c in covid:
        lesion = c["lesion"] & c["lung"]
        free = c["lung"] & ~c["lesion"]
        if lesion.sum() < 30 or free.sum() < 30:
            continue
        x_les, x_free = float(c["image"][lesion].mean()), float(c["image"][free].mean())
        n_les, n_free, b_les, b_dens = [], [], [], []
        t.randomize()  # one baseline draw per covid film, laid on each of its normal films
        for j in rng.choice(len(normal), size=n_normals, replace=False):
            n = normal[j]
            m_les, m_free = map_to_lung(lesion, c["lung"], n["lung"]), map_to_lung(free, c["lung"], n["lung"])
            if m_les.sum() < 30 or m_free.sum() < 30:
                continue
            n_les.append(float(n["image"][m_les].mean()))
            n_free.append(float(n["image"][m_free].mean()))
            img = torch.from_numpy(n["image"])[None]
            out = t(img, footprint=m_les, randomize=False)[0].numpy()
            b_les.append(float(out[m_les].mean()))
            b_dens.append(float(t.opacity.density(m_les, t.params)[m_les].mean()))
        if not n_les:
            continue
        ref, ref_free = float(np.mean(n_les)), float(np.mean(n_free))
        res["real_delta"].append(x_les - ref)
        res["real_density"].append(math.log((1 - ref) / max(1 - x_les, 1e-3)))
        res["control_delta"].append(x_free - ref_free)
        res["did_density"].append(
            math.log((1 - ref) / max(1 - x_les, 1e-3)) - math.log((1 - ref_free) / max(1 - x_free, 1e-3))
        )
        res["base_delta"].append(float(np.mean(b_les)) - ref)
        res["base_density"].append(math.log((1 - ref) / max(1 - float(np.mean(b_les)), 1e-3)))
        res["base_mean_density"].append(float(np.mean(b_dens)))
    return {k: np.asarray(v) for k, v in res.items()}


def _calibration_table(cal: dict) -> str:
    rows = [
        "| quantity (per covid film) | p5 | p25 | p50 | p75 | p95 | mean |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {
        "real_delta": "real: lesion mean - normals' mean at the same place (intensity)",
        "control_delta": "control: lesion-free lung - normals' mean there (intensity)",
        "base_delta": "baseline: added mean intensity in the same masks",
        "real_density": "real: effective density log((1-x_n)/(1-x_c))",
        "did_density": "real, within-film: the same minus the lesion-free lung's",
        "base_density": "baseline: effective density (same formula)",
        "base_mean_density": "baseline: mean of its density map in the mask",
    }
    for k, label in names.items():
        v = cal[k]
        q = np.percentile(v, [5, 25, 50, 75, 95])
        rows.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in q) + f" | {v.mean():.3f} |")
    return "\n".join(rows) + f"\n\n{len(cal['real_delta'])} covid films."


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--validate", metavar="SPLIT", help="also compare real components of SPLIT "
                        "with footprints sampled in their boxes (after writing the prior)")
    parser.add_argument("--figure", type=Path, help="with --validate: write the real-vs-sampled PNG here")
    parser.add_argument("--calibrate-opacity", metavar="SPLIT", help="compare the brightness real lesions "
                        "add with the opacity baseline's (RandLesionOpacity defaults) on SPLIT films")
    args = parser.parse_args(argv)
    if args.calibrate_opacity:
        print(_calibration_table(calibrate_opacity(args.data, args.calibrate_opacity)))
        return {}
    measured = measure_lesion_masks(covidqu_masks(args.data, args.split))
    prior = fit_shape_prior(
        measured,
        source="COVID-QU-Ex infection masks (QaTa-COV19; Tahir et al. 2021), ../shared/data/covidqu",
        split=args.split,
        label="covid",
        made_by="scripts/fit_lesion_shape_prior.py",
        compactness="4 pi A / P^2, P = pixels with a 4-neighbour outside the component",
        compactness_contour="4 pi A / P^2, P = marching-squares contour length",
        bbox_side="component bbox side / image side (rows and columns pooled)",
        components_per_lung="lesion components per lung holding at least one (majority vote)",
    )
    args.out.write_text(json.dumps(prior, indent=1) + "\n", encoding="utf-8")
    q = prior["quantiles"]
    for name in ("fill", "compactness"):
        print(name, "p5/25/50/75/95:", [q[name][i] for i in (1, 5, 10, 15, 19)])
    print("components per film:", prior["components_per_film"], "per lung:", prior["components_per_lung"])
    print(f"wrote {args.out} ({prior['n_components']} components, {prior['n_films']} films)")
    if args.validate:
        val = validate_footprints(args.data, args.validate, prior=load_shape_prior(args.out))
        print(_table(val))
        if args.figure:
            footprint_figure(val["crops"], args.figure)
            print(f"wrote {args.figure}")
    return prior


if __name__ == "__main__":
    main()
