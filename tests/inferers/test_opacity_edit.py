"""LesionOpacityInferer / edit_lesion: only the footprint changes, it is the label, scale follows the film."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_gan_aug.data.opacity import REFERENCE_SIDE
from monai_gan_aug.errors import RegionError
from monai_gan_aug.inferers.opacity_edit import (
    REFERENCE_LUNG_HEIGHT,
    LesionOpacityInferer,
    edit_lesion,
    reference_scale,
)
from monai_gan_aug.networks.factory import load_network
from monai_gan_aug.transforms.region import RegionMask


@pytest.fixture(scope="module")
def opacity_net(tiny_opacity_weights):
    return load_network(tiny_opacity_weights)


@pytest.mark.parametrize("shape", [(1, 96, 80), (1, 300, 200)])
def test_only_the_footprint_changes_and_it_gets_brighter(opacity_net, shape):
    rng = np.random.default_rng(1)
    image = MetaTensor(torch.from_numpy(rng.random(shape, dtype=np.float32) * 0.8), meta={"source": "test"})
    h, w = shape[1:]
    box = [w // 4, h // 4, w // 4 + w // 3, h // 4 + h // 3]
    mask, weight = RegionMask(feather=4)(image, region={"box": box})
    out, label = LesionOpacityInferer(window=32)(image, opacity_net, mask, weight, seed=0)
    assert isinstance(out, MetaTensor) and out.meta["source"] == "test" and out.shape == image.shape
    assert label.shape == image.shape and label.dtype == torch.uint8
    lab = label > 0
    assert bool(lab.any()) and not bool((lab & (torch.as_tensor(mask) == 0)).any())  # inside the region
    assert float(lab.float().sum()) < 0.95 * float(torch.as_tensor(mask).sum())  # not the whole box
    changed = out != image
    assert bool(changed.any())
    assert not bool((changed & (torch.as_tensor(weight) == 0)).any())  # never beyond the feather band
    assert bool((out[changed] >= image[changed]).all())  # an opacity only adds attenuation


def test_seeds_reproduce_and_differ(opacity_net, chest_like):
    image = torch.from_numpy(chest_like)[None]
    mask, weight = RegionMask(feather=2)(image, region="10,20,40,60")
    inferer = LesionOpacityInferer(window=32)
    a, la = inferer(image, opacity_net, mask, weight, seed=5)
    b, lb = inferer(image, opacity_net, mask, weight, seed=5)
    c, lc = inferer(image, opacity_net, mask, weight, seed=6)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(la, lc)


def test_an_exact_footprint_is_used_as_given(opacity_net, chest_like):
    image = torch.from_numpy(chest_like)[None]
    mask, weight = RegionMask(feather=2)(image, region="10,20,40,60")
    fp = torch.zeros_like(image, dtype=torch.bool)
    fp[:, 30:45, 15:30] = True
    out, label = LesionOpacityInferer(window=32)(image, opacity_net, mask, weight, footprint=fp, seed=0)
    assert torch.equal(label > 0, fp)


def test_a_tight_box_gets_a_larger_footprint_than_a_loose_one(opacity_net, chest_like):
    image = torch.from_numpy(chest_like)[None]
    mask, weight = RegionMask(feather=2)(image, region="8,8,56,56")
    area = {}
    for extent in ("loose", "tight"):
        inferer = LesionOpacityInferer(window=32, extent=extent)
        area[extent] = np.mean([float(inferer(image, opacity_net, mask, weight, seed=s)[1].sum()) for s in range(6)])
    assert area["tight"] > 1.3 * area["loose"], area
    # a per-call extent overrides the inferer's, and edit_lesion passes it through
    _, loose = LesionOpacityInferer(window=32, extent="tight")(image, opacity_net, mask, weight, seed=0, extent="loose")
    _, ref = LesionOpacityInferer(window=32)(image, opacity_net, mask, weight, seed=0)
    assert torch.equal(loose, ref)
    _, tight = edit_lesion(image, opacity_net, mask, weight, seed=0, extent="tight")
    assert float(tight.sum()) > float(ref.sum())


def test_reference_scale_by_film_side_and_by_lung():
    assert reference_scale((512, 400)) == pytest.approx(REFERENCE_SIDE / 512)
    lung = np.zeros((1000, 900), bool)
    lung[100:450, 50:800] = True
    assert reference_scale((1000, 900), lung) == pytest.approx(REFERENCE_LUNG_HEIGHT / 350)


def test_edit_lesion_dispatches_on_the_network(opacity_net, tiny_lesion_weights, chest_like):
    image = torch.from_numpy(chest_like)[None]
    mask, weight = RegionMask(feather=2)(image, region="10,20,40,60")
    with pytest.raises(RegionError):
        edit_lesion(image, opacity_net, mask, weight, class_index=0)
    repaint = load_network(tiny_lesion_weights)
    out, label = edit_lesion(image, repaint, mask, weight, class_index=0, seed=0)
    assert torch.equal(label > 0, torch.as_tensor(mask) > 0)  # a repaint's label is its region


def test_no_seam_along_the_region_outline_on_a_flat_image():
    from monai_gan_aug.metrics.edit_quality import seam_ratio
    from monai_gan_aug.utils.weights import shipped_weights_path

    net = load_network(shipped_weights_path("lesion_opacity.pt"))
    image = torch.full((1, 96, 96), 0.3)
    image[:, :, :4] = 0.6  # a body edge far from the region: check_image refuses constant images
    mask, weight = RegionMask(feather=4)(image, region="24,20,72,76")
    for seed in range(4):
        out, _ = LesionOpacityInferer(window=32)(image, net, mask, weight, seed=seed)
        assert bool((out != image).any())
        # on a flat image any edge in the outline band counts: the footprint must fade out inside
        assert seam_ratio(image, out, torch.as_tensor(mask) > 0) < 1.2
