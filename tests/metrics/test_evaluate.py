from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.metrics.evaluate import evaluate_folders, list_images
from monai_gan_aug.metrics.extractors import RandomConvExtractor
from tests.metrics._phantoms import add_noise, phantoms

torch.set_num_threads(1)


def write(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{i:03d}.png")


def test_evaluate_folders_and_manifest(tmp_path):
    real = phantoms(24, size=32, seed=0)
    write(tmp_path / "real", real)
    write(tmp_path / "same", phantoms(24, size=32, seed=1))
    write(tmp_path / "noisy", add_noise(phantoms(24, size=32, seed=1), 0.25))
    ext = RandomConvExtractor(8, 32)
    kw = dict(
        extractor=ext,
        metrics=("fid", "kid", "prdc", "diversity"),
        cache_dir=tmp_path / "cache",
        kid_subset_size=16,
        diversity_pairs=20,
    )
    good = evaluate_folders(tmp_path / "real", tmp_path / "same", out_json=tmp_path / "out.json", **kw)
    bad = evaluate_folders(tmp_path / "real", tmp_path / "noisy", **kw)
    assert good == json.loads((tmp_path / "out.json").read_text())
    assert good["n_real"] == good["n_fake"] == 24 and good["extractor"] == ext.name
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"] and good["precision"] > bad["precision"]
    assert 0 < good["msssim"] < 1
    # the same real set as a CSV manifest with relative paths
    (tmp_path / "m.csv").write_text("file,label\n" + "".join(f"real/{i:03d}.png,x\n" for i in range(24)))
    assert list_images(tmp_path / "m.csv") == list_images(tmp_path / "real")
    assert evaluate_folders(tmp_path / "m.csv", tmp_path / "same", **kw)["fid"] == pytest.approx(good["fid"])


def test_inception_score_with_efficientnet(tmp_path):
    write(tmp_path / "fake", phantoms(4, size=32))
    out = evaluate_folders(
        tmp_path / "fake", tmp_path / "fake", metrics=("is",), is_extractor="efficientnet_lite0"
    )
    assert out["is_classifier"] == "efficientnet_lite0_imagenet" and 1.0 <= out["inception_score"] <= 4.0


def test_errors(tmp_path):
    with pytest.raises(DatasetError):
        list_images(tmp_path)  # empty folder
    (tmp_path / "bad.csv").write_text("name\nx.png\n")
    with pytest.raises(DatasetError):
        list_images(tmp_path / "bad.csv")
    with pytest.raises(ConfigError):
        evaluate_folders(tmp_path, tmp_path, metrics=("ssim",))


def test_progress_bar_counts_the_images_read(tmp_path, capsys):
    write(tmp_path / "real", phantoms(6, size=32, seed=0))
    write(tmp_path / "fake", phantoms(5, size=32, seed=1))
    kw = dict(extractor=RandomConvExtractor(8, 32), metrics=("fid",), cache_dir=None)
    evaluate_folders(tmp_path / "real", tmp_path / "fake", progress=True, **kw)
    err = capsys.readouterr().err
    assert "evaluate" in err and "11/11" in err
    evaluate_folders(tmp_path / "real", tmp_path / "fake", progress=False, **kw)
    assert capsys.readouterr().err == ""
