"""The headline pipeline: put pneumonia (or healthy lung) into a marked region of a chest X-ray.

``path --LoadXRay--> image --(LungMask)--> RegionMask --> RegionEditInferer --> SaveXRay``

:class:`PneumoniaEditor` is the one implementation behind the command line (``monai-gan-aug
edit``), the ``lesion_inpaint`` bundle's inference, ``RandGANAugmentd`` and the MONAI Label app.
Saving re-encodes only the changed pixels into the source's own representation, so every pixel
outside the region and its feather band is bit-identical to the input file (DICOM and PNG).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor

from ..errors import ConfigError, MissingWeightsError
from ..networks.factory import load_network
from ..networks.opacity_generator import LesionOpacityGenerator
from ..transforms.io import LoadXRay, SaveXRay
from ..transforms.reencode import check_editable
from ..transforms.region import RegionMask
from ..utils.device import default_device
from ..utils.weights import shipped_weights_path
from .opacity_edit import LesionOpacityInferer, edit_lesion
from .region_edit import CLASS_HEALTHY, CLASS_PNEUMONIA, RegionEditInferer

__all__ = ["EditResult", "PneumoniaEditor", "DEFAULT_WEIGHTS", "edit_datalist", "output_suffix_for"]

#: Shipped weights per class: pneumonia is laid over the anatomy by the opacity generator; healthy
#: lung is repainted by the inpainting generator (the reverse direction, removing disease).
DEFAULT_WEIGHTS = {CLASS_PNEUMONIA: "lesion_opacity.pt", CLASS_HEALTHY: "lesion_inpaint.pt"}
_CLASS_NAMES = {CLASS_HEALTHY: "healthy lung", CLASS_PNEUMONIA: "pneumonia"}
_CLASS_TAGS = {CLASS_HEALTHY: "healthy", CLASS_PNEUMONIA: "pneumonia"}  # output file names


@dataclass
class EditResult:
    """One edit: the input, the output, the region's masks and where it was written."""

    image: MetaTensor
    edited: MetaTensor
    region_mask: torch.Tensor
    region_weight: torch.Tensor
    seed: int | None
    saved_to: Path | None = None
    label: torch.Tensor | None = None  # exact label of what was painted: the footprint, or the region


def output_suffix_for(meta: dict[str, Any]) -> str:
    """The output suffix that keeps the input's format (JPEG/TIFF inputs become lossless PNG)."""
    return {"dicom": ".dcm", "nifti": ".nii.gz"}.get(str(meta.get("source_format")), ".png")


