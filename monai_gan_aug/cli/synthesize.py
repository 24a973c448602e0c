"""``monai-gan-aug synthesize``: offline GAN augmentation of a data set into a new folder.

Every input image gets ``K`` synthetic variants (healthy->pneumonia translation, or pneumonia
painted into a drawn region), written with ``SaveXRay`` and marked synthetic, plus a
``manifest.csv`` in the shared manifest layout (``file,label,patient,...``, readable by
``monai_gan_aug.data.datasets.manifest_dataset``) recording per output its source image, the
generator (weights file name and sha256 prefix), the seed and the region. ``patient`` is the
source's, so patient-level splits keep a synthetic image with its source.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_COLUMNS", "add_parser", "cmd_synthesize", "variant_seed"]

MANIFEST_COLUMNS = (
    "file",
    "label",
    "patient",
    "lesion_mask_file",
    "source",
    "source_label",
    "mode",
    "generator",
    "generator_sha256",
    "seed",
    "region",
)
_EXT = {"png": ".png", "nifti": ".nii.gz", "dicom": ".dcm"}


def variant_seed(seed: int, index: int, k: int) -> int:
    """Seed of variant ``k`` of image ``index``: distinct per output, reproducible from ``--seed``."""
    import numpy as np

    return int(np.random.SeedSequence([seed, index, k]).generate_state(1)[0] & 0x7FFFFFFF)


def _items(path: str) -> list[dict[str, Any]]:
    """A manifest / class-folder data set, else every image under a plain folder (no labels)."""
    from ..bundle_utils import list_images
    from ..data.datasets import dataset_from_path
    from ..errors import DatasetError

    try:
        return dataset_from_path(path)
    except DatasetError:
        if Path(path).is_dir():
            return list_images(path)
        raise


def _chosen(items: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """``translate`` turns healthy images into pneumonia: labelled non-healthy images are skipped."""
    if mode == "translate":
        return [it for it in items if it.get("class_index", 0) == 0]
    return list(items)


def _stem(path: str) -> str:
    name = Path(path).name
    return name[: -len(".nii.gz")] if name.endswith(".nii.gz") else Path(name).stem


def _lung(item: dict[str, Any], image: Any, policy: str, cache: dict[str, Any]) -> Any:
    """Lung mask steering the region: the item's own mask file, else predicted (``auto``), or none."""
    if policy == "none":
        return None
    if item.get("lung_mask"):
        import numpy as np
        from PIL import Image

        with Image.open(item["lung_mask"]) as im:
            mask = np.asarray(im.convert("L")) > 0
        if mask.shape == tuple(image.shape[-2:]) and mask.any():
            return mask[None].astype("float32")
    if "net" not in cache:
        from ..transforms.lung import LungMask

        cache["net"] = LungMask()
    return cache["net"](image)


def _write_mask(mask: Any, path: Path) -> None:
    import numpy as np
    from PIL import Image

    from ..utils.atomic import atomic_write

    arr = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask).reshape(mask.shape[-2:]) > 0
    with atomic_write(path, suffix=".png") as tmp:
        Image.fromarray((arr * 255).astype(np.uint8)).save(tmp, format="PNG")


def _one(
    args: argparse.Namespace, item: dict[str, Any], index: int, k: int, tools: dict[str, Any]
) -> dict[str, Any]:
    """Make, save and describe variant ``k`` of ``item``."""
    from ..transforms.io import SaveXRay

    image = tools["load"](item["image"])
    seed = variant_seed(args.seed, index, k)
    name = f"{_stem(item['image'])}_{args.mode}_{k}"
    out_file = Path("images") / f"{name}{_EXT[args.format]}"
    row = {
        "file": out_file.as_posix(),
        "label": "pneumonia",
        "patient": item.get("patient", _stem(item["image"])),
        "source": item["image"],
        "source_label": item.get("label", ""),
        "mode": args.mode,
        "seed": seed,
        "lesion_mask_file": "",
    }
    if args.mode == "translate":
        out = tools["augment"](image, seed=seed)
    else:
        region = tools["region"]
        region.set_random_state(seed=seed)
        mask, weight = region(image, lung=_lung(item, image, args.lung, tools))
        out = tools["augment"](image, mask, weight, seed=seed)
        mask_file = Path("masks_lesion") / f"{name}.png"
        _write_mask(mask, args.out / mask_file)
        row["lesion_mask_file"] = mask_file.as_posix()
    record = json.loads(out.meta["gan_augment"])
    row.update(
        generator=record["generator"],
        generator_sha256=record["generator_sha256"],
        region=json.dumps(record["region"]) if record["region"] is not None else "",
    )
    what = (
        "healthy->pneumonia translation"
        if args.mode == "translate"
        else "pneumonia inserted in a drawn region"
    )
    SaveXRay(
        overwrite=args.overwrite,
        synthetic=True,
        description=(
            f"{what} by monai-gan-aug ({record['generator']} sha256 {record['generator_sha256']}), seed {seed}"
        ),
    )(out, args.out / out_file)
    return row


