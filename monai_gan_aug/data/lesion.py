"""Training data of the region-conditioned lesion generator.

Each training item is an image, a class (0 healthy, 1 pneumonia) and where its region comes from:

* a fixed region (``region``): a radiologist's lesion box (``covid_lesions``), or the bounding box
  of an exact lesion mask (the demo dataset's pneumonia twins): the generator learns what is
  really inside pneumonia regions;
* a difference-map box (``diffmap_regions``, Kermany pneumonia films): where a sick->healthy
  generator changed the lung most (``scripts/make_diffmap_regions.py``), a weak disease location;
* a random region drawn from the RSNA box prior inside the lung (``lung_mask``): pneumonia images
  (class 1: their lungs carry the disease, though not necessarily inside every drawn box) and
  normal images (class 0, ``RandRegionMaskd``-style healthy regions).

:func:`lesion_datalist` builds the items from the demo dataset, the shared-data layout
(``kermany/`` + ``covid_lesions/``) or any manifest/folder; :func:`lesion_train_transforms` turns
them into context windows at the working size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data import PILReader
from monai.transforms import (
    Compose,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    RandAdjustContrastd,
    Randomizable,
    SelectItemsd,
)

from ..errors import DatasetError
from ..transforms.io import LoadXRayd
from ..transforms.region import RandRegionMask, RegionMask
from ..transforms.window import RandCropRegionWindowd
from .datasets import dataset_from_path, manifest_dataset
from .splits import patient_split

__all__ = [
    "lesion_datalist",
    "TrainingRegiond",
    "demo_edit_datalist",
    "lesion_train_transforms",
    "read_diffmap_regions",
    "shared_lesion_items",
]


def _box_items(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One item per box of a pneumonia image (the box is the region)."""
    return [
        {"image": item["image"], "class_index": 1, "region": {"box": [float(v) for v in box]},
         "source": "lesion_box"}
        for box in item.get("boxes", [])
    ]


