"""Local edits saved back into the source representation keep untouched pixels bit-identical."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.data import get_testdata_file

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.transforms.io import LoadXRay, SaveXRay
from monai_gan_aug.transforms.reencode import stored_values_for


def _edit(img: torch.Tensor, box: tuple[int, int, int, int], value: float) -> tuple[torch.Tensor, torch.Tensor]:
    y0, x0, y1, x1 = box
    changed = torch.zeros_like(img)
    changed[:, y0:y1, x0:x1] = 1
    edited = img.clone()
    edited[changed > 0] = value
    return edited, changed


def test_dicom_monochrome1_with_window_keeps_outside_stored_values(tmp_path):
    src = get_testdata_file("RG1_UNCR.dcm", download=False)
    img = LoadXRay()(src)
    edited, changed = _edit(img, (500, 400, 700, 600), 0.5)
    out = tmp_path / "edit.dcm"
    SaveXRay()(edited, out, changed_mask=changed)
    before, after = pydicom.dcmread(src), pydicom.dcmread(out)
    inside = changed[0].numpy() > 0
    assert np.array_equal(before.pixel_array[~inside], after.pixel_array[~inside])
    assert (before.pixel_array[inside] != after.pixel_array[inside]).mean() > 0.9
    # the source's windowing and photometric stay valid, so the edit reads back as written
    assert after.PhotometricInterpretation == "MONOCHROME1"
    assert after.WindowCenter == before.WindowCenter
    assert after.SOPInstanceUID != before.SOPInstanceUID and "DERIVED" in after.ImageType
    reloaded = LoadXRay()(out)
    assert float((reloaded[0][inside] - 0.5).abs().max()) < 1e-3
    assert torch.equal(reloaded[0][~inside], img[0][~inside])


def test_png_8bit_keeps_outside_bytes(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (40, 56), dtype=np.uint8)
    src = tmp_path / "in.png"
    Image.fromarray(raw).save(src)
    img = LoadXRay()(src)
    edited, changed = _edit(img, (10, 10, 20, 30), 0.25)
    out = tmp_path / "out.png"
    SaveXRay()(edited, out, changed_mask=changed)
    written = np.asarray(Image.open(out))
    inside = changed[0].numpy() > 0
    assert written.dtype == np.uint8
    assert np.array_equal(written[~inside], raw[~inside])
    assert np.all(written[inside] == round(0.25 * 255))


def test_size_mismatch_is_a_clear_error(tmp_path):
    src = tmp_path / "in.png"
    raw = np.arange(400, dtype=np.uint16).reshape(20, 20).astype(np.uint8)
    Image.fromarray(raw).save(src)
    loaded = LoadXRay()(src)
    small = loaded[:, :10, :10]
    with pytest.raises(ConfigError, match="does not match its source"):
        SaveXRay()(small, tmp_path / "o.png", changed_mask=torch.ones_like(small))


def test_stored_values_for_picks_nearest_under_a_decreasing_mapping():
    cands = np.arange(0, 11)
    got = stored_values_for(np.array([0.0, 0.31, 1.0]), cands, lambda v: 1.0 - v / 10.0)
    assert got.tolist() == [10, 7, 0]


def test_rgb_dicom_with_equal_channels_is_written_back_as_rgb(tmp_path):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Modality, ds.PatientID = "CR", "P1"
    ds.set_pixel_data(np.repeat(grey[..., None], 3, axis=-1), "RGB", 8)
    src = tmp_path / "rgb.dcm"
    ds.save_as(src, enforce_file_format=True)
    img = LoadXRay()(src)
    edited, changed = _edit(img, (10, 10, 20, 30), 0.25)
    out = tmp_path / "out.dcm"
    SaveXRay()(edited, out, changed_mask=changed)
    after = pydicom.dcmread(out)
    inside = changed[0].numpy() > 0
    assert after.PhotometricInterpretation == "RGB"
    pixels = after.pixel_array
    assert np.array_equal(pixels[~inside], np.repeat(grey[..., None], 3, axis=-1)[~inside])
    assert np.all(pixels[inside] == round(0.25 * 255))