def cmd_synthesize(args: argparse.Namespace) -> int:
    """Write ``--n-per-image`` synthetic variants of every eligible input image and a manifest."""
    from tqdm import tqdm

    from ..errors import ConfigError, DatasetError
    from ..transforms.augment import GANAugment
    from ..transforms.io import LoadXRay
    from ..transforms.region import RandRegionMask
    from ..utils.atomic import atomic_write

    if args.n_per_image < 1:
        raise ConfigError(f"--n-per-image must be >= 1, got {args.n_per_image}")
    args.out = Path(args.out)
    manifest = args.out / "manifest.csv"
    if manifest.exists() and not args.overwrite:
        raise ConfigError(f"{manifest} exists; pass --overwrite to replace it")
    items = _chosen(_items(args.input), args.mode)[: args.max_images or None]
    if not items:
        raise DatasetError(
            f"no eligible images in {args.input} for mode {args.mode!r} (translate needs healthy ones)"
        )
    tools: dict[str, Any] = {
        "load": LoadXRay(),
        "augment": GANAugment(args.mode, args.weights, args.device),
        "region": RandRegionMask(
            num_boxes=args.num_boxes, clip_to_lung=args.lung != "none", feather=args.feather
        ),
    }
    tools["augment"].generator()  # load (and check) the weights before any output is written
    rows = []
    jobs = [(i, k) for i in range(len(items)) for k in range(args.n_per_image)]
    for i, k in tqdm(jobs, desc="synthesizing", unit="image", disable=args.quiet):
        rows.append(_one(args, items[i], i, k, tools))
    with atomic_write(manifest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if not args.quiet:
        print(
            f"wrote {len(rows)} synthetic images from {len(items)} inputs to {args.out} (manifest {manifest})"
        )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``synthesize`` verb."""
    p = sub.add_parser(
        "synthesize",
        help="offline GAN augmentation of a data set into a new folder",
        description="Write K synthetic variants of every image of a data set (class folders, "
        "a manifest CSV or a plain folder) into a new folder, each marked synthetic, with a "
        "manifest.csv recording source, generator (file + sha256 prefix), seed and region.",
    )
    p.add_argument(
        "--input",
        required=True,
        help="data set folder or CSV manifest (a plain folder of images counts as all healthy for translate)",
    )
    p.add_argument("--out", required=True, help="output folder (images/, masks_lesion/, manifest.csv)")
    p.add_argument(
        "--mode",
        choices=("translate", "lesion"),
        required=True,
        help="translate: healthy images -> pneumonia (CycleGAN G_AB); lesion: pneumonia in a drawn region",
    )
    p.add_argument("--n-per-image", type=int, default=1, help="synthetic variants per input image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", help="generator checkpoint (default: the shipped weights of the mode)")
    p.add_argument("--format", choices=sorted(_EXT), default="png", help="output image format")
    p.add_argument(
        "--lung",
        choices=("auto", "none"),
        default="auto",
        help="lesion mode: keep regions in the lung (the item's lung mask, else predicted)",
    )
    p.add_argument("--num-boxes", type=int, default=1, help="lesion mode: boxes per region")
    p.add_argument("--feather", type=float, default=8, help="lesion mode: blend band in pixels")
    p.add_argument("--max-images", type=int, default=None, help="use at most this many input images")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_synthesize)
