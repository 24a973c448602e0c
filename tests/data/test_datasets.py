"""Tests for monai_gan_aug.data.datasets: folder layouts, manifests, RSNA and NIH box lists."""

from __future__ import annotations

import gzip
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from monai_gan_aug.data.datasets import (
    CLASS_INDEX,
    UNKNOWN_CLASS_INDEX,
    class_index_of,
    dataset_from_path,
    folder_dataset,
    manifest_dataset,
    nih_boxes,
    parse_boxes,
    patient_from_filename,
    rsna_boxes,
)
from monai_gan_aug.data.splits import patient_split
from monai_gan_aug.errors import DatasetError
from tests.conftest import require_shared_data

MANIFEST_HEADER = "file,label,patient,mask_file,bbox,view,source_repo,source_path,source_commit,license"
RSNA_HEADER = "patientId,x,y,width,height,Target"
NIH_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"  # the real header, box split over cells


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG")  # the adapters list files; they never decode them
    return path


def _kaggle_tree(root: Path) -> None:
    for split, names in {
        "train": ["NORMAL/IM-0117-0001.jpeg", "NORMAL/NORMAL2-IM-1427-0001.jpeg",
                  "PNEUMONIA/person1_bacteria_1.jpeg", "PNEUMONIA/person1_virus_7.jpeg"],
        "val": ["NORMAL/NORMAL2-IM-1430-0001.jpeg", "PNEUMONIA/person1946_bacteria_4874.jpeg"],
        "test": ["NORMAL/IM-0001-0001.jpeg", "PNEUMONIA/person100_bacteria_475.jpeg"],
    }.items():
        for name in names:
            _touch(root / split / name)
    # debris found in the real zip: none of it is an image
    _touch(root / "train" / "NORMAL" / ".DS_Store")
    _touch(root / "train" / "NORMAL" / "._IM-0117-0001.jpeg")
    _touch(root / "__MACOSX" / "train" / "NORMAL" / "IM-0117-0001.jpeg")
    _touch(root / "train" / "PNEUMONIA" / "notes.txt")


@pytest.mark.parametrize(
    "label, expected",
    [("normal", 0), ("NORMAL", 0), ("Pneumonia", 1), ("covid", 1), ("COVID-19", 1), ("Viral Pneumonia", 1),
     ("bacteria", 1), ("unknown", UNKNOWN_CLASS_INDEX), ("effusion", UNKNOWN_CLASS_INDEX)],
)
def test_class_index_of(label: str, expected: int) -> None:
    assert class_index_of(label) == expected
    assert CLASS_INDEX == {"normal": 0, "pneumonia": 1}


@pytest.mark.parametrize(
    "name, patient",
    [("person1_bacteria_1.jpeg", "person1"), ("person1946_virus_3.jpeg", "person1946"),
     ("IM-0117-0001.jpeg", "IM-0117"), ("NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-1427"),
     ("scan_7.nii.gz", "scan_7"), ("/a/b/ABC-1.dcm", "ABC-1")],
)
def test_patient_from_filename(name: str, patient: str) -> None:
    assert patient_from_filename(name) == patient


def test_folder_dataset_kaggle_layout(tmp_path: Path) -> None:
    _kaggle_tree(tmp_path)
    items = folder_dataset(tmp_path)
    assert len(items) == 8
    assert Counter(i["split"] for i in items) == {"train": 4, "val": 2, "test": 2}
    assert Counter((i["label"], i["class_index"]) for i in items) == {("normal", 0): 4, ("pneumonia", 1): 4}
    assert all(Path(i["image"]).is_absolute() and Path(i["image"]).is_file() for i in items)
    train = {Path(i["image"]).name: i["patient"] for i in items if i["split"] == "train"}
    assert train == {"IM-0117-0001.jpeg": "IM-0117", "NORMAL2-IM-1427-0001.jpeg": "NORMAL2-IM-1427",
                     "person1_bacteria_1.jpeg": "person1", "person1_virus_7.jpeg": "person1"}
    test = folder_dataset(tmp_path, split="test")
    assert sorted(Path(i["image"]).name for i in test) == ["IM-0001-0001.jpeg", "person100_bacteria_475.jpeg"]
    assert {i["split"] for i in test} == {"test"}


