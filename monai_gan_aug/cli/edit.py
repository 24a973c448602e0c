"""``monai-gan-aug edit``: put pneumonia (or healthy lung) into a marked region of a chest X-ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._checks import nonnegative_float, positive_int, seed_int

__all__ = ["add_parser", "cmd_edit", "parse_box"]


def parse_box(text: str) -> list[float]:
    """``"x0,y0,x1,y1"`` -> four numbers (argparse type)."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected four numbers x0,y0,x1,y1, got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected four numbers x0,y0,x1,y1, got {len(values)} in {text!r}")
    return values


def _unit_interval(text: str) -> float:
    """A number in [0, 1] (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def _region_from_args(args: argparse.Namespace) -> object:
    if args.box is not None:
        return {"box": args.box}
    if args.xywh is not None:
        return {"xywh": args.xywh}
    if args.polygon is not None:
        return f"polygon:{args.polygon}"
    return {"mask": args.mask}


def _outputs(args: argparse.Namespace, suffix: str) -> list[Path]:
    """Output paths: ``--out`` (numbered when several samples) or ``<input>_<class><suffix>``."""
    image = Path(args.image)
    stem = image.name[: -len(".nii.gz")] if image.name.endswith(".nii.gz") else image.stem
    if args.out is not None:
        base = Path(args.out)
        if args.samples == 1:
            return [base]
        name = base.name
        ext = ".nii.gz" if name.endswith(".nii.gz") else base.suffix
        return [base.with_name(f"{name[: len(name) - len(ext)]}_{k}{ext}") for k in range(args.samples)]
    tag = "pneumonia" if args.cls == "pneumonia" else "healthy"
    names = [f"{stem}_{tag}{suffix}"] if args.samples == 1 else [f"{stem}_{tag}_{k}{suffix}" for k in range(args.samples)]
    return [image.with_name(n) for n in names]


def cmd_edit(args: argparse.Namespace) -> int:
    """Put pneumonia (or healthy lung) into a region of a chest X-ray."""
    from tqdm import tqdm

    from ..errors import ConfigError
    from ..inferers.edit import PneumoniaEditor, output_suffix_for
    from ..transforms.io import LoadXRay
    from ..visualize import edit_panel, save_rgb
    from ._checks import check_feather, check_outputs

    region = _region_from_args(args)
    panel_path = None if args.side_by_side is None else Path(args.side_by_side)
    if panel_path is not None and panel_path.suffix.lower() != ".png":
        raise ConfigError(f"--side-by-side {panel_path}: the panel is a PNG; give a path ending in .png")
    editor = PneumoniaEditor(
        weights=args.weights, device=args.device, feather=args.feather, clip_to_lung=args.clip_to_lung,
        class_index=1 if args.cls == "pneumonia" else 0, units=args.units, detail=args.detail,
        density_scale=args.density_scale, extent=args.extent,
    )
    if args.max_pixels is not None:
        editor.loader = LoadXRay(max_size=args.max_pixels)
    image = editor.load(args.image)
    check_feather(args.feather, image.shape[-2:])
    outs = _outputs(args, output_suffix_for(image.meta))
    planned = [("--out" if args.out is not None else "output", out) for out in outs]
    if panel_path is not None:
        planned.append(("--side-by-side", panel_path))
    check_outputs(planned, inputs=[args.image, args.mask, editor.weights_path], overwrite=args.overwrite)
    panels = []
    for k, out in enumerate(tqdm(outs, desc="editing", unit="image", disable=args.quiet or len(outs) == 1)):
        seed = args.seed + k
        result = editor.edit(image, region, seed=seed)
        editor.save(result, out, overwrite=args.overwrite)
        if not args.quiet:
            print(f"wrote {out} (seed {seed})")
        if panel_path is not None:
            panels.append(edit_panel(result.image, result.edited, result.region_mask))
    if panel_path is not None:
        try:
            save_rgb(panels, panel_path, exclusive=not args.overwrite)
        except FileExistsError:
            raise ConfigError(f"--side-by-side {panel_path} was created by another process meanwhile; "
                              "pass --overwrite to replace it") from None
        if not args.quiet:
            print(f"wrote {panel_path} (input | output with region | difference map)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``edit`` verb."""
    p = sub.add_parser("edit", help="put pneumonia into a marked region of a chest X-ray",
                       description="Put pneumonia (or healthy lung) into a marked region of a chest X-ray "
                       "(DICOM, NIfTI, PNG/JPEG/TIFF). The output keeps the input's format and is marked "
                       "synthetic; pixels outside the region and its feather band are unchanged.")
    p.add_argument("--image", required=True, help="input radiograph")
    g = p.add_argument_group("region (exactly one)").add_mutually_exclusive_group(required=True)
    g.add_argument("--box", type=parse_box, help="x0,y0,x1,y1 (column, row; end-exclusive)")
    g.add_argument("--xywh", type=parse_box, help="x,y,width,height (RSNA style)")
    g.add_argument("--polygon", help='vertices "x,y;x,y;x,y;..."')
    g.add_argument("--mask", help="binary mask file of the image's size")
    p.add_argument("--units", choices=("pixel", "fraction"), default="pixel", help="units of --box/--xywh/--polygon")
    p.add_argument("--class", dest="cls", choices=("pneumonia", "healthy"), default="pneumonia",
                   help="what to paint into the region")
    p.add_argument("--out", help="output path (default: <input>_<class>.<same format>, beside the input)")
    p.add_argument("--samples", type=positive_int, default=1, help="number of variants (seeds seed, seed+1, ...)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--feather", type=nonnegative_float, default=8,
                   help="blend band outside the region, in pixels (at most a quarter of the image's shorter side)")
    p.add_argument("--detail", type=_unit_interval, default=None,
                   help="repainting weights (healthy class, or --weights lesion_inpaint.pt) only: share 0-1 "
                        "of the input's fine detail kept inside the region (default: the weights' own)")
    p.add_argument("--density-scale", type=nonnegative_float, default=1.0,
                   help="pneumonia (opacity generator) only: multiply the generated opacity (1: as trained, "
                        "<1 fainter, >1 denser)")
    p.add_argument("--extent", choices=["loose", "tight"], default="loose",
                   help="pneumonia (opacity generator), box/polygon regions: 'loose' (default) the region marks "
                        "where the disease may go, the lesion spans 50-80%% of it; 'tight' the box is drawn around "
                        "the lesion, which spans 90-100%% of it")
    p.add_argument("--clip-to-lung", action="store_true", help="clip the region to the predicted lung field")
    p.add_argument("--side-by-side", help="also write a PNG: input | output with region | difference map "
                   "(same rules as --out: never an input, an existing file only with --overwrite)")
    p.add_argument("--weights", help="lesion generator checkpoint (default: the shipped weights of the class: "
                   "lesion_opacity.pt adds pneumonia over the anatomy, lesion_inpaint.pt repaints healthy lung)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the input)")
    p.add_argument("--max-pixels", type=positive_int,
                   help="refuse larger images (default 144000000 = 12000x12000, or the environment "
                        "variable MONAI_GAN_AUG_MAX_PIXELS)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_edit)
