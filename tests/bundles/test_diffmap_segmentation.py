"""End-to-end checks of bundles/diffmap_segmentation: metadata, pseudo-label training, mask inference (tiny settings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import run
from PIL import Image

from monai_gan_aug.bundle_utils import verify_bundle_metadata
from monai_gan_aug.inferers.difference_map import DifferenceMapInferer, dicom_seg_backend
from monai_gan_aug.networks.factory import load_network, save_network
from monai_gan_aug.networks.resnet_generator import ResNetGenerator
from monai_gan_aug.transforms.io import LoadXRay

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "diffmap_segmentation"
CONFIGS = BUNDLE / "configs"
G_KW = {"in_channels": 1, "out_channels": 1, "ngf": 4, "n_blocks": 1}


def _chest(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 40.0)
    img[((xx - w / 2) / (w * 0.45)) ** 2 + ((yy - h / 2) / (h * 0.48)) ** 2 < 1] = 180
    for cx in (w * 0.32, w * 0.68):
        img[((xx - cx) / (w * 0.14)) ** 2 + ((yy - h * 0.48) / (h * 0.3)) ** 2 < 1] = 70
    img[h // 3 : h // 2, w // 5 : w // 3] = 150
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """root/{NORMAL,PNEUMONIA}/ of small non-square synthetic radiographs."""
    root = tmp_path_factory.mktemp("kaggle")
    rng = np.random.default_rng(0)
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir()
        for i in range(3):
            Image.fromarray(_chest(60 + 4 * i, 50, rng)).save(root / cls / f"person{i}_{cls.lower()}.png")
    return root


@pytest.fixture(scope="module")
def g_ba(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "G_BA.pt"
    save_network(ResNetGenerator(**G_KW), "resnet_generator", G_KW, path, info={"image_size": 32})
    return path


def test_metadata_valid_against_local_schema():
    verify_bundle_metadata(CONFIGS / "metadata.json")
    assert (BUNDLE / "LICENSE").read_text() == (BUNDLE.parent / "cyclegan_pneumonia" / "LICENSE").read_text()
    for name in ("train.json", "inference.json", "multi_gpu_train.json"):
        json.loads((CONFIGS / name).read_text())


def test_training_on_pseudo_labels(data, g_ba, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "run"
    run(
        run_id="training",
        config_file=str(CONFIGS / "train.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False,
        dataset_dir=str(data),
        split="all",
        g_ba_path=str(g_ba),
        output_dir=str(out),
        image_size=32,
        channels=[4, 8],
        strides=[2],
        epochs=2,
        batch_size=2,
        num_threads=1,
        use_lung=False,
        min_size=0,
    )
    unet = load_network(out / "models" / "model.pt")
    assert unet.info["iterations"] == 4 and unet.info["pseudo_label_generator"] == "G_BA.pt"
    assert (out / "checkpoints" / "checkpoint_final.pt").is_file()
    # tracked in the local MLflow store like every bundle: params, the loss curve, the final checkpoint
    import mlflow

    from monai_gan_aug.engines.tracking import default_tracking_uri

    client = mlflow.tracking.MlflowClient(tracking_uri=default_tracking_uri(out))
    (run_,) = client.search_runs(client.get_experiment_by_name("diffmap_segmentation").experiment_id)
    assert run_.data.params["image_size"] == "32" and "loss" in run_.data.metrics
    assert "checkpoint_final.pt" in {a.path for a in client.list_artifacts(run_.info.run_id)}
    y = unet(torch.rand(1, 1, 32, 32))
    assert y.shape == (1, 1, 32, 32) and torch.isfinite(y).all()


def test_inference_writes_masks_and_overlays(data, g_ba, tmp_path, capsys):
    out = tmp_path / "eval"
    run(
        config_file=str(CONFIGS / "inference.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False,
        input_dir=str(data / "PNEUMONIA"),
        ckpt_path=str(g_ba),
        output_dir=str(out),
        use_lung=False,
        min_size=0,
        num_threads=1,
    )
    masks = sorted((out / "masks").iterdir())
    overlays = sorted((out / "overlays").iterdir())
    assert [p.name for p in masks] == [f"person{i}_pneumonia_lesion_mask.png" for i in range(3)]
    assert [p.name for p in overlays] == [f"person{i}_pneumonia_overlay.png" for i in range(3)]
    src = data / "PNEUMONIA" / "person1_pneumonia.png"
    mask = np.asarray(Image.open(masks[1]))
    assert mask.shape == (64, 50) and set(np.unique(mask)) <= {0, 255}
    # the written mask is the inferer's mask for that image
    img = LoadXRay()(src)
    with torch.inference_mode():
        expected = (
            DifferenceMapInferer(lung=None, min_size=0)(img[None], load_network(g_ba))[0, 0].numpy() > 0
        )
    np.testing.assert_array_equal(mask > 0, expected)
    rgb = np.asarray(Image.open(overlays[1]))
    assert rgb.shape == (64, 50, 3)
    assert "DICOM-SEG" in capsys.readouterr().out
    if dicom_seg_backend() is None:
        assert not any(p.suffix == ".dcm" for p in out.rglob("*"))


def test_nifti_masks(data, g_ba, tmp_path):
    out = tmp_path / "nii"
    run(
        config_file=str(CONFIGS / "inference.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False,
        input_dir=str(data / "PNEUMONIA" / "person0_pneumonia.png"),
        ckpt_path=str(g_ba),
        output_dir=str(out),
        use_lung=False,
        output_format="nifti",
        write_overlays=False,
        num_threads=1,
    )
    assert [p.name for p in (out / "masks").iterdir()] == ["person0_pneumonia_lesion_mask.nii.gz"]
    assert not (out / "overlays").exists()


def test_inference_runs_under_the_named_id_too(data, g_ba, tmp_path):
    # the docs and other bundles say `run inference`; the model-zoo convention is plain `run`
    out = tmp_path / "eval"
    run(run_id="inference", config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False, input_dir=str(data / "PNEUMONIA" / "person0_pneumonia.png"), ckpt_path=str(g_ba),
        output_dir=str(out), use_lung=False, min_size=0, num_threads=1, write_overlays=False)
    assert [p.name for p in (out / "masks").iterdir()] == ["person0_pneumonia_lesion_mask.png"]
