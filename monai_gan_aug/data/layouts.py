"""Find the images and labels of a data set in any of the layouts it is published in.

:func:`discover_layout` reads a folder or a CSV and returns one data dict per image, with the keys
of :mod:`monai_gan_aug.data.datasets` (``image``, ``label``, ``class_index``, ``patient``, optional
``lung_mask``) plus ``source_split`` (the split the source put it in, ``""`` if none),
``source_path`` (the image's path relative to the data set's root) and ``layout``. Images a label
file names but that are not on disk are returned separately, so a partial download is reported
instead of failing. Recognised, in this order:

============== ========================================================================
layout         what is looked for
============== ========================================================================
``manifest``   a ``file,label[,patient,mask_file,split...]`` CSV (``manifest.csv`` in a
               folder): the shared-data and ``prepare`` convention
``rsna``       RSNA Pneumonia Detection ``stage_2_train_labels.csv``; images
               ``<patientId>.dcm`` anywhere below the folder; ``stage_2_detailed_class_info.csv``
               beside it, if present, tells "Normal" from "No Lung Opacity / Not Normal"
``nih``        NIH ChestX-ray14 ``Data_Entry_2017.csv`` (or ``_v2020``); images by name
               anywhere below (``images_001/images/...``); ``train_val_list.txt`` /
               ``test_list.txt`` give the source split
``nih_boxes``  NIH ``BBox_List_2017.csv`` alone (the boxed subset)
``siim_covid`` SIIM-FISABIO-RSNA COVID-19: ``train_study_level.csv`` (and
               ``train_image_level.csv``); images ``<id>.dcm`` below ``train/<study>/``
``siim_ptx``   SIIM-ACR Pneumothorax ``train-rle.csv`` (``ImageId,EncodedPixels``)
``folders``    class-per-folder ``root/<CLASS>/`` or ``root/{train,val,test}/<CLASS>/``
               (the Kaggle "Chest X-Ray Images (Pneumonia)" layout)
============== ========================================================================

Labels are the source's, lower-cased; ``class_index`` follows
:func:`~monai_gan_aug.data.datasets.class_index_of` (RSNA "Normal" and NIH "No Finding" -> normal,
0; RSNA/SIIM opacity, NIH "Pneumonia", SIIM typical/indeterminate/atypical appearance ->
pneumonia, 1; anything else -1).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .datasets import (
    IMAGE_SUFFIXES,
    _image_suffix,
    _read_csv,
    _stem,
    class_index_of,
    folder_dataset,
    manifest_dataset,
    nih_boxes,
    rsna_boxes,
)

__all__ = ["LAYOUTS", "Layout", "discover_layout", "detect_csv_layout"]

LAYOUTS = ("manifest", "rsna", "nih", "nih_boxes", "siim_covid", "siim_ptx", "folders")

_RSNA_LABELS = "stage_2_train_labels.csv"
_RSNA_CLASSES = "stage_2_detailed_class_info.csv"
_NIH_ENTRIES = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
_NIH_BOXES = "BBox_List_2017.csv"
_SIIM_STUDY, _SIIM_IMAGE = "train_study_level.csv", "train_image_level.csv"
_SIIM_PTX = ("train-rle.csv", "stage_2_train.csv")
_SIIM_CLASSES = {"Negative for Pneumonia": "negative", "Typical Appearance": "typical",
                 "Indeterminate Appearance": "indeterminate", "Atypical Appearance": "atypical"}
_LABEL_CLASS = {"negative": 0, "no_finding": 0, "normal": 0, "typical": 1, "indeterminate": 1, "atypical": 1,
                "opacity": 1, "pneumonia": 1, "lung_opacity": 1}


@dataclass
class Layout:
    """What :func:`discover_layout` found.

    Attributes:
        name: one of :data:`LAYOUTS`.
        root: the folder relative paths start from (never written to).
        items: one dict per image found on disk.
        missing: image names the label file lists but that were not found.
        label_file: the CSV read, if any.
    """

    name: str
    root: Path
    items: list[dict[str, Any]]
    missing: list[str] = field(default_factory=list)
    label_file: Path | None = None


def _class(label: str) -> int:
    index = class_index_of(label)
    return index if index >= 0 else _LABEL_CLASS.get(label.replace(" ", "_"), -1)


def _index_images(root: Path, suffixes: Iterable[str] = IMAGE_SUFFIXES) -> dict[str, Path]:
    """File name and stem -> path of every image below ``root`` (hidden files and folders skipped)."""
    wanted = tuple(suffixes)
    index: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            suffix = _image_suffix(path)
            if suffix is None or suffix not in wanted:
                continue
            index.setdefault(name, path)
            index.setdefault(_stem(path), path)
    return index


def _finish(name: str, root: Path, rows: list[dict[str, Any]], key: str, label_file: Path | None) -> Layout:
    """Attach images found below ``root`` to ``rows`` (``rows[i][key]`` names the image)."""
    index = _index_images(root)
    items, missing = [], []
    for row in rows:
        path = index.get(row[key])
        if path is None:
            missing.append(row[key])
            continue
        item = {k: v for k, v in row.items() if k != key}
        item.update(image=str(path.absolute()), source_path=path.relative_to(root).as_posix(), layout=name)
        item.setdefault("source_split", "")
        items.append(item)
    return Layout(name, root, items, missing, label_file)


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root.absolute()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _manifest(csv_path: Path) -> Layout:
    root = csv_path.parent
    items = manifest_dataset(csv_path, check_files=False)
    found, missing = [], []
    for item in items:
        if not os.path.isfile(item["image"]):
            missing.append(item["image"])
            continue
        if item.get("lung_mask") and not os.path.isfile(item["lung_mask"]):
            item.pop("lung_mask")
        item["source_split"] = str(item.pop("split", "") or "").strip().lower()
        item.update(source_path=_relative(item["image"], root), layout="manifest")
        found.append(item)
    return Layout("manifest", root, found, missing, csv_path)


def _rsna(csv_path: Path, root: Path) -> Layout:
    classes: dict[str, str] = {}
    detail = csv_path.parent / _RSNA_CLASSES
    if detail.is_file():
        header, rows = _read_csv(detail)
        if header[:2] != ["patientId", "class"]:
            raise DatasetError(f"{detail}: expected columns patientId,class, found {header}")
        classes = {r[0].strip(): r[1].strip() for r in rows if len(r) >= 2}
    rows = []
    for item in rsna_boxes(csv_path):
        pid = item["patient"]
        if item["label"] != "pneumonia" and classes.get(pid) == "Normal":
            item.update(label="normal", class_index=0)
        rows.append({**item, "name": f"{pid}.dcm"})
    return _finish("rsna", root, rows, "name", csv_path)


def _nih_split(root: Path) -> dict[str, str]:
    split = {}
    for fname, name in (("train_val_list.txt", "train"), ("test_list.txt", "test")):
        for candidate in (root / fname, *root.glob(f"*/{fname}")):
            if candidate.is_file():
                split.update({line.strip(): name for line in candidate.read_text().splitlines() if line.strip()})
                break
    return split


def _nih(csv_path: Path, root: Path) -> Layout:
    header, rows = _read_csv(csv_path)
    try:
        col_name, col_labels, col_patient = (header.index(c) for c in ("Image Index", "Finding Labels", "Patient ID"))
    except ValueError:
        raise DatasetError(
            f"{csv_path}: expected NIH columns 'Image Index', 'Finding Labels', 'Patient ID'; found {header}"
        ) from None
    split = _nih_split(csv_path.parent)
    out = []
    for n, cells in enumerate(rows, start=2):
        if len(cells) <= max(col_name, col_labels, col_patient):
            raise DatasetError(f"{csv_path}:{n}: too few cells ({len(cells)})")
        name, findings = cells[col_name].strip(), cells[col_labels].strip()
        labels = sorted(f.strip().lower() for f in findings.split("|") if f.strip())
        if labels == ["no finding"]:
            label, index = "normal", 0
        else:
            label, index = "|".join(labels), 1 if "pneumonia" in labels else -1
        out.append({"name": name, "label": label, "class_index": index,
                    "patient": cells[col_patient].strip() or name.split("_")[0], "source_split": split.get(name, "")})
    return _finish("nih", root, out, "name", csv_path)


def _nih_boxes(csv_path: Path, root: Path) -> Layout:
    rows = [{**item, "name": name} for name, item in zip(_nih_names(csv_path), nih_boxes(csv_path))]
    return _finish("nih_boxes", root, rows, "name", csv_path)


def _nih_names(csv_path: Path) -> list[str]:
    _, rows = _read_csv(csv_path)
    return list(dict.fromkeys(r[0].strip() for r in rows))  # nih_boxes keeps first-seen order


def _siim_covid(study_csv: Path, root: Path) -> Layout:
    header, rows = _read_csv(study_csv)
    if header[:1] != ["id"] or any(c not in header for c in _SIIM_CLASSES):
        raise DatasetError(f"{study_csv}: expected SIIM study columns id,{','.join(_SIIM_CLASSES)}; found {header}")
    study_label: dict[str, str] = {}
    for cells in rows:
        study = cells[0].strip().removesuffix("_study")
        hot = [_SIIM_CLASSES[c] for c, v in zip(header, cells) if c in _SIIM_CLASSES and v.strip() == "1"]
        study_label[study] = hot[0] if len(hot) == 1 else "unknown"
    image_csv = study_csv.parent / _SIIM_IMAGE
    out = []
    if image_csv.is_file():
        iheader, irows = _read_csv(image_csv)
        if iheader[:1] != ["id"] or "StudyInstanceUID" not in iheader:
            raise DatasetError(f"{image_csv}: expected columns id,...,StudyInstanceUID; found {iheader}")
        col_study = iheader.index("StudyInstanceUID")
        for cells in irows:
            study = cells[col_study].strip()
            label = study_label.get(study, "unknown")
            out.append({"name": cells[0].strip().removesuffix("_image"), "label": label,
                        "class_index": _class(label), "patient": study})
        return _finish("siim_covid", root, out, "name", study_csv)
    # study level only: every DICOM below train/<study>/ takes its study's label
    for path in sorted(root.rglob("*.dcm")):
        study = next((p for p in path.relative_to(root).parts if p in study_label), None)
        if study is not None:
            label = study_label[study]
            out.append({"name": path.stem, "label": label, "class_index": _class(label), "patient": study})
    return _finish("siim_covid", root, out, "name", study_csv)


def _siim_ptx(csv_path: Path, root: Path) -> Layout:
    header, rows = _read_csv(csv_path)
    if [h.strip() for h in header[:2]] != ["ImageId", "EncodedPixels"]:
        raise DatasetError(f"{csv_path}: expected SIIM-ACR columns ImageId,EncodedPixels; found {header}")
    label: dict[str, str] = {}
    for cells in rows:
        image, rle = cells[0].strip(), (cells[1].strip() if len(cells) > 1 else "-1")
        if rle != "-1" or image not in label:
            label[image] = "pneumothorax" if rle != "-1" else "no_pneumothorax"
    out = [{"name": k, "label": v, "class_index": -1, "patient": k} for k, v in label.items()]
    return _finish("siim_ptx", root, out, "name", csv_path)


def detect_csv_layout(csv_path: str | os.PathLike) -> str:
    """The layout a CSV belongs to, from its name and header (:data:`LAYOUTS`).

    Raises:
        DatasetError: unreadable or unknown CSV.
    """
    path = Path(csv_path)
    header, _ = _read_csv(path)
    stripped = [h.strip() for h in header]
    if stripped[:6] == ["patientId", "x", "y", "width", "height", "Target"]:
        return "rsna"
    if "Image Index" in stripped and "Finding Labels" in stripped:
        return "nih"
    if stripped[:2] == ["Image Index", "Finding Label"]:
        return "nih_boxes"
    if stripped[:1] == ["id"] and all(c in stripped for c in _SIIM_CLASSES):
        return "siim_covid"
    if stripped[:2] == ["ImageId", "EncodedPixels"]:
        return "siim_ptx"
    if "file" in stripped and "label" in stripped:
        return "manifest"
    raise DatasetError(
        f"{path}: unknown CSV columns {header}; expected a manifest (file,label,...), RSNA "
        "stage_2_train_labels.csv, NIH Data_Entry_2017.csv or BBox_List_2017.csv, SIIM-FISABIO-RSNA "
        "train_study_level.csv or SIIM-ACR train-rle.csv"
    )


_READERS = {"rsna": _rsna, "nih": _nih, "nih_boxes": _nih_boxes, "siim_covid": _siim_covid, "siim_ptx": _siim_ptx}
# label files recognised inside a folder, in the order they are looked for
_FOLDER_FILES = (("manifest.csv",), (_RSNA_LABELS,), _NIH_ENTRIES, (_SIIM_STUDY,), _SIIM_PTX, (_NIH_BOXES,))


def _read_csv_layout(csv_path: Path, root: Path) -> Layout:
    layout = detect_csv_layout(csv_path)
    if layout == "manifest":
        return _manifest(csv_path)
    return _READERS[layout](csv_path, root)


def discover_layout(path: str | os.PathLike) -> Layout:
    """Read a data set folder or label CSV (see the module docstring for the layouts).

    Args:
        path: a folder (its label file is found by name, else class folders are read) or a CSV
            (its images are looked for below the CSV's folder).

    Raises:
        DatasetError: the path does not exist, a label file is malformed, or nothing is found.
    """
    path = Path(path)
    if path.is_file():
        layout = _read_csv_layout(path, path.parent)
    elif path.is_dir():
        label_file = next((path / n for names in _FOLDER_FILES for n in names if (path / n).is_file()), None)
        if label_file is not None:
            layout = _read_csv_layout(label_file, path)
        else:
            items = folder_dataset(path)
            for item in items:
                item["source_split"] = item.pop("split", "")
                item.update(source_path=_relative(item["image"], path), layout="folders")
            layout = Layout("folders", path, items)
    else:
        raise DatasetError(f"input {str(path)!r} does not exist")
    if not layout.items:
        raise DatasetError(
            f"{path}: no images found for the {layout.name} layout"
            + (f" ({len(layout.missing)} listed in {layout.label_file} but not on disk, e.g. {layout.missing[:3]})"
               if layout.missing else "")
        )
    return layout
