"""End-to-end checks of bundles/cyclegan_pneumonia: metadata, training, inference (tiny settings)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pydicom
import pytest
from monai.bundle import run
from PIL import Image

from monai_gan_aug.bundle_utils import META_SCHEMA, verify_bundle_metadata
from monai_gan_aug.engines.tracking import default_tracking_uri
from monai_gan_aug.networks.factory import load_network

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "cyclegan_pneumonia"
CONFIGS = BUNDLE / "configs"
# split "all": the six synthetic patients are too few for a patient split
TINY = {"split": "all", "epochs": 2, "image_size": 32, "ngf": 4, "ndf": 4, "n_blocks": 1, "num_threads": 1, "checkpoint_every": 3}


def _chest(h: int, w: int, opacity: bool, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 40.0)
    img[((xx - w / 2) / (w * 0.45)) ** 2 + ((yy - h / 2) / (h * 0.48)) ** 2 < 1] = 180
    for cx in (w * 0.32, w * 0.68):
        img[((xx - cx) / (w * 0.14)) ** 2 + ((yy - h * 0.48) / (h * 0.3)) ** 2 < 1] = 70
    if opacity:
        img[h // 3 : h // 2, w // 5 : w // 3] = 150
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def kaggle_folder(tmp_path_factory) -> Path:
    """A Kaggle-layout folder (root/{NORMAL,PNEUMONIA}) of small non-square synthetic radiographs."""
    root = tmp_path_factory.mktemp("kaggle")
    rng = np.random.default_rng(0)
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir()
        for i in range(3):
            Image.fromarray(_chest(60 + 4 * i, 50, cls == "PNEUMONIA", rng)).save(root / cls / f"person{i}_{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(kaggle_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        run(run_id="training", config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False, dataset_dir=str(kaggle_folder), output_dir=str(out), **TINY)
    finally:
        mp.undo()
    return out


def test_metadata_valid_against_local_schema(tmp_path):
    verify_bundle_metadata(CONFIGS / "metadata.json")
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    del meta["network_data_format"]["outputs"]
    broken = tmp_path / "metadata.json"
    broken.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="outputs"):
        verify_bundle_metadata(broken)
    assert json.loads(META_SCHEMA.read_text())["required"][0] == "schema"


def test_training_writes_checkpoints_samples_generators_and_mlflow_run(trained):
    ckpts = sorted(p.name for p in (trained / "checkpoints").glob("*.pt"))
    # 3 iterations per epoch, 2 epochs: interval checkpoints at 3 and 6 plus the final one
    assert ckpts == ["checkpoint_final.pt", "checkpoint_iteration=3.pt", "checkpoint_iteration=6.pt"]
    assert sorted(p.name for p in (trained / "samples").iterdir()) == ["samples_epoch=0001.png", "samples_epoch=0002.png"]
    g_ab = load_network(trained / "models" / "G_AB.pt")
    assert g_ab.info["iterations"] == 6 and g_ab.info["image_size"] == 32
    client = mlflow.tracking.MlflowClient(tracking_uri=default_tracking_uri(trained))
    exp = client.get_experiment_by_name("cyclegan_pneumonia")
    (run_,) = client.search_runs(exp.experiment_id)
    assert run_.data.params["image_size"] == "32" and run_.data.params["images_a"] == "3"
    assert run_.data.params["split"] == "all"
    assert {"loss_G_AB_adv", "loss_G_BA_adv", "loss_D_A", "loss_D_B", "lr_G_AB"} <= set(run_.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run_.info.run_id)}
    assert {"checkpoint_final.pt", "params.json", "samples_epoch=0002.png"} <= artifacts


def test_rerun_resumes_from_final_checkpoint(trained, kaggle_folder):
    # same output dir, one more epoch: training continues at iteration 6 instead of starting over
    run(run_id="training", config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False, dataset_dir=str(kaggle_folder), output_dir=str(trained), **{**TINY, "epochs": 3})
    g_ab = load_network(trained / "models" / "G_AB.pt")
    assert g_ab.info["iterations"] == 9 and g_ab.info["epochs"] == 3


@pytest.mark.parametrize("fmt", ["png", "dicom"])
def test_inference_writes_marked_outputs_of_input_size(trained, kaggle_folder, tmp_path, fmt):
    out = tmp_path / fmt
    run(config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"), logging_file=False,
        input_dir=str(kaggle_folder / "NORMAL"), ckpt_path=str(trained / "models" / "G_AB.pt"), output_dir=str(out),
        image_size=32, output_format=fmt, num_threads=1)
    files = sorted(out.iterdir())
    assert len(files) == 3
    if fmt == "dicom":
        ds = pydicom.dcmread(files[1])
        assert ds.pixel_array.shape == (64, 50)
        assert "SYNTHETIC" in ds.SeriesDescription and list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    else:
        assert np.asarray(Image.open(files[2])).shape == (68, 50)


def test_local_edit_leaves_pixels_outside_region_untouched(trained, kaggle_folder, tmp_path):
    run(config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"), logging_file=False,
        input_dir=str(kaggle_folder / "NORMAL" / "person0_0.png"), ckpt_path=str(trained / "models" / "G_AB.pt"),
        output_dir=str(tmp_path), image_size=32, region_box=[10, 12, 30, 40], feather=4, num_threads=1)
    src = np.asarray(Image.open(kaggle_folder / "NORMAL" / "person0_0.png")).astype(np.float64) / 255
    (out_file,) = list(tmp_path.iterdir())
    out = np.asarray(Image.open(out_file)).astype(np.float64) / 65535
    outside = np.ones_like(src, bool)
    outside[12 - 4 : 40 + 4, 10 - 4 : 30 + 4] = False
    assert np.abs(out - src)[outside].max() < 1e-4  # 8-bit source round-tripped through a 16-bit PNG
    assert np.abs(out - src)[14:38, 12:28].max() > 1e-3
