"""OpacityWindowDataset / opacity_lists: windows, footprints inside the healthy film's lung, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_gan_aug.data.opacity import REFERENCE_SIDE, OpacityWindowDataset, opacity_lists, soft_edge
from monai_gan_aug.errors import DatasetError


def _films(n=3, side=64):
    rng = np.random.default_rng(0)
    lesion, healthy = [], []
    lung = np.zeros((side, side), bool)
    lung[8:56, 6:28] = lung[8:56, 36:58] = True
    for _ in range(n):
        les = np.zeros((side, side), bool)
        les[20:36, 10:24] = True
        lesion.append({"image": (rng.random((side, side)) * 255).astype(np.uint8), "lung": lung, "lesion": les})
        healthy.append({"image": (rng.random((side, side)) * 255).astype(np.uint8), "lung": lung})
    return lesion, healthy


def test_items_have_windows_masks_and_soft_footprints():
    ds = OpacityWindowDataset(*_films(), window=32, length=5)
    ds.set_random_state(0)
    item = ds[0]
    assert set(item) == {"real", "real_mask", "base", "footprint", "footprint_mask"}
    assert all(v.shape == (1, 32, 32) for v in item.values())
    assert float(item["real_mask"].sum()) > 0 and float(item["footprint_mask"].sum()) > 0
    assert float(item["footprint"].min()) >= 0 and float(item["footprint"].max()) <= 1
    assert bool((item["footprint"][item["footprint_mask"] > 0] > 0).all())


def test_same_seed_same_items():
    ds1, ds2 = OpacityWindowDataset(*_films(), window=32), OpacityWindowDataset(*_films(), window=32)
    ds1.set_random_state(3)
    ds2.set_random_state(3)
    a, b = ds1[0], ds2[0]
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_soft_edge_is_one_inside_zero_far_away():
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True
    s = soft_edge(m, 2.0)
    assert s[20, 20] == pytest.approx(1.0, abs=1e-3) and s[0, 0] == 0 and 0 < s[10, 10] < 1


def test_opacity_lists_reads_a_manifest_and_resizes_to_the_reference(tmp_path):
    for d in ("images", "masks", "masks_lesion"):
        (tmp_path / d).mkdir()
    rows = ["file,label,patient,mask_file,lesion_mask_file,bbox,split"]
    lung = np.zeros((100, 80), np.uint8)
    lung[10:90, 5:75] = 255
    for i, label in enumerate(["covid", "normal"]):
        Image.fromarray(np.full((100, 80), 100, np.uint8)).save(tmp_path / f"images/{i}.png")
        Image.fromarray(lung).save(tmp_path / f"masks/{i}.png")
        les = np.zeros((100, 80), np.uint8)
        if label == "covid":
            les[30:60, 10:40] = 255
        Image.fromarray(les).save(tmp_path / f"masks_lesion/{i}.png")
        rows.append(f"images/{i}.png,{label},p{i},masks/{i}.png,masks_lesion/{i}.png,,train")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    lesion, healthy = opacity_lists(tmp_path, "train")
    assert len(lesion) == 1 and len(healthy) == 1
    assert lesion[0]["image"].shape == (REFERENCE_SIDE, REFERENCE_SIDE) and lesion[0]["lesion"].any()
    with pytest.raises(DatasetError):
        opacity_lists(tmp_path, "val")
