from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.metrics.utility.budgets import (
    clip_box_to_lung,
    covidqu_items,
    draw_lesion_region,
    nested_budget,
    parse_boxes,
    sample_items,
)


def _pool(n_lesion: int, n_normal: int) -> list[dict]:
    return [{"image": f"l{i}.png", "cls": 1} for i in range(n_lesion)] + \
           [{"image": f"n{i}.png", "cls": 0} for i in range(n_normal)]


def test_boxes_are_parsed_end_exclusive():
    assert parse_boxes("17 21 116 211;145 14 251 244") == [[17, 21, 117, 212], [145, 14, 252, 245]]
    assert parse_boxes("") == [] and parse_boxes(None) == []


def test_clip_to_lung_keeps_only_boxes_mostly_in_the_lung():
    lung = np.zeros((64, 64), bool)
    lung[10:50, 5:30] = True
    assert clip_box_to_lung([0, 0, 20, 40], lung) == [5, 10, 20, 40]
    assert clip_box_to_lung([40, 0, 60, 60], lung) is None  # nothing left
    assert clip_box_to_lung([0, 0, 10, 60], lung) is None  # 5 px wide after clipping
    rng = np.random.default_rng(0)
    assert draw_lesion_region([[0, 0, 20, 40]], lung, rng) == [5, 10, 20, 40]
    assert draw_lesion_region([[40, 0, 60, 60]], lung, rng) is None
    with pytest.raises(DatasetError):
        draw_lesion_region([], lung, rng)


def test_budgets_are_nested_balanced_and_seeded():
    pool = _pool(30, 40)
    small, big = nested_budget(pool, 5, seed=3), nested_budget(pool, 12, seed=3)
    assert [d["image"] for d in big["lesion"][:5]] == [d["image"] for d in small["lesion"]]
    assert [d["image"] for d in big["normal"][:5]] == [d["image"] for d in small["normal"]]
    assert {d["cls"] for d in big["lesion"]} == {1} and {d["cls"] for d in big["normal"]} == {0}
    assert len(big["lesion"]) == len(big["normal"]) == 12
    assert nested_budget(pool, 5, seed=3) == small
    assert nested_budget(pool, 5, seed=4) != small
    with pytest.raises(DatasetError):
        nested_budget(pool, 31, seed=0)
    with pytest.raises(ConfigError):
        nested_budget(pool, 0, seed=0)


def test_sample_items_is_seeded_and_checked():
    items = [{"i": i} for i in range(10)]
    assert sample_items(items, 4, 1) == sample_items(items, 4, 1)
    with pytest.raises(DatasetError):
        sample_items(items, 11, 0)


def test_covidqu_items_read_a_manifest(tmp_path):
    for sub in ("images", "masks", "masks_lesion"):
        (tmp_path / sub).mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "manifest.csv").write_text(
        "file,label,patient,mask_file,lesion_mask_file,bbox,split\n"
        "images/a.png,covid,a,masks/a.png,masks_lesion/a.png,1 2 5 6,train\n"
        "images/b.png,normal,b,masks/b.png,masks_lesion/b.png,,val\n")
    items = covidqu_items(tmp_path, "train")
    assert len(items) == 1 and items[0]["cls"] == 1 and items[0]["boxes"] == [[1, 2, 6, 7]]
    assert items[0]["lung_mask"] == tmp_path / "masks" / "a.png"
    assert covidqu_items(tmp_path, "val")[0]["cls"] == 0
    with pytest.raises(DatasetError):
        covidqu_items(tmp_path, "test")
    with pytest.raises(DatasetError):
        covidqu_items(tmp_path / "nowhere", "train")
