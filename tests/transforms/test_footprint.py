"""Tests of monai_gan_aug/transforms/footprint.py: lesion footprints inside a region."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_gan_aug.errors import ConfigError, DatasetError, RegionError
from monai_gan_aug.transforms import footprint as fpm
from monai_gan_aug.transforms.footprint import (
    LesionFootprint,
    LesionFootprintD,
    LesionFootprintd,
    LesionFootprintDict,
    RandLesionFootprint,
    RandLesionFootprintd,
    RandLesionFootprintDict,
    boundary_length,
    component_shapes,
    contour_length,
    draw_footprint_params,
    fit_shape_prior,
    footprint_from_params,
    load_shape_prior,
    measure_lesion_masks,
    resolve_extent,
    sample_footprint,
    soft_footprint,
)


def _box(shape: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


# ----------------------------------------------------------------------------------------------
# sampler
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "box",
    [
        (0, 1, 0, 1),
        (5, 7, 9, 10),
        (3, 6, 4, 8),
        (2, 5, 1, 60),
        (1, 63, 30, 32),
        (10, 40, 20, 50),
        (0, 64, 0, 64),
    ],
)
def test_footprint_inside_region_and_never_empty(box: tuple[int, int, int, int]) -> None:
    region = _box((64, 64), *box)
    for seed in range(40):
        fp = sample_footprint(region, np.random.default_rng(seed))
        assert fp.dtype == bool and fp.shape == region.shape
        assert fp.any(), f"empty footprint for box {box}, seed {seed}"
        assert not (fp & ~region).any(), "footprint leaks outside the region"


def test_footprint_non_box_regions() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(yy - 32, xx - 32)
    regions = {
        "ring": (r > 20) & (r < 24),
        "diagonal": np.eye(64, dtype=bool),
        "two boxes": _box((64, 64), 5, 20, 5, 20) | _box((64, 64), 40, 60, 40, 62),
        "disc": _disc((64, 64), 30, 30, 14),
    }
    for name, region in regions.items():
        for seed in range(20):
            fp = sample_footprint(region, np.random.default_rng(seed))
            assert fp.any() and not (fp & ~region).any(), name


def test_footprint_reproducible_by_seed() -> None:
    region = _box((64, 64), 8, 50, 10, 40)
    a = sample_footprint(region, np.random.default_rng(7))
    b = sample_footprint(region, np.random.default_rng(7))
    c = sample_footprint(region, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    p = draw_footprint_params(np.random.default_rng(7))
    assert np.array_equal(footprint_from_params(region, **p), a)
    # MONAI's Randomizable.R is a legacy RandomState: accepted as well, reproducible too
    d = sample_footprint(region, np.random.RandomState(3))
    assert np.array_equal(d, sample_footprint(region, np.random.RandomState(3))) and d.any()


def test_footprint_irregular_not_box_shaped() -> None:
    """Fill of the region's bbox well below 1; the shapes are less compact than an ellipse."""
    region = _box((64, 64), 4, 60, 8, 56)
    cover, own_fill, compact = [], [], []
    for seed in range(30):
        fp = sample_footprint(region, np.random.default_rng(seed))
        cover.append(fp.sum() / region.sum())
        comps = component_shapes(fp, min_area=30)
        own_fill += [c["fill"] for c in comps]
        compact += [c["compactness_contour"] for c in comps]
    assert 0.15 < np.mean(cover) < 0.7
    assert np.mean(own_fill) < 0.72  # an ellipse fills pi/4 = 0.785 of its bbox
    assert np.median(compact) < 0.8  # a digital disc scores about 0.9
    # varied sizes: not one fixed shape
    assert np.std(cover) > 0.03


def test_footprint_scale_invariant_and_fast() -> None:
    """The same parameters give the same shape statistics in a 32 px and a 1000 px box."""
    params = {"fill": 0.55, "n_blobs": 1, "smoothness": 0.14, "extent": 0.65}
    small = _box((48, 48), 8, 40, 8, 40)
    big = np.zeros((1200, 1200), dtype=bool)
    big[100:1100, 100:1100] = True
    footprint_from_params(big, seed=0, **params)  # warm-up
    t0 = time.perf_counter()
    covers_big = [footprint_from_params(big, seed=s, **params).sum() / big.sum() for s in range(4)]
    per_call = (time.perf_counter() - t0) / 4
    covers_small = [footprint_from_params(small, seed=s, **params).sum() / small.sum() for s in range(4)]
    assert abs(np.mean(covers_big) - np.mean(covers_small)) < 0.1
    assert per_call < 0.25  # ~35 ms on an idle core; generous bound for a loaded CI machine


