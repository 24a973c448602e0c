"""Tests of LungMask / LungMaskd and the shipped lung UNet (tiny synthetic images; real data optional)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.networks.nets import UNet
from PIL import Image

from monai_gan_aug.data.splits import patient_split
from monai_gan_aug.errors import ConfigError, InvalidImageError, MissingWeightsError
from monai_gan_aug.networks.factory import save_network
from monai_gan_aug.transforms.lung import (
    LUNG_WEIGHTS_NAME,
    LungMask,
    LungMaskd,
    keep_largest_components,
    load_lung_network,
    to_working_size,
)
from monai_gan_aug.utils import weights as weights_mod
from monai_gan_aug.utils.weights import shipped_weights_path
from tests.conftest import require_shared_data

TINY_KWARGS = {"spatial_dims": 2, "in_channels": 1, "out_channels": 1, "channels": [4, 8], "strides": [2], "num_res_units": 0}


@pytest.fixture
def tiny_weights(tmp_path):
    """A self-describing lung_unet checkpoint of a tiny untrained UNet (exercises the custom-weights path)."""
    torch.manual_seed(0)
    path = tmp_path / "tiny_lung.pt"
    save_network(UNet(**TINY_KWARGS), "lung_unet", TINY_KWARGS, path, info={"working_size": 32})
    return path


def test_shipped_weights_load_weights_only():
    ckpt = torch.load(shipped_weights_path(LUNG_WEIGHTS_NAME), map_location="cpu", weights_only=True)
    assert ckpt["network"] == "lung_unet"
    assert ckpt["info"]["working_size"] > 0
    assert ckpt["info"]["split_seed"] == 0
    net = load_lung_network(device="cpu")
    assert isinstance(net, UNet) and not net.training
    assert load_lung_network(device="cpu") is net  # loaded once, then cached


def test_lungmaskd_on_synthetic_chest(chest_like):
    img = MetaTensor(torch.from_numpy(chest_like)[None], meta={"filename_or_obj": "synthetic.png"})
    out = LungMaskd(keys="image", device="cpu")({"image": img})
    mask = out["lung_mask"]
    assert out["image"] is img
    assert mask.shape == (1, 96, 80) and mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    assert mask.meta["filename_or_obj"] == "synthetic.png"
    # A cartoon of ellipses is far from the radiographs the net learnt from, so only sanity is
    # checked here (the real accuracy test is test_dice_on_kermany_test_split): no lung in the
    # air outside the body, and no mask covering most of the image.
    assert mask[0, :3, :3].sum() == 0 and mask[0, -3:, -3:].sum() == 0
    assert 0.0 <= float(mask.mean()) < 0.5


def test_custom_weights_and_output_size(tiny_weights):
    x = np.random.default_rng(0).random((1, 40, 56), dtype=np.float32)
    seg = LungMask(weights=tiny_weights, device="cpu", postprocess=False)
    prob = seg.probability(x)
    assert prob.shape == (1, 40, 56) and float(prob.min()) >= 0 and float(prob.max()) <= 1
    mask = seg(x)
    assert mask.shape == (1, 40, 56)
    assert torch.equal(mask.as_tensor(), (prob > 0.5).float())


def test_missing_weights_raise(tmp_path, monkeypatch, chest_like):
    with pytest.raises(MissingWeightsError):
        LungMaskd(keys="image", weights=tmp_path / "absent.pt")({"image": chest_like[None]})
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)  # an installation without shipped weights
    with pytest.raises(MissingWeightsError, match="lung_unet.pt"):
        LungMask(device="cpu")(chest_like[None])


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((64, 64), np.float32), "channel-first"),
        (np.zeros((3, 64, 64), np.float32), "channel-first"),
        (np.zeros((1, 8, 64), np.float32), "at least"),
        (np.full((1, 32, 32), np.nan, np.float32), "NaN"),
        (np.full((1, 32, 32), 0.5, np.float32), "constant"),
        (np.linspace(0, 255, 32 * 32, dtype=np.float32).reshape(1, 32, 32), r"\[0, 1\]"),
        ([[0.0, 1.0]], "numpy array or torch tensor"),
    ],
)
def test_bad_input(bad, match, tiny_weights):
    with pytest.raises(InvalidImageError, match=match):
        LungMask(weights=tiny_weights, device="cpu")(bad)


def test_bad_config():
    with pytest.raises(ConfigError):
        LungMask(threshold=1.5)
    with pytest.raises(ConfigError):
        LungMaskd(keys="image", output_keys="image")


def test_to_working_size_geometry():
    img = torch.rand(1, 50, 30)
    x, (h, w), (top, left) = to_working_size(img, 20)
    assert x.shape == (1, 20, 20) and (h, w) == (20, 12) and (top, left) == (0, 4)
    assert torch.all(x[:, :, :left] == 0) and torch.all(x[:, :, left + w :] == 0)
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_keep_largest_components():
    m = np.zeros((40, 40), bool)
    m[5:30, 3:15] = True  # lung 1, with a hole
    m[10:12, 8:10] = False
    m[5:30, 22:35] = True  # lung 2
    m[36:38, 36:38] = True  # stray blob
    out = keep_largest_components(m)
    assert out[11, 9] and out[20, 25] and not out[37, 37]


def test_dice_on_kermany_test_split():
    data = require_shared_data() / "kermany"
    with open(data / "manifest.csv", newline="") as fh:
        rows = [{"patient": r["patient"], "image": r["file"], "label": r["mask_file"]} for r in csv.DictReader(fh) if r["mask_file"]]
    test_items = patient_split(rows, fractions=(0.7, 0.15, 0.15), seed=0)["test"][:5]
    seg = LungMask(device="cpu")
    dices = []
    for it in test_items:
        img = np.asarray(Image.open(data / it["image"]).convert("L"), np.float32)[None] / 255.0
        ref = np.asarray(Image.open(data / it["label"]).convert("L")) > 127
        pred = seg(img)[0].numpy() > 0.5
        dices.append(2 * (pred & ref).sum() / (pred.sum() + ref.sum()))
    assert np.mean(dices) >= 0.9, dices