class PneumoniaEditor:
    """Load, mark, edit and save chest X-rays with the region-conditioned lesion generator.

    Args:
        weights: a ``lesion_opacity_generator`` (pneumonia over the anatomy) or ``lesion_generator``
            (repaint) checkpoint; ``None`` uses the shipped weights of the class
            (:data:`DEFAULT_WEIGHTS`).
        device: device to run the generator on (default: CUDA if available, else CPU).
        feather: width in pixels of the blend band outside the region.
        clip_to_lung: clip regions to a predicted lung mask (uses the shipped lung network).
        class_index: what to paint: 1 pneumonia (default) or 0 healthy lung.
        units: region units, ``"pixel"`` or ``"fraction"``.
        max_fraction: largest fraction of the image a region may cover.
        detail: share of the input's native-resolution detail kept inside the region
            (:class:`RegionEditInferer`); ``None`` takes the weights' recommended value
            (``info["detail"]``, 0 when absent). Repainting generators only.
        density_scale: multiplies the generated opacity (opacity generators only; 1 as trained).
        extent: opacity generators, box/polygon regions: ``"loose"`` (default; the region marks
            where the disease may go, a footprint spans 50-80 % of it) or ``"tight"`` (a box drawn
            around a lesion: the footprint spans 90-100 % of it, as real lesions fill their boxes).
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        feather: float = 8,
        clip_to_lung: bool = False,
        class_index: int = CLASS_PNEUMONIA,
        units: str = "pixel",
        max_fraction: float | None = 0.5,
        detail: float | None = None,
        density_scale: float = 1.0,
        extent: str | float | Sequence[float] | None = None,
    ) -> None:
        if class_index not in _CLASS_NAMES:
            raise ConfigError(f"class_index must be one of {sorted(_CLASS_NAMES)}, got {class_index}")
        self.device = default_device(device)
        path = Path(weights) if weights is not None else shipped_weights_path(DEFAULT_WEIGHTS[class_index])
        if not path.is_file():
            raise MissingWeightsError(f"lesion generator weights not found: {path}")
        self.weights_path = path
        self.generator = load_network(path).to(self.device)
        info = getattr(self.generator, "info", None)
        if isinstance(self.generator, LesionOpacityGenerator):
            if class_index != CLASS_PNEUMONIA:
                raise ConfigError(f"{path.name} is an opacity generator: it adds pneumonia and cannot paint "
                                  f"healthy lung; use a lesion_inpaint checkpoint for the healthy class")
            self.inferer: RegionEditInferer | LesionOpacityInferer = LesionOpacityInferer.from_network_info(
                info, density_scale=density_scale, extent=extent)
        else:
            self.inferer = RegionEditInferer.from_network_info(info, class_index=class_index, detail=detail)
        self.detail = getattr(self.inferer, "detail", None)
        self.density_scale = density_scale
        self.extent = getattr(self.inferer, "extent", None)
        self.class_index = class_index
        self.loader = LoadXRay()
        self.region_mask = RegionMask(units=units, feather=feather, max_fraction=max_fraction)
        self.clip_to_lung = clip_to_lung
        self._lung = None

    def load(self, path: str | os.PathLike) -> MetaTensor:
        """Read a radiograph as a (1, H, W) [0, 1] image (errors for unreadable, non-X-ray, uneditable files)."""
        image = self.loader(path)
        check_editable(image.meta)  # refuse now what save() could not write back, before any work
        return image

    def lung(self, image: MetaTensor) -> torch.Tensor | None:
        """The predicted lung mask when ``clip_to_lung`` (cached network), else ``None``."""
        if not self.clip_to_lung:
            return None
        if self._lung is None:
            from ..transforms.lung import LungMask  # local: loads a second network only when asked

            self._lung = LungMask(device=self.device)
        return self._lung(image)

    def masks(self, image: MetaTensor, region: Any, lung: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary region mask and feathered weight of ``region`` on ``image`` (clipped to lung if asked)."""
        lung = self.lung(image) if lung is None else lung
        mask, weight = self.region_mask(image, region=region, lung=lung)
        return torch.as_tensor(mask), torch.as_tensor(weight)

    def edit(self, image: MetaTensor, region: Any, seed: int | None = None) -> EditResult:
        """Edit one loaded image; the output's metadata says it is synthetic and how it was made.

        With an opacity generator, a lesion footprint is sampled inside a box or polygon region
        (seeded), while a ``mask`` region is used as the exact footprint; the footprint is returned
        as ``EditResult.label``.
        """
        lung = self.lung(image)
        mask, weight = self.masks(image, region, lung=lung)
        record = image.meta.get("region", {})
        exact = mask if record.get("kind") == "mask" else None
        edited, label = edit_lesion(image, self.generator, mask, weight, class_index=self.class_index, seed=seed,
                                    footprint=exact, lung=lung, inferer=self.inferer)
        edited = edited if isinstance(edited, MetaTensor) else MetaTensor(edited, meta=dict(image.meta))
        edited.meta.update(
            synthetic=True,
            derivation_description=(
                f"{_CLASS_NAMES[self.class_index]} inserted by monai-gan-aug lesion generator "
                f"({self.weights_path.name}) in region {_describe(record)}, seed {seed}"
            ),
            edit={"seed": seed, "class_index": self.class_index, "weights": self.weights_path.name, "region": record,
                  "detail": self.detail, "density_scale": self.density_scale,
                  "extent": None if exact is not None or self.extent is None else list(self.extent),
                  "footprint": _footprint_kind(self.inferer, exact)},
        )
        return EditResult(image, edited, mask, weight, seed, label=label)

    def save(self, result: EditResult, out: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the edited image; unchanged pixels keep the source's stored values where possible."""
        out = Path(out)
        SaveXRay(overwrite=overwrite, png_bits=_png_bits(result.image.meta))(
            result.edited, out, changed_mask=(result.region_weight > 0)
        )
        result.saved_to = out
        return out

    def edit_file(
        self, path: str | os.PathLike, region: Any, out: str | os.PathLike, seed: int | None = None,
        overwrite: bool = False,
    ) -> EditResult:
        """Load ``path``, edit ``region`` and save to ``out``."""
        result = self.edit(self.load(path), region, seed)
        self.save(result, out, overwrite)
        return result


def _footprint_kind(inferer: Any, exact: torch.Tensor | None) -> str:
    """How the painted area was chosen: the whole region (repaint), the user's mask, or sampled."""
    if not isinstance(inferer, LesionOpacityInferer):
        return "region"
    return "mask" if exact is not None else "sampled"


def _png_bits(meta: dict[str, Any]) -> int:
    return 8 if int(meta.get("bits_stored", 16) or 16) <= 8 else 16


def _describe(record: dict[str, Any]) -> str:
    keys = ("kind", "box", "boxes", "xywh", "polygon")
    parts = [f"{k}={record[k]}" for k in keys if k in record]
    return ", ".join(parts) if parts else str(record)



def edit_datalist(
    editor: PneumoniaEditor,
    items: list[dict[str, Any]],
    output_dir: str | os.PathLike,
    seed: int = 0,
    samples: int = 1,
    overwrite: bool = False,
    panels: bool = False,
    progress: bool | None = None,
) -> Path:
    """Edit every ``{"image": path, "boxes": [[x0, y0, x1, y1], ...]}`` item; write outputs and a manifest.

    ``progress``: show a progress bar with items/s and ETA (``None``: only on a terminal).

    Outputs keep their input's format and are named by the editor's class
    (``<stem>_<pneumonia|healthy>[_k]<ext>``); ``manifest.csv`` records, per output, its source,
    region, seed and the generator weights; ``panels=True`` also writes
    ``panels/<output stem>.png`` (input | output with the region outlined | difference map).
    Returns the manifest path.
    """
    import csv

    from ..utils.atomic import atomic_write
    from ..visualize import edit_panel, save_rgb

    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    from tqdm import tqdm

    bar = tqdm(items, desc="edit", unit="image", disable=None if progress is None else not progress)
    for i, item in enumerate(bar):
        region = {"boxes": item["boxes"]} if "boxes" in item else item["region"]
        image = editor.load(item["image"])
        stem = Path(item["image"]).name.split(".")[0]
        for k in range(samples):
            tag = "" if samples == 1 else f"_{k}"
            out = out_dir / f"{stem}_{_CLASS_TAGS[editor.class_index]}{tag}{output_suffix_for(image.meta)}"
            result = editor.edit(image, region, seed=seed + 1000 * i + k)
            editor.save(result, out, overwrite=overwrite)
            if panels:
                save_rgb(edit_panel(result.image, result.edited, result.region_mask),
                         out_dir / "panels" / f"{out.name.split('.')[0]}.png")
            rows.append({"file": out.name, "source": item["image"], "region": str(region), "seed": result.seed,
                         "weights": editor.weights_path.name, "class_index": editor.class_index,
                         "detail": editor.detail})
    manifest = out_dir / "manifest.csv"
    with atomic_write(manifest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["file"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest
