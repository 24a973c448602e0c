"""Dataset adapters: folders, CSV manifests and public box lists -> MONAI-style lists of dicts.

Every adapter returns ``list[dict]`` ready for ``monai.data.Dataset`` and ``LoadXRayd``:

=============== ===============================================================================
key             value
=============== ===============================================================================
``image``       absolute path (``str``) of the image file (absent only for box lists read
                without an image folder, see :func:`rsna_boxes` / :func:`nih_boxes`)
``label``       the source's label, lower-cased (``"normal"``, ``"pneumonia"``, ``"covid"``...)
``class_index`` ``int`` from :data:`CLASS_INDEX` (0 normal, 1 pneumonia) after
                :data:`LABEL_SYNONYMS`; :data:`UNKNOWN_CLASS_INDEX` (-1) for anything else
``patient``     patient id (``str``): split with :func:`monai_gan_aug.data.splits.patient_split`
``lung_mask``   optional: absolute path of a binary lung-field mask of the same size
``lesion_mask`` optional: absolute path of a binary lesion mask of the same size
``boxes``       optional: ``list[[x0, y0, x1, y1]]`` floats in pixels of the stored image,
                x = column, y = row, end-exclusive (the project convention)
=============== ===============================================================================

Optional keys are left out (not ``None``) when a source has no value, so MONAI transforms with
``allow_missing_keys=True`` skip them. Dicts with different key sets cannot be batched by the
default collate: filter or fill them first when batching.

Box conventions of the sources and how they are converted:

* project manifests (``/work/shared/data/*/manifest.csv``): ``"x0 y0 x1 y1;x0 y0 x1 y1"`` with
  **inclusive** ends (all 176 boxes of ``covid_lesions`` equal the bounding boxes of the
  8-connected components of its lesion masks with ``x1``/``y1`` the last lesion column/row), so
  1 is added to ``x1`` and ``y1`` unless ``bbox_end_inclusive=False``;
* RSNA Pneumonia (``patientId,x,y,width,height,Target``) and NIH ``BBox_List_2017.csv``
  (``x,y,w,h``): top-left corner plus size, so ``[x, y, x + w, y + h]`` is already end-exclusive.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DatasetError

__all__ = [
    "CLASS_NAMES",
    "CLASS_INDEX",
    "UNKNOWN_CLASS_INDEX",
    "LABEL_SYNONYMS",
    "IMAGE_SUFFIXES",
    "SOURCE_IMAGE_SIZE",
    "class_index_of",
    "patient_from_filename",
    "parse_boxes",
    "folder_dataset",
    "manifest_dataset",
    "rsna_boxes",
    "nih_boxes",
    "dataset_from_path",
]

CLASS_NAMES = ("normal", "pneumonia")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
UNKNOWN_CLASS_INDEX = -1
# COVID-19 and the Kaggle sub-types are pneumonias; "unknown" and other findings stay unknown.
LABEL_SYNONYMS: dict[str, str] = {
    "covid": "pneumonia",
    "covid-19": "pneumonia",
    "covid19": "pneumonia",
    "bacteria": "pneumonia",
    "bacterial": "pneumonia",
    "bacterial_pneumonia": "pneumonia",
    "virus": "pneumonia",
    "viral": "pneumonia",
    "viral_pneumonia": "pneumonia",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".nii", ".nii.gz", ".tif", ".tiff")
# Published pixel sizes (H, W) of the box-list sources, needed to use their boxes as priors.
SOURCE_IMAGE_SIZE: dict[str, tuple[int, int]] = {"rsna": (1024, 1024), "nih": (1024, 1024)}

_SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_MANIFEST_REQUIRED = ("file", "label")
_RSNA_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
_MAX_LISTED = 5  # how many offending paths/rows an error message shows

PathLike = str | os.PathLike


def class_index_of(label: str) -> int:
    """Map a label (any case, spaces or underscores) to :data:`CLASS_INDEX`, else -1."""
    name = re.sub(r"[\s]+", "_", str(label).strip().lower())
    name = LABEL_SYNONYMS.get(name, name)
    return CLASS_INDEX.get(name, UNKNOWN_CLASS_INDEX)


def _image_suffix(path: Path) -> str | None:
    """The matched entry of :data:`IMAGE_SUFFIXES` (``.nii.gz`` counts as one), else ``None``."""
    name = path.name.lower()
    return next((s for s in sorted(IMAGE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _stem(path: Path) -> str:
    suffix = _image_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.stem


_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_"),  # person1_bacteria_1 -> person1
    re.compile(r"^((?:[A-Za-z0-9]+-)?IM-\d+)-\d+$"),  # IM-0117-0001, NORMAL2-IM-1427-0001
)


def patient_from_filename(path: PathLike) -> str:
    """Patient id encoded in a Kaggle "Chest X-Ray Images (Pneumonia)" file name, else the stem.

    ``person1_bacteria_1.jpeg`` -> ``"person1"``; ``IM-0117-0001.jpeg`` -> ``"IM-0117"``;
    ``NORMAL2-IM-1427-0001.jpeg`` -> ``"NORMAL2-IM-1427"``; ``scan.nii.gz`` -> ``"scan"``.
    """
    stem = _stem(Path(path))
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(stem)
        if match:
            return match.group(1)
    return stem


def _visible_dirs(folder: Path) -> list[Path]:
    # Hidden folders and macOS zip debris (__MACOSX) are never classes or splits.
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _images_under(folder: Path) -> list[Path]:
    # "._x.jpeg" AppleDouble files carry image suffixes but are not images.
    files = (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in files if _image_suffix(p))


def _check_unique(items: Sequence[dict[str, Any]], key: str, source: PathLike) -> None:
    counts = Counter(item[key] for item in items if key in item)
    dupes = [k for k, n in counts.items() if n > 1]
    if dupes:
        raise DatasetError(
            f"{source}: {len(dupes)} duplicate {key!r} entries, e.g. {dupes[:_MAX_LISTED]}; "
            "each entry must appear once"
        )


def _check_files_exist(items: Sequence[dict[str, Any]], keys: Iterable[str], source: PathLike) -> None:
    missing = [item[k] for item in items for k in keys if k in item and not os.path.isfile(item[k])]
    if missing:
        raise DatasetError(
            f"{source}: {len(missing)} referenced file(s) do not exist, first: {missing[:_MAX_LISTED]}"
        )


def _class_folder_items(class_dir: Path, split: str | None) -> list[dict[str, Any]]:
    label = class_dir.name.lower()
    items = []
    for path in _images_under(class_dir):
        item = {"image": str(path.absolute()), "label": label, "class_index": class_index_of(label),
                "patient": patient_from_filename(path)}
        if split is not None:
            item["split"] = split
        items.append(item)
    return items


def folder_dataset(root: PathLike, split: str | None = None) -> list[dict[str, Any]]:
    """Read a class-per-folder layout: ``root/<CLASS>/...`` or ``root/<split>/<CLASS>/...``.

    This covers the Kaggle "Chest X-Ray Images (Pneumonia)" layout
    ``root/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg`` and a plain ``root/{NORMAL,PNEUMONIA}/``.
    The class is the folder name, lower-cased (``NORMAL`` -> ``"normal"``); images are found
    recursively with the suffixes in :data:`IMAGE_SUFFIXES` (any case); the patient id comes from
    :func:`patient_from_filename`.

    Args:
        root: the dataset folder.
        split: with a split layout, read only this split folder (``"train"``, ``"val"``,
            ``"test"``; ``valid``/``validation`` folders count as ``"val"``). ``None`` reads all
            splits and records each item's folder split under ``"split"``.

    Raises:
        DatasetError: ``root`` (or the requested split) is missing, or no image is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {str(root)!r} does not exist or is not a folder")
    subdirs = _visible_dirs(root)
    split_dirs = {_SPLIT_FOLDERS[d.name.lower()]: d for d in subdirs if d.name.lower() in _SPLIT_FOLDERS}
    if split is not None and split not in split_dirs:
        raise DatasetError(
            f"split {split!r} requested but {root} has split folders {sorted(split_dirs) or 'none'} "
            f"(found sub-folders {[d.name for d in subdirs]})"
        )
    if split_dirs:
        chosen = {split: split_dirs[split]} if split is not None else split_dirs
        items = [it for name, d in sorted(chosen.items()) for c in _visible_dirs(d) for it in _class_folder_items(c, name)]
    else:
        items = [it for c in subdirs for it in _class_folder_items(c, None)]
    if not items:
        raise DatasetError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) found in class folders under {root}; expected "
            f"root/<CLASS>/ or root/<split>/<CLASS>/, found sub-folders {[d.name for d in subdirs]}"
        )
    return items


def _read_csv(path: PathLike) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a ``.csv``, ``.csv.gz`` or a ``.zip`` holding one ``.csv``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"CSV file {str(path)!r} does not exist")
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if n.lower().endswith(".csv") and not n.startswith("__")]
                if len(members) != 1:
                    raise DatasetError(f"{path}: expected one .csv inside the zip, found {members or zf.namelist()}")
                text = zf.read(members[0]).decode("utf-8-sig")
        elif path.suffix.lower() == ".gz":
            text = gzip.decompress(path.read_bytes()).decode("utf-8-sig")
        else:
            text = path.read_text(encoding="utf-8-sig")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, EOFError) as e:
        raise DatasetError(f"{path}: cannot read as a (zipped/gzipped) UTF-8 CSV: {e}") from e
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if not rows:
        raise DatasetError(f"{path}: the CSV is empty (no header)")
    return [h.strip() for h in rows[0]], rows[1:]


def _check_box(box: list[float], where: str) -> list[float]:
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box) or x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
        raise DatasetError(f"{where}: box {box} must be finite with 0 <= x0 < x1 and 0 <= y0 < y1")
    return box


def parse_boxes(text: str, end_inclusive: bool = True, where: str = "bbox") -> list[list[float]]:
    """Parse ``"x0 y0 x1 y1;x0 y0 x1 y1"`` into end-exclusive ``[[x0, y0, x1, y1], ...]``.

    Args:
        text: the cell; empty gives ``[]``.
        end_inclusive: the text's ``x1``/``y1`` are the last covered column/row (the shared
            manifests' convention), so 1 is added to reach the end-exclusive convention.
        where: names the row in error messages.

    Raises:
        DatasetError: a box has not 4 numbers, or is inverted, empty, negative or not finite.
    """
    boxes = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            values = [float(v) for v in part.replace(",", " ").split()]
        except ValueError:
            values = []
        if len(values) != 4:
            raise DatasetError(f"{where}: malformed box {part!r}; expected 'x0 y0 x1 y1' (4 numbers), ';' between boxes")
        if end_inclusive:
            values[2] += 1.0
            values[3] += 1.0
        boxes.append(_check_box(values, where))
    return boxes


def _lesion_mask_path(base: Path, row: dict[str, str]) -> Path | None:
    """``lesion_mask_file`` if given, else ``base/masks_lesion/<name of the mask or image>``."""
    if row.get("lesion_mask_file"):
        return base / row["lesion_mask_file"]
    folder = base / "masks_lesion"
    for ref in (row.get("mask_file"), row["file"]):
        if ref and (folder / Path(ref).name).is_file():
            return folder / Path(ref).name
    return None


def _manifest_item(base: Path, row: dict[str, str], where: str, bbox_end_inclusive: bool) -> dict[str, Any]:
    if not row["file"] or not row["label"]:
        raise DatasetError(f"{where}: empty 'file' or 'label' ({row.get('file')!r}, {row.get('label')!r})")
    image = (base / row["file"]).absolute()
    label = row["label"].strip().lower()
    item: dict[str, Any] = {"image": str(image), "label": label, "class_index": class_index_of(label),
                            "patient": row.get("patient") or patient_from_filename(image)}
    if row.get("mask_file"):
        item["lung_mask"] = str((base / row["mask_file"]).absolute())
    lesion = _lesion_mask_path(base, row)
    if lesion is not None:
        item["lesion_mask"] = str(lesion.absolute())
    if row.get("bbox", "").strip():
        item["boxes"] = parse_boxes(row["bbox"], bbox_end_inclusive, where)
    # Other columns (view, source, licence...) ride along unchanged for filtering and provenance.
    reserved = {"file", "label", "patient", "mask_file", "lesion_mask_file", "bbox"}
    item.update({k: v for k, v in row.items() if k not in reserved and k not in item})
    return item


def manifest_dataset(
    csv_path: PathLike, root: PathLike | None = None, bbox_end_inclusive: bool = True, check_files: bool = True
) -> list[dict[str, Any]]:
    """Read a manifest CSV with the columns of ``/work/shared/data/*/manifest.csv``.

    Columns: ``file`` and ``label`` (required); ``patient``, ``mask_file`` (lung mask),
    ``lesion_mask_file``, ``bbox`` (``"x0 y0 x1 y1;..."``) optional; any other column is copied
    into the dicts as a string. Without ``lesion_mask_file``, a ``masks_lesion/`` folder beside
    the images holding a file of the same name as the mask (or image) gives ``lesion_mask``.

    Args:
        csv_path: the manifest (``.csv``, ``.csv.gz`` or a ``.zip`` with one CSV).
        root: folder the relative paths start from; default the CSV's folder.
        bbox_end_inclusive: see :func:`parse_boxes` (True for the shared manifests, measured).
        check_files: raise if an image or mask file does not exist.

    Raises:
        DatasetError: missing CSV, missing required columns, empty cells in them, malformed
            boxes, the same image twice, or referenced files missing (the first few are listed).
    """
    header, rows = _read_csv(csv_path)
    absent = [c for c in _MANIFEST_REQUIRED if c not in header]
    if absent:
        raise DatasetError(
            f"{csv_path}: manifest lacks column(s) {absent}; expected {list(_MANIFEST_REQUIRED)} plus optional "
            f"patient, mask_file, lesion_mask_file, bbox; found {header}"
        )
    base = Path(root) if root is not None else Path(csv_path).parent
    items = []
    for n, cells in enumerate(rows, start=2):  # line 1 is the header
        if len(cells) != len(header):
            raise DatasetError(f"{csv_path}:{n}: {len(cells)} cells for {len(header)} columns")
        items.append(_manifest_item(base, dict(zip(header, cells)), f"{csv_path}:{n}", bbox_end_inclusive))
    if not items:
        raise DatasetError(f"{csv_path}: the manifest has a header but no rows")
    _check_unique(items, "image", csv_path)
    if check_files:
        _check_files_exist(items, ("image", "lung_mask", "lesion_mask"), csv_path)
    return items


