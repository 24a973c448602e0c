"""Benchmark of ``monai-gan-aug prepare`` on a Kaggle-layout copy of the Kermany films with planted cases.

Builds, in a temporary folder (never in the repository, never in ``../shared/data``), the Kaggle
"Chest X-Ray Images (Pneumonia)" layout ``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/`` from
``../shared/data/kermany`` (its 1,215 films are dealt into splits with Kaggle's shape: 8 + 8 in
val, ~10 % in test), plants

* exact duplicates: a film copied byte for byte into another split under a new name;
* near duplicates: a film resized to 85 %, with Gaussian noise (sigma 2 grey levels), saved as
  JPEG quality 85 (``.jpeg``, like the Kaggle files) into another split;
* cross-class duplicates: a NORMAL film copied into PNEUMONIA;
* small images: a film shrunk so its shorter side is below ``--min-size``,

runs the real command ``monai-gan-aug prepare`` on it, and compares its ``report.json`` with the
planted truth. Findings that were not planted are listed: the source itself holds duplicates.

    python scripts/prepare_planted_kermany.py [--data ../shared/data/kermany] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "kermany"


def build(data: Path, work: Path, n_exact: int, n_near: int, n_conflict: int, n_small: int, min_size: int,
          seed: int) -> tuple[Path, dict[str, set[str]]]:
    """Write the planted Kaggle folder under ``work``; return it and the planted sets (relative paths)."""
    rng = np.random.default_rng(seed)
    with open(data / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    order = rng.permutation(len(rows))
    root = work / "chest_xray"
    placed: dict[str, dict[str, str]] = {}
    val_left = {"normal": 8, "pneumonia": 8}
    for k in order:
        row = rows[int(k)]
        label = row["label"]
        if val_left[label]:
            split = "val"
            val_left[label] -= 1
        else:
            split = "test" if rng.random() < 0.1 else "train"
        name = Path(row["source_path"]).stem + ".png"  # the Kaggle name (person1_bacteria_1, IM-0117-0001)
        rel = f"{split}/{label.upper()}/{name}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / row["file"], root / rel)
        placed[rel] = {"label": label, "split": split}
    planted: dict[str, set[str]] = {k: set() for k in ("exact", "near", "conflict", "small")}
    keys = sorted(placed)
    picks = [keys[int(i)] for i in rng.choice(len(keys), size=n_exact + n_near + n_small, replace=False)]
    normals = [k for k in keys if placed[k]["label"] == "normal" and k not in picks]
    conflicts = [normals[int(i)] for i in rng.choice(len(normals), size=n_conflict, replace=False)]

    # A copy lands in another split. prepare keeps a group's train member, so the planted case that
    # must be dropped is the copy when the original is in train, else the original.
    for i, src in enumerate(picks[:n_exact]):
        label, split = placed[src]["label"], placed[src]["split"]
        target_split = "test" if split == "train" else "train"
        rel = f"{target_split}/{label.upper()}/planted-exact-{i:02d}.png"
        shutil.copyfile(root / src, root / rel)
        planted["exact"].add(rel if target_split != "train" else src)
    for i, src in enumerate(picks[n_exact : n_exact + n_near]):
        label, split = placed[src]["label"], placed[src]["split"]
        with Image.open(root / src) as im:
            small = im.convert("L").resize((round(im.width * 0.85), round(im.height * 0.85)), Image.LANCZOS)
        arr = np.clip(np.asarray(small, np.float64) + rng.normal(0, 2, (small.height, small.width)), 0, 255)
        target_split = "test" if split == "train" else "train"
        rel = f"{target_split}/{label.upper()}/planted-near-{i:02d}.jpeg"
        buf = io.BytesIO()
        Image.fromarray(np.rint(arr).astype(np.uint8)).save(buf, format="JPEG", quality=85)
        (root / rel).write_bytes(buf.getvalue())
        planted["near"].add(rel if target_split != "train" else src)
    for i, src in enumerate(conflicts):
        rel = f"{placed[src]['split']}/PNEUMONIA/planted-conflict-{i:02d}.png"
        shutil.copyfile(root / src, root / rel)
        planted["conflict"] |= {src, rel}
    for i, src in enumerate(picks[n_exact + n_near :]):
        label, split = placed[src]["label"], placed[src]["split"]
        with Image.open(root / src) as im:
            scale = (min_size - 1) / min(im.size) * rng.uniform(0.5, 0.95)
            shrunk = im.convert("L").resize((max(8, round(im.width * scale)), max(8, round(im.height * scale))),
                                            Image.LANCZOS)
        rel = f"{split}/{label.upper()}/planted-small-{i:02d}.png"
        shrunk.save(root / rel)
        planted["small"].add(rel)
    return root, planted


def compare(report: dict, planted: dict[str, set[str]]) -> dict[str, dict[str, list[str]]]:
    """Planted vs found per kind: ``{"kind": {"found": [...], "missed": [...], "extra": [...]}}``."""
    found: dict[str, set[str]] = {"exact": set(), "near": set(), "conflict": set(), "small": set()}
    found["small"] = {r["source_path"] for r in report["too_small"]}
    for group in report["duplicate_groups"]:
        for m in group["members"]:
            if group["conflict"]:
                found["conflict"].add(m["source_path"])
            elif m["kind"] in ("exact", "near"):
                found[m["kind"]].add(m["source_path"])
    return {k: {"found": sorted(planted[k] & found[k]), "missed": sorted(planted[k] - found[k]),
                "extra": sorted(found[k] - planted[k])} for k in found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the kermany folder of ../shared/data")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it (default: a temp folder, removed)")
    parser.add_argument("--min-size", type=int, default=160,
                        help="prepare's --min-size (default 160: every Kermany film's shorter side is >= 161)")
    parser.add_argument("--exact", type=int, default=10)
    parser.add_argument("--near", type=int, default=10)
    parser.add_argument("--conflict", type=int, default=3)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    args = parser.parse_args()
    if not (args.data / "manifest.csv").is_file():
        print(f"skipped: no Kermany data at {args.data}", file=sys.stderr)
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="prepare_planted_"))
    try:
        root, planted = build(args.data, work, args.exact, args.near, args.conflict, args.small, args.min_size,
                              args.seed)
        out = work / "prepared"
        cmd = [sys.executable, "-m", "monai_gan_aug.cli", "prepare", "--input", str(root), "--out", str(out),
               "--min-size", str(args.min_size), "--quiet"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - start
        report = json.loads((out / "report.json").read_text())
        result = compare(report, planted)
        print(f"input: {sum(1 for _ in root.rglob('*.*'))} files in {root} (planted: "
              + ", ".join(f"{k} {len(v)}" for k, v in planted.items()) + ")")
        print("command: monai-gan-aug prepare --input <tmp>/chest_xray --out <tmp>/prepared "
              f"--min-size {args.min_size}  ({seconds:.0f} s)")
        print(f"counts: {json.dumps(report['counts'])}")
        print(f"{'kind':<10}{'planted':>8}{'found':>7}{'missed':>7}{'extra':>7}")
        for kind, r in result.items():
            print(f"{kind:<10}{len(planted[kind]):>8}{len(r['found']):>7}{len(r['missed']):>7}{len(r['extra']):>7}")
        for kind, r in result.items():
            for path in r["missed"]:
                print(f"  missed {kind}: {path}")
            for path in r["extra"]:
                group = next(g for g in report["duplicate_groups"] for m in g["members"] if m["source_path"] == path) \
                    if kind != "small" else None
                mates = [m["source_path"] for m in group["members"]] if group else []
                print(f"  not planted, found as {kind}: {path}" + (f" (group: {', '.join(mates)})" if mates else ""))
        if args.json:
            args.json.write_text(json.dumps({"counts": report["counts"], "seconds": round(seconds, 1),
                                             "comparison": result}, indent=1))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
