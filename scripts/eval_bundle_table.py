"""One table of FID / KID / precision / recall for every shipped bundle's outputs (issue #6).

Usage::

    nice -n 15 python scripts/eval_bundle_table.py [--data ../shared/data] [--out ../runs/table] \
        [--threads 1] [--extractors judge inception] [--downstream lesion_inpaint=JSON cyclegan=JSON]

For each bundle whose weights are available, the script makes outputs from held-out real images
(patients of the project's ``patient_split`` ``test`` split, never seen in training), scores them
with :func:`monai_gan_aug.metrics.evaluate.evaluate_folders` against held-out real images of the
class they should look like, in every requested feature space (``judge`` = the pneumonia
classifier's penultimate features, ``inception`` = TF-FID Inception-v3), and adds real-vs-real
baseline rows at the same sample sizes, so a reader can see what "real" scores at that ``n``:

* **Kermany, stored size (512 px), reference = the 122 real test-split pneumonia films**:
  ``cyclegan_pneumonia`` ``G_AB`` on the 36 test normals (whole film, detail-preserving
  ``TranslationInferer``); ``lesion_inpaint`` one pneumonia edit per test normal, a box drawn
  inside its lung as ``scripts/eval_edit.py`` does; baselines: 36 real *val*-split pneumonia films
  (same class, other patients) and the 36 unedited test normals (the other class).
* **covid_lesions, reference = the val-split films**: ``pix2pix_pathology`` on the test-split
  films with their radiologist boxes (the bundle's ``inference.json``; a local run's ``G.pt`` when
  it exists, else the shipped weights); baseline:
  the same test films, unedited.
* **Kermany at 64 px, reference = all test-split films (as ``docs/gan_family.md``)**: 200 samples
  (seed 0) of the shipped ``dcgan_xray`` and ``fastgan_xray`` generators; baseline: the val-split
  films at 64 px. ``wgan_gp_ct`` has no held-out real CT, so its row says so.

Generated images and 64 px references go to ``--out`` (outside the repository); real references
are CSV manifests of absolute paths (nothing is copied). Prints a markdown table and writes JSON.
Without the data folder it prints ``SKIPPED: ...`` and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Row",
    "sample_items",
    "write_manifest",
    "resize_to_folder",
    "make_cyclegan",
    "make_lesion_edits",
    "kept_fraction",
    "make_pix2pix",
    "make_latent",
    "score_rows",
    "downstream_summary",
    "markdown_table",
    "main",
]

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("fid", "kid", "prdc")
PIX2PIX_CANDIDATES = ("models/model.pt", "runs/models/G.pt")  # as the bundle's inference.json looks


@dataclass
class Row:
    """One line of the table: a set of images scored against a real reference.

    Attributes:
        name: short label of the row.
        bundle: the bundle (or ``"real"`` for a baseline).
        fake: folder or CSV manifest of the scored images (``None``: not available).
        real: folder or CSV manifest of the reference images.
        fake_desc, real_desc: what the two sets are, for the reader.
        note: why a row is not available, or a caveat.
        downstream: key into the ``--downstream`` results (``None``: not measured).
        seconds: time spent making the scored images.
    """

    name: str
    bundle: str
    fake: str | None
    real: str
    fake_desc: str
    real_desc: str
    note: str = ""
    downstream: str | None = None
    seconds: float = 0.0
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)


def sample_items(items: Sequence[dict], n: int | None, seed: int = 0) -> list[dict]:
    """A seeded random subset of ``n`` items in their original order (all of them if ``n`` is None or larger)."""
    if n is None or n >= len(items):
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=n, replace=False))
    return [items[i] for i in keep]


def write_manifest(paths: Sequence[str], csv_path: str | Path) -> str:
    """Write a one-column (``file``) CSV of absolute image paths; returns its path as a string."""
    if not paths:
        from monai_gan_aug.errors import DatasetError

        raise DatasetError(f"no images to list in {csv_path}")
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file"])
        writer.writerows([[str(Path(p).resolve())] for p in paths])
    return str(csv_path)


def resize_to_folder(paths: Sequence[str], out: str | Path, size: int = 64) -> str:
    """Real images at the latent GANs' training size (longest side ``size``, area, edge-padded square).

    The same preprocessing as the ``dcgan_xray`` / ``fastgan_xray`` training configs, so the 64 px
    samples are compared with references prepared the way their training data was.
    """
    from monai.transforms import Compose, Resized, SpatialPadd

    from monai_gan_aug.transforms.io import LoadXRayd, SaveXRay

    prep = Compose([
        LoadXRayd(keys="image"),
        Resized(keys="image", spatial_size=size, size_mode="longest", mode="area"),
        SpatialPadd(keys="image", spatial_size=(size, size), mode="edge"),
    ])
    saver = SaveXRay(overwrite=True, synthetic=False, description=f"resized to {size} px for evaluation")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        img = prep({"image": path})["image"]
        saver(img.clamp(0, 1), out / f"{i:05d}_{Path(path).stem}.png")
    return str(out)


@torch.no_grad()
def make_cyclegan(items: Sequence[dict], out: str | Path, weights: str | Path | None = None) -> str:
    """``G_AB`` (healthy -> pneumonia) on each image at its stored size, as the bundle's inference does."""
    from monai_gan_aug.inferers.translation import TranslationInferer
    from monai_gan_aug.networks.factory import load_network
    from monai_gan_aug.transforms.io import LoadXRay, SaveXRay
    from monai_gan_aug.utils.weights import shipped_weights_path

    weights = weights or shipped_weights_path("cyclegan_G_AB.pt")
    net = load_network(weights).eval()
    inferer = TranslationInferer(size=int(net.info.get("image_size", 256)), detail_preserving=True)
    saver = SaveXRay(overwrite=True, synthetic=True, description=f"CycleGAN G_AB ({Path(weights).name})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loader = LoadXRay()
    for item in items:
        img = loader(item["image"])
        saver(inferer(img[None], net)[0].clamp(0, 1), out / f"{Path(item['image']).stem}_G_AB.png")
    return str(out)


def make_lesion_edits(items: Sequence[dict], out: str | Path, weights: str | Path | None = None) -> str:
    """One pneumonia edit per image in a box drawn inside its lung mask (seeded per image, as ``eval_edit.py``)."""
    from PIL import Image

    from monai_gan_aug.inferers.edit import PneumoniaEditor
    from monai_gan_aug.transforms.io import LoadXRay
    from monai_gan_aug.transforms.region import RandRegionMask

    editor = PneumoniaEditor(weights=weights, feather=8)
    loader = LoadXRay()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, item in enumerate(items):
        lung = torch.from_numpy((np.asarray(Image.open(item["lung_mask"])) > 127).astype(np.float32))[None]
        drawer = RandRegionMask(feather=8)
        drawer.set_random_state(seed=i)
        drawn, _ = drawer(loader(item["image"]), lung=lung)
        box = drawn.meta["region"]["boxes"][0]
        editor.edit_file(item["image"], {"box": box}, out / f"{Path(item['image']).stem}_lesion.png", seed=i,
                         overwrite=True)
    return str(out)


def kept_fraction(items: Sequence[dict]) -> float:
    """Mean share of image pixels inside the union of each item's boxes (what pix2pix keeps unchanged)."""
    from PIL import Image

    shares = []
    for item in items:
        with Image.open(item["image"]) as im:
            keep = np.zeros((im.height, im.width), bool)
        for x0, y0, x1, y1 in np.asarray(item["boxes"], dtype=float).round().astype(int):
            keep[max(y0, 0) : y1, max(x0, 0) : x1] = True
        shares.append(keep.mean())
    return float(np.mean(shares))


def make_pix2pix(items: Sequence[dict], out: str | Path, weights: str | Path, threads: int = 1) -> str:
    """The ``pix2pix_pathology`` bundle's ``inference.json`` on ``items`` with their own boxes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    box_csv = out.parent / f"{out.name}_boxes.csv"
    with open(box_csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "box"])
        for item in items:
            for box in item["boxes"]:
                writer.writerow([item["image"], ",".join(str(int(round(v))) for v in box)])
    subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file",
         str(ROOT / "bundles" / "pix2pix_pathology" / "configs" / "inference.json"), "--box_csv", str(box_csv),
         "--output_dir", str(out), "--ckpt_path", str(weights), "--num_threads", str(threads)],
        check=True, stdout=subprocess.DEVNULL,
    )
    return str(out)


def make_latent(bundle: str, n: int, out: str | Path, seed: int = 0) -> str:
    """``n`` samples of a latent GAN bundle's shipped generator (``monai-gan-aug sample``)."""
    from monai_gan_aug.cli.sample import LATENT_BUNDLES, default_weights, sample_to_folder
    from monai_gan_aug.networks.factory import load_network
    from monai_gan_aug.utils.weights import WEIGHTS_DIR

    # The shipped file, not a local run's export that default_weights would prefer.
    weights = WEIGHTS_DIR / LATENT_BUNDLES[bundle]
    if not weights.is_file():
        weights = Path(default_weights(bundle))
    sample_to_folder(load_network(weights), n, out, seed=seed, bundle=bundle, weights=str(weights))
    return str(out)


def score_rows(rows: Sequence[Row], extractors: dict[str, Any], cache_dir: str | Path | None,
               kid_subset_size: int = 100) -> list[Row]:
    """Fill ``row.scores[name]`` with ``evaluate_folders`` (FID, KID, PRDC) for every available row."""
    from monai_gan_aug.metrics.evaluate import evaluate_folders

    for row in rows:
        if row.fake is None:
            continue
        for name, ext in extractors.items():
            row.scores[name] = evaluate_folders(row.real, row.fake, extractor=ext, metrics=METRICS,
                                                cache_dir=cache_dir, kid_subset_size=kid_subset_size)
            print(f"  {row.name} [{name}]: FID {row.scores[name]['fid']:.2f}", flush=True)
    return rows


def downstream_summary(path: str | Path) -> dict[str, Any]:
    """Mean paired AUC difference and its interval from a ``scripts/eval_downstream.py --json`` file."""
    data = json.loads(Path(path).read_text())
    auc = data["auc_difference"]
    return {"auc_difference": auc["mean"], "ci": auc.get("ci"), "seeds": auc.get("n"),
            "command": data.get("command", ""), "file": str(path)}


def _fmt(value: Any, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _cell(scores: dict[str, Any] | None) -> list[str]:
    if not scores:
        return ["", "", ""]
    return [_fmt(scores["fid"], 1), _fmt(scores["kid"], 3),
            f"{_fmt(scores['precision'], 2)} / {_fmt(scores['recall'], 2)}"]


def _downstream_cell(info: dict[str, Any] | None) -> str:
    if not info:
        return "not measured"
    ci = info.get("ci")
    text = f"{info['auc_difference']:+.3f}"
    return text + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")


def markdown_table(rows: Sequence[Row], extractors: Sequence[str],
                   downstream: dict[str, dict[str, Any]] | None = None) -> str:
    """The table: one line per row, FID / KID / precision-recall per extractor, downstream AUC change."""
    downstream = downstream or {}
    head = ["row", "scored images (n)", "reference (n)"]
    for name in extractors:
        head += [f"{name} FID", f"{name} KID", f"{name} P / R"]
    head.append("downstream ΔAUC [95 % CI]")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        first = next(iter(row.scores.values()), {})
        n_fake, n_real = first.get("n_fake", "-"), first.get("n_real", "-")
        cells = [row.name, f"{row.fake_desc} ({n_fake})", f"{row.real_desc} ({n_real})"]
        if row.fake is None:
            cells[1:3] = [f"{row.fake_desc}: **not available** ({row.note})", row.real_desc]
        for name in extractors:
            cells += _cell(row.scores.get(name))
        cells.append(_downstream_cell(downstream.get(row.downstream)) if row.downstream else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _kermany_rows(data: Path, out: Path, args: argparse.Namespace) -> list[Row]:
    from monai_gan_aug.data.datasets import manifest_dataset
    from monai_gan_aug.data.splits import patient_split

    split = patient_split(manifest_dataset(data / "kermany" / "manifest.csv"))
    test_normal = [d for d in split["test"] if d["class_index"] == 0]
    test_pneu = [d for d in split["test"] if d["class_index"] == 1]
    val_pneu = sample_items([d for d in split["val"] if d["class_index"] == 1], len(test_normal), seed=0)
    ref = write_manifest([d["image"] for d in test_pneu], out / "ref_kermany_test_pneumonia.csv")
    ref_desc = "real pneumonia, test patients"
    rows = [
        Row("real vs real (same class)", "real", write_manifest([d["image"] for d in val_pneu],
            out / "real_kermany_val_pneumonia.csv"), ref, "real pneumonia, val patients", ref_desc),
        Row("real other class (unedited inputs)", "real", write_manifest([d["image"] for d in test_normal],
            out / "real_kermany_test_normal.csv"), ref, "real normal, test patients", ref_desc),
    ]
    t0 = time.time()
    fake = make_cyclegan(test_normal, out / "cyclegan_G_AB")
    rows.append(Row("cyclegan_pneumonia G_AB", "cyclegan_pneumonia", fake, ref, "G_AB(test normals)", ref_desc,
                    downstream="cyclegan", seconds=time.time() - t0))
    t0 = time.time()
    fake = make_lesion_edits([d for d in test_normal if d.get("lung_mask")], out / "lesion_inpaint")
    rows.append(Row("lesion_inpaint (1 box in the lung)", "lesion_inpaint", fake, ref,
                    "pneumonia edit of test normals", ref_desc, downstream="lesion_inpaint",
                    seconds=time.time() - t0))
    return rows


def _pix2pix_weights(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    root = ROOT / "bundles" / "pix2pix_pathology"
    from monai_gan_aug.utils.weights import WEIGHTS_DIR

    found = [root / c for c in PIX2PIX_CANDIDATES] + [WEIGHTS_DIR / "pix2pix_pathology.pt"]
    return next((p for p in found if p.is_file()), None)


def _covid_rows(data: Path, out: Path, args: argparse.Namespace) -> list[Row]:
    from monai_gan_aug.data.datasets import manifest_dataset
    from monai_gan_aug.data.splits import patient_split

    split = patient_split(manifest_dataset(data / "covid_lesions" / "manifest.csv"))
    boxed = [d for d in split["test"] if d.get("boxes")]
    ref = write_manifest([d["image"] for d in split["val"]], out / "ref_covid_val.csv")
    ref_desc = "real covid_lesions, val patients"
    rows = [Row("real vs real (covid_lesions)", "real", write_manifest([d["image"] for d in boxed],
                out / "real_covid_test.csv"), ref, "real covid_lesions, test patients", ref_desc)]
    from monai_gan_aug.utils.weights import WEIGHTS_DIR

    weights = _pix2pix_weights(args.pix2pix_weights)
    desc = "pix2pix(test films, their boxes kept)"
    if weights is None or not weights.is_file():
        rows.append(Row("pix2pix_pathology", "pix2pix_pathology", None, ref, desc, ref_desc,
                        note="no local run and no shipped weights found"))
        return rows
    t0 = time.time()
    fake = make_pix2pix(boxed, out / "pix2pix_pathology", weights, args.threads)
    shipped = weights.resolve() == (WEIGHTS_DIR / "pix2pix_pathology.pt").resolve()
    rows.append(Row("pix2pix_pathology" if shipped else "pix2pix_pathology (local weights)", "pix2pix_pathology",
                    fake, ref, desc, ref_desc,
                    note=f"weights {weights}; boxes (kept bit-identical) cover {kept_fraction(boxed):.0%} "
                    "of the pixels on average", seconds=time.time() - t0))
    return rows


def _latent_rows(data: Path, out: Path, args: argparse.Namespace) -> list[Row]:
    from monai_gan_aug.data.datasets import manifest_dataset
    from monai_gan_aug.data.splits import patient_split

    split = patient_split(manifest_dataset(data / "kermany" / "manifest.csv"))
    ref = resize_to_folder([d["image"] for d in split["test"]], out / "ref64_kermany_test")
    ref_desc = "real Kermany, test patients, 64 px"
    rows = [Row("real vs real (64 px)", "real", resize_to_folder([d["image"] for d in split["val"]],
                out / "real64_kermany_val"), ref, "real Kermany, val patients, 64 px", ref_desc)]
    for bundle in ("dcgan_xray", "fastgan_xray"):
        t0 = time.time()
        fake = make_latent(bundle, args.n_latent, out / bundle)
        rows.append(Row(bundle, bundle, fake, ref, f"{bundle} samples, seed 0", ref_desc, seconds=time.time() - t0))
    rows.append(Row("wgan_gp_ct", "wgan_gp_ct", None, ref, "wgan_gp_ct samples", "(no held-out real CT)",
                    note="no real CT in the data folder; see docs/gan_family.md"))
    return rows


GROUPS = {"kermany": _kermany_rows, "covid": _covid_rows, "latent": _latent_rows}


def _parse_downstream(specs: Sequence[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for spec in specs:
        key, _, path = spec.partition("=")
        if not path:
            from monai_gan_aug.errors import ConfigError

            raise ConfigError(f"--downstream takes METHOD=JSON, got {spec!r}")
        out[key] = downstream_summary(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT.parent / "runs" / "table"), help="images, manifests, JSON")
    parser.add_argument("--extractors", nargs="+", default=["judge", "inception"])
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--n-latent", type=int, default=200, help="samples per latent GAN (gan_family: 200)")
    parser.add_argument("--kid-subset-size", type=int, default=100)
    parser.add_argument("--pix2pix-weights", default=None, help="default: the bundle's local run, if any, else the shipped weights")
    parser.add_argument("--downstream", nargs="*", default=[], metavar="METHOD=JSON",
                        help="eval_downstream.py JSON results to show (methods: lesion_inpaint, cyclegan)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="default: <out>/bundle_table.json")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "kermany" / "manifest.csv").is_file() or not (data / "covid_lesions" / "manifest.csv").is_file():
        print(f"SKIPPED: real data not found at {data} (kermany/ and covid_lesions/ manifests)")
        return 0
    torch.set_num_threads(args.threads)
    from monai_gan_aug.metrics.extractors import get_extractor

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    downstream = _parse_downstream(args.downstream)
    rows: list[Row] = []
    for group in args.groups:
        print(f"making images: {group}", flush=True)
        rows += GROUPS[group](data, out, args)
    extractors = {name: get_extractor(name) for name in args.extractors}
    score_rows(rows, extractors, out / "feature_cache", args.kid_subset_size)
    table = markdown_table(rows, list(extractors), downstream)
    print(table)
    result = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else list(argv),
              "extractors": {k: e.name for k, e in extractors.items()}, "kid_subset_size": args.kid_subset_size,
              "rows": [vars(r) for r in rows], "downstream": downstream, "markdown": table,
              "seconds": round(time.time() - t0, 1)}
    target = Path(args.json) if args.json else out / "bundle_table.json"
    target.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {target} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
