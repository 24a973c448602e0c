"""Scorecard: cases from a covidqu-layout folder, arms on the same boxes and seeds, the table."""

from __future__ import annotations

from monai_gan_aug.metrics import scorecard as sc
from monai_gan_aug.networks.factory import load_network
from tests.metrics._covidqu import make_covidqu


def _covidqu(tmp_path, n=4, side=64):
    return make_covidqu(tmp_path, n, side, split="val")


def test_cases_get_real_lesion_boxes_inside_the_lung(tmp_path):
    cases = sc.covidqu_cases(_covidqu(tmp_path), "val", seed=0)
    assert len(cases) == 4
    for c in cases:
        x0, y0, x1, y1 = c.box
        assert c.image.shape == (1, 64, 64) and c.lung[y0:y1, x0:x1].mean() >= 0.3
    crops, groups = sc.real_lesion_crops(tmp_path, "val", size=32)
    assert crops.shape == (4, 1, 32, 32) and len(set(groups)) == 4


def test_score_arms_runs_every_measure_and_the_identity_arm_changes_nothing(tmp_path, tiny_opacity_weights):
    root = _covidqu(tmp_path)
    cases = sc.covidqu_cases(root, "val", seed=0)
    net = load_network(tiny_opacity_weights)
    arms = {"gan": sc.generator_arm(net), "unedited": sc.identity_arm()}
    rows = sc.score_arms(cases, arms, judge=None, real_crops=sc.real_lesion_crops(root, "val", size=32),
                         forensic_steps=5, forensic_folds=2, crop_size=32)
    assert rows["gan"]["painted_fraction_mean"] > 0 and "seam_ratio_median" in rows["gan"]
    assert rows["unedited"]["painted_fraction_mean"] == 0 and "seam_ratio_median" not in rows["unedited"]
    assert all(0 <= r["forensic_auc"] <= 1 for r in rows.values())
    table = sc.format_scorecard(rows)
    assert "| gan |" in table and "| unedited |" in table


def test_transplant_arm_moves_a_real_lesion_into_the_box_level_matched(tmp_path):
    import numpy as np
    import torch

    root = _covidqu(tmp_path)
    donors = sc.real_lesion_donors(root, "val")
    assert len(donors) == 4 and donors[0].box == [10, 20, 26, 40] and int(donors[0].component.sum()) == 20 * 16
    cases = sc.covidqu_cases(root, "val", seed=0)
    arm = sc.transplant_arm(donors, feather=2.0, edge_sigma=1.0)
    for i, case in enumerate(cases):
        out, label = arm(case, i)
        assert out.shape == case.image.shape and label.dtype == torch.uint8
        lab = label[0].numpy() > 0
        x0, y0, x1, y1 = case.box
        inside = np.zeros_like(lab)
        inside[y0:y1, x0:x1] = True
        assert lab.any() and not (lab & ~inside).any() and not (lab & ~case.lung).any()
        # the donor lesion (value 220 over a lung of ~100) lands brighter than the case's lung around it
        x = case.image[0].numpy()
        assert float(out[0].numpy()[lab].mean()) > float(np.median(x[case.lung & ~lab])) + 0.2
        far = np.ones_like(lab)
        far[max(y0 - 8, 0):y1 + 8, max(x0 - 8, 0):x1 + 8] = False
        assert torch.equal(out[0][torch.from_numpy(far)], case.image[0][torch.from_numpy(far)])
        assert torch.equal(arm(case, i)[0], out)  # seeded
