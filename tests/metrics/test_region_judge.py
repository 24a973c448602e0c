"""Region judge helpers: windows around boxes, mirrored boxes, lung boxes, covidqu windows, loading and scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.metrics._covidqu import make_covidqu

from monai_gan_aug.errors import CheckpointError, ConfigError, DatasetError, InvalidImageError
from monai_gan_aug.metrics.region_judge import (
    COVIDQU_REGION_JUDGE_WEIGHTS,
    REGION_JUDGE_WEIGHTS,
    clip_box_to_lung,
    covidqu_away_items,
    covidqu_region_items,
    covidqu_rows,
    draw_lung_boxes,
    manifest_boxes,
    load_region_judge,
    mirrored_box,
    region_pneumonia_probability,
    region_window,
    region_window_bounds,
)
from monai_gan_aug.networks.classifier import JUDGE_WEIGHTS, XRayClassifier
from monai_gan_aug.utils.weights import shipped_weights_path


def test_region_window_is_centred_on_the_box_at_twice_its_side():
    image = torch.zeros(1, 200, 300)
    image[:, 80:120, 130:170] = 1.0  # a 40 px bright box
    win = region_window(image, [130, 80, 170, 120], size=40)
    assert win.shape == (1, 40, 40)
    # The box is the central half of an 80 px window: 20 px of 40 after resampling.
    assert float(win[0, 12:28, 12:28].min()) > 0.95 and float(win[0, :6].max()) < 0.05


def test_region_window_bounds_are_the_window_region_window_takes():
    image = torch.zeros(1, 200, 300)
    y0, x0, y1, x1 = region_window_bounds([130, 80, 170, 120], (200, 300))
    assert (y0, x0, y1, x1) == (60, 110, 140, 190)
    image[:, y0:y1, x0:x1] = 1.0
    assert float(region_window(image, [130, 80, 170, 120], size=16).min()) > 1 - 1e-6  # all inside the ones


def test_region_window_near_the_border_stays_inside_the_image():
    image = torch.rand(1, 100, 120)
    win = region_window(image, [0, 0, 30, 30], size=32)
    assert win.shape == (1, 32, 32) and 0 <= float(win.min()) and float(win.max()) <= 1


def test_region_window_rejects_a_batch():
    with pytest.raises(InvalidImageError, match=r"\(1, H, W\)"):
        region_window(torch.rand(2, 1, 64, 64), [0, 0, 10, 10], 32)


def test_mirrored_box_lands_in_the_other_half():
    assert mirrored_box([10, 5, 40, 25], 100) == [60, 5, 90, 25]


def test_draw_lung_boxes_mostly_inside_the_lung_and_reproducible():
    image = torch.rand(1, 256, 256)
    lung = np.zeros((256, 256), bool)
    lung[40:220, 20:110] = lung[40:220, 146:236] = True
    boxes = draw_lung_boxes(image, lung, 5, seed=3)
    assert boxes == draw_lung_boxes(image, lung, 5, seed=3)
    assert boxes != draw_lung_boxes(image, lung, 5, seed=4)
    for x0, y0, x1, y1 in boxes:
        assert lung[y0:y1, x0:x1].mean() >= 0.5


def test_region_probability_scores_each_window():
    torch.manual_seed(0)
    judge = XRayClassifier(spatial_size=32, block_inplanes=(4, 8, 8, 8))
    images = [torch.rand(1, 64, 80), torch.rand(1, 90, 70)]
    p = region_pneumonia_probability(judge, images, [[10, 10, 30, 30], [5, 20, 40, 50]])
    assert p.shape == (2,) and bool(((p >= 0) & (p <= 1)).all())
    with pytest.raises(InvalidImageError, match="2 images for 1 boxes"):
        region_pneumonia_probability(judge, images, [[10, 10, 30, 30]])


def test_region_probability_uses_the_judges_own_context():
    from monai_gan_aug.metrics.region_judge import REGION_CONTEXT, judge_context

    torch.manual_seed(0)
    judge = XRayClassifier(spatial_size=32, block_inplanes=(4, 8, 8, 8))
    images, boxes = [torch.rand(1, 96, 96)], [[30, 30, 60, 60]]
    assert judge_context(judge) == REGION_CONTEXT  # no info: the default window
    wide = region_pneumonia_probability(judge, images, boxes)
    judge.info = {"context": 1.0}  # as train_classifier.py --context 1.0 records it
    assert judge_context(judge) == 1.0
    own = region_pneumonia_probability(judge, images, boxes)
    assert torch.equal(own, region_pneumonia_probability(judge, images, boxes, context=1.0))
    assert torch.equal(wide, region_pneumonia_probability(judge, images, boxes, context=REGION_CONTEXT))
    assert not torch.equal(own, wide)


def test_load_region_judge_refuses_the_whole_film_judge():
    with pytest.raises(CheckpointError, match="whole-film"):
        load_region_judge(path=str(shipped_weights_path(JUDGE_WEIGHTS)))


def test_shipped_region_judge_loads_and_works_on_a_window():
    judge = load_region_judge()
    assert judge.spatial_size <= 128 and not judge.training
    p = region_pneumonia_probability(judge, [torch.rand(1, 128, 128)], [[40, 40, 80, 80]])
    assert p.shape == (1,) and 0 <= float(p) <= 1
    assert shipped_weights_path(REGION_JUDGE_WEIGHTS).stat().st_size < 10e6


def test_manifest_boxes_are_end_exclusive_and_clipping_keeps_lung_boxes():
    assert manifest_boxes("17 21 116 211;145 14 251 244") == [[17, 21, 117, 212], [145, 14, 252, 245]]
    assert manifest_boxes("") == [] and manifest_boxes(None) == []
    lung = np.zeros((64, 64), bool)
    lung[10:50, 8:56] = True
    assert clip_box_to_lung([0, 0, 30, 30], lung) == [8, 10, 30, 30]
    assert clip_box_to_lung([0, 0, 12, 12], lung) is None  # too little left after the clip


def _covidqu(tmp_path, n=3, side=64):
    """A covidqu-layout folder: lesions only in the left half of the COVID films."""
    return make_covidqu(tmp_path, n, side, split="train", second_box=True)


def test_covidqu_region_items_real_boxes_on_covid_transplanted_on_normal(tmp_path):
    root = _covidqu(tmp_path)
    rows = covidqu_rows(root, "train")
    items = covidqu_region_items(root, rows, per_film=2, size=24, seed=0)
    covid = [it for it in items if it["label"] == 1]
    normal = [it for it in items if it["label"] == 0]
    assert len(covid) == 4 and len(normal) == 6  # film 0 has 2 real boxes, the others 1; normals get 2 each
    assert {tuple(it["box"]) for it in covid} == {(10, 20, 26, 40), (40, 12, 56, 28)}
    lung = np.asarray(Image.open(root / "masks" / "normal_3.png")) > 127
    for it in normal:
        x0, y0, x1, y1 = it["box"]
        assert it["image"].shape == (1, 24, 24) and lung[y0:y1, x0:x1].mean() >= 0.3
    again = covidqu_region_items(root, rows, per_film=2, size=24, seed=0)
    assert [it["box"] for it in again] == [it["box"] for it in items]  # reproducible
    with pytest.raises(DatasetError, match="split 'val'"):
        covidqu_rows(root, "val")


def test_covidqu_away_items_avoid_the_infection(tmp_path):
    root = _covidqu(tmp_path)
    away = covidqu_away_items(root, covidqu_rows(root, "train"), size=24, seed=0)
    assert len(away) == 3
    for it in away:
        x0, y0, x1, y1 = it["box"]
        lesion = np.asarray(Image.open(root / "masks_lesion" / f"{it['film']}.png")) > 127
        assert not lesion[y0:y1, x0:x1].any() and it["label"] == 1 and 0 <= it["window_lesion_fraction"] <= 1


def test_covidqu_region_items_away_negatives_are_lesion_free_boxes_of_covid_films(tmp_path):
    root = _covidqu(tmp_path)
    items = covidqu_region_items(root, covidqu_rows(root, "train"), per_film=1, size=24, seed=0, away_negatives=2)
    away = [it for it in items if it["label"] == 0 and it["film"].startswith("covid")]
    assert len(away) == 6
    for it in away:
        x0, y0, x1, y1 = it["box"]
        lesion = np.asarray(Image.open(root / "masks_lesion" / f"{it['film']}.png")) > 127
        assert not lesion[y0:y1, x0:x1].any()


def test_load_region_judge_by_name():
    with pytest.raises(ConfigError, match="covidqu"):
        load_region_judge(which="rsna")
    judge = load_region_judge(which="covidqu")
    assert judge.spatial_size <= 128 and not judge.training
    p = region_pneumonia_probability(judge, [torch.rand(1, 256, 256), torch.rand(1, 256, 256)],
                                     [[40, 40, 100, 120], [150, 60, 220, 200]])
    assert p.shape == (2,) and bool(((p >= 0) & (p <= 1)).all())
    path = shipped_weights_path(COVIDQU_REGION_JUDGE_WEIGHTS)
    assert path.stat().st_size < 10e6
    assert "covidqu" in judge.info["dataset"] and 0.5 < judge.info["heldout_auc"] <= 1  # trained on covidqu train


def test_shipped_local_covidqu_judge_reads_only_the_box():
    from monai_gan_aug.metrics.region_judge import judge_context

    judge = load_region_judge(which="covidqu_local")
    assert judge_context(judge) == 1.0 and judge.info["population"] == "adult"
    assert judge.spatial_size <= 128 and not judge.training
    p = region_pneumonia_probability(judge, [torch.rand(1, 256, 256)], [[40, 40, 120, 120]])
    assert p.shape == (1,) and 0 <= float(p) <= 1