def test_folder_dataset_plain_layout_any_case_and_suffix(tmp_path: Path) -> None:
    for name in ["Normal/a.png", "Normal/b.DCM", "normal_nested/x.png", "pneumonia/c.nii.gz", "pneumonia/sub/d.TIF",
                 "pneumonia/e.tiff", "pneumonia/f.jpg", "pneumonia/g.nii", "pneumonia/skip.txt"]:
        _touch(tmp_path / name)
    items = folder_dataset(tmp_path)
    got = {(Path(i["image"]).name, i["label"], i["class_index"]) for i in items}
    assert got == {("a.png", "normal", 0), ("b.DCM", "normal", 0), ("x.png", "normal_nested", -1),
                   ("c.nii.gz", "pneumonia", 1), ("d.TIF", "pneumonia", 1), ("e.tiff", "pneumonia", 1),
                   ("f.jpg", "pneumonia", 1), ("g.nii", "pneumonia", 1)}
    assert all("split" not in i for i in items)
    assert {i["patient"] for i in items if i["image"].endswith("c.nii.gz")} == {"c"}


def test_folder_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        folder_dataset(tmp_path / "nope")
    (tmp_path / "NORMAL").mkdir()
    _touch(tmp_path / "NORMAL" / "readme.txt")
    with pytest.raises(DatasetError, match="no images"):
        folder_dataset(tmp_path)
    with pytest.raises(DatasetError, match="split 'val' requested"):
        folder_dataset(tmp_path, split="val")


def _manifest_tree(root: Path, rows: list[str], header: str = MANIFEST_HEADER, files: bool = True) -> Path:
    csv_path = root / "manifest.csv"
    root.mkdir(parents=True, exist_ok=True)
    csv_path.write_text("\n".join([header, *rows]) + "\n")
    if files:
        for row in rows:
            cells = row.split(",")
            for cell in (cells[0], cells[3] if len(cells) > 3 else ""):
                if cell:
                    _touch(root / cell)
    return csv_path


def test_manifest_dataset_shared_layout(tmp_path: Path) -> None:
    rows = ["images/a.png,covid,pA,masks/a.png,80 73 204 322;316 70 439 291,PA,repo,src/a.jpeg,abc,CC",
            "images/b.png,normal,,masks/b.png,,AP,repo,src/b.jpeg,abc,CC",
            "images/c.png,unknown,pC,,,PA,repo,src/c.jpeg,abc,CC"]
    csv_path = _manifest_tree(tmp_path, rows)
    _touch(tmp_path / "masks_lesion" / "a.png")  # only a has a lesion mask
    a, b, c = manifest_dataset(csv_path)
    assert a["image"] == str((tmp_path / "images" / "a.png").absolute())
    assert (a["label"], a["class_index"], a["patient"]) == ("covid", 1, "pA")
    assert a["lung_mask"] == str((tmp_path / "masks" / "a.png").absolute())
    assert a["lesion_mask"] == str((tmp_path / "masks_lesion" / "a.png").absolute())
    # the shared manifests' ends are inclusive: converted to end-exclusive
    assert a["boxes"] == [[80.0, 73.0, 205.0, 323.0], [316.0, 70.0, 440.0, 292.0]]
    assert (a["view"], a["source_path"]) == ("PA", "src/a.jpeg")
    assert (b["class_index"], b["patient"]) == (0, "b")  # empty patient falls back to the stem
    assert "boxes" not in b and "lesion_mask" not in b
    assert c["class_index"] == UNKNOWN_CLASS_INDEX and "lung_mask" not in c
    assert manifest_dataset(csv_path, bbox_end_inclusive=False)[0]["boxes"][0] == [80.0, 73.0, 204.0, 322.0]