def test_footprint_bad_input() -> None:
    with pytest.raises(RegionError):
        sample_footprint(np.zeros((8, 8), bool), np.random.default_rng(0))
    with pytest.raises(RegionError):
        sample_footprint(np.ones((2, 8, 8), bool), np.random.default_rng(0))
    region = _box((16, 16), 2, 10, 2, 10)
    for bad in ({"fill": 0.0}, {"fill": 1.5}, {"fill": 0.5, "n_blobs": 4}, {"fill": 0.5, "extent": 0}):
        with pytest.raises(ConfigError):
            footprint_from_params(region, **bad)


def test_soft_footprint() -> None:
    fp = _box((40, 40), 10, 30, 10, 30)
    soft = soft_footprint(fp, 2.0)
    assert soft.dtype == np.float32 and soft.min() >= 0 and soft.max() <= 1
    assert soft[20, 20] == pytest.approx(1.0, abs=1e-4)
    assert 0.3 < soft[10, 20] < 0.7  # the edge is half-way
    assert soft[0, 0] == 0 and soft[20, 3] == 0  # exactly 0 beyond 3 sigma
    assert np.array_equal(soft_footprint(fp, 0), fp.astype(np.float32))
    with pytest.raises(ConfigError):
        soft_footprint(fp, -1)


# ----------------------------------------------------------------------------------------------
# measures and prior
# ----------------------------------------------------------------------------------------------


def test_shape_measures() -> None:
    sq = np.ones((10, 10), bool)
    assert boundary_length(sq) == 36
    assert contour_length(sq) == pytest.approx(36 + 4 * np.sqrt(0.5), abs=1e-6)
    disc = _disc((101, 101), 50, 50, 40)
    (c,) = component_shapes(disc)
    assert c["fill"] == pytest.approx(np.pi / 4, abs=0.02)
    assert c["compactness_contour"] == pytest.approx(0.89, abs=0.03)
    lesion = _box((64, 64), 5, 15, 5, 15) | _box((64, 64), 30, 40, 40, 50) | _box((64, 64), 60, 62, 0, 3)
    lung = _box((64, 64), 0, 64, 0, 25) | _box((64, 64), 0, 64, 35, 64)
    comps = component_shapes(lesion, lung)
    assert len(comps) == 2 and sorted(c["lung"] for c in comps) == [1, 2]  # the 6 px one is dropped
    measured = measure_lesion_masks([(lesion, lung), (np.zeros((64, 64), bool), lung)])
    assert measured["components_per_film"].tolist() == [2, 0]
    assert measured["components_per_lung"].tolist() == [1, 1]
    prior = fit_shape_prior(measured, source="test")
    json.dumps(prior)
    assert prior["quantiles"]["fill"][10] == 1.0 and prior["components_per_lung"] == {"1": 2}
    with pytest.raises(DatasetError):
        fit_shape_prior(measure_lesion_masks([(np.zeros((8, 8), bool), None)]))


def test_shipped_prior() -> None:
    prior = load_shape_prior()
    q = dict(zip(prior["percents"], prior["quantiles"]["fill"]))
    assert 0.45 < q[50] < 0.65 and prior["split"] == "train"
    assert prior["n_components"] > 1000
    assert set(prior["components_per_lung"]) <= {"1", "2", "3", "4", "5"}


def test_custom_prior_file(tmp_path) -> None:
    prior = load_shape_prior()
    prior = {**prior, "quantiles": {**prior["quantiles"], "fill": [0.9] * len(prior["percents"])}}
    path = tmp_path / "prior.json"
    path.write_text(json.dumps(prior))
    assert RandLesionFootprint(prior=path).prior["quantiles"]["fill"][0] == 0.9
    path.write_text("{}")
    with pytest.raises(DatasetError):
        load_shape_prior(path)
    with pytest.raises(DatasetError):
        load_shape_prior(tmp_path / "missing.json")


# ----------------------------------------------------------------------------------------------
# transforms
# ----------------------------------------------------------------------------------------------


