"""``monai-gan-aug edit`` end to end: real files in, edited files out, clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from monai_gan_aug.cli import main


@pytest.fixture
def png(tmp_path, chest_like):
    path = tmp_path / "chest.png"
    Image.fromarray((chest_like * 255).astype(np.uint8)).save(path)
    return path


def _run(*args):
    return main([str(a) for a in args])


def test_png_edit_keeps_pixels_outside_region_and_writes_panel(png, tiny_lesion_weights, tmp_path, capsys):
    out, panel = tmp_path / "out.png", tmp_path / "panel.png"
    code = _run("edit", "--image", png, "--box", "20,30,45,60", "--feather", "3", "--weights", tiny_lesion_weights,
                "--out", out, "--side-by-side", panel, "--seed", "5")
    assert code == 0, capsys.readouterr().err
    before, after = np.asarray(Image.open(png)), np.asarray(Image.open(out))
    assert after.dtype == np.uint8 and after.shape == before.shape
    band = np.zeros_like(before, dtype=bool)
    band[30 - 3 : 60 + 3, 20 - 3 : 45 + 3] = True  # box plus feather band
    assert np.array_equal(after[~band], before[~band])
    assert (after[30:60, 20:45] != before[30:60, 20:45]).mean() > 0.5
    assert "SYNTHETIC" in Image.open(out).info["Description"]
    assert Image.open(panel).size[0] > 2 * before.shape[1]


def test_samples_give_distinct_numbered_outputs(png, tiny_lesion_weights, tmp_path):
    out = tmp_path / "variant.png"
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights, "--out", out,
                "--samples", "2", "--quiet") == 0
    a, b = (np.asarray(Image.open(tmp_path / f"variant_{k}.png")) for k in range(2))
    assert not np.array_equal(a, b)


def test_dicom_monochrome1_edit_is_derived_and_outside_identical(tiny_lesion_weights, tmp_path):
    src = get_testdata_file("RG1_UNCR.dcm", download=False)
    out = tmp_path / "edit.dcm"
    assert _run("edit", "--image", src, "--box", "900,800,1100,1000", "--feather", "0", "--weights",
                tiny_lesion_weights, "--out", out, "--quiet") == 0
    before, after = pydicom.dcmread(src), pydicom.dcmread(out)
    inside = np.zeros(before.pixel_array.shape, dtype=bool)
    inside[800:1000, 900:1100] = True
    assert np.array_equal(after.pixel_array[~inside], before.pixel_array[~inside])
    assert "DERIVED" in after.ImageType and "SYNTHETIC" in after.DerivationDescription
    assert after.SOPInstanceUID != before.SOPInstanceUID and after.PatientID == before.PatientID


def test_default_output_name_keeps_format_and_never_touches_input(png, tiny_lesion_weights):
    original = png.read_bytes()
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights, "--quiet") == 0
    assert (png.parent / "chest_pneumonia.png").is_file()
    assert png.read_bytes() == original


@pytest.mark.parametrize(
    "region, message",
    [
        (["--box", "500,500,600,600"], "outside"),
        (["--box", "20,30,20,60"], "empty"),
        (["--box", "0,0,80,96"], "covers"),
        (["--box", "45,30,20,60"], "inverted"),
    ],
)
def test_bad_regions_are_clear_errors(png, tiny_lesion_weights, tmp_path, capsys, region, message):
    code = _run("edit", "--image", png, *region, "--weights", tiny_lesion_weights, "--out", tmp_path / "o.png")
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and message in err.lower()
    assert "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_wrong_mask_size_unreadable_image_and_missing_weights(png, tiny_lesion_weights, tmp_path, capsys):
    small = tmp_path / "mask.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(small)
    assert _run("edit", "--image", png, "--mask", small, "--weights", tiny_lesion_weights) == 2
    assert "size" in capsys.readouterr().err.lower()
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom at all")
    assert _run("edit", "--image", junk, "--box", "1,1,5,5", "--weights", tiny_lesion_weights) == 2
    assert str(junk) in capsys.readouterr().err
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tmp_path / "none.pt") == 2
    assert "not found" in capsys.readouterr().err


def test_console_script_starts_fast_without_importing_torch():
    code = "import sys, monai_gan_aug.cli as c; c.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_detail_comes_from_the_weights_unless_given(png, tiny_lesion_weights, tmp_path, capsys):
    from monai_gan_aug.inferers.edit import PneumoniaEditor
    from monai_gan_aug.utils.checkpoint import load_checkpoint, save_checkpoint

    assert PneumoniaEditor(weights=tiny_lesion_weights).inferer.detail == 0.0  # no "detail" in info
    ckpt = load_checkpoint(tiny_lesion_weights)
    ckpt["info"]["detail"] = 0.75
    with_detail = tmp_path / "with_detail.pt"
    save_checkpoint(ckpt, with_detail)
    assert PneumoniaEditor(weights=with_detail).inferer.detail == 0.75
    assert PneumoniaEditor(weights=with_detail, detail=0.0).inferer.detail == 0.0
    # the CLI passes --detail through and rejects values outside [0, 1]
    chest = png  # noisy texture: detail the 64 px round trip loses
    outs = {}
    for d in ("0", "1"):
        outs[d] = tmp_path / f"d{d}.png"
        assert _run("edit", "--image", chest, "--box", "10,20,70,80", "--weights", with_detail, "--detail", d,
                    "--out", outs[d], "--quiet") == 0
    assert not np.array_equal(np.asarray(Image.open(outs["0"])), np.asarray(Image.open(outs["1"])))
    with pytest.raises(SystemExit):
        _run("edit", "--image", chest, "--box", "10,20,70,80", "--detail", "1.5")
    assert "expected a number in [0, 1]" in capsys.readouterr().err
