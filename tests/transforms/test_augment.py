"""RandGANAugment(d): label-consistent GAN augmentation with real (tiny) generators loaded from files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedTrainer
from monai.networks.nets import DenseNet121
from monai.transforms import Compose, EnsureTyped

from monai_gan_aug.errors import ConfigError, InvalidImageError, MissingWeightsError, RegionError
from monai_gan_aug.networks.factory import build_network, save_network
from monai_gan_aug.transforms import augment
from monai_gan_aug.transforms.augment import (
    GANAugment,
    RandGANAugment,
    RandGANAugmentd,
    load_generator,
    weights_fingerprint,
)

G_KW = {"in_channels": 1, "out_channels": 1, "ngf": 4, "n_blocks": 1}
L_KW = {"ngf": 4, "n_res_blocks": 1}


@pytest.fixture(scope="module")
def g_ab(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny_G_AB.pt"
    save_network(
        build_network("resnet_generator", **G_KW), "resnet_generator", G_KW, path, info={"image_size": 32}
    )
    return path


@pytest.fixture(scope="module")
def lesion(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w") / "tiny_lesion.pt"
    save_network(
        build_network("lesion_generator", **L_KW),
        "lesion_generator",
        L_KW,
        path,
        info={"working_size": 32, "min_side": 16},
    )
    return path


def _image(h: int = 48, w: int = 40, seed: int = 0) -> MetaTensor:
    rng = np.random.default_rng(seed)
    return MetaTensor(
        torch.from_numpy((0.2 + 0.5 * rng.random((1, h, w))).astype(np.float32)),
        meta={"filename_or_obj": f"img{seed}.png"},
    )


def test_translate_flips_healthy_and_records_generator(g_ab):
    t = RandGANAugmentd("image", prob=1.0, mode="translate", weights=g_ab).set_random_state(0)
    img = _image()
    out = t({"image": img.clone(), "label": 0})
    assert out["label"] == 1 and isinstance(out["label"], int)
    assert out["image"].shape == img.shape and not torch.equal(out["image"], img)
    assert float(out["image"].min()) >= 0 and float(out["image"].max()) <= 1
    record = json.loads(out["image"].meta["gan_augment"])
    assert record["applied"] and record["generator"] == "tiny_G_AB.pt"
    assert record["generator_sha256"] == weights_fingerprint(g_ab) and len(record["generator_sha256"]) == 12
    assert out["image"].meta["synthetic"] is True and out["image"].meta["filename_or_obj"] == "img0.png"
    # pneumonia images are not translated (nothing to translate), and are still marked for collation
    sick = {"image": img.clone(), "label": torch.tensor(1)}
    kept = t(sick)
    assert torch.equal(kept["image"], img) and json.loads(kept["image"].meta["gan_augment"]) == {
        "applied": False,
        "mode": "translate",
    }


def test_probability_and_reproducibility(g_ab):
    t = RandGANAugmentd("image", prob=0.5, mode="translate", weights=g_ab).set_random_state(3)
    applied = [
        json.loads(t({"image": _image(seed=i), "label": 0})["image"].meta["gan_augment"])["applied"]
        for i in range(12)
    ]
    assert 0 < sum(applied) < 12
    t2 = RandGANAugmentd("image", prob=0.5, mode="translate", weights=g_ab).set_random_state(3)
    assert applied == [
        json.loads(t2({"image": _image(seed=i), "label": 0})["image"].meta["gan_augment"])["applied"]
        for i in range(12)
    ]
    assert (
        RandGANAugmentd("image", prob=0.0, mode="translate", weights=g_ab)({"image": _image(), "label": 0})[
            "label"
        ]
        == 0
    )


def test_lesion_edits_region_updates_seg_and_one_hot_class(lesion):
    t = RandGANAugmentd(
        "image", prob=1.0, mode="lesion", weights=lesion, seg_key="seg", feather=2
    ).set_random_state(0)
    img = _image(64, 56)
    seg = torch.zeros(1, 64, 56)
    seg[0, :2, :2] = 1  # an existing label stays
    out = t({"image": img.clone(), "label": np.array([1.0, 0.0], np.float32), "seg": seg})
    np.testing.assert_array_equal(out["label"], [0.0, 1.0])
    record = json.loads(out["image"].meta["gan_augment"])
    x0, y0, x1, y1 = record["region"]["boxes"][0]
    region = np.zeros((64, 56), bool)
    region[y0:y1, x0:x1] = True
    assert torch.equal(out["seg"][0] > 0, torch.from_numpy(region) | (seg[0] > 0))
    changed = (out["image"] - img).abs()[0] > 0
    assert changed[torch.from_numpy(region)].float().mean() > 0.5
    far = ~torch.nn.functional.max_pool2d(torch.from_numpy(region)[None, None].float(), 7, 1, 3)[0, 0].bool()
    assert not changed[far].any()  # untouched beyond the region and its 2 px feather band
    # the same seed reproduces the edit and region
    again = RandGANAugmentd(
        "image", prob=1.0, mode="lesion", weights=lesion, seg_key="seg", feather=2
    ).set_random_state(0)
    out2 = again({"image": img.clone(), "label": np.array([1.0, 0.0], np.float32), "seg": seg})
    assert (
        torch.equal(out2["image"], out["image"]) and json.loads(out2["image"].meta["gan_augment"]) == record
    )


def test_lesion_region_steered_into_the_lung(lesion):
    lung = torch.zeros(1, 64, 64)
    lung[0, 10:50, 30:60] = 1
    t = RandGANAugmentd("image", prob=1.0, mode="lesion", weights=lesion, lung_key="lung", label_key=None)
    for seed in range(3):
        t.set_random_state(seed)
        out = t({"image": _image(64, 64), "lung": lung})
        region = json.loads(out["image"].meta["gan_augment"])["region"]
        assert region["clipped_to_lung"] and t.rand_augment.region_mask is not None
        assert float((t.rand_augment.region_mask * (1 - lung)).sum()) == 0


def test_generators_are_loaded_once(g_ab):
    a, _ = load_generator(g_ab, "cpu")
    b, _ = load_generator(g_ab, "cpu")
    assert a is b and not a.training
    assert (str(g_ab.resolve()), "cpu") in augment._CACHE


def test_errors(g_ab, lesion, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="mode"):
        RandGANAugmentd("image", mode="swap")
    with pytest.raises(ConfigError, match="segmentation"):
        RandGANAugmentd("image", mode="translate", seg_key="seg")
    with pytest.raises(ConfigError, match="lesion_generator"):
        GANAugment("lesion", weights=g_ab)(_image(), torch.ones(1, 48, 40))
    with pytest.raises(ConfigError, match="image-to-image"):
        GANAugment("translate", weights=lesion)(_image())
    with pytest.raises(RegionError, match="region_mask"):
        GANAugment("lesion", weights=lesion)(_image())
    with pytest.raises(InvalidImageError):
        RandGANAugment(1.0, "translate", g_ab)(torch.rand(3, 8, 8))
    with pytest.raises(ConfigError, match="label_key"):
        RandGANAugmentd("image", prob=1.0, weights=g_ab)({"image": _image()})
    with pytest.raises(ConfigError, match="class"):
        RandGANAugmentd("image", prob=1.0, weights=g_ab)({"image": _image(), "label": [0, 0, 1]})
    with pytest.raises(MissingWeightsError):
        GANAugment("translate", weights=tmp_path / "absent.pt")(_image())
    monkeypatch.setattr("monai_gan_aug.utils.weights.WEIGHTS_DIR", tmp_path)
    with pytest.raises(MissingWeightsError, match="cyclegan_G_AB.pt"):
        GANAugment("translate")(_image())


def test_in_a_monai_classification_run(g_ab):
    """A tiny classifier trains with SupervisedTrainer while RandGANAugmentd runs in the data pipeline."""
    torch.manual_seed(0)
    data = [{"image": _image(32, 32, seed=i), "label": i % 2} for i in range(4)]
    aug = RandGANAugmentd("image", prob=1.0, mode="translate", weights=g_ab, device="cpu")
    seen: list[dict] = []

    def record(d):
        seen.append({"label": int(d["label"]), "gan": json.loads(d["image"].meta["gan_augment"])})
        return d

    transform = Compose([aug, record, EnsureTyped(keys="label", dtype=torch.long)])
    loader = DataLoader(Dataset(data, transform=transform), batch_size=2, num_workers=0)
    net = DenseNet121(
        spatial_dims=2, in_channels=1, out_channels=2, init_features=4, growth_rate=4, block_config=(1, 1)
    )
    before = [p.detach().clone() for p in net.parameters()]
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=loader,
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=torch.nn.CrossEntropyLoss(),
    )
    trainer.run()
    assert trainer.state.iteration == 2 and np.isfinite(float(trainer.state.output[0]["loss"]))
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    # every healthy image became pneumonia (label 1) by the generator; every sample says what happened
    assert [s["label"] for s in seen] == [1, 1, 1, 1]
    assert [s["gan"]["applied"] for s in seen] == [True, False, True, False]
