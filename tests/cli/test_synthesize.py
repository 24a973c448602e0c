"""``monai-gan-aug synthesize``: a data set in, synthetic images and a provenance manifest out."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.cli import main
from monai_gan_aug.cli.synthesize import MANIFEST_COLUMNS, variant_seed
from monai_gan_aug.data.datasets import manifest_dataset
from monai_gan_aug.networks.factory import build_network, save_network
from monai_gan_aug.transforms.augment import weights_fingerprint

G_KW = {"in_channels": 1, "out_channels": 1, "ngf": 4, "n_blocks": 1}


@pytest.fixture(scope="module")
def g_ab(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny_G_AB.pt"
    save_network(
        build_network("resnet_generator", **G_KW), "resnet_generator", G_KW, path, info={"image_size": 32}
    )
    return path


@pytest.fixture
def kaggle(tmp_path):
    """root/{NORMAL,PNEUMONIA}/ with two small non-square images each."""
    rng = np.random.default_rng(0)
    for cls in ("NORMAL", "PNEUMONIA"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(2):
            arr = (40 + 150 * rng.random((48, 40))).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / "data" / cls / f"person{i}_{cls.lower()}.png")
    return tmp_path / "data"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_translate_writes_marked_images_and_manifest(kaggle, g_ab, tmp_path, capsys):
    out = tmp_path / "syn"
    code = main(
        [
            "synthesize",
            "--input",
            str(kaggle),
            "--out",
            str(out),
            "--mode",
            "translate",
            "--n-per-image",
            "2",
            "--seed",
            "7",
            "--weights",
            str(g_ab),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "manifest.csv")
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    # only the two healthy images are translated, twice each, with distinct recorded seeds
    assert len(rows) == 4 and {r["source_label"] for r in rows} == {"normal"}
    assert len({r["seed"] for r in rows}) == 4 and rows[0]["seed"] == str(variant_seed(7, 0, 0))
    sha = weights_fingerprint(g_ab)
    for r in rows:
        assert r["generator"] == "tiny_G_AB.pt" and r["generator_sha256"] == sha and r["region"] == ""
        im = Image.open(out / r["file"])
        assert im.size == (40, 48) and "SYNTHETIC" in im.info["Description"] and sha in im.info["Description"]
    # the manifest is a project manifest: labels and patients (patient-level splits keep source and copy together)
    items = manifest_dataset(out / "manifest.csv")
    assert {it["class_index"] for it in items} == {1}
    assert sorted(it["patient"] for it in items) == ["person0", "person0", "person1", "person1"]
    # same seed, same bytes
    again = tmp_path / "again"
    main(
        [
            "synthesize",
            "--input",
            str(kaggle),
            "--out",
            str(again),
            "--mode",
            "translate",
            "--n-per-image",
            "2",
            "--seed",
            "7",
            "--weights",
            str(g_ab),
            "--quiet",
        ]
    )
    a = np.asarray(Image.open(out / rows[0]["file"]))
    assert np.array_equal(a, np.asarray(Image.open(again / rows[0]["file"])))


def test_lesion_mode_writes_region_masks(kaggle, tiny_lesion_weights, tmp_path, capsys):
    out = tmp_path / "les"
    code = main(
        [
            "synthesize",
            "--input",
            str(kaggle),
            "--out",
            str(out),
            "--mode",
            "lesion",
            "--n-per-image",
            "1",
            "--weights",
            str(tiny_lesion_weights),
            "--lung",
            "none",
            "--feather",
            "2",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "manifest.csv")
    assert len(rows) == 4  # every image, healthy or not, gets a lesion
    for r in rows:
        region = json.loads(r["region"])
        mask = np.asarray(Image.open(out / r["lesion_mask_file"])) > 0
        x0, y0, x1, y1 = region["boxes"][0]
        assert mask.sum() == region["area_px"] == (x1 - x0) * (y1 - y0) and mask[y0:y1, x0:x1].all()
        src = np.asarray(Image.open(r["source"])).astype(np.float64)
        new = np.asarray(Image.open(out / r["file"])).astype(np.float64)
        assert new.shape == src.shape
    items = manifest_dataset(out / "manifest.csv")
    assert all("lesion_mask" in it for it in items)


def test_errors_are_one_line(kaggle, g_ab, tmp_path, capsys):
    assert (
        main(
            [
                "synthesize",
                "--input",
                str(tmp_path / "nowhere"),
                "--out",
                str(tmp_path / "o"),
                "--mode",
                "translate",
                "--weights",
                str(g_ab),
            ]
        )
        == 2
    )
    assert "error" in capsys.readouterr().err
    assert (
        main(
            [
                "synthesize",
                "--input",
                str(kaggle),
                "--out",
                str(tmp_path / "o"),
                "--mode",
                "translate",
                "--weights",
                str(tmp_path / "absent.pt"),
            ]
        )
        == 2
    )
    assert "absent.pt" in capsys.readouterr().err
    assert (
        main(
            [
                "synthesize",
                "--input",
                str(kaggle),
                "--out",
                str(tmp_path / "o"),
                "--mode",
                "translate",
                "--n-per-image",
                "0",
                "--weights",
                str(g_ab),
            ]
        )
        == 2
    )
    out = tmp_path / "twice"
    args = [
        "synthesize",
        "--input",
        str(kaggle),
        "--out",
        str(out),
        "--mode",
        "translate",
        "--weights",
        str(g_ab),
        "--quiet",
    ]
    assert main(args) == 0
    assert main(args) == 2 and "exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
