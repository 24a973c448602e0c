"""The pix2pix scorecard on synthetic arrays (and a tiny covidqu layout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_gan_aug.errors import DatasetError
from monai_gan_aug.metrics.extractors import FeatureExtractor
from monai_gan_aug.metrics.pix2pix_scorecard import (
    Pix2PixCase,
    covidqu_cases,
    crop_positions,
    format_pix2pix_scorecard,
    generate,
    kept_bit_identical,
    kid_rows,
    outside_crops,
    pix2pix_scorecard,
    seam_ratios,
    split_sources_references,
)
from monai_gan_aug.networks.unet_generator import UNetGenerator
from tests.metrics._covidqu import make_covidqu


class _Stats(FeatureExtractor):
    """Mean, std and mean gradient of an image: enough to tell noise from flat images."""

    name, feature_dim = "stats", 3

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        g = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(1).mean(1)
        return torch.stack([images.flatten(1).mean(1), images.flatten(1).std(1), g], 1)


def _cases(n=8, side=48, seed=0):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        img = rng.random((side, side)).astype(np.float32)
        keep = np.zeros((side, side), bool)
        keep[10:24, 8:20] = True
        cases.append(Pix2PixCase(f"film{i}", f"film{i}.png", img, keep, [[8, 10, 20, 24]]))
    return cases


def test_crop_positions_avoid_the_kept_region():
    keep = np.zeros((64, 64), bool)
    keep[:, :32] = True
    pos = crop_positions(keep, 16, 5, np.random.default_rng(0))
    assert len(pos) == 5 and all(x >= 32 for _, x in pos)
    assert crop_positions(np.ones((64, 64), bool), 16, 3, np.random.default_rng(0), tries=20) == []


def test_outside_crops_pair_real_and_generated_at_the_same_positions():
    cases = _cases(3)
    outs = [c.pixels * 0 + 0.5 for c in cases]
    real, fake, groups = outside_crops([c.pixels for c in cases], outs, [c.keep for c in cases],
                                       [c.film for c in cases], size=16, per_film=2)
    assert real.shape == fake.shape == (6, 16, 16) and groups[:2] == ["film0", "film0"]
    assert np.all(fake == 0.5) and real.std() > 0.1


def test_seam_ratio_and_kept_pixels():
    cases = _cases(2)
    pasted = []
    for c in cases:
        out = np.full_like(c.pixels, 0.2)
        out[c.keep] = c.pixels[c.keep]
        pasted.append(out)
    assert kept_bit_identical([c.pixels for c in cases], pasted, [c.keep for c in cases]).all()
    broken = [p.copy() for p in pasted]
    broken[1][12, 10] += 1e-6
    assert kept_bit_identical([c.pixels for c in cases], broken, [c.keep for c in cases]).tolist() == [True, False]
    same = seam_ratios([c.pixels for c in cases], [c.pixels for c in cases], [c.keep for c in cases])
    assert np.allclose(same, 1.0)


def test_kid_rows_same_n_and_real_floor():
    cases = _cases(8)
    src, ref = split_sources_references(cases)
    assert len(src) == len(ref) == 4 and {c.film for c in src}.isdisjoint({c.film for c in ref})
    flat = [np.full_like(c.pixels, 0.5) for c in src]
    rows = kid_rows({"stats": _Stats()}, [c.pixels for c in ref], {"real": [c.pixels for c in src], "flat": flat},
                    num_subsets=5)
    assert rows["real"]["n"] == rows["flat"]["n"] == 4
    assert rows["flat"]["kid_stats"] > rows["real"]["kid_stats"]
    with pytest.raises(DatasetError):
        split_sources_references(cases[:3])


def test_scorecard_rows_and_table():
    cases = _cases(12)
    src, ref = split_sources_references(cases)
    torch.manual_seed(0)
    net = UNetGenerator(in_channels=2, out_channels=1, ngf=4, num_downs=4)
    outs = generate(src, net, size=48)
    rows = pix2pix_scorecard(src, ref, {"tiny": outs}, {"stats": _Stats()}, crop_size=16, per_film=2,
                             num_subsets=5, c2st_kwargs={"folds": 2, "steps": 5, "n_bootstrap": 50})
    assert set(rows) == {"real vs real", "tiny"}
    assert rows["tiny"]["kept_identical"] == 1.0
    assert 0 <= rows["tiny"]["forensic_auc"] <= 1 and rows["tiny"]["forensic_crops"] == 24
    table = format_pix2pix_scorecard(rows, extractors=("stats",))
    assert table.count("\n") == 3 and "| tiny | 6 |" in table


def test_covidqu_cases_read_boxes_and_masks(tmp_path):
    root = make_covidqu(tmp_path, n=3, side=64, second_box=True)
    boxes = covidqu_cases(root, "train")
    assert [c.film for c in boxes] == ["covid_0", "covid_1", "covid_2"]
    assert boxes[0].keep.sum() == 16 * 20 + 16 * 16 and boxes[0].pixels.dtype == np.float32
    masks = covidqu_cases(root, "train", region="mask", n=2)
    assert len(masks) == 2 and masks[0].keep.sum() == 16 * 20
