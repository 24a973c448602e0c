"""RegionEditInferer: only the region (and its feather band) may change, any image size works."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_gan_aug.errors import ConfigError, InvalidImageError, RegionError
from monai_gan_aug.inferers.region_edit import RegionEditInferer
from monai_gan_aug.networks.factory import load_network
from monai_gan_aug.transforms.region import RegionMask


@pytest.fixture(scope="module")
def generator(tiny_lesion_weights):
    return load_network(tiny_lesion_weights)


@pytest.mark.parametrize("shape", [(1, 96, 80), (1, 300, 200), (1, 50, 400)])
def test_pixels_outside_the_feather_band_are_bit_identical(generator, chest_like, shape):
    rng = np.random.default_rng(1)
    image = MetaTensor(torch.from_numpy(rng.random(shape, dtype=np.float32)), meta={"source": "test"})
    h, w = shape[1:]
    box = [w // 4, h // 4, w // 4 + max(4, w // 6), h // 4 + max(4, h // 6)]
    mask, weight = RegionMask(feather=4)(image, region={"box": box})
    out = RegionEditInferer(working_size=64, min_side=32)(image, generator, mask, weight, seed=0)
    assert out.shape == image.shape and isinstance(out, MetaTensor) and out.meta["source"] == "test"
    outside = weight == 0
    assert torch.equal(out[outside], image[outside])
    inside = mask > 0
    assert (out[inside] != image[inside]).float().mean() > 0.9
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_seed_makes_edits_reproducible_and_different_seeds_differ(generator, chest_like):
    image = torch.from_numpy(chest_like)[None]
    mask, weight = RegionMask(feather=2)(image, region="10,20,40,50")
    inferer = RegionEditInferer(working_size=64, min_side=32)
    a = inferer(image, generator, mask, weight, seed=3)
    b = inferer(image, generator, mask, weight, seed=3)
    c = inferer(image, generator, mask, weight, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_batched_input(generator, chest_like):
    image = torch.from_numpy(np.stack([chest_like, chest_like[::-1].copy()]))[:, None]
    mask = torch.zeros_like(image)
    mask[:, :, 30:50, 20:40] = 1
    out = RegionEditInferer(working_size=64, min_side=32)(image, generator, mask, seed=0)
    assert out.shape == image.shape
    assert torch.equal(out[mask == 0], image[mask == 0])


def test_errors(generator, chest_like):
    image = torch.from_numpy(chest_like)[None]
    inferer = RegionEditInferer(working_size=64)
    with pytest.raises(RegionError, match="empty"):
        inferer(image, generator, torch.zeros_like(image))
    with pytest.raises(RegionError, match="do not match"):
        inferer(image, generator, torch.ones(1, 10, 10))
    with pytest.raises(InvalidImageError):
        inferer(torch.rand(3, 20, 20), generator, torch.ones(3, 20, 20))
    nan = image.clone()
    nan[0, 0, 0] = float("nan")
    mask = torch.zeros_like(image)
    mask[:, 10:20, 10:20] = 1
    with pytest.raises(InvalidImageError, match="NaN"):
        inferer(nan, generator, mask)


def test_detail_adds_back_exactly_what_the_working_size_round_trip_loses(generator):
    # A 400 px window at working size 64: fine stripes (period 4 px) vanish in the round trip.
    _, xx = np.mgrid[0:400, 0:400]
    image = torch.from_numpy((0.5 + 0.1 * np.sin(xx * np.pi / 2)).astype(np.float32))[None]
    mask, weight = RegionMask(feather=0)(image, region={"box": [150, 150, 250, 250]})
    plain = RegionEditInferer(working_size=64, min_side=32, context=4.0)(image, generator, mask, weight, seed=0)
    detailed = RegionEditInferer(working_size=64, min_side=32, context=4.0, detail=1.0)(
        image, generator, mask, weight, seed=0)
    outside = weight == 0
    assert torch.equal(detailed[outside], image[outside])
    inside = (mask > 0) & (plain > 0.05) & (plain < 0.95)  # away from the [0, 1] clamp
    added = (detailed - plain)[inside]
    # the stripes come back: the added detail follows the input's own stripes, not the fill's
    stripes = (image - 0.5)[inside]
    corr = float(torch.corrcoef(torch.stack([added, stripes]))[0, 1])
    assert corr > 0.95, corr
    assert float(added.abs().mean()) > 0.03
    with pytest.raises(ConfigError, match="detail"):
        RegionEditInferer(detail=1.5)
