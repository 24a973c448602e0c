"""``monai-gan-aug synthesize``: offline GAN augmentation of a data set into a new folder.

Every input image gets ``K`` synthetic variants (healthy->pneumonia translation, pneumonia
painted into a drawn region, or -- ``pix2pix`` -- the film's own lesion region kept bit-identical
and new surroundings generated around it, Xing et al.), written with ``SaveXRay`` and marked
synthetic, plus a
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

from ._checks import nonnegative_float, positive_int, seed_int

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


def _chosen(items: list[dict[str, Any]], mode: str, region: str = "boxes") -> list[dict[str, Any]]:
    """``translate`` turns healthy images into pneumonia: labelled non-healthy images are skipped.

    ``pix2pix`` keeps a film's lesion region: only films with boxes (``region="boxes"``) or a lesion
    mask (``region="mask"``; of a film with boxes or a non-healthy label) qualify.
    """
    if mode == "translate":
        return [it for it in items if it.get("class_index", 0) == 0]
    if mode == "pix2pix":
        if region == "boxes":
            return [it for it in items if it.get("boxes")]
        # a lesion mask of a film with boxes or of a non-healthy film (healthy films have empty masks)
        return [it for it in items if it.get("lesion_mask") and (it.get("boxes") or it.get("class_index", 1) != 0)]
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

        from ..errors import ImageReadError

        try:
            with Image.open(item["lung_mask"]) as im:
                mask = np.asarray(im.convert("L")) > 0
        except (OSError, ValueError) as exc:
            raise ImageReadError(f"{item['lung_mask']}: unreadable lung mask: {exc}") from exc
        if mask.shape == tuple(image.shape[-2:]) and mask.any():
            return mask[None].astype("float32")
    if "net" not in cache:
        from ..transforms.lung import LungMask

        cache["net"] = LungMask()
    return cache["net"](image)


def _write_mask(mask: Any, tmp: Path) -> None:
    import numpy as np
    from PIL import Image

    arr = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask).reshape(mask.shape[-2:]) > 0
    Image.fromarray((arr * 255).astype(np.uint8)).save(tmp, format="PNG")


def _names(args: argparse.Namespace, item: dict[str, Any], k: int) -> tuple[Path, Path | None]:
    """Output paths of variant ``k`` of ``item``, relative to ``--out``: image and lesion mask (lesion mode)."""
    name = f"{_stem(item['image'])}_{args.mode}_{k}"
    image = Path("images") / f"{name}{_EXT[args.format]}"
    return image, (Path("masks_lesion") / f"{name}.png" if args.mode in ("lesion", "pix2pix") else None)


def _check_plan(args: argparse.Namespace, items: list[dict[str, Any]]) -> None:
    """Before any work: no two outputs share a name, none is an input, none exists without --overwrite."""
    import os

    from ..errors import ConfigError
    from ._checks import check_outputs

    check_outputs([("--out", args.out / "manifest.csv")], inputs=[args.input], overwrite=args.overwrite)
    sources = {os.path.realpath(it["image"]): it["image"] for it in items}
    owner: dict[Path, str] = {}
    existing = []
    for item in items:
        for k in range(args.n_per_image):
            for rel in filter(None, _names(args, item, k)):
                if rel in owner and owner[rel] != item["image"]:
                    raise ConfigError(
                        f"inputs {owner[rel]} and {item['image']} have the same file name: both would be "
                        f"written to {args.out / rel}; rename one"
                    )
                owner[rel] = item["image"]
                path = args.out / rel
                if os.path.realpath(path) in sources:
                    raise ConfigError(f"output {path} is the input file {sources[os.path.realpath(path)]}; "
                                      "refusing to overwrite an input (use another --out)")
                if not args.overwrite and path.exists():
                    existing.append(path)
    if existing:
        raise ConfigError(
            f"{len(existing)} output(s) already exist in {args.out} (e.g. {existing[0]}); nothing was written. "
            "Pass --overwrite to replace them, or use another --out"
        )


def _variant(args: argparse.Namespace, item: dict[str, Any], image: Any, index: int, k: int,
             tools: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """Make variant ``k`` of ``item`` in memory: its manifest row, image and lesion mask (or ``None``)."""
    seed = variant_seed(args.seed, index, k)
    out_file, mask_file = _names(args, item, k)
    row = {
        "file": out_file.as_posix(),
        "label": "pneumonia",
        "patient": item.get("patient", _stem(item["image"])),
        "source": item["image"],
        "source_label": item.get("label", ""),
        "mode": args.mode,
        "seed": seed,
        "lesion_mask_file": mask_file.as_posix() if mask_file else "",
    }
    mask = None
    if args.mode == "pix2pix":
        return _pix2pix_variant(args, item, image, seed, row, tools)
    if args.mode == "translate":
        out = tools["augment"](image, seed=seed)
    else:
        region = tools["region"]
        region.set_random_state(seed=seed)
        lung = _lung(item, image, args.lung, tools)
        mask, weight = region(image, lung=lung)
        out = tools["augment"](image, mask, weight, seed=seed, lung=lung)
        # the exact label of the synthetic lesion: its footprint (opacity generator) or the region
        mask = tools["augment"].label if tools["augment"].label is not None else mask
    record = json.loads(out.meta["gan_augment"])
    row.update(
        generator=record["generator"],
        generator_sha256=record["generator_sha256"],
        region=json.dumps(record["region"]) if record["region"] is not None else "",
    )
    return row, out, mask


def _pix2pix_keep(item: dict[str, Any], image: Any, region: str) -> tuple[Any, Any]:
    """Kept region ``(1, H, W)`` of a film and its label: the boxes or the lesion mask, at native size."""
    import numpy as np
    import torch
    from PIL import Image

    from ..data.pathology import KeepMask
    from ..errors import RegionError

    lesion = None
    if item.get("lesion_mask"):
        with Image.open(item["lesion_mask"]) as im:
            arr = np.asarray(im.convert("L"))
        if arr.shape != tuple(image.shape[-2:]):
            raise RegionError(f"{item['lesion_mask']}: lesion mask {arr.shape} does not match the image")
        lesion = torch.from_numpy((arr > max(int(arr.max()) // 2, 0))[None].astype(np.float32))
    if region == "mask":
        if lesion is None or not lesion.any():
            raise RegionError(f"{item['image']}: --region mask needs a non-empty lesion mask")
        return lesion, lesion
    keep = torch.as_tensor(KeepMask()(image, item["boxes"])).float()
    return keep, (lesion if lesion is not None else keep)


def _pix2pix_variant(args: argparse.Namespace, item: dict[str, Any], image: Any, seed: int, row: dict[str, Any],
                     tools: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """Variant of ``pix2pix`` mode: kept region bit-identical, surroundings generated (seeded dropout)."""
    net, sha = tools["p2p"]
    keep, label = _pix2pix_keep(item, image, args.region)
    out = tools["p2p_inferer"](image[None], net, keep_mask=keep[None], seed=seed if args.n_per_image > 1 else None)[0]
    region = {"kind": args.region, "boxes": item.get("boxes") if args.region == "boxes" else None,
              "mask": item.get("lesion_mask") if args.region == "mask" else None}
    generator = Path(args.weights).name if args.weights else "pix2pix_pathology.pt"
    out.meta["gan_augment"] = json.dumps({"generator": generator, "generator_sha256": sha, "region": region,
                                          "mode": "pix2pix", "seed": seed})
    row.update(label=item.get("label") or "pneumonia", generator=generator, generator_sha256=sha,
               region=json.dumps(region))
    return row, out, label


def _write_variant(args: argparse.Namespace, row: dict[str, Any], out: Any, mask: Any) -> None:
    """Write a variant's image and lesion mask together: both, or (on failure) neither that was new."""
    from ..transforms.io import SaveXRay
    from ..utils.atomic import atomic_write

    record = json.loads(out.meta["gan_augment"])
    what = {"translate": "healthy->pneumonia translation", "lesion": "pneumonia inserted in a drawn region",
            "pix2pix": "real lesion region kept bit-identical, surroundings generated (pix2pix)"}[args.mode]
    bits = 16
    if args.mode == "pix2pix":  # the input's bit depth, as `monai-gan-aug edit` does
        bits = 8 if int(out.meta.get("bits_stored", 16) or 16) <= 8 else 16
    saver = SaveXRay(
        png_bits=bits,
        overwrite=args.overwrite,
        synthetic=True,
        description=(
            f"{what} by monai-gan-aug ({record['generator']} sha256 {record['generator_sha256']}), seed {row['seed']}"
        ),
    )
    image_path = args.out / row["file"]
    if mask is None:
        saver(out, image_path)
        return
    existed, image_written = image_path.exists(), False
    try:
        with atomic_write(args.out / row["lesion_mask_file"], suffix=".png", exclusive=not args.overwrite) as tmp:
            _write_mask(mask, tmp)  # the mask is ready before the image is committed...
            saver(out, image_path)
            image_written = True
    except BaseException as exc:  # ...and is committed right after it; if that fails, the new image goes too
        if image_written and not existed:
            image_path.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            from ..errors import ConfigError

            raise ConfigError(f"output {exc.filename} was created by another process meanwhile; "
                              "pass --overwrite to replace it") from None
        raise


