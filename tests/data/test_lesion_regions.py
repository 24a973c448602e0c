"""Difference-map regions for the lesion generator: the box extraction and the training items.

A tiny fake shared-data layout (``kermany/`` + ``covid_lesions/``) is written to ``tmp_path``;
no shared data is needed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.data.lesion import TrainingRegiond, lesion_datalist, shared_lesion_items
from monai_gan_aug.data.splits import split_of_patient
from monai_gan_aug.errors import DatasetError
from monai_gan_aug.transforms.diffmap import DifferenceMap

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = ROOT / "scripts" / "make_diffmap_regions.py"
_SPEC = importlib.util.spec_from_file_location("make_diffmap_regions", _SCRIPT)
script = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(script)

H, W = 48, 64


def _patients(split: str, n: int, prefix: str) -> list[str]:
    """``n`` patient ids that the project's hash puts in ``split``."""
    out, i = [], 0
    while len(out) < n:
        pid = f"{prefix}{i}"
        if split_of_patient(pid) == split:
            out.append(pid)
        i += 1
    return out


def _lung() -> np.ndarray:
    lung = np.zeros((H, W), np.uint8)
    lung[8:40, 6:28] = 255
    lung[8:40, 36:58] = 255
    return lung


def _write(folder: Path, rows: list[tuple[str, str, str, str]], with_mask: bool = True) -> None:
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    lines = ["file,label,patient,mask_file,bbox"]
    rng = np.random.default_rng(0)
    for name, label, patient, bbox in rows:
        Image.fromarray(rng.integers(0, 255, (H, W), dtype=np.uint8)).save(folder / "images" / name)
        Image.fromarray(_lung()).save(folder / "masks" / name)
        lines.append(f"images/{name},{label},{patient},{'masks/' + name if with_mask else ''},{bbox}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture()
def shared(tmp_path: Path) -> Path:
    """Kermany: 2 train + 1 val pneumonia films, 2 normal films; covid: 1 train film with a box."""
    tr, va = _patients("train", 4, "P"), _patients("val", 1, "P")
    _write(tmp_path / "kermany", [
        ("p0.png", "pneumonia", tr[0], ""), ("p1.png", "pneumonia", tr[1], ""),
        ("p2.png", "pneumonia", va[0], ""), ("n0.png", "normal", tr[2], ""), ("n1.png", "normal", tr[3], ""),
    ])
    _write(tmp_path / "covid_lesions", [("c0.png", "covid", _patients("train", 1, "C")[0], "10 10 20 30")])
    return tmp_path


def _regions(path: Path, films: dict[str, list[list[int]]]) -> Path:
    path.write_text(json.dumps({"films": {k: {"boxes": v} for k, v in films.items()}}))
    return path


def test_defaults_unchanged_and_diffmap_items_added(shared: Path, tmp_path: Path) -> None:
    base = shared_lesion_items(shared)
    assert base == shared_lesion_items(shared, "train", 3, diffmap_regions=None) == lesion_datalist(shared)
    assert {it["source"] for it in base} == {"kermany", "lesion_box"}  # covid boxes are "lesion_box"
    regions = _regions(tmp_path / "r.json", {"images/p0.png": [[6, 8, 20, 30], [40, 10, 50, 20]],
                                             "images/p2.png": [[6, 8, 20, 30]]})  # p2: a val film
    items = lesion_datalist(shared, "train", diffmap_regions=regions)
    diff = [it for it in items if it["source"] == "diffmap"]
    # the random-region and covid items are kept as they were; only p0's two boxes are added
    assert [it for it in items if it["source"] != "diffmap"] == base
    assert [it["region"]["box"] for it in diff] == [[6.0, 8.0, 20.0, 30.0], [40.0, 10.0, 50.0, 20.0]]
    assert all(it["class_index"] == 1 and it["image"].endswith("p0.png") for it in diff)
    val = [it for it in shared_lesion_items(shared, "val", diffmap_regions=regions)
           if it["source"] == "diffmap"]
    assert [Path(it["image"]).name for it in val] == ["p2.png"]


def test_bad_regions_files_raise(shared: Path, tmp_path: Path) -> None:
    box = [1, 1, 5, 5]
    with pytest.raises(DatasetError, match="pneumonia films"):
        shared_lesion_items(shared, diffmap_regions=_regions(tmp_path / "a.json", {"images/n0.png": [box]}))
    with pytest.raises(DatasetError, match="not in"):
        shared_lesion_items(shared, diffmap_regions=_regions(tmp_path / "b.json", {"images/zz.png": [box]}))
    with pytest.raises(DatasetError, match="does not exist"):
        shared_lesion_items(shared, diffmap_regions=tmp_path / "missing.json")
    with pytest.raises(DatasetError, match="x0, y0, x1, y1"):
        three = _regions(tmp_path / "c.json", {"images/p0.png": [[1, 1, 5]]})
        shared_lesion_items(shared, diffmap_regions=three)
    with pytest.raises(DatasetError, match="shared-data layout"):
        lesion_datalist(None, diffmap_regions=tmp_path / "a.json")


def test_diffmap_item_region_is_its_box(shared: Path, tmp_path: Path) -> None:
    regions = _regions(tmp_path / "r.json", {"images/p1.png": [[6, 8, 20, 30]]})
    items = shared_lesion_items(shared, diffmap_regions=regions)
    item = next(it for it in items if it["source"] == "diffmap")
    out = TrainingRegiond()({**item, "image": torch.zeros(1, H, W)})
    expected = torch.zeros(1, H, W)
    expected[:, 8:30, 6:20] = 1
    assert torch.equal(torch.as_tensor(out["region_mask"]).float(), expected)


def test_a_large_real_region_is_kept_for_training() -> None:
    # a demo lesion twin's region covered 64 % of its film and the size guard meant for user edits
    # (max 60 %) stopped lesion_inpaint training on the demo data
    item = {"region": {"box": [0, 0, 56, 40]}, "image": torch.zeros(1, H, W)}  # 73 % of the film
    out = TrainingRegiond()(item)
    assert float(torch.as_tensor(out["region_mask"]).sum()) == 56 * 40


def test_component_boxes_largest_inside_lung() -> None:
    lung = _lung() > 0
    mask = np.zeros((H, W), bool)
    mask[10:30, 8:20] = True  # 240 px, left lung
    mask[12:20, 40:50] = True  # 80 px, right lung
    mask[23:26, 42:45] = True  # 9 px speck, 3 px below it
    mask[0:6, 0:64] = True  # outside the lung: must not count
    boxes = script.component_boxes(mask, lung, min_area=20, max_boxes=5)
    assert [b["box"] for b in boxes] == [[8, 10, 20, 30], [40, 12, 50, 20]]
    assert [b["area"] for b in boxes] == [240, 80] and all(b["lung_overlap"] == 1.0 for b in boxes)
    assert len(script.component_boxes(mask, lung, min_area=20, max_boxes=1)) == 1
    assert script.component_boxes(mask, lung, min_area=500) == []
    # closing merges the speck into the right-lung blob when they are close
    merged = script.component_boxes(mask, lung, min_area=20, max_boxes=5, closing=3)
    assert merged[1]["box"] == [40, 12, 50, 26]


def test_boxes_from_a_synthetic_difference_map() -> None:
    """End to end from a film and its "healthy" twin: the box is where the opacity was removed."""
    rng = np.random.default_rng(1)
    healthy = torch.from_numpy(rng.uniform(0.2, 0.3, (1, H, W)).astype(np.float32))
    film = healthy.clone()
    film[:, 14:26, 40:52] += 0.5  # the opacity the sick->healthy translation removed
    film[:, 30, 10] += 1.0  # one hot pixel: the map peaks there, the opacity sits in the 0.3-0.8 band
    lung = torch.from_numpy(_lung()[None] > 0)
    mask, _ = DifferenceMap(low=0.3, high=0.8, min_size=20)(film, healthy, lung)
    boxes = script.component_boxes(np.asarray(mask[0]) > 0, lung[0].numpy(), min_area=50, max_boxes=2)
    assert [b["box"] for b in boxes] == [[40, 14, 52, 26]]


def test_script_skips_without_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--data", str(tmp_path), "--out", str(tmp_path / "o.json")]) == 0
    assert "SKIPPED" in capsys.readouterr().out and not (tmp_path / "o.json").exists()


def test_script_runs_shipped_generator_on_train_pneumonia_only(shared: Path, tmp_path: Path) -> None:
    """The real shipped G_BA on the fake layout: only train pneumonia films, boxes inside the image."""
    out = tmp_path / "o.json"
    assert script.main(["--data", str(shared), "--out", str(out), "--min-area", "1"]) == 0
    result = json.loads(out.read_text())
    assert sorted(result["films"]) == ["images/p0.png", "images/p1.png"]
    for film in result["films"].values():
        for x0, y0, x1, y1 in film["boxes"]:
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    shared_lesion_items(shared, diffmap_regions=out)  # the training side reads what the script wrote
