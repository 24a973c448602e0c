"""Difference-map regions of Kermany pneumonia films: where the sick->healthy generator sees disease.

For each Kermany pneumonia film with a lung mask in the patient split ``train`` (the same
``patient_split`` call as :func:`monai_gan_aug.data.lesion.shared_lesion_items`, so no val/test film
is read), the shipped sick->healthy generator runs through
:class:`~monai_gan_aug.inferers.difference_map.DifferenceMapInferer` with the film's own lung mask;
the connected components of the mask inside the lung give up to ``--max-boxes`` bounding boxes
(largest first, components under ``--min-area`` pixels dropped), in the film's native pixels,
end-exclusive ``[x0, y0, x1, y1]``.

The JSON written to ``--out`` (outside the repository: it describes the shared data) is read by
``lesion_datalist(..., diffmap_regions=...)``: ``{"films": {"images/X.png": {"boxes": [...], ...}}, ...}``,
keys relative to the ``kermany/`` folder. Caveat: the shipped ``G_BA`` changes lung bases and
borders as much as opacities (``docs/diffmap.md``), so the boxes mark where *the model* sees
disease, weakly. Usage::

    nice -n 15 python scripts/make_diffmap_regions.py --data ../shared/data \\
        --out /work/runs/diffmap_regions.json
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
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai_gan_aug.data.datasets import manifest_dataset  # noqa: E402
from monai_gan_aug.data.splits import patient_split  # noqa: E402
from monai_gan_aug.inferers.difference_map import (  # noqa: E402
    DifferenceMapInferer,
    generator_size,
    load_sick_to_healthy,
)
from monai_gan_aug.transforms.io import LoadXRay  # noqa: E402

__all__ = ["component_boxes", "box_stats", "films_to_process", "main"]

DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = Path("/work/runs/diffmap_regions.json")
PARAMS = ("low", "high", "min_size", "min_area", "max_boxes", "closing")


def component_boxes(
    mask: np.ndarray,
    lung: np.ndarray | None = None,
    min_area: int = 400,
    max_boxes: int = 2,
    closing: int = 0,
) -> list[dict[str, Any]]:
    """Bounding boxes of the largest connected components of ``mask`` inside ``lung``.

    Args:
        mask: ``(H, W)`` binary difference-map mask.
        lung: ``(H, W)`` binary lung mask (``None``: the whole image).
        min_area: components with fewer pixels are dropped (specks are noise of the generator).
        max_boxes: at most this many boxes, largest component first.
        closing: binary closing radius (pixels) before labelling, so nearby specks merge into one
            component; 0 keeps the mask as is.

    Returns:
        ``[{"box": [x0, y0, x1, y1], "area": pixels, "lung_overlap": fraction of the box in the lung}]``,
        boxes end-exclusive in the mask's pixel grid (x the column, y the row).
    """
    inside = np.asarray(mask, bool) if lung is None else np.asarray(mask, bool) & np.asarray(lung, bool)
    if closing > 0:
        disk = _disk(closing)
        inside = ndimage.binary_closing(inside, structure=disk)
        if lung is not None:
            inside &= np.asarray(lung, bool)  # closing must not reach outside the lung
    labels, count = ndimage.label(inside, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = [i for i in np.argsort(-areas, kind="stable") if areas[i] >= min_area][:max_boxes]
    slices = ndimage.find_objects(labels)
    out = []
    for i in order:
        rows, cols = slices[i]
        box = [int(cols.start), int(rows.start), int(cols.stop), int(rows.stop)]
        overlap = 1.0 if lung is None else float(np.asarray(lung, bool)[rows, cols].mean())
        out.append({"box": box, "area": int(areas[i]), "lung_overlap": round(overlap, 4)})
    return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx**2 + yy**2 <= radius**2


def box_stats(films: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Summary of the boxes: count, width/height/area fraction of the film, overlap with the lung."""
    recs = [(b, f["shape"]) for f in films.values() for b in f["regions"]]
    if not recs:
        return {"boxes": 0}

    def summary(values: list[float]) -> dict[str, float]:
        v = np.asarray(values, float)
        return {k: round(float(f(v)), 4) for k, f in
                (("mean", np.mean), ("median", np.median), ("min", np.min), ("max", np.max))}

    w = [r["box"][2] - r["box"][0] for r, _ in recs]
    h = [r["box"][3] - r["box"][1] for r, _ in recs]
    return {
        "boxes": len(recs),
        "width_px": summary(w),
        "height_px": summary(h),
        "box_fraction_of_film": summary([wi * hi / (s[0] * s[1]) for wi, hi, (_, s) in zip(w, h, recs)]),
        "component_fill_of_box": summary([r["area"] / (wi * hi) for wi, hi, (r, _) in zip(w, h, recs)]),
        "box_fraction_in_lung": summary([r["lung_overlap"] for r, _ in recs]),
        "box_fraction_of_lung": summary([r["box_lung_px"] / r["lung_px"] for r, _ in recs]),
    }


def films_to_process(data: Path, split: str = "train") -> list[dict[str, Any]]:
    """Kermany pneumonia films with a lung mask in ``split`` (split as ``shared_lesion_items`` splits)."""
    kermany = [d for d in manifest_dataset(data / "kermany" / "manifest.csv") if d.get("lung_mask")]
    return [d for d in patient_split(kermany)[split] if int(d["class_index"]) == 1]


def _read_mask(path: str, shape: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as im:
        m = np.asarray(im.convert("L")) > 127
    if m.shape != shape:
        raise ValueError(f"mask {path} is {m.shape}, image is {shape}")
    return m


def _film_regions(item: dict[str, Any], net: torch.nn.Module, inferer: DifferenceMapInferer,
                  args: argparse.Namespace) -> dict[str, Any]:
    img = LoadXRay()(item["image"])
    hw = tuple(img.shape[-2:])
    lung = _read_mask(item["lung_mask"], hw)
    lung_t = torch.from_numpy(lung[None, None].astype(np.float32))
    mask = inferer(img[None], net, lung=lung_t)[0, 0].numpy() > 0
    regions = component_boxes(mask, lung, args.min_area, args.max_boxes, args.closing)
    for r in regions:
        x0, y0, x1, y1 = r["box"]
        r["box_lung_px"], r["lung_px"] = int(lung[y0:y1, x0:x1].sum()), int(lung.sum())
    return {"patient": item.get("patient", ""), "shape": [int(hw[0]), int(hw[1])], "regions": regions,
            "boxes": [r["box"] for r in regions],
            "mask_fraction_of_lung": round(float(mask.sum() / max(lung.sum(), 1)), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="shared-data folder with kermany/manifest.csv")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON to write (keep it out of the repository)")
    p.add_argument("--weights", default=None, help="sick->healthy generator (default: shipped G_BA)")
    p.add_argument("--split", default="train", choices=("train", "val", "test"),
                   help="patient split (train: the only one the lesion generator may learn from)")
    p.add_argument("--low", type=float, default=0.3)
    p.add_argument("--high", type=float, default=0.8)
    p.add_argument("--min-size", type=int, default=20, help="DifferenceMap speck removal (pixels)")
    p.add_argument("--min-area", type=int, default=400, help="drop components smaller than this (pixels)")
    p.add_argument("--max-boxes", type=int, default=2, help="at most this many boxes per film")
    p.add_argument("--closing", type=int, default=0, help="closing radius (px) merging nearby specks first")
    p.add_argument("--max-films", type=int, default=None, help="only the first N films (quick checks)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    data = Path(args.data)
    if not (data / "kermany" / "manifest.csv").is_file():
        print(f"SKIPPED: no Kermany data at {data / 'kermany' / 'manifest.csv'}")
        return 0
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    net = load_sick_to_healthy(args.weights)
    inferer = DifferenceMapInferer(low=args.low, high=args.high, min_size=args.min_size, lung=None)
    items = films_to_process(data, args.split)[: args.max_films]
    kermany_dir = (data / "kermany").resolve()
    films = {}
    for item in items:
        key = Path(item["image"]).resolve().relative_to(kermany_dir).as_posix()
        films[key] = _film_regions(item, net, inferer, args)
    with_box = {k: f for k, f in films.items() if f["boxes"]}
    result = {
        "generator": str(args.weights or "shipped cyclegan_G_BA.pt"),
        "generator_info": getattr(net, "info", {}),
        "working_size": generator_size(net),
        "split": args.split,
        "params": {k: getattr(args, k) for k in PARAMS},
        "films_processed": len(films),
        "films_with_box": len(with_box),
        "mask_fraction_of_lung_mean": _mean([f["mask_fraction_of_lung"] for f in films.values()]),
        "stats": box_stats(with_box),
        "seconds": round(time.perf_counter() - start, 1),
        "films": films,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: v for k, v in result.items() if k not in ("films", "generator_info")}, indent=1))
    print(f"{len(with_box)}/{len(films)} films got a box; {result['seconds']} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
