"""``monai-gan-aug synthesize``: a data set in, synthetic images and a provenance manifest out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

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
    with pytest.raises(SystemExit) as exc:  # argparse: usage and one error line, status 2
        main(["synthesize", "--input", str(kaggle), "--out", str(tmp_path / "o"), "--mode", "translate",
              "--n-per-image", "0", "--weights", str(g_ab)])
    assert exc.value.code == 2
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


# ------------------------------------------------------------------ issue #15: never lose a file, never a traceback


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error(capsys, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("monai-gan-aug synthesize: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _lesion(kaggle, out, weights, *extra):
    return main(["synthesize", "--input", str(kaggle), "--out", str(out), "--mode", "lesion", "--weights",
                 str(weights), "--lung", "none", "--feather", "2", "--quiet", *map(str, extra)])


def test_rerun_into_a_partly_filled_folder_with_another_seed_changes_nothing(
    kaggle, tiny_lesion_weights, tmp_path, capsys
):
    out = tmp_path / "les"
    assert _lesion(kaggle, out, tiny_lesion_weights, "--seed", "0") == 0
    # a run that stopped half way: some images gone, their masks and no manifest left
    (out / "manifest.csv").unlink()
    for image in sorted((out / "images").iterdir())[:2]:
        image.unlink()
    before = _snapshot(out)
    assert _lesion(kaggle, out, tiny_lesion_weights, "--seed", "1") == 2
    _one_error(capsys, "already exist", "nothing was written", "--overwrite")
    assert _snapshot(out) == before  # not one byte changed, no temp file left


def test_an_item_s_image_and_mask_are_written_together_or_not_at_all(
    kaggle, tiny_lesion_weights, tmp_path, capsys, monkeypatch
):
    import monai_gan_aug.cli.synthesize as syn

    out = tmp_path / "les"
    real = syn._write_mask
    made = []

    def racing_write_mask(mask, tmp):  # another process creates the second item's mask meanwhile
        real(mask, tmp)
        made.append(tmp)
        if len(made) == 2:
            mask_dir = out / "masks_lesion"
            other = sorted(kaggle.rglob("*.png"))[1]
            (mask_dir / f"{other.stem}_lesion_0.png").write_bytes(b"theirs")

    monkeypatch.setattr(syn, "_write_mask", racing_write_mask)
    assert _lesion(kaggle, out, tiny_lesion_weights) == 2
    _one_error(capsys, "created by another process", "--overwrite")
    rows = _rows(out / "manifest.csv")
    assert len(rows) == 1  # the first item, complete; the second neither image nor (our) mask
    assert sorted(p.name for p in (out / "images").iterdir()) == [Path(rows[0]["file"]).name]
    masks = {p.name: p.read_bytes() for p in (out / "masks_lesion").iterdir()}
    assert len(masks) == 2 and b"theirs" in masks.values()
    assert not [p for p in out.rglob(".*") if ".tmp" in p.name]


@pytest.fixture
def plain_with_bad(tmp_path):
    """A plain folder: a.png, b.png (not an image), c.png."""
    folder = tmp_path / "plain"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "c"):
        Image.fromarray((40 + 150 * rng.random((40, 48))).astype(np.uint8)).save(folder / f"{name}.png")
    (folder / "b.png").write_bytes(b"a text file with a png name\n")
    return folder


def test_a_bad_input_stops_the_run_names_it_and_leaves_a_manifest_of_what_was_written(
    plain_with_bad, g_ab, tmp_path, capsys
):
    out = tmp_path / "syn"
    code = main(["synthesize", "--input", str(plain_with_bad), "--out", str(out), "--mode", "translate",
                 "--weights", str(g_ab), "--quiet"])
    assert code == 2
    _one_error(capsys, "stopped at input 2 of 3", "b.png", "--skip-bad")
    rows = _rows(out / "manifest.csv")
    assert [Path(r["source"]).name for r in rows] == ["a.png"]
    assert sorted(p.name for p in (out / "images").iterdir()) == [Path(rows[0]["file"]).name]


def test_skip_bad_skips_and_reports_bad_inputs(plain_with_bad, g_ab, tmp_path, capsys):
    out = tmp_path / "syn"
    code = main(["synthesize", "--input", str(plain_with_bad), "--out", str(out), "--mode", "translate",
                 "--weights", str(g_ab), "--skip-bad"])
    assert code == 0
    captured = capsys.readouterr()
    assert "skipped input 2 of 3" in captured.err and "b.png" in captured.err
    assert "skipped 1 bad input" in captured.out
    assert sorted(Path(r["source"]).name for r in _rows(out / "manifest.csv")) == ["a.png", "c.png"]


def test_inputs_with_the_same_name_would_collide_and_are_refused_before_any_work(g_ab, tmp_path, capsys):
    data = tmp_path / "data"
    rng = np.random.default_rng(2)
    for cls in ("NORMAL", "PNEUMONIA"):
        (data / cls).mkdir(parents=True)
        Image.fromarray((40 + 150 * rng.random((40, 48))).astype(np.uint8)).save(data / cls / "same.png")
    out = tmp_path / "les"
    assert _lesion(data, out, g_ab) == 2
    _one_error(capsys, "same file name")
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_max_images_below_one_is_refused(kaggle, g_ab, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["synthesize", "--input", str(kaggle), "--out", str(tmp_path / "o"), "--mode", "translate",
              "--weights", str(g_ab), "--max-images", value])
    assert exc.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--max-images" in errors[0]


def test_unavailable_device_is_not_blamed_on_the_checkpoint(kaggle, g_ab, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["synthesize", "--input", str(kaggle), "--out", str(tmp_path / "o"), "--mode", "translate",
                 "--weights", str(g_ab), "--device", "cuda"])
    assert code == 2
    line = _one_error(capsys, "'cuda' is not available", "available here: cpu")
    assert "checkpoint" not in line and not (tmp_path / "o").exists()


def test_a_feather_wider_than_the_image_allows_is_refused(kaggle, tiny_lesion_weights, tmp_path, capsys):
    code = main(["synthesize", "--input", str(kaggle), "--out", str(tmp_path / "o"), "--mode", "lesion",
                 "--weights", str(tiny_lesion_weights), "--lung", "none", "--feather", "500", "--quiet"])
    assert code == 2
    _one_error(capsys, "--feather 500", "stopped at input 1 of 4")


def test_negative_or_huge_seeds_are_argument_errors(kaggle, g_ab, tmp_path, capsys):
    for seed in ("-1", str(2**64)):
        with pytest.raises(SystemExit) as exc:
            main(["synthesize", "--input", str(kaggle), "--out", str(tmp_path / "o"), "--mode", "translate",
                  "--weights", str(g_ab), "--seed", seed])
        assert exc.value.code == 2 and "--seed" in capsys.readouterr().err
