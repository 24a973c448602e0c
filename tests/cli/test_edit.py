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


# ------------------------------------------------------------------ issue #15: never lose a file, never a traceback


def _one_error(capsys, *needles: str) -> str:
    """stderr is exactly one line, ``monai-gan-aug edit: error: ...``, containing every needle."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("monai-gan-aug edit: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _no_temp_files(folder):
    return not [p for p in folder.rglob(".*") if ".tmp" in p.name]


def test_side_by_side_never_replaces_the_input_another_output_or_an_existing_file(
    png, tiny_lesion_weights, tmp_path, capsys
):
    base = ["edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights, "--quiet"]
    original = png.read_bytes()
    out = tmp_path / "out.png"
    # the input image
    assert _run(*base, "--out", out, "--side-by-side", png) == 2
    _one_error(capsys, "--side-by-side", "input")
    assert png.read_bytes() == original and not out.exists()
    # the edit's own --out
    assert _run(*base, "--out", out, "--side-by-side", out) == 2
    _one_error(capsys, "--side-by-side", "--out")
    assert not out.exists()
    # an existing file: refused before anything is written, kept byte for byte
    panel = tmp_path / "panel.png"
    panel.write_bytes(b"someone else's picture")
    assert _run(*base, "--out", out, "--side-by-side", panel) == 2
    _one_error(capsys, "exists", "--overwrite")
    assert panel.read_bytes() == b"someone else's picture" and not out.exists()
    # with --overwrite it is replaced (atomically: no temp file is left)
    assert _run(*base, "--out", out, "--side-by-side", panel, "--overwrite") == 0
    assert Image.open(panel).format == "PNG" and out.is_file()
    assert png.read_bytes() == original and _no_temp_files(tmp_path)


def test_samples_never_collide_with_the_side_by_side_panel(png, tiny_lesion_weights, tmp_path, capsys):
    # --samples 2 numbers the outputs: out_0.png, out_1.png; a panel named out_1.png is one of them
    code = _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights,
                "--out", tmp_path / "out.png", "--samples", "2", "--side-by-side", tmp_path / "out_1.png")
    assert code == 2
    _one_error(capsys, "--side-by-side")
    assert list(tmp_path.glob("out*")) == []


def test_unwritable_output_folder_is_one_line_before_any_write(png, tiny_lesion_weights, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    base = ["edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights, "--quiet"]
    assert _run(*base, "--out", blocker / "out.png") == 2
    _one_error(capsys, "--out", "is a file")
    # the panel's folder is checked before the main output is written
    out = tmp_path / "out.png"
    assert _run(*base, "--out", out, "--side-by-side", blocker / "panel.png") == 2
    _one_error(capsys, "--side-by-side")
    assert not out.exists()


def test_os_errors_while_running_are_one_line(png, tiny_lesion_weights, tmp_path, capsys, monkeypatch):
    # a write failing for a reason no pre-check can see (disk full, read-only remount...)
    import monai_gan_aug.transforms.io as xio

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out.png"))

    monkeypatch.setattr(xio, "_writing", full)
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights,
                "--out", tmp_path / "out.png", "--quiet") == 2
    _one_error(capsys, "No space left on device", "out.png")


def test_unavailable_or_unknown_device_says_what_is_available(png, tiny_lesion_weights, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    base = ["edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights,
            "--out", tmp_path / "o.png"]
    assert _run(*base, "--device", "cuda") == 2
    _one_error(capsys, "'cuda' is not available", "available here: cpu")
    assert _run(*base, "--device", "banana") == 2
    _one_error(capsys, "unknown device 'banana'", "available here: cpu")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("content", ["text", "pickle", "zip_truncated"])
def test_weights_that_are_not_a_checkpoint_are_one_line_without_unsafe_advice(
    png, tiny_lesion_weights, tmp_path, capsys, content
):
    import argparse
    import pickle

    bad = tmp_path / "bad.pt"
    if content == "text":
        bad.write_text("hello, I am not a checkpoint\n")
    elif content == "pickle":
        bad.write_bytes(pickle.dumps({"network": argparse.Namespace(name="arbitrary code")}))
    else:
        bad.write_bytes(tiny_lesion_weights.read_bytes()[:2000])
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", bad, "--out", tmp_path / "o.png") == 2
    line = _one_error(capsys, "not a checkpoint of this project", str(bad))
    assert "weights_only=False" not in line and "trust" not in line


def test_too_many_pixels_names_the_limit_and_how_to_raise_it(png, tiny_lesion_weights, tmp_path, capsys):
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights,
                "--max-pixels", "1000", "--out", tmp_path / "o.png") == 2
    _one_error(capsys, "96 x 80 = 7680 pixels", "pixel limit of 1000", "--max-pixels", "MONAI_GAN_AUG_MAX_PIXELS")
    # a valid 20000 x 20000 PNG (only its header is read): the limit, not "not a readable image"
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_header(20000, 20000))
    assert _run("edit", "--image", huge, "--box", "20,30,45,60", "--weights", tiny_lesion_weights) == 2
    line = _one_error(capsys, "20000 x 20000", "larger than the pixel limit of 144000000")
    assert "not a readable image" not in line


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk (8-bit grey) claiming ``width`` x ``height``, with a tiny IDAT."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "args, says, never",
    [
        (["--box", "70,30,90,60"], "keep it within the image", "clip_to_image"),
        (["--box", "0,0,79,95"], "more than the limit of 50%", "max_fraction"),
        (["--box", "0.1,0.2,0.3,0.4"], "--units fraction", "units="),
    ],
)
def test_messages_speak_in_cli_flags(png, tiny_lesion_weights, tmp_path, capsys, args, says, never):
    assert _run("edit", "--image", png, *args, "--weights", tiny_lesion_weights, "--out", tmp_path / "o.png") == 2
    line = _one_error(capsys, says)
    assert never not in line and "=True" not in line


def test_existing_output_says_the_overwrite_flag(png, tiny_lesion_weights, tmp_path, capsys):
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights, "--out", out) == 2
    line = _one_error(capsys, "exists", "--overwrite")
    assert "overwrite=True" not in line and out.read_bytes() == b"keep me"


def test_colour_message_has_no_python_keyword(tmp_path, tiny_lesion_weights, capsys):
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[..., 0] = np.arange(48)[None] * 5
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    assert _run("edit", "--image", tmp_path / "photo.png", "--box", "5,5,20,20", "--weights", tiny_lesion_weights) == 2
    line = _one_error(capsys, "colour image")
    assert "allow_non_radiograph" not in line


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--box", "20,30,45,60", "--samples", "0"], "--samples"),
        (["--box", "20,30,45,60", "--polygon", "1,1;5,1;5,5"], "not allowed with"),
        ([], "one of the arguments"),
        (["--box", "20,30,45,60", "--feather", "-1"], "--feather"),
        (["--box", "20,30,45,60", "--feather", "nan"], "--feather"),
        (["--box", "20,30,45,60", "--max-pixels", "0"], "--max-pixels"),
    ],
)
def test_argument_errors_exit_2_with_an_error_line(png, tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        _run("edit", "--image", png, *args, "--out", tmp_path / "o.png")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("monai-gan-aug edit: error: ") and needle in errors[0]
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()


def test_feather_band_over_the_whole_image_is_refused(png, tiny_lesion_weights, tmp_path, capsys):
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--feather", "10000",
                "--weights", tiny_lesion_weights, "--out", tmp_path / "o.png") == 2
    _one_error(capsys, "--feather 10000", "use at most 20")
    assert not (tmp_path / "o.png").exists()
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--feather", "20",
                "--weights", tiny_lesion_weights, "--out", tmp_path / "o.png", "--quiet") == 0


def test_healthy_class_outputs_are_named_healthy(png, tiny_lesion_weights):
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--class", "healthy",
                "--weights", tiny_lesion_weights, "--quiet") == 0
    assert (png.parent / "chest_healthy.png").is_file() and not (png.parent / "chest_pneumonia.png").exists()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P"])
def test_grey_images_stored_in_colour_modes_are_written_back_in_their_mode(
    chest_like, tiny_lesion_weights, tmp_path, mode
):
    grey = (chest_like * 255).astype(np.uint8)
    src = tmp_path / f"grey_{mode}.png"
    Image.fromarray(grey).convert(mode).save(src)
    out = tmp_path / "out.png"
    assert _run("edit", "--image", src, "--box", "20,30,45,60", "--feather", "2",
                "--weights", tiny_lesion_weights, "--out", out, "--quiet") == 0
    before = np.asarray(Image.open(src).convert("RGBA" if mode in ("RGBA", "LA") else "RGB"))
    written = Image.open(out)
    assert written.mode == ("RGB" if mode == "P" else mode)
    after = np.asarray(written.convert("RGBA" if mode in ("RGBA", "LA") else "RGB"))
    band = np.zeros(grey.shape, bool)
    band[30 - 2 : 60 + 2, 20 - 2 : 45 + 2] = True
    assert np.array_equal(after[~band], before[~band])
    inside = after[30:60, 20:45]
    assert (inside[..., 0] != before[30:60, 20:45, 0]).mean() > 0.5
    assert np.array_equal(inside[..., 0], inside[..., 1]) and np.array_equal(inside[..., 1], inside[..., 2])


def test_float_tiff_is_refused_at_load_before_any_work(chest_like, tiny_lesion_weights, tmp_path, capsys):
    src = tmp_path / "float.tif"
    Image.fromarray(chest_like.astype(np.float32), mode="F").save(src)
    out = tmp_path / "out.png"
    assert _run("edit", "--image", src, "--box", "20,30,45,60", "--weights", tiny_lesion_weights, "--out", out) == 2
    _one_error(capsys, "floating-point", "16-bit")
    assert not out.exists()


def test_editor_with_an_opacity_generator_samples_a_footprint_label(tiny_opacity_weights, tmp_path, chest_like):
    import torch

    from monai_gan_aug.errors import ConfigError
    from monai_gan_aug.inferers.edit import PneumoniaEditor

    path = tmp_path / "in.png"
    Image.fromarray((chest_like * 255).astype("uint8")).save(path)
    editor = PneumoniaEditor(weights=tiny_opacity_weights)
    result = editor.edit(editor.load(path), "box:10,20,40,60", seed=1)
    assert result.label is not None and bool(result.label.any())
    assert result.edited.meta["edit"]["footprint"] == "sampled"
    assert not bool(((result.label > 0) & (result.region_mask == 0)).any())
    mask = np.zeros(chest_like.shape, np.uint8)
    mask[30:50, 15:35] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    exact = editor.edit(editor.load(path), {"mask": str(tmp_path / "m.png")}, seed=1)
    assert exact.edited.meta["edit"]["footprint"] == "mask"
    assert torch.equal(exact.label[0] > 0, torch.from_numpy(mask > 0))
    with pytest.raises(ConfigError):
        PneumoniaEditor(weights=tiny_opacity_weights, class_index=0)


def test_unknown_output_suffix_names_no_python_keyword(png, tiny_lesion_weights, tmp_path, capsys):
    assert _run("edit", "--image", png, "--box", "20,30,45,60", "--weights", tiny_lesion_weights,
                "--out", tmp_path / "o.txt") == 2
    line = _one_error(capsys, "cannot tell the output format", ".png")
    assert "output_format" not in line


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_seeds_out_of_range_are_argument_errors(png, tmp_path, capsys, seed):
    with pytest.raises(SystemExit) as exc:
        _run("edit", "--image", png, "--box", "20,30,45,60", "--seed", seed, "--out", tmp_path / "o.png")
    assert exc.value.code == 2 and "--seed" in capsys.readouterr().err


def test_the_command_skips_imports_edit_never_uses_and_still_edits(png, tiny_lesion_weights, tmp_path):
    # the console command runs main() without argv: lean imports (about half of MONAI's import time)
    out, nii = tmp_path / "lean.png", tmp_path / "lean.nii.gz"
    code = (
        "import sys; from monai_gan_aug.cli import main\n"
        f"codes = [main(['edit', '--image', {str(png)!r}, '--box', '20,30,45,60', '--weights', "
        f"{str(tiny_lesion_weights)!r}, '--out', o, '--quiet'], lean=True) for o in ({str(out)!r}, {str(nii)!r})]\n"
        "print(codes, sorted(m for m in ('mlflow', 'ignite', 'scipy.signal') if sys.modules.get(m) is not None))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "[0, 0] []", proc.stderr
    assert out.is_file() and nii.is_file()


def test_extent_tight_paints_more_of_a_box_than_loose(png, tiny_opacity_weights, tmp_path, capsys):
    changed = {}
    for extent in ("loose", "tight"):
        out = tmp_path / f"{extent}.png"
        assert _run("edit", "--image", png, "--box", "8,8,56,56", "--feather", "2", "--weights", tiny_opacity_weights,
                    "--out", out, "--seed", "3", "--extent", extent, "--quiet") == 0, capsys.readouterr().err
        changed[extent] = int((np.asarray(Image.open(out)) != np.asarray(Image.open(png))).sum())
    assert changed["tight"] > changed["loose"] > 0
    with pytest.raises(SystemExit) as exc:  # argparse: usage and one error line, exit status 2
        _run("edit", "--image", png, "--box", "8,8,56,56", "--weights", tiny_opacity_weights, "--extent", "snug")
    assert exc.value.code == 2
    assert "error: argument --extent: invalid choice" in capsys.readouterr().err.strip().splitlines()[-1]
