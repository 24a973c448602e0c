"""``monai-gan-aug synthesize --mode pix2pix``: K variants per boxed film, kept region and bit depth preserved."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.cli import main
from monai_gan_aug.networks.factory import build_network, save_network
from tests.metrics._covidqu import make_covidqu

KW = {"in_channels": 2, "out_channels": 1, "ngf": 4, "num_downs": 6, "dropout": 0.5, "norm": "instance",
      "full_res_features": 4}


@pytest.fixture(scope="module")
def p2p_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny_p2p.pt"
    save_network(build_network("unet_generator", **KW), "unet_generator", KW, path, info={"working_size": 64})
    return path


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("region", ["boxes", "mask"])
def test_pix2pix_variants_keep_the_region_and_the_8_bit_depth(tmp_path, p2p_weights, region, capsys):
    (tmp_path / "data").mkdir()
    root = make_covidqu(tmp_path / "data", n=2, side=64)
    out = tmp_path / "syn"
    code = main(["synthesize", "--input", str(root / "manifest.csv"), "--out", str(out), "--mode", "pix2pix",
                 "--region", region, "--n-per-image", "2", "--weights", str(p2p_weights), "--quiet"])
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "manifest.csv")
    assert len(rows) == 4  # 2 COVID films x 2 variants; normal films have no region to keep
    outs = []
    for r in rows:
        assert r["mode"] == "pix2pix" and r["label"] == "covid" and r["generator"] == "tiny_p2p.pt"
        src = np.asarray(Image.open(r["source"]))
        img = Image.open(out / r["file"])
        arr = np.asarray(img)
        assert arr.dtype == np.uint8 and arr.shape == src.shape  # 8-bit in, 8-bit out
        assert "SYNTHETIC" in img.info["Description"].upper()
        label = np.asarray(Image.open(out / r["lesion_mask_file"])) > 0
        lesion = np.asarray(Image.open(r["source"].replace("images", "masks_lesion"))) > 0
        assert np.array_equal(label, lesion)  # the label is the film's own lesion mask
        keep = np.zeros(src.shape, bool)
        keep[20:40, 10:26] = True  # box 10 20 25 39 (end-inclusive) == the lesion mask here
        assert np.array_equal(arr[keep], src[keep]) and not np.array_equal(arr[~keep], src[~keep])
        assert json.loads(r["region"])["kind"] == region
        outs.append(arr)
    assert not np.array_equal(outs[0], outs[1])  # two seeded variants of one film differ