def _xywh(values: Sequence[str], where: str) -> list[float]:
    try:
        x, y, w, h = (float(v) for v in values)
    except ValueError as e:
        raise DatasetError(f"{where}: box {list(values)} is not four numbers x, y, width, height") from e
    return _check_box([x, y, x + w, y + h], where)


def _attach_images(items: list[dict[str, Any]], image_dir: PathLike | None, names: list[str], source: PathLike) -> None:
    if image_dir is None:
        return
    folder = Path(image_dir)
    if not folder.is_dir():
        raise DatasetError(f"image folder {str(folder)!r} does not exist")
    for item, name in zip(items, names):
        item["image"] = str((folder / name).absolute())
    _check_files_exist(items, ("image",), source)


def rsna_boxes(csv_path: PathLike, image_dir: PathLike | None = None) -> list[dict[str, Any]]:
    """Read the RSNA Pneumonia Detection labels (``stage_2_train_labels.csv``), one dict per patient.

    ``Target`` 1 rows ("Lung Opacity") give ``label="pneumonia"`` and their boxes; a ``Target`` 0
    patient gets ``label="no_opacity"``, ``boxes=[]`` and class -1, because RSNA's 0 mixes "Normal"
    with "No Lung Opacity / Not Normal". Boxes ``x, y, width, height`` become ``[x, y, x+w, y+h]``.
    Each dict also carries ``image_size`` (1024, 1024), the size of all RSNA images.

    Args:
        csv_path: the labels CSV, or a ``.zip`` containing it (as shipped by torchxrayvision).
        image_dir: folder of ``{patientId}.dcm`` files; gives ``image`` (files must exist).

    Raises:
        DatasetError: wrong columns, malformed or duplicate boxes, mixed ``Target`` per patient.
    """
    header, rows = _read_csv(csv_path)
    if tuple(header[: len(_RSNA_COLUMNS)]) != _RSNA_COLUMNS:
        raise DatasetError(f"{csv_path}: expected RSNA columns {list(_RSNA_COLUMNS)}, found {header}")
    grouped: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, ...]] = set()
    for n, cells in enumerate(rows, start=2):
        where = f"{csv_path}:{n}"
        if len(cells) < 6 or any(c.strip() for c in cells[6:]):
            raise DatasetError(f"{where}: expected 6 cells (patientId,x,y,width,height,Target), found {cells}")
        pid, *coords, target = (c.strip() for c in cells[:6])
        if not pid or target not in ("0", "1"):
            raise DatasetError(f"{where}: expected a patientId and Target 0 or 1, found {cells}")
        if tuple(cells[:6]) in seen:
            raise DatasetError(f"{where}: duplicate row {cells[:6]}")
        seen.add(tuple(cells[:6]))
        item = grouped.setdefault(pid, {"label": "pneumonia" if target == "1" else "no_opacity",
                                        "class_index": 1 if target == "1" else UNKNOWN_CLASS_INDEX,
                                        "patient": pid, "boxes": [], "image_size": SOURCE_IMAGE_SIZE["rsna"]})
        if (item["label"] == "pneumonia") != (target == "1"):
            raise DatasetError(f"{where}: patient {pid} has rows with both Target 0 and 1")
        if target == "1":
            item["boxes"].append(_xywh(coords, where))
        elif any(coords):
            raise DatasetError(f"{where}: Target 0 row carries a box {coords}")
    items = list(grouped.values())
    _attach_images(items, image_dir, [f"{pid}.dcm" for pid in grouped], csv_path)
    return items


