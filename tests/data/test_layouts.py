"""``discover_layout``: class folders, manifests, RSNA, NIH and SIIM label files (tiny fakes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_gan_aug.data.layouts import detect_csv_layout, discover_layout
from monai_gan_aug.errors import DatasetError


def _png(path: Path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((20, 24), value, np.uint8)
    arr[5:9, 3:12] = 255 - value
    Image.fromarray(arr).save(path)


def _dcm(path: Path) -> None:
    import torch

    from monai_gan_aug.transforms.io import SaveXRay

    path.parent.mkdir(parents=True, exist_ok=True)
    SaveXRay(output_format="dicom", synthetic=False)(torch.rand(1, 20, 24), path)


def test_kaggle_folders_record_the_source_split(tmp_path):
    for split in ("train", "val", "test"):
        _png(tmp_path / split / "NORMAL" / f"IM-00{len(split)}-0001.png")
        _png(tmp_path / split / "PNEUMONIA" / f"person{len(split)}_virus_1.png")
    layout = discover_layout(tmp_path)
    assert layout.name == "folders" and len(layout.items) == 6
    first = next(it for it in layout.items if it["source_path"] == "val/PNEUMONIA/person3_virus_1.png")
    assert (first["label"], first["class_index"], first["patient"], first["source_split"]) == ("pneumonia", 1, "person3", "val")


def test_manifest_csv_with_split_and_a_missing_file(tmp_path):
    _png(tmp_path / "images" / "a.png")
    _png(tmp_path / "masks" / "a.png")
    (tmp_path / "manifest.csv").write_text(
        "file,label,patient,mask_file,split\nimages/a.png,normal,P1,masks/a.png,train\nimages/b.png,covid,P2,,val\n")
    layout = discover_layout(tmp_path)  # the folder's manifest.csv is found by name
    assert layout.name == "manifest" and [it["source_path"] for it in layout.items] == ["images/a.png"]
    assert layout.items[0]["source_split"] == "train" and layout.items[0]["lung_mask"].endswith("masks/a.png")
    assert layout.missing == [str((tmp_path / "images/b.png").absolute())]


def test_rsna_labels_with_class_details(tmp_path):
    for pid in ("p1", "p2", "p3"):
        _dcm(tmp_path / "stage_2_train_images" / f"{pid}.dcm")
    (tmp_path / "stage_2_train_labels.csv").write_text(
        "patientId,x,y,width,height,Target\np1,1,2,5,6,1\np1,10,2,5,6,1\np2,,,,,0\np3,,,,,0\np4,,,,,0\n")
    (tmp_path / "stage_2_detailed_class_info.csv").write_text(
        "patientId,class\np1,Lung Opacity\np2,Normal\np3,No Lung Opacity / Not Normal\np4,Normal\n")
    layout = discover_layout(tmp_path / "stage_2_train_labels.csv")
    labels = {it["patient"]: (it["label"], it["class_index"]) for it in layout.items}
    assert labels == {"p1": ("pneumonia", 1), "p2": ("normal", 0), "p3": ("no_opacity", -1)}
    assert layout.missing == ["p4.dcm"] and layout.items[0]["source_path"] == "stage_2_train_images/p1.dcm"


def test_nih_data_entry_with_official_split(tmp_path):
    _png(tmp_path / "images_001" / "images" / "00000001_000.png")
    _png(tmp_path / "images_001" / "images" / "00000001_001.png")
    _png(tmp_path / "images_002" / "images" / "00000002_000.png")
    (tmp_path / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
        "00000001_000.png,No Finding,0,1,58,M,PA,2682,2749,0.143,0.143,\n"
        "00000001_001.png,Pneumonia|Effusion,1,1,58,M,PA,2894,2729,0.143,0.143,\n"
        "00000002_000.png,Hernia,0,2,81,M,PA,2500,2048,0.171,0.171,\n")
    (tmp_path / "test_list.txt").write_text("00000002_000.png\n")
    (tmp_path / "train_val_list.txt").write_text("00000001_000.png\n00000001_001.png\n")
    layout = discover_layout(tmp_path)
    got = {Path(it["image"]).name: (it["label"], it["class_index"], it["patient"], it["source_split"]) for it in layout.items}
    assert got == {"00000001_000.png": ("normal", 0, "1", "train"),
                   "00000001_001.png": ("effusion|pneumonia", 1, "1", "train"),
                   "00000002_000.png": ("hernia", -1, "2", "test")}


def test_siim_covid_and_pneumothorax(tmp_path):
    covid = tmp_path / "covid"
    _dcm(covid / "train" / "s1" / "se1" / "i1.dcm")
    _dcm(covid / "train" / "s2" / "se2" / "i2.dcm")
    (covid / "train_study_level.csv").write_text(
        "id,Negative for Pneumonia,Typical Appearance,Indeterminate Appearance,Atypical Appearance\n"
        "s1_study,1,0,0,0\ns2_study,0,1,0,0\n")
    (covid / "train_image_level.csv").write_text(
        "id,boxes,label,StudyInstanceUID\ni1_image,,none 1 0 0 1 1,s1\ni2_image,\"[{'x': 1}]\",opacity 1 1 2 3 4,s2\n")
    layout = discover_layout(covid)
    assert layout.name == "siim_covid"
    assert {it["patient"]: (it["label"], it["class_index"]) for it in layout.items} == {
        "s1": ("negative", 0), "s2": ("typical", 1)}

    ptx = tmp_path / "ptx"
    _dcm(ptx / "dicom-images-train" / "a" / "b" / "1.2.3.dcm")
    _dcm(ptx / "dicom-images-train" / "c" / "d" / "1.2.4.dcm")
    (ptx / "train-rle.csv").write_text("ImageId, EncodedPixels\n1.2.3, 5 6 7 8\n1.2.3, 9 1\n1.2.4, -1\n")
    layout = discover_layout(ptx / "train-rle.csv")
    assert {it["patient"]: it["label"] for it in layout.items} == {"1.2.3": "pneumothorax", "1.2.4": "no_pneumothorax"}

    from monai_gan_aug.data.prepare import PrepareOptions, prepare_dataset

    result = prepare_dataset(ptx, tmp_path / "ptx_out", PrepareOptions(min_size=8), progress=False)
    assert sorted(r["file"] for r in result.rows) == ["images/no_pneumothorax/1.2.4.png", "images/pneumothorax/1.2.3.png"]


def test_unknown_csv_and_empty_folder_are_dataset_errors(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="unknown CSV columns"):
        detect_csv_layout(tmp_path / "x.csv")
    (tmp_path / "empty" / "NORMAL").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        discover_layout(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        discover_layout(tmp_path / "nowhere")
