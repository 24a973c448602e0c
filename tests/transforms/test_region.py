"""Tests of monai_gan_aug/transforms/region.py: region parsing, masks, feathering, random boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image
from scipy import ndimage

from monai_gan_aug.errors import ConfigError, DatasetError, InvalidImageError, RegionError
from monai_gan_aug.transforms.region import (
    RandRegionMask,
    RandRegionMaskd,
    RegionMask,
    RegionMaskd,
    feather_weight,
    load_box_prior,
    parse_region,
)

H, W = 48, 64


def _box_mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


# ---------------------------------------------------------------- parsing: every spec form


@pytest.mark.parametrize(
    "spec",
    [
        "10,20,30,40",
        " 10, 20, 30, 40 ",
        "box:10,20,30,40",
        [10, 20, 30, 40],
        (10.0, 20.0, 30.0, 40.0),
        {"box": [10, 20, 30, 40]},
        {"xywh": [10, 20, 20, 20]},
        "xywh:10,20,20,20",
        torch.tensor([10, 20, 30, 40]),
    ],
)
def test_box_forms_give_the_same_pixels(spec):
    region = parse_region(spec, (1, H, W))
    np.testing.assert_array_equal(region.mask, _box_mask(10, 20, 30, 40))
    assert region.as_dict()["box"] == [10, 20, 30, 40]
    json.dumps(region.as_dict())  # plain, serialisable metadata


def test_fraction_units_explicit_and_auto():
    frac = [0.25, 0.25, 0.5, 0.75]  # x scaled by W=64, y by H=48
    expected = _box_mask(16, 12, 32, 36)
    np.testing.assert_array_equal(parse_region(frac, (H, W), units="fraction").mask, expected)
    np.testing.assert_array_equal(parse_region({"box": frac, "units": "fraction"}, (H, W)).mask, expected)
    np.testing.assert_array_equal(parse_region(frac, (H, W), units="auto").mask, expected)
    # pixels are the default: fractional values are not reinterpreted silently
    with pytest.raises(RegionError, match="units='fraction'"):
        parse_region(frac, (H, W))
    with pytest.raises(RegionError, match=r"\[0, 1\]"):
        parse_region([0.1, 0.1, 2, 0.5], (H, W), units="fraction")
    # auto keeps values beyond 1 as pixels
    np.testing.assert_array_equal(
        parse_region([10, 20, 30, 40], (H, W), units="auto").mask, _box_mask(10, 20, 30, 40)
    )


def test_xywh_fraction_rsna_style():
    region = parse_region({"xywh": [0.25, 0.25, 0.25, 0.5], "units": "fraction"}, (H, W))
    np.testing.assert_array_equal(region.mask, _box_mask(16, 12, 32, 36))
    assert region.as_dict()["xywh"] == [16, 12, 16, 24]


def test_polygon_forms_and_box_equivalence():
    square = [[10, 20], [30, 20], [30, 40], [10, 40]]
    for spec in ({"polygon": square}, "polygon:10,20;30,20;30,40;10,40", np.array(square, float)):
        np.testing.assert_array_equal(parse_region(spec, (H, W)).mask, _box_mask(10, 20, 30, 40))
    tri = parse_region({"polygon": [[0, 0], [40, 0], [0, 40]]}, (H, W)).mask
    assert tri[1, 1] and not tri[39, 39] and 700 < tri.sum() < 900  # about half of 40x40


def test_mask_forms(tmp_path):
    m = _box_mask(5, 6, 25, 26)
    for spec in (m, m.astype(np.float32)[None], torch.from_numpy(m.astype(np.uint8)), {"mask": m}):
        np.testing.assert_array_equal(parse_region(spec, (H, W)).mask, m)
    png, npy = tmp_path / "m.png", tmp_path / "m.npy"
    Image.fromarray(m.astype(np.uint8) * 255).save(png)
    np.save(npy, m)
    for spec in (str(png), png, f"mask:{png}", {"mask": str(npy)}):
        region = parse_region(spec, (H, W))
        np.testing.assert_array_equal(region.mask, m)
        assert region.as_dict()["bbox"] == [5, 6, 25, 26]
    assert parse_region(str(png), (H, W)).as_dict()["path"] == str(png)


def test_boxes_union():
    region = parse_region({"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]]}, (H, W))
    np.testing.assert_array_equal(region.mask, _box_mask(0, 0, 10, 10) | _box_mask(20, 20, 30, 30))
    assert region.as_dict()["boxes"] == [[0, 0, 10, 10], [20, 20, 30, 30]]


# ---------------------------------------------------------------- parsing: every error case


@pytest.mark.parametrize(
    "spec, match",
    [
        ("10,20,10,40", "empty box"),
        ("10,20,30,20", "empty box"),
        ("30,20,10,40", "inverted"),
        ("10,40,30,20", "inverted"),
        ("100,10,120,20", "entirely outside"),
        ("-30,-30,-10,-10", "entirely outside"),
        ("50,10,70,20", "extends outside"),
        ("0,0,64,48", "covers 100.0%"),
        ("nan,1,5,5", "NaN"),
        ([1, 2, float("inf"), 5], "NaN"),
        ("1,2,3", "4 numbers"),
        ("a,b,c,d", "expected numbers"),
        ({"xywh": [1, 1, -5, 5]}, "positive"),
        ({"polygon": [[1, 1], [5, 5]]}, "at least 3 vertices"),
        ({"polygon": [[1, 1], [5, 5], [9, 9]]}, "zero area"),
        ({"polygon": [[1, 1], [80, 5], [9, 9]]}, "outside"),
        ({"mask": np.zeros((H, W))}, "empty"),
        ({"box": [1, 2, 3, 4], "polygon": [[1, 1]]}, "exactly one"),
        ({"mask": "/nonexistent/m.png"}, "not found"),
        (object(), "unrecognised"),
    ],
)
def test_region_errors(spec, match):
    with pytest.raises(RegionError, match=match):
        parse_region(spec, (H, W))


def test_wrong_mask_size_names_both_sizes():
    with pytest.raises(RegionError, match=r"\(20, 30\).*\(48, 64\)"):
        parse_region(np.ones((20, 30)), (H, W))


def test_clip_to_image_is_opt_in():
    region = parse_region("50,10,70,20", (H, W), clip_to_image=True)
    np.testing.assert_array_equal(region.mask, _box_mask(50, 10, 64, 20))
    poly = parse_region({"polygon": [[50, 10], [80, 10], [80, 20], [50, 20]]}, (H, W), clip_to_image=True)
    np.testing.assert_array_equal(poly.mask, _box_mask(50, 10, 64, 20))


def test_max_fraction_is_configurable():
    assert parse_region("0,0,64,48", (H, W), max_fraction=None).mask.all()
    with pytest.raises(RegionError, match="max_fraction"):
        parse_region("0,0,40,48", (H, W), max_fraction=0.5)  # 62.5% of the image


# ---------------------------------------------------------------- feathering


@pytest.mark.parametrize("feather", [0, 1, 3, 6.5])
def test_feather_band_exactly_zero_beyond(feather):
    mask = _box_mask(20, 15, 40, 30)
    weight = feather_weight(mask, feather)
    dist = ndimage.distance_transform_edt(~mask)
    assert weight.dtype == np.float32
    assert np.all(weight[mask] == 1)
    assert np.all(weight[dist > feather] == 0)
    band = (dist > 0) & (dist <= feather)
    assert np.all((weight[band] > 0) & (weight[band] < 1))
    # linear ramp: decreasing with distance
    if feather >= 3:
        assert weight[15, 40] > weight[15, 41] > weight[15, 42] > 0  # x1=40 is exclusive: d=1,2,3


def test_feather_rejects_negative():
    with pytest.raises(ConfigError):
        feather_weight(np.ones((4, 4), bool), -1)


# ---------------------------------------------------------------- RegionMask / RegionMaskd


def test_region_mask_outputs_and_metadata():
    img = MetaTensor(torch.rand(1, H, W), meta={"filename_or_obj": "x.png"})
    mask, weight = RegionMask("10,20,30,40", feather=4)(img)
    assert isinstance(mask, MetaTensor) and mask.shape == (1, H, W) and mask.dtype == torch.float32
    np.testing.assert_array_equal(mask[0].numpy() > 0, _box_mask(10, 20, 30, 40))
    assert set(np.unique(mask.numpy())) == {0.0, 1.0}
    assert weight.max() == 1 and (weight > 0).sum() > mask.sum()
    rec = img.meta["region"]
    assert rec["kind"] == "box" and rec["box"] == [10, 20, 30, 40] and rec["feather"] == 4.0
    assert rec["image_size"] == [H, W] and rec["area_px"] == 400
    assert mask.meta["region"] == rec and mask.meta["filename_or_obj"] == "x.png"
    json.dumps(rec)


def test_region_mask_numpy_and_bad_image():
    mask, _ = RegionMask("1,2,5,6")(np.zeros((1, H, W), np.float32))
    assert isinstance(mask, np.ndarray) and mask.sum() == 16
    with pytest.raises(InvalidImageError, match=r"\(1, H, W\)"):
        RegionMask("1,2,5,6")(np.zeros((H, W), np.float32))
    with pytest.raises(RegionError, match="no region"):
        RegionMask()(np.zeros((1, H, W), np.float32))
    with pytest.raises(ConfigError):
        RegionMask(units="mm")


def test_region_maskd_region_key_and_lung_clip():
    lung = np.zeros((1, H, W), np.float32)
    lung[:, :, :32] = 1
    data = {"image": MetaTensor(torch.rand(1, H, W)), "lung": lung, "roi": {"box": [20, 10, 50, 30]}}
    out = RegionMaskd("image", region_key="roi", lung_key="lung", feather=2)(data)
    np.testing.assert_array_equal(out["region_mask"][0].numpy() > 0, _box_mask(20, 10, 32, 30))
    assert out["image"].meta["region"]["clipped_to_lung"] is True
    assert out["image"].meta["region"]["area_px"] == 12 * 20
    # weight extends past the clipped mask by the feather band only
    assert out["region_weight"][0, 20, 33] > 0 and out["region_weight"][0, 20, 34] == 0  # last mask col is 31
    # fixed region used when the key is absent; empty after clipping is an error
    with pytest.raises(RegionError, match="does not overlap the lung"):
        RegionMaskd("image", region="40,10,60,30", region_key="roi", lung_key="lung")(
            {"image": torch.rand(1, H, W), "lung": lung}
        )
    with pytest.raises(RegionError, match="lung mask size"):
        RegionMaskd("image", region="1,1,5,5", lung_key="lung")(
            {"image": torch.rand(1, H, W), "lung": lung[:, :10]}
        )
    with pytest.raises(RegionError, match="lung_key"):
        RegionMaskd("image", region="1,1,5,5", lung_key="lung")({"image": torch.rand(1, H, W)})


def test_region_maskd_aliases_and_missing_keys():
    from monai_gan_aug.transforms.region import RegionMaskD, RegionMaskDict

    assert RegionMaskD is RegionMaskd and RegionMaskDict is RegionMaskd
    out = RegionMaskd(
        ["image", "other"],
        region="1,1,5,5",
        mask_key=["m1", "m2"],
        weight_key=["w1", "w2"],
        allow_missing_keys=True,
    )({"image": torch.rand(1, H, W)})
    assert "m1" in out and "m2" not in out


# ---------------------------------------------------------------- prior and random boxes


def test_shipped_prior():
    prior = load_box_prior()
    boxes = prior["boxes"]
    assert boxes.shape == (9555, 4)
    assert np.all((boxes > 0) & (boxes <= 1))
    counts, probs = prior["boxes_per_image"]
    assert list(counts) == [1, 2, 3, 4] and abs(probs.sum() - 1) < 1e-9
    assert "Apache-2.0" in prior["license"]


def test_missing_prior_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="make_rsna_box_prior"):
        load_box_prior(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(DatasetError, match="malformed"):
        load_box_prior(bad)


def _draws(seed: int, n: int = 4, **kwargs) -> list:
    t = RandRegionMaskd("image", **kwargs).set_random_state(seed)
    out = []
    for _ in range(n):
        d = t({"image": MetaTensor(torch.rand(1, H, W)), "lung": _lung()})
        out.append(d["image"].meta["region"])
    return out


def _lung() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    lung = np.zeros((1, H, W), np.float32)
    for cx in (W * 0.3, W * 0.7):
        lung[0][((xx - cx) / (W * 0.13)) ** 2 + ((yy - H * 0.5) / (H * 0.3)) ** 2 < 1] = 1
    return lung


def test_rand_region_reproducible_and_inside():
    a, b, c = _draws(0, num_boxes="prior"), _draws(0, num_boxes="prior"), _draws(1, num_boxes="prior")
    assert a == b
    assert a != c
    for rec in a + c:
        assert rec["kind"] == "boxes" and rec["drawn_by"] == "RandRegionMask"
        assert 1 <= len(rec["boxes"]) <= 4 and len(rec["prior_index"]) == len(rec["boxes"])
        for x0, y0, x1, y1 in rec["boxes"]:
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
        assert rec["area_px"] <= 0.5 * H * W


def test_rand_region_outputs_match_record():
    t = RandRegionMask(num_boxes=2, feather=3).set_random_state(3)
    img = MetaTensor(torch.rand(1, H, W))
    mask, weight = t(img)
    rec = img.meta["region"]
    expected = np.zeros((H, W), bool)
    for x0, y0, x1, y1 in rec["boxes"]:
        expected[y0:y1, x0:x1] = True
    np.testing.assert_array_equal(mask[0].numpy() > 0, expected)
    assert float(weight.max()) == 1.0
    # randomize=False reuses the last draw
    mask2, _ = t(MetaTensor(torch.rand(1, H, W)), randomize=False)
    np.testing.assert_array_equal(mask2.numpy(), mask.numpy())


def test_rand_region_lung_overlap_and_clip():
    lung = _lung()
    recs = _draws(5, n=6, lung_key="lung", min_lung_overlap=0.5)
    for rec in recs:
        for x0, y0, x1, y1 in rec["boxes"]:
            assert rec["fallback"] or lung[0, y0:y1, x0:x1].mean() >= 0.5
    t = RandRegionMaskd("image", lung_key="lung", clip_to_lung=True).set_random_state(2)
    out = t({"image": torch.rand(1, H, W), "lung": lung})
    assert out["region_mask"].sum() > 0
    assert np.all(np.asarray(out["region_mask"])[lung == 0] == 0)


def test_rand_region_fallback_with_a_tiny_lung():
    lung = np.zeros((1, H, W), np.float32)
    lung[0, 30:32, 50:52] = 1  # no prior box can overlap this by 90%
    t = RandRegionMask(min_lung_overlap=0.9, max_tries=3).set_random_state(0)
    img = MetaTensor(torch.rand(1, H, W))
    t(img, lung=lung)
    rec = img.meta["region"]
    assert rec["fallback"] is True
    x0, y0, x1, y1 = rec["boxes"][0]
    assert lung[0, y0:y1, x0:x1].any()  # centred on a lung pixel


def test_rand_region_errors():
    with pytest.raises(ConfigError):
        RandRegionMask(num_boxes=0)
    with pytest.raises(ConfigError):
        RandRegionMask(min_lung_overlap=2)
    with pytest.raises(RegionError, match="empty"):
        RandRegionMask()(torch.rand(1, H, W), lung=np.zeros((1, H, W)))
    with pytest.raises(RegionError, match="randomize=False"):
        RandRegionMask()(torch.rand(1, H, W), randomize=False)
