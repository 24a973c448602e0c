"""bundles/lesion_inpaint end to end: metadata, one tiny training epoch, CSV-driven region edits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from monai.bundle import run
from PIL import Image

from monai_gan_aug.bundle_utils import verify_bundle_metadata
from monai_gan_aug.networks.factory import load_network

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "lesion_inpaint"
CONFIGS = BUNDLE / "configs"
DEMO = {"n_pairs": 6, "size": 64, "n_ct_slices": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One epoch on a tiny demo build in a temporary cache (real data pipeline, real networks)."""
    out = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MONAI_GAN_AUG_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        run(run_id="training", config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False, output_dir=str(out), demo_kwargs=DEMO, epochs=1, working_size=32, min_side=16,
            ngf=4, ndf=4, n_res_blocks=1, batch_size=2, num_threads=1, checkpoint_every=2)
    finally:
        mp.undo()
    return out


def test_metadata_is_valid_offline():
    verify_bundle_metadata(CONFIGS / "metadata.json")


def test_training_writes_checkpoints_samples_and_a_loadable_generator(trained):
    params = json.loads((trained / "params.json").read_text())
    assert params["training_items"] > 0 and params["working_size"] == 32
    assert (trained / "checkpoints" / "checkpoint_final.pt").is_file()
    assert any((trained / "samples").glob("*.png"))
    g = load_network(trained / "models" / "lesion_generator.pt")
    assert g.info["working_size"] == 32 and g.info["min_side"] == 16 and g.info["iterations"] >= 1


def test_inference_edits_only_the_boxes_from_a_csv(trained, tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    arr = (rng.random((90, 70)) * 200 + 20).astype(np.uint8)
    Image.fromarray(arr).save(images / "a.png")
    box_csv = tmp_path / "boxes.csv"
    with box_csv.open("w", newline="") as fh:
        csv.writer(fh).writerows([["image", "box"], ["images/a.png", "10,20,30,45"]])
    out = tmp_path / "out"
    run(run_id="inference", config_file=str(CONFIGS / "inference.json"), logging_file=False, box_csv=str(box_csv),
        output_dir=str(out), ckpt_path=str(trained / "models" / "lesion_generator.pt"), feather=0, num_threads=1)
    edited = np.asarray(Image.open(out / "a_pneumonia.png"))
    inside = np.zeros(arr.shape, bool)
    inside[20:45, 10:30] = True
    assert np.array_equal(edited[~inside], arr[~inside])
    assert (edited[inside] != arr[inside]).mean() > 0.5
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert rows[0]["file"] == "a_pneumonia.png" and rows[0]["weights"] == "lesion_generator.pt"