def test_extent_presets_and_ranges() -> None:
    assert resolve_extent(None) == resolve_extent("loose") == fpm.DEFAULT_EXTENT
    assert resolve_extent("tight") == fpm.TIGHT_EXTENT
    assert resolve_extent(0.7) == (0.7, 0.7) and resolve_extent([0.6, 0.9]) == (0.6, 0.9)
    for bad in ("snug", 0.0, 1.5, (0.9, 0.5), (0.2, 0.3, 0.4), float("nan")):
        with pytest.raises(ConfigError):
            resolve_extent(bad)
    # the drawn extent follows the range; a tight box gets a footprint as large as real lesions in theirs
    draws = [draw_footprint_params(np.random.default_rng(i), extent="tight")["extent"] for i in range(20)]
    assert all(0.9 <= e <= 1.0 for e in draws)
    region = _box((80, 80), 10, 70, 10, 70)
    area = {e: np.mean([sample_footprint(region, np.random.default_rng(i), extent=e).sum() / region.sum()
                        for i in range(20)]) for e in ("loose", "tight")}
    fill = load_shape_prior()["quantiles"]["fill"][10]  # the real components' median fill of their box
    assert area["tight"] > 1.3 * area["loose"] and abs(area["tight"] - fill) < 0.1, area
    rand = RandLesionFootprint(extent="tight")
    rand.set_random_state(1)
    rand(torch.from_numpy(region[None].astype(np.float32)))
    assert rand.params is not None and rand.params["extent"] >= 0.9


def test_array_transforms() -> None:
    region = MetaTensor(torch.from_numpy(_box((48, 48), 6, 40, 10, 36)[None].astype(np.float32)))
    out = LesionFootprint(fill=0.5, seed=3)(region)
    assert isinstance(out, MetaTensor) and out.shape == (1, 48, 48) and out.dtype == torch.float32
    rec = out.meta["lesion_footprint"]
    assert rec["seed"] == 3 and rec["area_px"] == int(out.sum())
    assert np.array_equal(out[0].numpy() > 0, footprint_from_params(region, 0.5, 1, 3, 0.14, 0.65))
    np_out = LesionFootprint()(region.numpy())
    assert isinstance(np_out, np.ndarray) and np_out.shape == (1, 48, 48)
    with pytest.raises(ConfigError):
        LesionFootprint()(region, {"bogus": 1})
    rand = RandLesionFootprint()
    rand.set_random_state(5)
    a = rand(region)
    assert rand.params is not None and set(rand.params) == {"fill", "n_blobs", "smoothness", "extent", "seed"}
    assert torch.equal(rand(region, randomize=False), a)
    assert torch.equal(LesionFootprint()(region, rand.params), a)  # delegates to the deterministic twin
    with pytest.raises(ConfigError):
        RandLesionFootprint()(region, randomize=False)


def test_dict_transforms_record_params_and_delegate() -> None:
    region = torch.from_numpy(_box((48, 48), 4, 44, 8, 30)[None].astype(np.float32))
    rand = RandLesionFootprintd().set_random_state(11)
    out = rand({"region_mask": region, "image": torch.zeros(1, 48, 48)})
    mask = out["lesion_mask"]
    assert isinstance(mask, MetaTensor) and mask.shape == (1, 48, 48)
    rec = mask.meta["lesion_footprint"]
    assert rec["area_px"] == int(mask.sum()) > 0
    assert not (mask[0].numpy().astype(bool) & ~region[0].numpy().astype(bool)).any()
    # the same parameters through the deterministic dict twin give the same footprint
    det = LesionFootprintd(params_key="fp_params")({"region_mask": region, "fp_params": rec})
    assert torch.equal(det["lesion_mask"].as_tensor(), mask.as_tensor())
    assert det["lesion_mask"].meta["lesion_footprint"] == rec
    # reproducible by the transform's seed; another seed gives another footprint
    again = RandLesionFootprintd().set_random_state(11)({"region_mask": region})["lesion_mask"]
    other = RandLesionFootprintd().set_random_state(12)({"region_mask": region})["lesion_mask"]
    assert torch.equal(again.as_tensor(), mask.as_tensor())
    assert not torch.equal(other.as_tensor(), mask.as_tensor())
    assert LesionFootprintD is LesionFootprintDict is LesionFootprintd
    assert RandLesionFootprintDict is RandLesionFootprintd
    with pytest.raises(KeyError):
        LesionFootprintd()({"image": region})
    assert "lesion_mask" not in LesionFootprintd(allow_missing_keys=True)({"image": region})


def test_lazy_exports() -> None:
    import monai_gan_aug.transforms as T

    for name in ("sample_footprint", "soft_footprint", "RandLesionFootprintd", "LesionFootprintD"):
        assert getattr(T, name) is getattr(fpm, name)
