"""Data of the pathology-preserving Pix2Pix (Xing et al., "Adversarial Pulmonary Pathology Translation").

The model keeps the content of lesion boxes and generates everything around them. With ``k`` the
box mask (1 inside the boxes: the KEPT pixels), the augmented image is
``x~ = x * k + G(x * k) * (1 - k)``. In the terms of
:class:`~monai_gan_aug.engines.pix2pix.Pix2PixTrainer` (``inpainting=True``), whose ``region_mask``
``r`` marks the pixels to SYNTHESISE, this is ``r = 1 - k``.

Training items (:func:`pathology_datalist`):

* pathology images with their real lesion boxes (``boxes``, end-exclusive pixels of the stored
  image): the demo pneumonia twins or ``covid_lesions``;
* the "Pix2Pix-N" variant: healthy images (demo normals or Kermany normals) with random boxes drawn
  from the RSNA box prior by :class:`~monai_gan_aug.transforms.region.RandRegionMask`, inside the
  lung when a lung mask is known.

:func:`pathology_train_transforms` loads an item, rasterises its boxes at native resolution,
resizes the whole image to the working size (aspect kept by edge padding) and draws random boxes
for items without any. :class:`PathologyCompositeInferer` does the same at inference and pastes
the original box pixels back at native resolution (bit-identical), see its docstring.
:func:`box_csv_datalist` reads the ``image,box`` CSV of the bundle's ``inference.json``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor, PILReader
from monai.inferers import Inferer
from monai.transforms import (
    Compose,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    Randomizable,
    RandomizableTransform,
    Resize,
    Resized,
    SelectItemsd,
    SpatialPad,
    SpatialPadd,
    Transform,
)
from monai.utils import TransformBackends
from torch import nn

from ..errors import ConfigError, DatasetError, InvalidImageError, RegionError
from ..transforms.io import LoadXRayd
from ..transforms.region import RandRegionMask, RegionMask
from ..utils.arrays import shift_array
from .datasets import IMAGE_SUFFIXES, dataset_from_path, manifest_dataset
from .splits import patient_split

__all__ = [
    "covidqu_pathology_datalist",
    "region_bank",
    "RandRealRegionKeepMaskd",
    "LesionKeepMaskd",
    "SaveXRayLikeInputd",
    "load_initial_weights",
    "pathology_items",
    "pathology_datalist",
    "box_csv_datalist",
    "demo_box_datalist",
    "inference_datalist",
    "KeepMask",
    "KeepMaskd",
    "KeepMaskD",
    "KeepMaskDict",
    "RandKeepMask",
    "RandKeepMaskd",
    "RandKeepMaskD",
    "RandKeepMaskDict",
    "SynthesisMask",
    "SynthesisMaskd",
    "SynthesisMaskD",
    "SynthesisMaskDict",
    "pathology_train_transforms",
    "pathology_inference_transforms",
    "PathologyCompositeInferer",
]

KEEP_KEY = "keep_mask"
REGION_KEY = "region_mask"


# ---------------------------------------------------------------------------------------- datalists


def pathology_items(dataset: Sequence[Mapping[str, Any]], source: str, box_repeat: int = 1) -> list[dict[str, Any]]:
    """Training items from dataset-adapter dicts.

    Images with ``boxes`` become one item holding all their boxes (the whole pathology is kept);
    healthy images (``class_index`` 0) without boxes become random-box items (Pix2Pix-N), carrying
    their ``lung_mask`` when known. Anything else (pneumonia without boxes, unknown labels) is
    skipped: without a box there is no pathology to preserve.

    Args:
        dataset: dicts with ``image`` and optional ``boxes``, ``class_index``, ``lung_mask``.
        source: name recorded in each item's ``source``.
        box_repeat: repeat each boxed image this many times (over-sampling the few real boxes).
    """
    out: list[dict[str, Any]] = []
    for item in dataset:
        if "image" not in item:
            continue
        boxes = [[float(v) for v in b] for b in item.get("boxes", []) or []]
        if boxes:
            out += [{"image": item["image"], "boxes": boxes, "source": f"{source}:boxes"}] * int(box_repeat)
        elif int(item.get("class_index", -1)) == 0:
            new = {"image": item["image"], "source": f"{source}:random_boxes"}
            if item.get("lung_mask"):
                new["lung_mask"] = item["lung_mask"]
            out.append(new)
    return out


def _shared_items(root: Path, split: str, box_repeat: int) -> list[dict[str, Any]]:
    """Shared-data layout: ``covid_lesions`` (real boxes) + ``kermany`` normals (random boxes)."""
    items: list[dict[str, Any]] = []
    if (root / "covid_lesions" / "manifest.csv").is_file():
        covid = manifest_dataset(root / "covid_lesions" / "manifest.csv")
        items += pathology_items(patient_split(covid)[split], "covid_lesions", box_repeat)
    kermany = [d for d in manifest_dataset(root / "kermany" / "manifest.csv") if d.get("class_index") == 0]
    items += pathology_items(patient_split(kermany)[split], "kermany")
    return items


def pathology_datalist(
    dataset_dir: str | os.PathLike | None = None,
    split: str | None = "train",
    box_repeat: int = 1,
    demo_kwargs: Mapping[str, Any] | None = None,
    require_boxes: bool = True,
    covidqu_kwargs: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Training items of the pathology-preserving Pix2Pix.

    Args:
        dataset_dir: ``None``/``""``/``"demo"`` for the embedded demo dataset (pneumonia twins with
            their lesion boxes + normals); a folder holding ``kermany/manifest.csv`` (and
            ``covid_lesions/manifest.csv``): the shared-data layout; or any manifest/folder read by
            :func:`~monai_gan_aug.data.datasets.dataset_from_path` (a manifest with a ``bbox``
            column gives boxed items).
        split: patient split to keep (``train``/``val``/``test``); ``None`` keeps every image.
        box_repeat: over-sampling of boxed images (see :func:`pathology_items`).
        demo_kwargs: arguments of :func:`~monai_gan_aug.data.demo.demo_dataset`.
        require_boxes: raise when no item has real boxes (training on random boxes only).
        covidqu_kwargs: arguments of :func:`covidqu_pathology_datalist` when ``dataset_dir`` is a
            covidqu-layout folder (``manifest.csv`` with ``split``, ``lesion_mask_file``, ``bbox``).

    Raises:
        DatasetError: no usable item, or no boxed item while ``require_boxes``.
    """
    if int(box_repeat) < 1:
        raise ConfigError(f"box_repeat must be >= 1, got {box_repeat}")

    def pick(dataset: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return dataset if split is None else patient_split(dataset)[split]

    if dataset_dir is None or str(dataset_dir) in ("", "demo"):
        from .demo import demo_dataset  # local: builds the demo data on first use

        items = pathology_items(pick(demo_dataset(**dict(demo_kwargs or {}))), "demo", box_repeat)
        where = "the embedded demo dataset"
    elif _is_covidqu(dataset_dir):
        if split is None:
            raise ConfigError("the covidqu layout is read by its official split column; pass split='train'")
        items = covidqu_pathology_datalist(dataset_dir, split, box_repeat=int(box_repeat),
                                           **dict(covidqu_kwargs or {}))
        where = str(dataset_dir)
    elif (Path(dataset_dir) / "kermany" / "manifest.csv").is_file():
        if split is None:
            raise ConfigError("the shared-data layout is always read by patient split; pass split='train'")
        items = _shared_items(Path(dataset_dir), split, int(box_repeat))
        where = str(dataset_dir)
    else:
        items = pathology_items(pick(dataset_from_path(dataset_dir)), Path(dataset_dir).name, box_repeat)
        where = str(dataset_dir)
    if not items:
        raise DatasetError(f"no usable items in {where}: need images with boxes or healthy (normal) images")
    if require_boxes and not any("boxes" in it or "keep_mask_file" in it for it in items):
        raise DatasetError(f"no image with lesion boxes in {where} (split {split!r}); a 'bbox' column is needed")
    return items


# ------------------------------------------------------------------------------------ covidqu layout

REGION_KINDS = ("boxes", "mask")
PARTS = ("all", "fit", "holdout")


def _is_covidqu(dataset_dir: str | os.PathLike) -> bool:
    """A covidqu-layout folder: ``manifest.csv`` with ``split`` and ``lesion_mask_file`` columns."""
    manifest = Path(dataset_dir) / "manifest.csv"
    if not manifest.is_file():
        return False
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    return {"split", "lesion_mask_file", "bbox"} <= {h.strip() for h in header}


def holdout_part(name: str, fraction: float) -> str:
    """``"holdout"`` for a stable ``fraction`` of file names (sha1 of the stem), else ``"fit"``."""
    digest = hashlib.sha1(Path(str(name)).stem.encode()).hexdigest()
    return "holdout" if int(digest[:8], 16) / 0xFFFFFFFF < float(fraction) else "fit"


def covidqu_pathology_datalist(
    dataset_dir: str | os.PathLike,
    split: str = "train",
    region: str = "boxes",
    population: str = "all",
    box_repeat: int = 1,
    normals: bool = True,
    part: str = "all",
    holdout_fraction: float = 0.1,
) -> list[dict[str, Any]]:
    """Pix2Pix / Pix2Pix-N items of a covidqu-layout folder (``manifest.csv`` with a ``split`` column).

    * COVID films (with ``bbox``): the kept region is their lesion boxes (``region="boxes"``;
      ``boxes`` end-exclusive) or their infection mask itself (``region="mask"``; ``keep_mask_file``).
    * normal films (``normals=True``, the Pix2Pix-N variant): no region of their own; one is drawn
      at training time by :class:`RandRealRegionKeepMaskd` from the real COVID regions
      (:func:`region_bank`), inside their lung.

    Every item carries ``lung_mask`` when the manifest has one.

    Args:
        dataset_dir: folder holding ``manifest.csv`` (e.g. ``../shared/data/covidqu``).
        split: the manifest's ``split`` value to read (train only for training; never select
            settings on ``val``).
        region: ``"boxes"`` or ``"mask"``.
        population: ``"all"``, ``"adult"`` or ``"paediatric"``
            (:func:`~monai_gan_aug.data.covidqu.covidqu_population`; ``"adult"`` drops the
            paediatric Kermany normals).
        box_repeat: repeat each COVID film this many times.
        normals: add the normal films (Pix2Pix-N).
        part: ``"all"``, or a stable split of the films by file-name hash into ``"fit"`` (training)
            and ``"holdout"`` (model selection without touching ``val``).
        holdout_fraction: fraction of films in ``"holdout"``.

    Raises:
        ConfigError: unknown ``region``/``part``/``population``; DatasetError: nothing usable.
    """
    from .covidqu import select_population

    if region not in REGION_KINDS:
        raise ConfigError(f"region must be one of {REGION_KINDS}, found {region!r}")
    if part not in PARTS:
        raise ConfigError(f"part must be one of {PARTS}, found {part!r}")
    if int(box_repeat) < 1:
        raise ConfigError(f"box_repeat must be >= 1, got {box_repeat}")
    rows = manifest_dataset(Path(dataset_dir) / "manifest.csv")
    rows = [r for r in rows if str(r.get("split", "")) == split]
    rows = select_population(rows, population)
    if part != "all":
        rows = [r for r in rows if holdout_part(r["image"], holdout_fraction) == part]
    items: list[dict[str, Any]] = []
    for r in rows:
        base: dict[str, Any] = {"image": r["image"], "label": r.get("label", "")}
        if r.get("lung_mask"):
            base["lung_mask"] = r["lung_mask"]
        if r.get("boxes"):
            item = dict(base, boxes=[[float(v) for v in b] for b in r["boxes"]], source=f"covidqu:{region}")
            if region == "mask":
                if not r.get("lesion_mask"):
                    raise DatasetError(f"{r['image']}: region='mask' needs a lesion mask")
                item["keep_mask_file"] = r["lesion_mask"]
                del item["boxes"]
            items += [item] * int(box_repeat)
        elif normals and str(r.get("label", "")).lower() == "normal":
            items.append(dict(base, source="covidqu:real_like_region"))
    if not items:
        raise DatasetError(f"no usable covidqu items in {dataset_dir} (split {split!r}, part {part!r})")
    return items


def region_bank(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Real lesion regions of boxed/masked items, for :class:`RandRealRegionKeepMaskd`.

    Each entry: ``boxes`` normalised to ``[0, 1]`` of the film's width/height (when the item has
    boxes) and ``mask`` (the infection mask file, when the item has ``keep_mask_file``). Repeated
    items give one entry.
    """
    from PIL import Image

    bank, seen = [], set()
    for it in items:
        if it["image"] in seen or not (it.get("boxes") or it.get("keep_mask_file")):
            continue
        seen.add(it["image"])
        entry: dict[str, Any] = {}
        if it.get("boxes"):
            with Image.open(it["image"]) as im:
                w, h = im.size
            entry["boxes"] = [[b[0] / w, b[1] / h, b[2] / w, b[3] / h] for b in it["boxes"]]
        if it.get("keep_mask_file"):
            entry["mask"] = it["keep_mask_file"]
        bank.append(entry)
    return bank


def load_initial_weights(net: nn.Module, path: str | os.PathLike | None) -> nn.Module:
    """Copy the weights of a self-describing network file (``networks.factory``) into ``net``.

    ``path`` ``None``/``""``: ``net`` unchanged. Used to continue training across sessions from
    exported ``G.pt``/``D.pt`` (``--init_generator``/``--init_discriminator`` of ``train.json``).

    Raises:
        ConfigError: missing file, or weights that do not fit ``net``.
    """
    if not path:
        return net
    from ..networks.factory import load_network

    if not Path(path).is_file():
        raise ConfigError(f"initial weights {path} do not exist")
    src = load_network(path)
    try:
        net.load_state_dict(src.state_dict())
    except RuntimeError as exc:
        raise ConfigError(f"initial weights {path} do not fit the configured network: {exc}") from exc
    return net


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _parse_box_cell(text: str, where: str) -> list[list[float]]:
    boxes = []
    for part in (p for p in text.split(";") if p.strip()):
        values = [float(v) for v in _NUMBER.findall(part)]
        if len(values) != 4:
            raise DatasetError(f"{where}: a box needs 4 numbers x0,y0,x1,y1, found {part.strip()!r}")
        x0, y0, x1, y1 = values
        if not (np.isfinite(values).all() and 0 <= x0 < x1 and 0 <= y0 < y1):
            raise DatasetError(f"{where}: box {values} must be finite with 0 <= x0 < x1 and 0 <= y0 < y1")
        boxes.append(values)
    if not boxes:
        raise DatasetError(f"{where}: empty box cell")
    return boxes


def box_csv_datalist(csv_path: str | os.PathLike, image_dir: str | os.PathLike | None = None,
                     max_items: int | None = None) -> list[dict[str, Any]]:
    """``[{"image": path, "boxes": [[x0, y0, x1, y1], ...]}]`` from a CSV with columns ``image,box``.

    ``box`` is ``x0,y0,x1,y1`` in pixels of the stored image, end-exclusive (the project
    convention); one image may have several rows, or several boxes in one cell separated by ``;``.
    An optional ``mask`` column names a binary mask file of the kept region (e.g. the infection
    mask); with a mask the box cell may be empty, and a box and a mask of one image are both kept
    (the mask replaces the boxes' keep mask in :func:`pathology_inference_transforms`).
    Relative image paths start at ``image_dir`` (default: the CSV's folder). Rows keep the order of
    their first appearance.

    Raises:
        DatasetError: missing file or columns, malformed boxes, missing images.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise DatasetError(f"box CSV {str(path)!r} does not exist")
    base = Path(image_dir) if image_dir else path.parent
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if "image" not in header or not ({"box", "mask"} & set(header)):
            raise DatasetError(f"{path}: needs columns 'image' and 'box' (x0,y0,x1,y1) or 'mask', found {header}")
        grouped: dict[str, list[list[float]]] = {}
        masks: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row.get("image"):
                raise DatasetError(f"{path}:{line}: empty 'image' cell")
            image = str((Path(row["image"]) if Path(row["image"]).is_absolute() else base / row["image"]).resolve())
            grouped.setdefault(image, [])
            if row.get("mask"):
                mask = Path(row["mask"]) if Path(row["mask"]).is_absolute() else base / row["mask"]
                masks[image] = str(mask.resolve())
            if row.get("box") or not row.get("mask"):
                grouped[image].extend(_parse_box_cell(row.get("box", ""), f"{path}:{line}"))
    missing = [p for p in list(grouped) + list(masks.values()) if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f"{path}: {len(missing)} image(s) do not exist, first: {missing[:5]}")
    items = []
    for p, b in grouped.items():
        item: dict[str, Any] = {"image": p}
        if b:
            item["boxes"] = b
        if p in masks:
            item["keep_mask_file"] = masks[p]
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: no rows")
    return items[: int(max_items)] if max_items else items


def demo_box_datalist(max_items: int | None = None, split: str = "test",
                      demo_kwargs: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Inference items from the demo dataset: pneumonia images of ``split`` with their lesion boxes."""
    from .demo import demo_dataset  # local: builds the demo data on first use

    chosen = [{"image": d["image"], "boxes": d["boxes"]}
              for d in patient_split(demo_dataset(**dict(demo_kwargs or {})))[split] if d.get("boxes")]
    if not chosen:
        raise DatasetError(f"no boxed demo images in split {split!r}")
    return chosen[: int(max_items)] if max_items else chosen


def inference_datalist(box_csv: str | os.PathLike | None = None, input_dir: str | os.PathLike | None = None,
                       max_items: int | None = None) -> list[dict[str, Any]]:
    """Items of ``inference.json``: ``box_csv`` (images under ``input_dir``) or, without it, demo images."""
    if box_csv:
        return box_csv_datalist(box_csv, input_dir, max_items)
    if input_dir:
        raise ConfigError(f"input_dir {input_dir} given without box_csv: every image needs its boxes "
                          f"(a CSV with columns image,box; images ending in {IMAGE_SUFFIXES})")
    return demo_box_datalist(max_items)



# ---------------------------------------------------------------------------------------- transforms


def _hw(img: Any) -> tuple[int, int]:
    shape = tuple(img.shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] != 1):
        raise InvalidImageError(f"expected a (1, H, W) or (H, W) image, got shape {shape}")
    return int(shape[-2]), int(shape[-1])


class KeepMask(Transform):
    """Binary ``(1, H, W)`` mask of the pixels to KEEP: 1 inside any of ``boxes``, 0 elsewhere.

    Boxes are ``x0, y0, x1, y1`` pixels of ``img``'s grid, end-exclusive; boxes reaching past the
    image are clipped (a box entirely outside is a :class:`~monai_gan_aug.errors.RegionError`).

    Args:
        max_fraction: largest image fraction the boxes may cover; ``None``: no limit (a nearly
            whole-image box leaves nothing to generate, but is not wrong).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, max_fraction: float | None = None) -> None:
        self.converter = RegionMask(feather=0, max_fraction=max_fraction, clip_to_image=True)

    def __call__(self, img: Any, boxes: Sequence[Sequence[float]]) -> Any:
        _hw(img)
        if boxes is None or len(boxes) == 0:
            raise RegionError("KeepMask needs at least one box x0,y0,x1,y1, found none")
        mask, _ = self.converter(img, region={"boxes": [list(map(float, b)) for b in boxes]})
        return mask


class KeepMaskd(MapTransform):
    """Dictionary twin of :class:`KeepMask`: ``data[keep_key]`` from ``data[boxes_key]`` on ``keys``' grid.

    Items without ``boxes_key`` are left unchanged (random boxes are drawn later by
    :class:`RandKeepMaskd`), so the deterministic, cacheable part of a pipeline can rasterise real
    boxes at native resolution.

    Args:
        keys: the image key.
        boxes_key: key of ``[[x0, y0, x1, y1], ...]``.
        keep_key: output key.
        max_fraction: see :class:`KeepMask`.
        allow_missing_keys: skip a missing image key.
    """

    backend = KeepMask.backend

    def __init__(self, keys: KeysCollection = "image", boxes_key: str = "boxes", keep_key: str = KEEP_KEY,
                 max_fraction: float | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = KeepMask(max_fraction)
        self.boxes_key, self.keep_key = boxes_key, keep_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if d.get(self.boxes_key) is None:
            return d
        for key in self.key_iterator(d):
            d[self.keep_key] = self.converter(d[key], d[self.boxes_key])
        return d


class RandKeepMask(RandomizableTransform):
    """Keep mask of random pneumonia-like boxes (the Pix2Pix-N variant's healthy images).

    Draws 1-4 boxes (``num_boxes="prior"``) from the shipped RSNA box prior with
    :class:`~monai_gan_aug.transforms.region.RandRegionMask`; a lung mask steers them into the lung.

    Args:
        num_boxes: an int, or ``"prior"`` for the prior's boxes-per-image distribution.
        min_lung_overlap: fraction of each box that must lie in the lung when a lung mask is given.
        max_fraction: largest image fraction of the union of boxes.
    """

    backend = KeepMask.backend

    def __init__(self, num_boxes: int | str = "prior", min_lung_overlap: float = 0.5, max_fraction: float = 0.5) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self.drawer = RandRegionMask(num_boxes=num_boxes, min_lung_overlap=min_lung_overlap, feather=0,
                                     max_fraction=max_fraction)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandKeepMask:
        super().set_random_state(seed, state)
        self.drawer.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        pass  # the draw happens inside RandRegionMask

    def __call__(self, img: Any, lung: Any = None, randomize: bool = True) -> Any:
        _hw(img)
        mask, _ = self.drawer(img, lung=lung, randomize=randomize)
        return mask


class RandKeepMaskd(Randomizable, MapTransform):
    """Dictionary twin of :class:`RandKeepMask`: draws ``data[keep_key]`` only where it is absent.

    Args:
        keys: the image key.
        lung_key: optional lung mask of the same grid steering the draw.
        keep_key: output key (left untouched when already present: real boxes win).
        num_boxes, min_lung_overlap, max_fraction: see :class:`RandKeepMask`.
        allow_missing_keys: skip a missing image key.
    """

    backend = KeepMask.backend

    def __init__(self, keys: KeysCollection = "image", lung_key: str = "lung_mask", keep_key: str = KEEP_KEY,
                 num_boxes: int | str = "prior", min_lung_overlap: float = 0.5, max_fraction: float = 0.5,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.drawer = RandKeepMask(num_boxes, min_lung_overlap, max_fraction)
        self.lung_key, self.keep_key = lung_key, keep_key

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandKeepMaskd:
        super().set_random_state(seed, state)
        self.drawer.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        pass  # see RandKeepMask

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if d.get(self.keep_key) is not None:
            return d
        for key in self.key_iterator(d):
            d[self.keep_key] = self.drawer(d[key], lung=d.get(self.lung_key))
        return d


class LesionKeepMaskd(MapTransform):
    """``data[keep_key]`` from a mask file ``data[file_key]`` (the infection mask as the kept region).

    The mask is binarised at half its maximum and must have the image's size (``keys``' grid).
    Items without ``file_key`` are left unchanged.
    """

    def __init__(self, keys: KeysCollection = "image", file_key: str = "keep_mask_file", keep_key: str = KEEP_KEY,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.file_key, self.keep_key = file_key, keep_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if not d.get(self.file_key):
            return d
        from PIL import Image

        with Image.open(d[self.file_key]) as im:
            arr = np.asarray(im.convert("L"))
        for key in self.key_iterator(d):
            h, w = _hw(d[key])
            if arr.shape != (h, w):
                raise RegionError(f"{d[self.file_key]}: mask {arr.shape} does not match the image {(h, w)}")
            keep = arr > max(int(arr.max()) // 2, 0)
            if not keep.any():
                raise RegionError(f"{d[self.file_key]}: empty kept-region mask")
            d[self.keep_key] = torch.from_numpy(keep[None].astype(np.float32))
        return d


class RandRealRegionKeepMaskd(Randomizable, MapTransform):
    """Pix2Pix-N kept regions drawn like real lesions: a real film's region moved onto a healthy film.

    For items without ``keep_key``, picks a random entry of ``bank`` (:func:`region_bank`): its
    lesion boxes (normalised, so they scale to this grid) or its infection mask, mirrored left-right
    with probability 0.5 and shifted by up to ``jitter`` of the image side. With a lung mask, a draw
    is accepted when every box has at least ``min_lung_overlap`` of its area in the lung (boxes), or
    the mask clipped to the lung keeps at least that fraction of its pixels (masks, which are then
    clipped); after ``max_tries`` rejected draws the last entry is used unshifted.

    Args:
        keys: the image key (its grid sets the mask's size).
        bank: real regions, see :func:`region_bank`.
        lung_key: optional binary lung mask of the same grid.
        keep_key: output key (left untouched when present: a film's own region wins).
        jitter: largest shift as a fraction of the image side.
        min_lung_overlap, max_tries: see above.
    """

    def __init__(self, keys: KeysCollection = "image", bank: Sequence[Mapping[str, Any]] = (),
                 lung_key: str = "lung_mask", keep_key: str = KEEP_KEY, jitter: float = 0.1,
                 min_lung_overlap: float = 0.5, max_tries: int = 10, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not bank:
            raise ConfigError("RandRealRegionKeepMaskd needs a non-empty bank of real regions")
        if not 0 <= jitter < 1 or not 0 <= min_lung_overlap <= 1 or int(max_tries) < 1:
            raise ConfigError(f"bad jitter {jitter}, min_lung_overlap {min_lung_overlap} or max_tries {max_tries}")
        self.bank = [dict(b) for b in bank]
        self.lung_key, self.keep_key = lung_key, keep_key
        self.jitter, self.min_lung_overlap, self.max_tries = float(jitter), float(min_lung_overlap), int(max_tries)
        self._masks: dict[tuple[str, int, int], np.ndarray] = {}

    def randomize(self, data: Any = None) -> None:
        pass  # draws happen in _draw (their number depends on rejections)

    def _mask(self, path: str, h: int, w: int) -> np.ndarray:
        key = (path, h, w)
        if key not in self._masks:
            from PIL import Image

            with Image.open(path) as im:
                im = im.convert("L")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.NEAREST)
                arr = np.asarray(im)
            self._masks[key] = arr > max(int(arr.max()) // 2, 0)
        return self._masks[key]

    def _one(self, entry: Mapping[str, Any], h: int, w: int, lung: np.ndarray | None, shift: bool) -> np.ndarray | None:
        mirror = bool(self.R.rand() < 0.5) if shift else False
        dy = int(self.R.randint(-int(self.jitter * h), int(self.jitter * h) + 1)) if shift else 0
        dx = int(self.R.randint(-int(self.jitter * w), int(self.jitter * w) + 1)) if shift else 0
        has_lung = lung is not None and lung.any()
        if entry.get("mask"):
            m = self._mask(entry["mask"], h, w)
            m = shift_array(m[:, ::-1] if mirror else m, dy, dx)
            if not m.any():
                return None
            if has_lung:
                clipped = m & lung
                if clipped.sum() < self.min_lung_overlap * m.sum() or not clipped.any():
                    return None
                m = clipped
            return m
        m = np.zeros((h, w), bool)
        for bx0, by0, bx1, by1 in entry["boxes"]:
            if mirror:
                bx0, bx1 = 1.0 - bx1, 1.0 - bx0
            x0, x1 = int(np.floor(bx0 * w)) + dx, int(np.ceil(bx1 * w)) + dx
            y0, y1 = int(np.floor(by0 * h)) + dy, int(np.ceil(by1 * h)) + dy
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                return None
            if has_lung and lung[y0:y1, x0:x1].mean() < self.min_lung_overlap:
                return None
            m[y0:y1, x0:x1] = True
        return m

    def _draw(self, h: int, w: int, lung: np.ndarray | None) -> np.ndarray:
        entry: Mapping[str, Any] = self.bank[0]
        for _ in range(self.max_tries):
            entry = self.bank[int(self.R.randint(len(self.bank)))]
            m = self._one(entry, h, w, lung, shift=True)
            if m is not None and m.any() and not m.all():
                return m
        m = self._one(entry, h, w, None, shift=False)
        if m is None or not m.any():  # a degenerate bank entry: keep a central box
            m = np.zeros((h, w), bool)
            m[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = True
        return m

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if d.get(self.keep_key) is not None:
            return d
        lung = d.get(self.lung_key)
        lung_np = None if lung is None else np.asarray(lung).reshape(np.asarray(lung).shape[-2:]) > 0.5
        for key in self.key_iterator(d):
            h, w = _hw(d[key])
            if lung_np is not None and lung_np.shape != (h, w):
                raise RegionError(f"lung mask {lung_np.shape} does not match the image {(h, w)}")
            d[self.keep_key] = torch.from_numpy(self._draw(h, w, lung_np)[None].astype(np.float32))
        return d


class SaveXRayLikeInputd(MapTransform):
    """:class:`~monai_gan_aug.transforms.io.SaveXRayd` whose PNG bit depth follows each input.

    An 8-bit source (``meta["bits_stored"] <= 8``) gives an 8-bit PNG, anything else a 16-bit one,
    as ``monai-gan-aug edit`` does. Other arguments: see :class:`~monai_gan_aug.transforms.io.SaveXRay`.
    """

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike | None = None,
                 output_postfix: str = "synthetic", output_format: str | None = None, overwrite: bool = False,
                 description: str | None = None, synthetic: bool | None = None,
                 allow_missing_keys: bool = False) -> None:
        from ..transforms.io import SaveXRay

        super().__init__(keys, allow_missing_keys)
        self.savers = {bits: SaveXRay(output_dir, output_postfix, output_format, bits, overwrite, description, synthetic)
                       for bits in (8, 16)}

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            meta = getattr(d[key], "meta", {}) or {}
            bits = meta.get("bits_stored", 16)
            bits = int(bits.reshape(-1)[0]) if hasattr(bits, "reshape") else int(bits or 16)
            d[key] = self.savers[8 if bits <= 8 else 16](d[key])
        return d


class SynthesisMask(Transform):
    """``1 - keep``: the pixels the generator synthesises (the keep mask is binarised at 0.5 first)."""

    backend = KeepMask.backend

    def __call__(self, keep: Any) -> Any:
        if isinstance(keep, torch.Tensor):
            return 1.0 - (keep > 0.5).to(torch.float32)
        return 1.0 - (np.asarray(keep) > 0.5).astype(np.float32)


class SynthesisMaskd(MapTransform):
    """``data[region_key] = 1 - data[keep_key]``: the pixels the generator synthesises.

    :class:`~monai_gan_aug.engines.pix2pix.Pix2PixTrainer` (``inpainting=True``) reads this mask.
    The keep mask is binarised at 0.5 first (it may have been resized).

    Args:
        keys: the keep-mask key(s).
        region_key: output key(s), one per key.
        allow_missing_keys: skip missing keys.
    """

    backend = KeepMask.backend

    def __init__(self, keys: KeysCollection = KEEP_KEY, region_key: str | Sequence[str] = REGION_KEY,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.region_key = (region_key,) if isinstance(region_key, str) else tuple(region_key)
        if len(self.region_key) != len(self.keys):
            raise ConfigError(f"need one region_key per key, got {self.region_key} for {self.keys}")
        self.converter = SynthesisMask()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, out_key in self.key_iterator(d, self.region_key):
            d[out_key] = self.converter(d[key])
        return d


class _Binarised(MapTransform):
    """A 0/255 mask image as a float ``{0, 1}`` ``(1, H, W)`` mask (keeps metadata)."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            arr = torch.as_tensor(np.asarray(d[key]))
            d[key] = MetaTensor((arr > arr.max() / 2).float().reshape(1, *arr.shape[-2:]))
        return d


def pathology_train_transforms(working_size: int = 128, bank: Sequence[Mapping[str, Any]] | None = None,
                               jitter: float = 0.1) -> Compose:
    """Training pipeline: ``image`` and ``region_mask`` (1 = synthesise) at ``working_size`` px.

    Load, rasterise real boxes at native resolution, resize the whole image (longest side, area
    averaging; masks nearest) and edge-pad to a square, then draw random lung boxes for items
    without real ones. Everything before the random draw is deterministic, so a
    ``CacheDataset`` caches it. Items with ``keep_mask_file`` keep that mask (the infection mask as
    the kept region). With a ``bank`` of real regions (:func:`region_bank`), items without a region
    get one drawn like a real lesion (:class:`RandRealRegionKeepMaskd`), else RSNA-prior boxes.
    """
    if int(working_size) < 16:
        raise ConfigError(f"working_size must be >= 16, got {working_size}")
    size = int(working_size)
    masks = (KEEP_KEY, "lung_mask")
    return Compose([
        LoadXRayd(keys="image"),
        LoadImaged(keys="lung_mask", reader=PILReader(reverse_indexing=False), ensure_channel_first=True,
                   image_only=True, allow_missing_keys=True),
        _Binarised(keys="lung_mask", allow_missing_keys=True),
        KeepMaskd(keys="image"),
        LesionKeepMaskd(keys="image"),
        Resized(keys="image", spatial_size=size, size_mode="longest", mode="area"),
        Resized(keys=masks, spatial_size=size, size_mode="longest", mode="nearest", allow_missing_keys=True),
        SpatialPadd(keys="image", spatial_size=(size, size), mode="edge"),
        SpatialPadd(keys=masks, spatial_size=(size, size), mode="constant", allow_missing_keys=True),
        RandRealRegionKeepMaskd(keys="image", bank=bank, jitter=jitter) if bank else RandKeepMaskd(keys="image"),
        SynthesisMaskd(keys=KEEP_KEY),
        SelectItemsd(keys=("image", REGION_KEY)),
        # Items carry different metadata (boxes or not, lung or not): drop it so batches collate.
        EnsureTyped(keys=("image", REGION_KEY), dtype=torch.float32, track_meta=False),
    ])


def pathology_inference_transforms() -> Compose:
    """Inference pipeline: the image at native resolution (with metadata) and its ``keep_mask``."""
    return Compose([
        LoadXRayd(keys="image"),
        KeepMaskd(keys="image"),
        LesionKeepMaskd(keys="image"),
        EnsureTyped(keys="image", dtype=torch.float32),
        EnsureTyped(keys=KEEP_KEY, dtype=torch.float32, track_meta=False),
    ])


# ---------------------------------------------------------------------------------------- inferer


class PathologyCompositeInferer(Inferer):
    """Keep the boxed pathology, generate new surroundings; the boxes stay bit-identical at full size.

    For each ``(1, H, W)`` image in ``[0, 1]`` and its keep mask ``k`` (1 inside the boxes):

    1. image and mask are resized (longest side to ``size``; area for the image, nearest for the
       mask) and edge-/zero-padded to a square, exactly as :func:`pathology_train_transforms`;
    2. the generator sees ``cat(x * k, 1 - k)`` in ``[-1, 1]`` (the trainer's inpainting input);
    3. its output is un-padded and up-sampled (bilinear) to ``H x W``: the new surroundings;
    4. the output is ``x * w + up(G) * (1 - w)`` with ``w = 1`` inside the boxes, ramping to 0 over
       ``feather`` px outside them. Inside the boxes ``w`` is exactly 1, so the box pixels are the
       input's, bit for bit, at native resolution; the surroundings are at the working resolution.

    Args:
        size: the generator's working size.
        feather: width in native pixels of a blend ramp OUTSIDE the boxes hiding the seam (0: hard).
        mask_channel: feed ``1 - k`` as a second generator channel (as trained with ``mask_channel``).
        norm_stats: ``"running"`` (eval mode: batch-norm layers use their running statistics) or
            ``"image"``: batch-norm layers normalise with the statistics of the image itself, as
            pix2pix does at test time (batch size 1, train-mode norm); the running statistics are
            left untouched. Measured on covidqu: a batch-norm U-Net-256 trained with batches of 4
            gives much too dark surroundings with running statistics (docs/pix2pix_pathology.md).
            No effect on networks without batch norm.
    """

    def __init__(self, size: int = 128, feather: float = 0.0, mask_channel: bool = True,
                 norm_stats: str = "running") -> None:
        super().__init__()
        if int(size) < 16:
            raise ConfigError(f"size must be >= 16, got {size}")
        if feather < 0:
            raise ConfigError(f"feather must be >= 0, got {feather}")
        if norm_stats not in ("running", "image"):
            raise ConfigError(f"norm_stats must be 'running' or 'image', got {norm_stats!r}")
        self.size, self.feather, self.mask_channel = int(size), float(feather), bool(mask_channel)
        self.norm_stats = norm_stats
        self._resize_img = Resize(spatial_size=self.size, size_mode="longest", mode="area")
        self._resize_mask = Resize(spatial_size=self.size, size_mode="longest", mode="nearest")
        self._pad_img = SpatialPad(spatial_size=(self.size, self.size), mode="edge")
        self._pad_mask = SpatialPad(spatial_size=(self.size, self.size), mode="constant")

    def _check(self, inputs: torch.Tensor, keep_mask: torch.Tensor | None) -> torch.Tensor:
        if inputs.ndim != 4 or inputs.shape[1] != 1:
            raise InvalidImageError(f"expected (N, 1, H, W) radiographs, got shape {tuple(inputs.shape)}")
        if keep_mask is None:
            raise RegionError("PathologyCompositeInferer needs keep_mask (1 inside the boxes to keep)")
        keep = torch.as_tensor(keep_mask).float()
        if keep.shape[0] != inputs.shape[0] or keep.shape[-2:] != inputs.shape[-2:]:
            raise RegionError(f"keep mask {tuple(keep.shape)} does not match the images {tuple(inputs.shape)}")
        if not (keep > 0.5).any():
            raise RegionError("the keep mask is empty: no box to keep")
        return (keep[:, :1] > 0.5).float()

    def _weight(self, keep: torch.Tensor) -> torch.Tensor:
        """1 inside the boxes, a linear ramp to 0 over ``feather`` px outside (Euclidean distance)."""
        if self.feather <= 0:
            return keep
        from scipy import ndimage  # local: only needed with feathering

        out = []
        for k in keep.cpu().numpy()[:, 0] > 0.5:
            dist = ndimage.distance_transform_edt(~k)
            out.append(np.clip(1.0 - dist / self.feather, 0.0, 1.0).astype(np.float32))
        return torch.from_numpy(np.stack(out)[:, None]).to(keep.device)

    def _generate_one(self, x: torch.Tensor, keep: torch.Tensor, network: nn.Module) -> torch.Tensor:
        """Generator output for one ``(1, H, W)`` image, resampled back to ``(1, H, W)`` in ``[0, 1]``."""
        h, w = x.shape[-2:]
        small = self._pad_img(self._resize_img(x))
        k_small = (self._pad_mask(self._resize_mask(keep)) > 0.5).float()
        small, k_small = torch.as_tensor(small), torch.as_tensor(k_small)
        r = 1.0 - k_small
        cond = (small * 2.0 - 1.0) * k_small
        cond = torch.cat([cond, r], 0) if self.mask_channel else cond
        param = next(network.parameters(), None)
        dev = param.device if param is not None else x.device
        out = (network(cond[None].to(dev)).float().cpu() + 1.0) * 0.5
        # un-pad (SpatialPad pads symmetrically, the extra pixel at the end), then up-sample
        side = max(h, w)
        sh, sw = round(h * self.size / side), round(w * self.size / side)
        top, left = (self.size - sh) // 2, (self.size - sw) // 2
        out = out[..., top: top + sh, left: left + sw]
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)[0].clamp(0.0, 1.0)

    def __call__(  # type: ignore[override]
        self, inputs: torch.Tensor, network: nn.Module, *args: Any, keep_mask: torch.Tensor | None = None,
        seed: int | None = None, **kwargs: Any,
    ) -> torch.Tensor:
        """Images ``(N, 1, H, W)`` in ``[0, 1]`` with new surroundings; a ``MetaTensor`` keeps its metadata.

        ``seed``: ``None`` runs the generator deterministically (eval mode); an int switches its
        dropout layers on (pix2pix's test-time noise, Isola et al.) with that seed, so one film
        gives different, reproducible variants. Normalisation layers stay in eval mode.
        """
        keep = self._check(inputs, keep_mask)
        plain = (inputs.as_tensor() if hasattr(inputs, "as_tensor") else inputs).float().cpu()
        if not torch.isfinite(plain).all():
            raise InvalidImageError("input contains NaN or Inf")
        keep = keep.cpu()
        dropouts = [m for m in network.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        was = [(m, m.training) for m in dropouts + norms]
        saved = [(m, m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
                 for m in norms]
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                if seed is not None:
                    torch.manual_seed(int(seed))
                    for m in dropouts:
                        m.train()
                if self.norm_stats == "image":
                    for m in norms:  # normalise with the image's statistics; momentum 0 keeps the running ones
                        m.momentum = 0.0
                        m.train()
                generated = torch.stack([self._generate_one(plain[i], keep[i], network) for i in range(len(plain))])
        finally:
            for m, t in was:
                m.train(t)
            for m, momentum, tracked in saved:
                m.momentum = momentum
                if tracked is not None:
                    m.num_batches_tracked.copy_(tracked)
        w = self._weight(keep)
        # where w == 1 (inside the boxes) this is exactly the input: x * 1 + g * 0
        out = plain * w + generated * (1.0 - w)
        out = out.to(device=inputs.device, dtype=inputs.dtype)
        if isinstance(inputs, MetaTensor):  # keep the metadata (and batch flag) for SaveXRayd
            meta_out = MetaTensor(out)
            meta_out.copy_meta_from(inputs)
            return meta_out
        return out


KeepMaskD = KeepMaskDict = KeepMaskd
RandKeepMaskD = RandKeepMaskDict = RandKeepMaskd
SynthesisMaskD = SynthesisMaskDict = SynthesisMaskd