def _check_nih_header(header: list[str], csv_path: PathLike) -> None:
    # The real header "Image Index,Finding Label,Bbox [x,y,w,h],,," splits the box over 4+ cells.
    if header[:2] != ["Image Index", "Finding Label"] or len(header) < 6 or not header[2].startswith("Bbox"):
        raise DatasetError(
            f"{csv_path}: expected the NIH header 'Image Index,Finding Label,Bbox [x,y,w,h],...', found {header}"
        )


def nih_boxes(csv_path: PathLike, finding: str | None = None, image_dir: PathLike | None = None) -> list[dict[str, Any]]:
    """Read NIH ChestX-ray14 ``BBox_List_2017.csv`` (or ``.csv.gz``), one dict per image.

    Each dict has ``boxes`` (``[x, y, x+w, y+h]``), ``box_labels`` (the lower-cased finding of
    each box), ``label`` (the findings joined with ``|``, NIH's own convention), ``class_index``
    1 if a box is Pneumonia else -1 (other findings are not "normal"), ``patient`` (the part of the
    file name before ``_``) and ``image_size`` (1024, 1024), the size of all NIH images.

    Args:
        csv_path: the box list.
        finding: keep only boxes of this finding (any case), e.g. ``"Pneumonia"``.
        image_dir: folder of the PNG files; gives ``image`` (files must exist).

    Raises:
        DatasetError: wrong header, malformed or duplicate rows, or an unknown ``finding``.
    """
    header, rows = _read_csv(csv_path)
    _check_nih_header(header, csv_path)
    grouped: dict[str, dict[str, Any]] = {}
    found: set[str] = set()
    for n, cells in enumerate(rows, start=2):
        where = f"{csv_path}:{n}"
        if len(cells) < 6 or any(c.strip() for c in cells[6:]):
            raise DatasetError(f"{where}: expected 'image,finding,x,y,w,h', found {cells}")
        name, label = cells[0].strip(), cells[1].strip().lower()
        found.add(label)
        if finding is not None and label != finding.lower():
            continue
        item = grouped.setdefault(name, {"patient": name.split("_")[0], "boxes": [], "box_labels": [],
                                         "image_size": SOURCE_IMAGE_SIZE["nih"]})
        box = _xywh(cells[2:6], where)
        if (box, label) in zip(item["boxes"], item["box_labels"]):
            raise DatasetError(f"{where}: duplicate box {cells[:6]}")
        item["boxes"].append(box)
        item["box_labels"].append(label)
    if finding is not None and finding.lower() not in found:
        raise DatasetError(f"{csv_path}: no boxes with finding {finding!r}; findings present: {sorted(found)}")
    for item in grouped.values():
        item["label"] = "|".join(sorted(set(item["box_labels"])))
        item["class_index"] = CLASS_INDEX["pneumonia"] if "pneumonia" in item["box_labels"] else UNKNOWN_CLASS_INDEX
    items = list(grouped.values())
    _attach_images(items, image_dir, list(grouped), csv_path)
    return items


def dataset_from_path(path: PathLike) -> list[dict[str, Any]]:
    """Read whatever ``path`` is: the entry point behind the bundles' ``--dataset_dir``.

    * a folder holding ``manifest.csv`` -> :func:`manifest_dataset` of that file;
    * another folder -> :func:`folder_dataset`;
    * a ``.csv``/``.csv.gz``/``.zip`` -> by its header: RSNA labels -> :func:`rsna_boxes`, NIH box
      list -> :func:`nih_boxes`, a ``file,label`` manifest -> :func:`manifest_dataset`.

    Raises:
        DatasetError: the path does not exist or its CSV header matches no known format.
    """
    path = Path(path)
    if path.is_dir():
        manifest = path / "manifest.csv"
        return manifest_dataset(manifest) if manifest.is_file() else folder_dataset(path)
    if not path.is_file():
        raise DatasetError(f"dataset path {str(path)!r} does not exist")
    header, _ = _read_csv(path)
    if tuple(header[: len(_RSNA_COLUMNS)]) == _RSNA_COLUMNS:
        return rsna_boxes(path)
    if header[:2] == ["Image Index", "Finding Label"]:
        return nih_boxes(path)
    if all(c in header for c in _MANIFEST_REQUIRED):
        return manifest_dataset(path)
    raise DatasetError(
        f"{path}: unknown CSV columns {header}; expected a manifest (file,label,...), RSNA labels "
        f"({','.join(_RSNA_COLUMNS)}) or the NIH box list (Image Index,Finding Label,Bbox [x,y,w,h])"
    )
