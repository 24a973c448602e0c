"""Tests of ``monai-gan-aug sample``: images, manifest, seeding, weights resolution, errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.cli import main
from monai_gan_aug.cli.sample import MANIFEST_COLUMNS, default_weights, sample_to_folder
from monai_gan_aug.errors import ConfigError, MissingWeightsError
from monai_gan_aug.networks.dcgan import DCGANGenerator
from monai_gan_aug.networks.factory import save_network

KWARGS = {"latent_dim": 8, "image_size": 16, "ngf": 4}


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    g = DCGANGenerator(**KWARGS)
    g.train()
    g(torch.randn(8, 8))  # move the batch-norm running statistics off their init so outputs are not flat
    path = tmp_path / "G.pt"
    save_network(g, "dcgan_generator", KWARGS, path)
    return path


def _read(folder):
    return list(csv.DictReader(open(folder / "manifest.csv")))


def test_cli_writes_images_and_manifest(weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sample", "--bundle", "dcgan_xray", "--n", "5", "--out", str(out), "--seed", "3",
                 "--weights", str(weights), "--batch-size", "2"]) == 0
    rows = _read(out)
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert [r["index"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert {r["seed"] for r in rows} == {"3"} and {r["bundle"] for r in rows} == {"dcgan_xray"}
    assert {r["weights"] for r in rows} == {str(weights)}
    im = Image.open(out / rows[0]["file"])
    assert im.size == (16, 16) and "SYNTHETIC" in str(im.info).upper()
    assert "wrote 5 images" in capsys.readouterr().out


def test_same_seed_same_images_independent_of_batch_size(weights, tmp_path):
    from monai_gan_aug.networks.factory import load_network

    net = load_network(weights)
    sample_to_folder(net, 4, tmp_path / "a", seed=1, bundle="dcgan_xray", batch_size=4)
    sample_to_folder(net, 4, tmp_path / "b", seed=1, bundle="dcgan_xray", batch_size=1)
    sample_to_folder(net, 4, tmp_path / "c", seed=2, bundle="dcgan_xray", batch_size=4)
    name = "dcgan_xray_00002.png"
    a, b, c = (np.asarray(Image.open(tmp_path / d / name)) for d in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_errors(weights, tmp_path, capsys):
    with pytest.raises(SystemExit):  # argparse: unknown bundle
        main(["sample", "--bundle", "cyclegan_pneumonia", "--n", "1", "--out", str(tmp_path)])
    assert main(["sample", "--bundle", "dcgan_xray", "--n", "1", "--out", str(tmp_path),
                 "--weights", str(tmp_path / "missing.pt")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        sample_to_folder(DCGANGenerator(**KWARGS), 0, tmp_path)
    with pytest.raises(ConfigError):
        default_weights("cyclegan_pneumonia")


def test_default_weights_search_order(monkeypatch, tmp_path):
    import monai_gan_aug.bundle_utils as bu
    import monai_gan_aug.utils.weights as w

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(w, "WEIGHTS_DIR", shipped)
    monkeypatch.setattr(bu, "bundle_root", lambda name: str(tmp_path / name))
    with pytest.raises(MissingWeightsError, match="G_ema.pt"):
        default_weights("fastgan_xray")
    (shipped / "fastgan_xray.pt").write_bytes(b"x")
    assert default_weights("fastgan_xray") == str(shipped / "fastgan_xray.pt")
    run_export = tmp_path / "fastgan_xray" / "runs" / "models" / "G_ema.pt"
    run_export.parent.mkdir(parents=True)
    run_export.write_bytes(b"x")
    assert default_weights("fastgan_xray") == str(run_export)
    (tmp_path / "fastgan_xray" / "models").mkdir()
    (tmp_path / "fastgan_xray" / "models" / "model.pt").write_bytes(b"x")
    assert default_weights("fastgan_xray").endswith("models/model.pt")


def test_rerun_never_replaces_samples_without_overwrite(weights, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["sample", "--bundle", "dcgan_xray", "--n", "3", "--out", str(out), "--weights", str(weights), "--quiet"]
    assert main(args + ["--seed", "1"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(args + ["--seed", "2"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("monai-gan-aug sample: error: ") and "--overwrite" in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(args + ["--seed", "2", "--overwrite"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} != before


@pytest.mark.parametrize("bad", [["--n", "0"], ["--n", "-2"], ["--batch-size", "0"]])
def test_counts_below_one_are_argument_errors(weights, tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--bundle", "dcgan_xray", "--n", "2", "--out", str(tmp_path / "o"), *bad])
    assert exc.value.code == 2 and bad[0] in capsys.readouterr().err