def _random_region_item(item: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {"image": item["image"], "class_index": int(item["class_index"]), "source": source}
    if item.get("lung_mask"):
        out["lung_mask"] = item["lung_mask"]
    return out


def items_from(dataset: list[dict[str, Any]], source: str, box_repeat: int = 1) -> list[dict[str, Any]]:
    """Training items from adapter dicts: boxes where known, random lung regions otherwise."""
    out: list[dict[str, Any]] = []
    for item in dataset:
        cls = int(item.get("class_index", -1))
        if cls not in (0, 1):
            continue
        boxes = _box_items(item) if cls == 1 else []
        if boxes:
            out += boxes * box_repeat
        else:
            out.append(_random_region_item(item, source))
    return out


def read_diffmap_regions(path: str | os.PathLike) -> dict[str, list[list[float]]]:
    """Boxes per Kermany film from ``scripts/make_diffmap_regions.py``'s JSON.

    Returns:
        ``{film path relative to kermany/: [[x0, y0, x1, y1], ...]}`` (end-exclusive pixels).

    Raises:
        DatasetError: the file is missing, not JSON, or has no ``films`` mapping of box lists.
    """
    try:
        films = json.loads(Path(path).read_text())["films"]
    except FileNotFoundError:
        raise DatasetError(f"difference-map regions file {path} does not exist "
                           "(write it with scripts/make_diffmap_regions.py)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise DatasetError(
            f"{path}: not a difference-map regions JSON with a 'films' mapping ({err})"
        ) from None
    if not isinstance(films, dict):
        raise DatasetError(f"{path}: 'films' must map film paths to records, found {type(films).__name__}")
    out = {}
    for name, record in films.items():
        boxes = record.get("boxes") if isinstance(record, dict) else record
        if not isinstance(boxes, list) or any(not isinstance(b, list) or len(b) != 4 for b in boxes):
            raise DatasetError(
                f"{path}: film {name!r} needs a list of [x0, y0, x1, y1] boxes, found {boxes!r}"
            )
        out[str(name)] = [[float(v) for v in b] for b in boxes]
    return out


def _diffmap_items(root: Path, path: str | os.PathLike, split: str) -> list[dict[str, Any]]:
    """Class-1 items with a difference-map box as fixed region, for the ``split`` films of the file.

    A film of another split is ignored (its boxes exist, but the split decides what trains);
    a film missing from the Kermany manifest or not a pneumonia film is an error: the file was
    made from other data, and silently skipping would train on less than the user thinks.
    """
    kermany_dir = (root / "kermany").resolve()
    by_name = {Path(d["image"]).resolve().relative_to(kermany_dir).as_posix(): d
               for d in manifest_dataset(root / "kermany" / "manifest.csv")}
    regions = read_diffmap_regions(path)
    unknown = [n for n in regions if n not in by_name]
    if unknown:
        raise DatasetError(
            f"{path}: {len(unknown)} film(s) not in {root / 'kermany' / 'manifest.csv'}, e.g. {unknown[:3]}"
        )
    not_sick = [n for n in regions if int(by_name[n].get("class_index", -1)) != 1]
    if not_sick:
        raise DatasetError(f"{path}: difference-map regions must come from pneumonia films; "
                           f"{len(not_sick)} are not, e.g. {not_sick[:3]}")
    listed = [by_name[n] for n in regions]
    wanted = {d["image"] for d in patient_split(listed)[split]}  # the split shared_lesion_items uses
    return [
        {"image": by_name[n]["image"], "class_index": 1, "region": {"box": box}, "source": "diffmap"}
        for n, boxes in regions.items() if by_name[n]["image"] in wanted for box in boxes
    ]


def shared_lesion_items(root: str | os.PathLike, split: str = "train", box_repeat: int = 3,
                        diffmap_regions: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Items from the shared-data layout: Kermany (random lung regions) + covid_lesions (real boxes).

    Only images with a lung mask are used from Kermany, so random regions land in the lung.
    ``box_repeat`` over-samples the 176 radiologist boxes against ~600 Kermany images.
    ``diffmap_regions`` (a JSON of ``scripts/make_diffmap_regions.py``) adds, for each listed
    pneumonia film of ``split``, one class-1 item per difference-map box (``source`` ``"diffmap"``),
    besides the film's random-region item.
    """
    root = Path(root)
    kermany = [d for d in manifest_dataset(root / "kermany" / "manifest.csv") if d.get("lung_mask")]
    covid = manifest_dataset(root / "covid_lesions" / "manifest.csv")
    items = items_from(patient_split(kermany)[split], "kermany")
    if diffmap_regions is not None:
        items += _diffmap_items(root, diffmap_regions, split)
    items += items_from(patient_split(covid)[split], "covid_lesions", box_repeat)
    return items


def lesion_datalist(dataset_dir: str | os.PathLike | None = None, split: str = "train",
                    demo_kwargs: Mapping[str, Any] | None = None,
                    diffmap_regions: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Training items for the lesion generator.

    Args:
        dataset_dir: ``None`` for the embedded demo dataset; a folder with ``kermany/`` and
            ``covid_lesions/`` manifests (the shared-data layout); or any folder/CSV that
            :func:`~monai_gan_aug.data.datasets.dataset_from_path` reads.
        split: patient split to use (``train``, ``val``, ``test``).
        demo_kwargs: arguments of :func:`~monai_gan_aug.data.demo.demo_dataset`.
        diffmap_regions: JSON of ``scripts/make_diffmap_regions.py`` (shared-data layout only):
            adds difference-map boxes of Kermany pneumonia films, see :func:`shared_lesion_items`.

    Raises:
        DatasetError: no usable items, a single class, or ``diffmap_regions`` without the
            shared-data layout (its boxes name Kermany films).
    """
    shared = dataset_dir is not None and (Path(dataset_dir) / "kermany" / "manifest.csv").is_file()
    if diffmap_regions and not shared:
        raise DatasetError(f"diffmap_regions names Kermany films; it needs the shared-data layout "
                           f"(a folder with kermany/manifest.csv), found {dataset_dir or 'demo'}")
    if dataset_dir is None or str(dataset_dir) in ("", "demo"):
        from .demo import demo_dataset  # local: builds the demo data on first use

        items = items_from(patient_split(demo_dataset(**dict(demo_kwargs or {})))[split], "demo")
    elif shared:
        items = shared_lesion_items(dataset_dir, split, diffmap_regions=diffmap_regions or None)
    else:
        items = items_from(patient_split(dataset_from_path(dataset_dir))[split], Path(dataset_dir).name)
    if not items:
        raise DatasetError(f"no usable lesion-training items (class normal/pneumonia) in {dataset_dir or 'demo'}")
    if len({it["class_index"] for it in items}) < 2:
        raise DatasetError(f"lesion training needs both healthy and pneumonia items; {dataset_dir} has one class")
    return items


class TrainingRegiond(Randomizable, MapTransform):
    """The region of a training item: its fixed ``region`` if any, else a prior box in its lung.

    Writes ``region_mask`` (binary, no feathering: the generator is trained on hard regions).

    Args:
        keys: the image key.
        lung_key: key of an optional lung mask steering random regions.
        region_key: key of an optional fixed region spec.
    """

    def __init__(self, keys: KeysCollection = "image", lung_key: str = "lung_mask", region_key: str = "region",
                 mask_key: str = "region_mask", allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.lung_key, self.region_key, self.mask_key = lung_key, region_key, mask_key
        # a data item's own region (a real lesion) may be large; the size guard is for user edits
        self.fixed = RegionMask(feather=0, max_fraction=None, clip_to_image=True)
        self.random = RandRegionMask(num_boxes=1, feather=0, max_fraction=0.5)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.random.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        pass  # draws happen inside RandRegionMask

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            if d.get(self.region_key) is not None:
                mask, _ = self.fixed(d[key], region=d[self.region_key])
            else:
                mask, _ = self.random(d[key], lung=d.get(self.lung_key))
            d[self.mask_key] = mask
        return d


def lesion_train_transforms(working_size: int = 128, context_range: tuple[float, float] = (1.5, 3.0)) -> Compose:
    """Load, choose a region, crop a random context window around it, light contrast jitter."""
    return Compose([
        LoadXRayd(keys="image"),
        LoadImaged(keys="lung_mask", reader=PILReader(reverse_indexing=False), ensure_channel_first=True,
                   image_only=True, allow_missing_keys=True),
        _Binarised(keys="lung_mask", allow_missing_keys=True),
        TrainingRegiond(keys="image"),
        RandCropRegionWindowd(keys=("image", "region_mask"), mask_key="region_mask", working_size=working_size,
                              context_range=context_range),
        RandAdjustContrastd(keys="image", prob=0.3, gamma=(0.8, 1.25)),
        SelectItemsd(keys=("image", "region_mask", "class_index")),
        # Region records differ per item (box, boxes, ...): drop metadata so batches collate.
        EnsureTyped(keys=("image", "region_mask"), dtype=torch.float32, track_meta=False),
    ])


class _Binarised(MapTransform):
    """A 0/255 mask image as a float {0, 1} mask."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            arr = torch.as_tensor(np.array(d[key]))  # a writable copy
            d[key] = MetaTensor((arr > arr.max() / 2).float().reshape(1, *arr.shape[-2:]))
        return d


def demo_edit_datalist(n: int = 4, seed: int = 0, demo_kwargs: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Healthy held-out demo radiographs, each with one pneumonia-sized box drawn inside its lung.

    The inputs of the ``lesion_inpaint`` bundle's inference when no CSV of regions is given.
    """
    from ..transforms.io import LoadXRay
    from .demo import demo_dataset  # local: builds the demo data on first use

    normals = [d for d in patient_split(demo_dataset(**dict(demo_kwargs or {})))["test"] if d["class_index"] == 0]
    loader, draw = LoadXRay(), RandRegionMask(feather=0)
    draw.set_random_state(seed)
    items = []
    for item in normals[:n]:
        image = loader(item["image"])
        lung = _Binarised(keys="m")({"m": np.asarray(Image.open(item["lung_mask"]))})["m"]
        mask, _ = draw(image, lung=lung)
        items.append({"image": item["image"], "boxes": mask.meta["region"]["boxes"]})
    return items