def _write_manifest(args: argparse.Namespace, rows: list[dict[str, Any]]) -> Path:
    from ..utils.atomic import atomic_write

    manifest = args.out / "manifest.csv"
    with atomic_write(manifest, exclusive=not args.overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def cmd_synthesize(args: argparse.Namespace) -> int:
    """Write ``--n-per-image`` synthetic variants of every eligible input image and a manifest.

    Every output is checked before any work. Each variant's image and lesion mask are written
    together, and its manifest row only once both are. A bad input stops the run (naming it) after
    writing the manifest of what was made, or is skipped and reported with ``--skip-bad``.
    """
    import sys

    from tqdm import tqdm

    from ..errors import DatasetError, ImageReadError, InvalidImageError, RegionError
    from ..transforms.augment import GANAugment
    from ..transforms.io import LoadXRay
    from ..transforms.region import RandRegionMask
    from ..utils.device import default_device
    from ._checks import check_feather

    args.out = Path(args.out)
    if args.feather is None:
        args.feather = 0.0 if args.mode == "pix2pix" else 8.0
    default_device(args.device)  # an unknown or absent device is a clear error, not a checkpoint error
    items = _chosen(_items(args.input), args.mode, args.region)[: args.max_images]
    if not items:
        raise DatasetError(
            f"no eligible images in {args.input} for mode {args.mode!r} (translate needs healthy ones, "
            f"pix2pix films with lesion boxes or masks)"
        )
    _check_plan(args, items)
    tools: dict[str, Any] = {
        "load": LoadXRay() if args.max_pixels is None else LoadXRay(max_size=args.max_pixels),
    }
    if args.mode == "pix2pix":
        from ..data.pathology import PathologyCompositeInferer
        from ..transforms.augment import load_generator
        from ..utils.weights import shipped_weights_path

        net, sha = load_generator(args.weights or shipped_weights_path("pix2pix_pathology.pt"), args.device)
        if getattr(net, "in_channels", 2) != 2:
            from ..errors import ConfigError

            raise ConfigError(f"mode 'pix2pix' needs a pix2pix_pathology generator (2 input channels), "
                              f"got {type(net).__name__} with {getattr(net, 'in_channels', '?')}")
        tools["p2p"] = (net, sha)
        tools["p2p_inferer"] = PathologyCompositeInferer(
            size=int(getattr(net, "info", {}).get("working_size", 128)), feather=args.feather,
            norm_stats=args.norm_stats,
        )
    else:
        tools["augment"] = GANAugment(args.mode, args.weights, args.device)
        tools["region"] = RandRegionMask(
            num_boxes=args.num_boxes, clip_to_lung=args.lung != "none", feather=args.feather
        )
        tools["augment"].generator()  # load (and check) the weights before any output is written
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    bar = tqdm(total=len(items) * args.n_per_image, desc="synthesizing", unit="image", disable=args.quiet)
    completed = False
    try:
        for i, item in enumerate(items):
            try:
                image = tools["load"](item["image"])
                if args.mode in ("lesion", "pix2pix"):
                    check_feather(args.feather, image.shape[-2:])
                made = [_variant(args, item, image, i, k, tools) for k in range(args.n_per_image)]
            except (ImageReadError, InvalidImageError, RegionError) as exc:
                where = f"input {i + 1} of {len(items)} ({item['image']})"
                if not args.skip_bad:
                    done = (f"manifest.csv lists the {len(rows)} output(s) written before it" if rows
                            else "nothing was written")
                    raise type(exc)(
                        f"stopped at {where}: {exc}; {done} (--skip-bad skips bad inputs instead)"
                    ) from exc
                skipped.append(item["image"])
                bar.write(f"skipped {where}: {' '.join(str(exc).split())}", file=sys.stderr)
                bar.update(args.n_per_image)
                continue
            for row, out, mask in made:
                _write_variant(args, row, out, mask)
                rows.append(row)
                bar.update(1)
        completed = True
    finally:
        bar.close()
        if completed or rows:  # a stopped run still says what it wrote
            manifest = _write_manifest(args, rows)
    if not args.quiet:
        print(f"wrote {len(rows)} synthetic images from {len(items) - len(skipped)} inputs to {args.out} "
              f"(manifest {manifest})" + (f"; skipped {len(skipped)} bad input(s)" if skipped else ""))
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
        choices=("translate", "lesion", "pix2pix"),
        required=True,
        help="translate: healthy images -> pneumonia (CycleGAN G_AB); lesion: pneumonia in a drawn region; "
        "pix2pix: keep each film's lesion boxes/mask bit-identical and generate new surroundings "
        "(labels: the original boxes/masks; 8-bit in gives 8-bit out)",
    )
    p.add_argument("--region", choices=("boxes", "mask"), default="boxes",
                   help="pix2pix mode: kept region = the manifest's lesion boxes, or the lesion mask itself")
    p.add_argument("--norm-stats", choices=("running", "image"), default="running",
                   help="pix2pix mode: batch-norm statistics, the network's running ones or the image's own "
                   "(pix2pix's test-time behaviour; no effect on instance-norm generators)")
    p.add_argument("--n-per-image", type=positive_int, default=1, help="synthetic variants per input image")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--weights", help="generator checkpoint (default: the shipped weights of the mode)")
    p.add_argument("--format", choices=sorted(_EXT), default="png", help="output image format")
    p.add_argument(
        "--lung",
        choices=("auto", "none"),
        default="auto",
        help="lesion mode: keep regions in the lung (the item's lung mask, else predicted)",
    )
    p.add_argument("--num-boxes", type=positive_int, default=1, help="lesion mode: boxes per region")
    p.add_argument("--feather", type=nonnegative_float, default=None,
                   help="lesion mode: blend band in pixels (at most a quarter of an image's shorter side; "
                   "default 8); pix2pix mode: blend band OUTSIDE the kept region (default 0: the generated "
                   "surroundings meet the kept pixels directly)")
    p.add_argument("--max-images", type=positive_int, default=None,
                   help="use at most this many input images (default: all)")
    p.add_argument("--max-pixels", type=positive_int,
                   help="refuse larger images (default 144000000 = 12000x12000, or MONAI_GAN_AUG_MAX_PIXELS)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable or unusable input images (reported) instead of stopping at the first")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_synthesize)
