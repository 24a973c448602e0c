"""End-to-end checks of bundles/pix2pix_pathology: metadata, one tiny training epoch, box-preserving inference."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from monai.bundle import run
from PIL import Image

from monai_gan_aug.bundle_utils import verify_bundle_metadata
from monai_gan_aug.engines.tracking import default_tracking_uri
from monai_gan_aug.networks.factory import load_network
from monai_gan_aug.utils.weights import WEIGHTS_DIR

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "pix2pix_pathology"
CONFIGS = BUNDLE / "configs"
TINY = {"epochs": 1, "working_size": 32, "ngf": 4, "ndf": 4, "batch_size": 2, "num_threads": 1,
        "checkpoint_every": 2, "box_repeat": 1, "mlflow_log_every": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One epoch on a tiny demo build (6 healthy/pneumonia pairs, 64 px) in a temporary cache."""
    out = tmp_path_factory.mktemp("run")
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MONAI_GAN_AUG_CACHE", str(cache))
    try:
        run(run_id="training", config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False, output_dir=str(out),
            demo_kwargs={"n_pairs": 6, "size": 64, "n_ct_slices": 0}, **TINY)
    finally:
        mp.undo()
    return out


def test_metadata_valid_against_local_schema(tmp_path):
    verify_bundle_metadata(CONFIGS / "metadata.json")
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["network_data_format"]["inputs"]["image"]["num_channels"] == 2
    del meta["network_data_format"]["inputs"]
    broken = tmp_path / "metadata.json"
    broken.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="inputs"):
        verify_bundle_metadata(broken)


def test_one_epoch_writes_checkpoints_samples_generator_and_mlflow_run(trained):
    params = json.loads((trained / "params.json").read_text())
    # the train split of the 6 demo pairs holds 3 pairs: 3 boxed pneumonia twins + 3 healthy images
    # with random boxes; batches of 2 with drop_last -> 3 iterations
    assert params["training_items"] == 6 and params["boxed_items"] == 3
    ckpts = sorted(p.name for p in (trained / "checkpoints").glob("*.pt"))
    assert ckpts == ["checkpoint_final.pt", "checkpoint_iteration=2.pt"]
    assert [p.name for p in (trained / "samples").iterdir()] == ["samples_epoch=0001.png"]
    g = load_network(trained / "models" / "G.pt")
    assert g.in_channels == 2 and g.info["working_size"] == 32 and g.info["iterations"] == 3
    client = mlflow.tracking.MlflowClient(tracking_uri=default_tracking_uri(trained))
    (run_,) = client.search_runs(client.get_experiment_by_name("pix2pix_pathology").experiment_id)
    assert run_.data.params["boxed_items"] == "3"
    metrics = run_.data.metrics
    assert {"loss_G_adv", "loss_G_L1", "loss_D", "lr_G"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    artifacts = {a.path for a in client.list_artifacts(run_.info.run_id)}
    assert {"checkpoint_final.pt", "params.json", "samples_epoch=0001.png"} <= artifacts


@pytest.mark.parametrize("weights", ["trained", "shipped"])
def test_inference_keeps_box_content_exactly_and_regenerates_the_rest(weights, request, tmp_path):
    if weights == "trained":
        ckpt = request.getfixturevalue("trained") / "models" / "G.pt"
    else:
        ckpt = WEIGHTS_DIR / "pix2pix_pathology.pt"
    rng = np.random.default_rng(1)
    images = tmp_path / "images"
    images.mkdir()
    arrays = {"a.png": (rng.random((70, 50)) * 255).astype(np.uint8),
              "b.png": (rng.random((40, 64)) * 255).astype(np.uint8)}
    for name, arr in arrays.items():
        Image.fromarray(arr).save(images / name)
    boxes = {"a.png": [[5, 10, 20, 30], [30, 40, 45, 66]], "b.png": [[10, 5, 40, 20]]}
    (tmp_path / "boxes.csv").write_text(
        'image,box\na.png,"5,10,20,30"\na.png,"30,40,45,66"\nb.png,"10,5,40,20"\n'
    )
    out = tmp_path / "out"
    run(run_id="run", config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False, box_csv=str(tmp_path / "boxes.csv"), input_dir=str(images), output_dir=str(out),
        ckpt_path=str(ckpt), num_threads=1)
    for name, arr in arrays.items():
        saved = Image.open(out / name.replace(".png", "_pathology_aug.png"))
        assert "SYNTHETIC" in saved.info["Description"].upper()
        result = np.asarray(saved)
        assert result.shape == arr.shape and result.dtype == np.uint8  # 8-bit in, 8-bit out
        inside = np.zeros(arr.shape, bool)
        for x0, y0, x1, y1 in boxes[name]:
            inside[y0:y1, x0:x1] = True
        assert np.array_equal(result[inside], arr[inside])  # every box pixel, exactly
        assert not np.array_equal(result[~inside], arr[~inside])


@pytest.fixture(scope="module")
def covidqu_run(tmp_path_factory):
    """2 iterations on a tiny covidqu layout: real boxes, real-like regions for normals, boundary loss."""
    from tests.metrics._covidqu import make_covidqu

    data = tmp_path_factory.mktemp("covidqu")
    make_covidqu(data, n=2, side=64)
    out = tmp_path_factory.mktemp("run_covidqu")
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        run(run_id="training", config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False, output_dir=str(out), dataset_dir=str(data), part="all",
            **{**TINY, "box_repeat": 1, "full_res_features": 4, "boundary_weight": 10.0, "boundary_width": 2})
    finally:
        mp.undo()
    return data, out


def test_covidqu_layout_trains_two_iterations_with_real_like_regions_and_boundary_loss(covidqu_run):
    _, out = covidqu_run
    params = json.loads((out / "params.json").read_text())
    # 2 COVID films with their boxes + 2 normal films with regions drawn from those boxes
    assert params["training_items"] == 4 and params["boxed_items"] == 2 and params["region"] == "boxes"
    g = load_network(out / "models" / "G.pt")
    assert g.info["iterations"] == 2 and g.info["region"] == "boxes" and g.full_res_features == 4
    assert load_network(out / "models" / "D.pt").in_channels == 3  # exported too, to continue training


def test_training_continues_from_exported_weights_with_the_mask_region(covidqu_run, tmp_path, monkeypatch):
    data, out = covidqu_run
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out2 = tmp_path / "run2"
    run(run_id="training", config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False, output_dir=str(out2), dataset_dir=str(data), part="all", region="mask",
        init_generator=str(out / "models" / "G.pt"), init_discriminator=str(out / "models" / "D.pt"),
        **{**TINY, "box_repeat": 1, "full_res_features": 4})
    g = load_network(out2 / "models" / "G.pt")
    assert g.info["init_generator"].endswith("G.pt") and g.info["region"] == "mask"