def test_manifest_dataset_lesion_column_and_root(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _touch(data / "img" / "x.png")
    _touch(data / "les" / "x_lesion.png")
    csv_path = tmp_path / "elsewhere" / "list.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("file,label,lesion_mask_file\nimg/x.png,Pneumonia,les/x_lesion.png\n")
    (item,) = manifest_dataset(csv_path, root=data)
    assert item["lesion_mask"] == str((data / "les" / "x_lesion.png").absolute())
    assert (item["label"], item["class_index"], item["patient"]) == ("pneumonia", 1, "x")
    with pytest.raises(DatasetError, match="do not exist"):
        manifest_dataset(csv_path)  # relative to the CSV's folder now: nothing there


@pytest.mark.parametrize("bbox", ["1 2 3", "a b c d", "5 5 2 8", "1 2 3 4 5", "0 0 0 nan"])
def test_manifest_malformed_bbox(tmp_path: Path, bbox: str) -> None:
    csv_path = _manifest_tree(tmp_path, [f"images/a.png,normal,p,,{bbox},,,,,"])
    with pytest.raises(DatasetError, match=r"manifest.csv:2: .*box"):
        manifest_dataset(csv_path)


def test_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        manifest_dataset(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,class\na.png,normal\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) \['file', 'label'\]"):
        manifest_dataset(bad)
    dup = _manifest_tree(tmp_path / "dup", ["images/a.png,normal,p,,,,,,,", "images/a.png,normal,p,,,,,,,"])
    with pytest.raises(DatasetError, match="duplicate 'image'"):
        manifest_dataset(dup)
    rows = [f"images/{i}.png,normal,p{i},masks/{i}.png,,,,,," for i in range(8)]
    missing = _manifest_tree(tmp_path / "miss", rows, files=False)
    with pytest.raises(DatasetError, match="16 referenced file") as err:
        manifest_dataset(missing)
    assert "images/0.png" in str(err.value) and "masks/7.png" not in str(err.value)  # first few only
    assert len(manifest_dataset(missing, check_files=False)) == 8


def test_parse_boxes() -> None:
    assert parse_boxes("") == []
    assert parse_boxes("0 0 9 4", end_inclusive=True) == [[0.0, 0.0, 10.0, 5.0]]
    assert parse_boxes("1 2 3 4;") == [[1.0, 2.0, 4.0, 5.0]]  # a trailing ';' is tolerated
    assert parse_boxes(" 1.5 2 3 4 ; 5,6,7,8 ", end_inclusive=False) == [[1.5, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    with pytest.raises(DatasetError, match="must be finite"):
        parse_boxes("-1 0 5 5")


RSNA_ROWS = ["0004cfab-14fd-4e49-80ba-63a80b6bddd6,,,,,0",
             "00436515-870c-4b36-a041-de91049b9ab4,264.0,152.0,213.0,379.0,1",
             "00436515-870c-4b36-a041-de91049b9ab4,562.0,152.0,256.0,453.0,1"]


def test_rsna_boxes_csv_and_zip(tmp_path: Path) -> None:
    text = "\n".join([RSNA_HEADER, *RSNA_ROWS]) + "\n"
    csv_path = tmp_path / "stage_2_train_labels.csv"
    csv_path.write_text(text)
    zip_path = tmp_path / "labels.csv.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("stage_2_train_labels.csv", text)
    for path in (csv_path, zip_path):
        neg, pos = rsna_boxes(path)
        assert (neg["label"], neg["class_index"], neg["boxes"]) == ("no_opacity", -1, [])
        assert (pos["label"], pos["class_index"]) == ("pneumonia", 1)
        assert pos["patient"] == "00436515-870c-4b36-a041-de91049b9ab4"
        assert pos["boxes"] == [[264.0, 152.0, 477.0, 531.0], [562.0, 152.0, 818.0, 605.0]]
        assert pos["image_size"] == (1024, 1024) and "image" not in pos
    assert [i["patient"] for i in dataset_from_path(zip_path)] == [neg["patient"], pos["patient"]]


def test_rsna_boxes_images_and_errors(tmp_path: Path) -> None:
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join([RSNA_HEADER, *RSNA_ROWS]) + "\n")
    images = tmp_path / "dcm"
    _touch(images / "0004cfab-14fd-4e49-80ba-63a80b6bddd6.dcm")
    with pytest.raises(DatasetError, match=r"1 referenced file.*00436515"):
        rsna_boxes(csv_path, image_dir=images)
    _touch(images / "00436515-870c-4b36-a041-de91049b9ab4.dcm")
    assert [Path(i["image"]).parent for i in rsna_boxes(csv_path, image_dir=images)] == [images.absolute()] * 2
    for rows, message in [
        ([RSNA_ROWS[1], RSNA_ROWS[1]], "duplicate row"),
        ([RSNA_ROWS[1], "00436515-870c-4b36-a041-de91049b9ab4,,,,,0"], "both Target 0 and 1"),
        (["p1,1,2,3,,1"], "not four numbers"),
        (["p1,1,2,-3,4,1"], "must be finite"),
        (["p1,1,2,3,4,2"], "Target 0 or 1"),
        (["p1,1,2,3,4,0"], "Target 0 row carries a box"),
    ]:
        csv_path.write_text("\n".join([RSNA_HEADER, *rows]) + "\n")
        with pytest.raises(DatasetError, match=message):
            rsna_boxes(csv_path)
    csv_path.write_text("patient,x,y,w,h,label\np,1,2,3,4,1\n")
    with pytest.raises(DatasetError, match="expected RSNA columns"):
        rsna_boxes(csv_path)


NIH_ROWS = ["00013118_008.png,Atelectasis,225.08,547.02,86.78,79.19",
            "00013118_008.png,Pneumonia,100,200,50,60",
            "00011136_000.png,Pneumonia,574.0,574.9,229.84,166.12"]


def test_nih_boxes(tmp_path: Path) -> None:
    gz = tmp_path / "BBox_List_2017.csv.gz"
    gz.write_bytes(gzip.compress(("\n".join([NIH_HEADER, *NIH_ROWS]) + "\n").encode()))
    a, b = nih_boxes(gz)
    assert (a["patient"], a["label"], a["class_index"]) == ("00013118", "atelectasis|pneumonia", 1)
    assert a["box_labels"] == ["atelectasis", "pneumonia"]
    assert a["boxes"][1] == [100.0, 200.0, 150.0, 260.0]
    assert b["boxes"][0] == pytest.approx([574.0, 574.9, 803.84, 741.02])
    only = nih_boxes(gz, finding="atelectasis")
    assert len(only) == 1 and (only[0]["label"], only[0]["class_index"]) == ("atelectasis", -1)
    assert len(nih_boxes(gz, finding="PNEUMONIA")) == 2
    with pytest.raises(DatasetError, match="no boxes with finding 'Hernia'"):
        nih_boxes(gz, finding="Hernia")
    assert len(dataset_from_path(gz)) == 2
    images = tmp_path / "png"
    _touch(images / "00013118_008.png")
    _touch(images / "00011136_000.png")
    assert nih_boxes(gz, image_dir=images)[0]["image"] == str((images / "00013118_008.png").absolute())


def test_nih_boxes_errors(tmp_path: Path) -> None:
    path = tmp_path / "bbox.csv"
    for rows, message in [([NIH_ROWS[0], NIH_ROWS[0]], "duplicate box"), (["x.png,Mass,1,2,3"], "expected 'image")]:
        path.write_text("\n".join([NIH_HEADER, *rows]) + "\n")
        with pytest.raises(DatasetError, match=message):
            nih_boxes(path)
    path.write_text("Image Index,Finding Label,x,y\n")
    with pytest.raises(DatasetError, match="expected the NIH header"):
        nih_boxes(path)


def test_dataset_from_path_dispatch(tmp_path: Path) -> None:
    _kaggle_tree(tmp_path / "kaggle")
    assert len(dataset_from_path(tmp_path / "kaggle")) == 8
    shared = tmp_path / "shared"
    shared.mkdir()
    _manifest_tree(shared, ["images/a.png,normal,p,masks/a.png,,,,,,"])
    # a folder holding manifest.csv is read through it, not as class folders "images"/"masks"
    assert [i["label"] for i in dataset_from_path(shared)] == ["normal"]
    assert [i["label"] for i in dataset_from_path(shared / "manifest.csv")] == ["normal"]
    other = tmp_path / "other.csv"
    other.write_text("path,class\na.png,normal\n")
    with pytest.raises(DatasetError, match="unknown CSV columns"):
        dataset_from_path(other)
    with pytest.raises(DatasetError, match="does not exist"):
        dataset_from_path(tmp_path / "missing")


@pytest.mark.shared_data
def test_shared_kermany_manifest() -> None:
    root = require_shared_data()
    items = manifest_dataset(root / "kermany" / "manifest.csv")
    assert len(items) == 1215
    assert Counter(i["label"] for i in items) == {"normal": 328, "pneumonia": 887}
    assert Counter(i["class_index"] for i in items) == {0: 328, 1: 887}
    splits = patient_split(items)
    patients = {name: {i["patient"] for i in part} for name, part in splits.items()}
    assert sum(len(p) for p in splits.values()) == 1215
    assert not (patients["train"] & patients["val"] or patients["train"] & patients["test"]
                or patients["val"] & patients["test"])
    assert all(len(p) > 0 for p in splits.values())


@pytest.mark.shared_data
def test_shared_covid_lesions_manifest() -> None:
    items = dataset_from_path(require_shared_data() / "covid_lesions")
    assert len(items) == 100
    assert sum("lesion_mask" in i for i in items) == 100 and sum("lung_mask" in i for i in items) == 100
    assert sum(len(i.get("boxes", [])) for i in items) == 176
    assert sum("boxes" in i for i in items) == 94
