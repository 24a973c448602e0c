"""covidqu-layout reading, real-like Pix2Pix-N regions, infection masks as kept region, 8-bit outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_gan_aug.data.pathology import (
    LesionKeepMaskd,
    PathologyCompositeInferer,
    RandRealRegionKeepMaskd,
    SaveXRayLikeInputd,
    covidqu_pathology_datalist,
    holdout_part,
    pathology_datalist,
    pathology_train_transforms,
    region_bank,
)
from monai_gan_aug.errors import ConfigError
from monai_gan_aug.networks.unet_generator import UNetGenerator
from monai_gan_aug.transforms.io import LoadXRay
from tests.metrics._covidqu import make_covidqu


@pytest.fixture
def covidqu(tmp_path):
    return make_covidqu(tmp_path, n=3, side=64, second_box=True)


def test_covidqu_boxes_items_and_normals(covidqu):
    items = covidqu_pathology_datalist(covidqu, "train")
    boxed = [it for it in items if "boxes" in it]
    normals = [it for it in items if "boxes" not in it]
    assert len(boxed) == 3 and len(normals) == 3
    # end-inclusive manifest boxes become end-exclusive; film 0 has two boxes
    assert boxed[0]["boxes"] == [[10.0, 20.0, 26.0, 40.0], [40.0, 12.0, 56.0, 28.0]]
    assert all(it["lung_mask"].endswith(".png") for it in items)
    assert {it["source"] for it in normals} == {"covidqu:real_like_region"}
    # the generic entry point routes a covidqu folder here
    assert pathology_datalist(covidqu, "train", box_repeat=2, covidqu_kwargs={"normals": False}) == \
        [it for it in items if "boxes" in it for _ in range(2)]
    with pytest.raises(Exception, match="no usable"):
        covidqu_pathology_datalist(covidqu, "val")


def test_covidqu_mask_region_and_parts(covidqu):
    items = covidqu_pathology_datalist(covidqu, "train", region="mask", normals=False)
    assert all("boxes" not in it and it["keep_mask_file"].endswith(".png") for it in items)
    fit = covidqu_pathology_datalist(covidqu, "train", part="fit", holdout_fraction=0.5)
    hold = covidqu_pathology_datalist(covidqu, "train", part="holdout", holdout_fraction=0.5)
    assert {it["image"] for it in fit}.isdisjoint({it["image"] for it in hold})
    assert len({it["image"] for it in fit} | {it["image"] for it in hold}) == 6
    assert holdout_part("a/covid_1.png", 0.0) == "fit" and holdout_part("covid_1", 1.0) == "holdout"
    with pytest.raises(ConfigError):
        covidqu_pathology_datalist(covidqu, "train", region="polygon")


def test_adult_population_drops_paediatric_normals(tmp_path):
    root = make_covidqu(tmp_path, n=2, side=64)
    text = (root / "manifest.csv").read_text().splitlines()
    text[0] += ",source_path"
    for i in range(1, len(text)):
        text[i] += ",x/Normal (11800).png" if "normal_3" in text[i] else ",x/other.png"
    (root / "manifest.csv").write_text("\n".join(text) + "\n")
    all_ = covidqu_pathology_datalist(root, "train", population="all")
    adult = covidqu_pathology_datalist(root, "train", population="adult")
    assert len(all_) == 4 and len(adult) == 3
    assert not any("normal_3" in it["image"] for it in adult)


@pytest.mark.parametrize("region", ["boxes", "mask"])
def test_real_like_regions_of_normal_films_lie_in_the_lung(covidqu, region):
    items = covidqu_pathology_datalist(covidqu, "train", region=region)
    bank = region_bank(items)
    assert len(bank) == 3 and (("boxes" in bank[0]) == (region == "boxes"))
    xf = pathology_train_transforms(64, bank=bank, jitter=0.1)
    xf.set_random_state(seed=0)
    normal = next(it for it in items if "boxes" not in it and "keep_mask_file" not in it)
    lung = np.asarray(Image.open(normal["lung_mask"])) > 0
    for _ in range(5):
        out = xf(dict(normal))
        keep = out["region_mask"][0].numpy() < 0.5
        assert keep.any() and not keep.all()
        assert keep[lung].sum() >= 0.5 * keep.sum()
    # a boxed COVID film keeps its own boxes
    covid = next(it for it in items if "boxes" in it or "keep_mask_file" in it)
    keep = xf(dict(covid))["region_mask"][0].numpy() < 0.5
    assert keep[25, 15] and not keep[60, 60]


def test_rand_real_region_is_seeded_and_needs_a_bank():
    bank = [{"boxes": [[0.1, 0.2, 0.4, 0.6]]}]
    t = RandRealRegionKeepMaskd(bank=bank)
    img = torch.zeros(1, 40, 40)
    a = t.set_random_state(3)({"image": img})["keep_mask"]
    b = t.set_random_state(3)({"image": img})["keep_mask"]
    assert torch.equal(a, b) and a.sum() > 0
    with pytest.raises(ConfigError):
        RandRealRegionKeepMaskd(bank=[])


def test_lesion_keep_mask_reads_the_infection_mask(covidqu):
    out = LesionKeepMaskd()({"image": torch.zeros(1, 64, 64), "keep_mask_file": str(covidqu / "masks_lesion" / "covid_0.png")})
    assert out["keep_mask"].shape == (1, 64, 64) and out["keep_mask"][0, 20:40, 10:26].all()
    assert out["keep_mask"].sum() == 20 * 16


def test_inference_keeps_region_bit_identical_and_seeded_variants_differ(covidqu):
    torch.manual_seed(0)
    net = UNetGenerator(in_channels=2, out_channels=1, ngf=4, num_downs=6, dropout=0.5, full_res_features=4).eval()
    x = LoadXRay()(str(covidqu / "images" / "covid_0.png"))[None]
    keep = torch.zeros(1, 1, 64, 64)
    keep[..., 20:40, 10:26] = 1
    inferer = PathologyCompositeInferer(size=64)
    plain = inferer(x, net, keep_mask=keep)
    v1, v1b, v2 = (inferer(x, net, keep_mask=keep, seed=s) for s in (1, 1, 2))
    for out in (plain, v1, v2):
        assert torch.equal(out[keep > 0.5], x.as_tensor()[keep > 0.5])
    assert torch.equal(v1, v1b) and not torch.equal(v1, v2)
    assert all(not m.training for m in net.modules())  # dropout switched back off


@pytest.mark.parametrize("bits", [8, 16])
def test_save_like_input_keeps_the_bit_depth(tmp_path, bits):
    arr = (np.arange(30 * 20).reshape(30, 20) % 250).astype(np.uint8 if bits == 8 else np.uint16)
    if bits == 16:
        arr = arr * 250
    Image.fromarray(arr).save(tmp_path / "in.png")
    img = LoadXRay()(str(tmp_path / "in.png"))
    assert isinstance(img, MetaTensor)
    SaveXRayLikeInputd(keys="pred", output_dir=tmp_path / "out", output_postfix="aug")({"pred": img})
    saved = np.asarray(Image.open(tmp_path / "out" / "in_aug.png"))
    assert saved.dtype == arr.dtype and np.array_equal(saved, arr)


def test_image_norm_stats_use_the_image_and_leave_running_statistics_alone():
    torch.manual_seed(0)
    net = UNetGenerator(in_channels=2, out_channels=1, ngf=4, num_downs=5, norm="batch").eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(3.0)  # badly off running statistics
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(1, 1, 32, 32)
    keep = torch.zeros(1, 1, 32, 32)
    keep[..., 8:20, 8:20] = 1
    running = PathologyCompositeInferer(size=32)(x, net, keep_mask=keep)
    image = PathologyCompositeInferer(size=32, norm_stats="image")(x, net, keep_mask=keep)
    assert not torch.allclose(running, image)
    assert torch.equal(image[keep > 0.5], x[keep > 0.5])
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert not any(m.training for m in net.modules())
    with pytest.raises(ConfigError):
        PathologyCompositeInferer(norm_stats="batch")
