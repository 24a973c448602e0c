"""``monai-gan-aug prepare``: the planted Kaggle folder end to end, optional steps, and user errors."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.cli import main
from tests.data._planted import MIN_SIZE, build_planted_kaggle


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("kaggle") / "chest_xray"
    return root, build_planted_kaggle(root)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("monai-gan-aug prepare: error: "), err
    return err[0]


def test_prepare_prints_the_summary_and_writes_the_manifest(planted, tmp_path, capsys):
    root, rel = planted
    out = tmp_path / "out"
    assert main(["prepare", "--input", str(root), "--out", str(out), "--min-size", str(MIN_SIZE), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    for line in ("too small (< 48 px short side)          2", "exact duplicates                        2",
                 "near duplicates                         2", "cross-class conflicts (images)          2",
                 "written                                15"):
        assert line in text, text
    rows = _rows(out / "manifest.csv")
    assert len(rows) == 15 and not {r["source_path"] for r in rows} & (rel["small"] | rel["near"] | rel["conflict"])
    from monai_gan_aug.data.datasets import dataset_from_path

    items = dataset_from_path(out)  # the output reads back as a manifest data set
    assert len(items) == 15 and {it["split"] for it in items} <= {"train", "val", "test"}

    # the same command again: --out is not empty -> one error line, exit 2; --resume finds everything done
    assert main(["prepare", "--input", str(root), "--out", str(out), "--min-size", str(MIN_SIZE), "--seed", "3"]) == 2
    assert "--resume" in _one_error(capsys)
    assert main(["prepare", "--input", str(root), "--out", str(out), "--min-size", str(MIN_SIZE), "--seed", "3",
                 "--resume", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert _rows(out / "manifest.csv") == rows


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--split", "0.5,0.5"], "TRAIN,VAL,TEST"),
        (["--min-size", "-3"], "whole number >= 0"),
        (["--duplicates", "delete"], "invalid choice"),
    ],
)
def test_bad_flags_exit_2(planted, tmp_path, capsys, extra, expected):
    root, _ = planted
    with pytest.raises(SystemExit) as exc:
        main(["prepare", "--input", str(root), "--out", str(tmp_path / "o"), *extra])
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err


def test_user_errors_are_one_line_exit_2(planted, tmp_path, capsys):
    root, _ = planted
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    cases = [
        (["--input", str(root), "--out", str(root / "train" / "prepared")], "inside the input folder"),
        (["--input", str(tmp_path / "missing"), "--out", str(tmp_path / "o1")], "does not exist"),
        (["--input", str(root), "--out", str(tmp_path / "o2"), "--resume"], "no interrupted prepare run"),
    ]
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "odd.csv").write_text("a,b\n1,2\n")
    cases.append((["--input", str(tmp_path / "odd" / "odd.csv"), "--out", str(tmp_path / "o3")], "unknown CSV columns"))
    (tmp_path / "file_out").write_text("x")
    cases.append((["--input", str(root), "--out", str(tmp_path / "file_out")], "is a file"))
    for args, expected in cases:
        assert main(["prepare", *args]) == 2, args
        assert expected in _one_error(capsys)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before
    assert not (root / "train" / "prepared").exists()


def test_text_removal_lung_masks_and_dicom_kept(tmp_path, capsys):
    from monai_gan_aug.transforms.io import SaveXRay

    src = tmp_path / "rsna"
    rng = np.random.default_rng(0)
    for pid in ("p1", "p2"):
        img = torch.from_numpy(rng.uniform(0.2, 0.6, (1, 72, 64)).astype(np.float32))
        SaveXRay(output_format="dicom", synthetic=False)(img, src / "stage_2_train_images" / f"{pid}.dcm")
    (src / "stage_2_train_labels.csv").write_text("patientId,x,y,width,height,Target\np1,1,2,5,6,1\np2,,,,,0\n")
    out = tmp_path / "out"
    assert main(["prepare", "--input", str(src), "--out", str(out), "--min-size", "32", "--format", "keep",
                 "--lung-masks", "--quiet"]) == 0
    rows = {r["patient"]: r for r in _rows(out / "manifest.csv")}
    assert rows["p1"]["file"] == "images/pneumonia/p1.dcm" and rows["p2"]["label"] == "no_opacity"
    source = (src / "stage_2_train_images" / "p1.dcm").read_bytes()
    assert hashlib.sha256((out / rows["p1"]["file"]).read_bytes()).digest() == hashlib.sha256(source).digest()
    with Image.open(out / rows["p1"]["mask_file"]) as im:
        assert im.size == (64, 72) and set(np.unique(np.asarray(im))) <= {0, 255}

    kaggle = tmp_path / "kaggle" / "NORMAL"
    kaggle.mkdir(parents=True)
    film = np.rint(rng.uniform(60, 120, (96, 96))).astype(np.uint8)
    film[8:20, 6:14] = 255  # a burned-in marker in the corner
    Image.fromarray(film).save(kaggle / "IM-0001-0001.png")
    Image.fromarray(np.rint(rng.uniform(60, 120, (96, 96))).astype(np.uint8)).save(kaggle / "IM-0002-0001.png")
    out2 = tmp_path / "out2"
    assert main(["prepare", "--input", str(kaggle.parent), "--out", str(out2), "--min-size", "32",
                 "--remove-text", "threshold", "--quiet"]) == 0
    rows2 = {r["source_path"]: r for r in _rows(out2 / "manifest.csv")}
    assert int(rows2["NORMAL/IM-0001-0001.png"]["text_removed_px"]) >= 12 * 8
    with Image.open(out2 / rows2["NORMAL/IM-0001-0001.png"]["file"]) as im:
        assert np.asarray(im)[8:20, 6:14].max() < 255 and im.mode == "L"
