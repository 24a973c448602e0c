"""Difference-map evaluation (issue #18): scores with known answers, baselines, calibration, tables."""

from __future__ import annotations

import numpy as np
import pytest

from monai_gan_aug.metrics import diffmap as dm


def _film(gt: np.ndarray | None = None, image: np.ndarray | None = None) -> dict:
    lung = np.zeros((10, 10), bool)
    lung[:, :5] = True
    img = np.zeros((10, 10), np.float32) if image is None else image
    return {"name": "f", "label": "covid", "image": img, "lung": lung, "gt": gt}


def test_mask_scores_known_values():
    gt = np.zeros((10, 10), bool)
    gt[:4, :5] = True  # 20 px
    pred = np.zeros((10, 10), bool)
    pred[2:6, :5] = True  # 20 px, 10 of them in gt
    s = dm.mask_scores(pred, gt, _film()["lung"])
    assert s["dice"] == pytest.approx(0.5)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    assert s["accuracy"] == pytest.approx(0.8)  # 20 wrong pixels of 100
    assert s["marked"] == pytest.approx(0.4)  # 20 of the 50 lung px
    empty = dm.mask_scores(np.zeros_like(gt), gt, _film()["lung"])
    assert empty["dice"] == 0 and empty["precision"] == 0 and empty["recall"] == 0
    normal = dm.mask_scores(pred, None, _film()["lung"])
    assert set(normal) == {"marked"}


def test_baselines_on_a_hand_made_film():
    img = np.zeros((10, 10), np.float32)
    img[:, :5] = np.linspace(0, 1, 10)[:, None]  # brightness grows down the lung
    film = _film(image=img)
    b = dm.baseline_masks(img, film["lung"], (20, 50))
    assert b["whole lung"].sum() == 50
    assert b["brightest 20%"].sum() == 10 and b["brightest 20%"][8:, :5].all()
    assert b["brightest 50%"].sum() == 25
    assert b["otsu intensity"][9, 0] and not b["otsu intensity"][0, 0]
    gt = np.zeros((10, 10), bool)
    gt[6:, :5] = True
    k, dices = dm.choose_brightest([_film(gt, img)], grid=(10, 40, 90))
    assert k == 40 and dices[40] == pytest.approx(1.0)


def test_bootstrap_ci_and_summary():
    mean, lo, hi = dm.bootstrap_ci([0.2, 0.4, 0.6, 0.8], n_boot=500)
    assert mean == pytest.approx(0.5) and 0.2 <= lo < mean < hi <= 0.8
    assert np.isnan(dm.bootstrap_ci([])[0])
    table = dm.summarise({"m": [{"dice": 1.0, "marked": 0.5}, {"marked": 0.1}]}, n_boot=100)
    assert (
        table["m"]["dice"][0] == 1.0
        and table["m"]["marked"][0] == pytest.approx(0.3)
        and table["m"]["n"] == 1
    )
    md = dm.table_markdown(table, ("dice", "marked"))
    assert md.startswith("| method | dice | marked | n |") and "1.000 (1.000-1.000)" in md


def test_calibration_and_score_table_find_the_lesion():
    gt = np.zeros((10, 10), bool)
    gt[:3, :5] = True
    signed = np.zeros((10, 10), np.float32)
    signed[:3, :5] = 0.5  # the healthy twin is darker exactly on the lesion
    signed[5:, :5] = rng_noise = np.random.default_rng(0).uniform(0, 0.05, (5, 5)).astype(np.float32)
    assert rng_noise.max() < 0.5
    films = [_film(gt)]
    t, d = dm.calibrate_absolute(films, [signed], "positive")
    assert d == pytest.approx(1.0) and 0.05 <= t < 0.5
    table = dm.score_table(
        films, {"src": ([signed], {"polarity": "positive", "absolute": t})}, brightest_k=30, n_boot=50
    )
    assert table["src: absolute (train)"]["dice"][0] == pytest.approx(1.0)
    assert table["src: rel>=0.5"]["dice"][0] == pytest.approx(1.0)
    assert {"whole lung", "otsu intensity", "brightest 30%", "src: otsu", "src: band 0.3-0.8"} <= set(table)
    gain = table["src: absolute (train)"]["dice_gain_vs_best_baseline"]
    assert gain["baseline"] in {"whole lung", "otsu intensity", "brightest 30%"} and gain["gain"][0] > 0
    assert dm.min_size_for((1, 512, 512)) == 80 and dm.min_size_for((256, 256)) == 20
