"""End-to-end checks of bundles/dcgan_xray, wgan_gp_ct and fastgan_xray (tiny settings, CPU).

Each bundle trains on a small folder of synthetic images (X-ray bundles: a Kaggle-layout folder;
WGAN-GP: two NIfTI CT volumes in Hounsfield units cut into lung-window slices by LoadCTSliced),
exports a self-describing generator, resumes from its checkpoint, and samples images with
``inference.json``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import run
from PIL import Image
from torch import nn

from monai_gan_aug.bundle_utils import verify_bundle_metadata
from monai_gan_aug.networks.factory import load_network

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
NAMES = ("dcgan_xray", "wgan_gp_ct", "fastgan_xray")
COMMON = {"epochs": 1, "image_size": 32, "ngf": 4, "ndf": 4, "batch_size": 2, "num_threads": 1, "checkpoint_every": 2}
TINY = {
    "dcgan_xray": {**COMMON, "latent_dim": 8},
    "wgan_gp_ct": {**COMMON, "latent_dim": 8, "n_critic": 2},
    "fastgan_xray": {**COMMON, "latent_dim": 8},
}


def _chest(rng: np.random.Generator, size: int = 40) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.full((size, size), 40.0)
    img[((xx - size / 2) / (size * 0.45)) ** 2 + ((yy - size / 2) / (size * 0.48)) ** 2 < 1] = 180
    for cx in (size * 0.32, size * 0.68):
        img[((xx - cx) / (size * 0.14)) ** 2 + ((yy - size * 0.48) / (size * 0.3)) ** 2 < 1] = 70
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def xray_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kaggle")
    rng = np.random.default_rng(0)
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir()
        for i in range(2):
            Image.fromarray(_chest(rng)).save(root / cls / f"person{i}_{cls.lower()}.png")
    return root


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory) -> Path:
    """Two 24x24x4 CT volumes in HU: air outside, soft-tissue body, two lungs."""
    root = tmp_path_factory.mktemp("ct")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:24, 0:24]
    for k in range(2):
        sl = np.full((24, 24), -1000.0)
        sl[((xx - 12) / 11) ** 2 + ((yy - 12) / 9) ** 2 < 1] = 40
        for cx in (7, 17):
            sl[((xx - cx) / 4) ** 2 + ((yy - 12) / 6) ** 2 < 1] = -850
        vol = np.stack([sl + rng.normal(0, 10, sl.shape) for _ in range(4)], axis=-1).astype(np.int16)
        nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), root / f"ct{k}.nii.gz")
    return root


def _train(name: str, data: Path, out: Path, **overrides) -> None:
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        run(run_id="training", config_file=str(BUNDLES / name / "configs" / "train.json"),
            meta_file=str(BUNDLES / name / "configs" / "metadata.json"), logging_file=False,
            dataset_dir=str(data), output_dir=str(out), **{**TINY[name], **overrides})
    finally:
        mp.undo()


@pytest.mark.parametrize("name", NAMES)
def test_bundle_files_and_metadata(name):
    root = BUNDLES / name
    for rel in ("configs/train.json", "configs/inference.json", "configs/multi_gpu_train.json",
                "configs/metadata.json", "docs/README.md", "LICENSE", "models/.gitkeep"):
        assert (root / rel).is_file(), rel
    verify_bundle_metadata(root / "configs" / "metadata.json")
    assert (root / "LICENSE").read_text() == (BUNDLES / "cyclegan_pneumonia" / "LICENSE").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_train_resume_export_and_sample(name, xray_folder, ct_folder, tmp_path):
    data = ct_folder if name == "wgan_gp_ct" else xray_folder
    out = tmp_path / "run"
    _train(name, data, out)
    params = json.loads((out / "params.json").read_text())
    n_images = 8 if name == "wgan_gp_ct" else 4  # 2 volumes x 4 slices; 4 radiographs
    assert params["images"] == n_images
    assert (out / "checkpoints" / "checkpoint_final.pt").is_file()
    assert (out / "samples" / "samples_epoch=0001.png").is_file()
    assert (out / "mlruns.db").is_file()
    export = "G_ema.pt" if name == "fastgan_xray" else "G.pt"
    gen = load_network(out / "models" / export)
    assert gen.info["iterations"] == n_images // 2 and gen.info["image_size"] == 32
    assert gen(torch.randn(1, 8)).shape == (1, 1, 32, 32)
    if name == "wgan_gp_ct":
        critic_cls = json.loads((BUNDLES / name / "configs" / "train.json").read_text())["discriminator"]["_target_"]
        assert critic_cls.endswith("WGANCritic")

    if name == "fastgan_xray":  # the richest checkpoint (G, D, G_ema, two optimisers); the others share the code
        # resume: a second run with 2 epochs continues from the first one's end instead of starting over
        _train(name, data, out, epochs=2)
        assert load_network(out / "models" / export).info["iterations"] == n_images

    samples = tmp_path / "samples"
    run(run_id="run", config_file=str(BUNDLES / name / "configs" / "inference.json"), logging_file=False,
        ckpt_path=str(out / "models" / export), output_dir=str(samples), n_samples=3, seed=1)
    rows = list(csv.DictReader(open(samples / "manifest.csv")))
    assert [r["index"] for r in rows] == ["0", "1", "2"] and {r["bundle"] for r in rows} == {name}
    im = Image.open(samples / rows[0]["file"])
    assert im.size == (32, 32) and "SYNTHETIC" in str(im.info).upper()


def test_dcgan_lung_mask_config_trains_on_masks(tmp_path):
    folder = tmp_path / "masks_data"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rng = np.random.default_rng(2)
    rows = []
    for i in range(4):
        Image.fromarray(_chest(rng)).save(folder / "images" / f"im{i}.png")
        mask = (_chest(rng) < 100).astype(np.uint8) * 255
        Image.fromarray(mask).save(folder / "masks" / f"im{i}.png")
        rows.append({"file": f"images/im{i}.png", "label": "normal", "patient": f"p{i}", "mask_file": f"masks/im{i}.png",
                     "bbox": "", "view": "PA", "source_repo": "", "source_path": "", "source_commit": "", "license": ""})
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "run"
    configs = BUNDLES / "dcgan_xray" / "configs"
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        run(run_id="training", config_file=[str(configs / "train.json"), str(configs / "train_masks.json")],
            logging_file=False, dataset_dir=str(folder / "manifest.csv"), output_dir=str(out), **TINY["dcgan_xray"])
    finally:
        mp.undo()
    gen = load_network(out / "models" / "G.pt")
    assert "mask" in gen.info["task"] and json.loads((out / "params.json").read_text())["images"] == 4


def test_wgan_critic_in_bundle_has_no_batch_norm():
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLES / "wgan_gp_ct" / "configs" / "train.json"))
    critic = parser.get_parsed_content("discriminator")
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    assert parser["n_critic"] == 5 and parser["lambda_gp"] == 10.0 and parser["betas"] == [0.5, 0.9]
