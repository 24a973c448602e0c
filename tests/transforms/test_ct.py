"""Tests for monai_gan_aug.transforms.ct: LoadCTSlice(d) on a small synthetic volume and DICOM series."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import list_data_collate
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from monai_gan_aug.errors import ConfigError, ImageReadError, InvalidImageError
from monai_gan_aug.transforms.ct import LoadCTSlice, LoadCTSliced, LoadCTSliceDict, lung_coverage, window_hu

X, Y, Z = 32, 32, 8
LUNG_SLICES = (2, 3, 4, 5)


def phantom() -> np.ndarray:
    """(X, Y, Z) int16 HU: air, a body ellipse at 40 HU, two -800 HU lungs in LUNG_SLICES."""
    xx, yy = np.mgrid[0:X, 0:Y]
    vol = np.full((X, Y, Z), -1000, np.int16)
    body = ((xx - 15.5) / 14) ** 2 + ((yy - 15.5) / 10) ** 2 < 1
    for z in range(Z):
        vol[..., z][body] = 40
        if z in LUNG_SLICES:
            for cx in (9, 22):
                vol[..., z][((xx - cx) / 4.5) ** 2 + ((yy - 15.5) / 6) ** 2 < 1] = -800
    return vol


@pytest.fixture
def ct_nifti(tmp_path) -> Path:
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(phantom(), np.diag([0.8, 0.7, 2.5, 1.0])), path)
    return path


def write_series(folder: Path, vol_zyx: np.ndarray, series_uid: str | None = None, z0: float = 100.0) -> str:
    """Write a CT series (stored = HU + 1024, intercept -1024) in shuffled file order."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), series_uid or generate_uid()
    for k in np.random.default_rng(0).permutation(len(vol_zyx)):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, generate_uid()
        ds.Modality, ds.PatientName, ds.PatientID, ds.InstanceNumber = "CT", "Test^CT", "P2", int(k) + 1
        ds.ImagePositionPatient = [0.0, 0.0, z0 + 3.0 * int(k)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.6, 0.6], 3.0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
        ds.set_pixel_data((vol_zyx[k].astype(np.int32) + 1024).astype(np.uint16), "MONOCHROME2", 12)
        ds.save_as(folder / f"slice_{k:03d}.dcm", enforce_file_format=True)
    return series


def test_lung_window_stack_and_metadata(ct_nifti):
    out = LoadCTSlice(window="lung")(ct_nifti)
    assert out.shape == (Z, Y, X) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    # the lung window spans -1350..150 HU: air, lung, body
    expected = [(-1000 + 1350) / 1500.0, (-800 + 1350) / 1500.0, (40 + 1350) / 1500.0]
    np.testing.assert_allclose(np.unique(out.numpy()), expected, atol=1e-6)
    m = out.meta
    assert m["slice_index"] == list(range(Z)) and m["spacing"] == pytest.approx((0.7, 0.8))
    assert np.diff(m["z_position"]) == pytest.approx([2.5] * (Z - 1)) and m["slice_spacing"] == pytest.approx(
        2.5
    )
    assert (m["window_center"], m["window_width"]) == (-600.0, 1500.0) and m["source_format"] == "nifti"


def test_mediastinum_custom_and_raw_hu(ct_nifti):
    med = LoadCTSlice(window="mediastinum", slices=[3])(ct_nifti)
    np.testing.assert_allclose(
        np.unique(med.numpy()), [0.0, (40 + 125) / 350.0], atol=1e-6
    )  # air and lung clip to 0
    custom = LoadCTSlice(window=(40, 100), slices=[3])(ct_nifti)
    assert set(np.unique(custom.numpy())) == {0.0, 0.5}
    hu = LoadCTSlice(window=None, slices=[3])(ct_nifti)
    assert set(np.unique(hu.numpy())) == {-1000.0, -800.0, 40.0}
    np.testing.assert_allclose(window_hu(np.array([-2000.0, 50.0, 1000.0]), 50, 350), [0.0, 0.5, 1.0])


def test_slice_index_range_and_errors(ct_nifti):
    out = LoadCTSlice(slices=range(1, 4))(ct_nifti)
    assert out.shape[0] == 3 and out.meta["slice_index"] == [1, 2, 3]
    assert LoadCTSlice(slices=slice(-2, None))(ct_nifti).meta["slice_index"] == [6, 7]
    with pytest.raises(ConfigError, match="out of range"):
        LoadCTSlice(slices=[0, 99])(ct_nifti)
    with pytest.raises(ConfigError, match="empty"):
        LoadCTSlice(slices=slice(5, 2))(ct_nifti)
    with pytest.raises(ConfigError, match="preset"):
        LoadCTSlice(window="bone")
    with pytest.raises(ConfigError, match="positive"):
        LoadCTSlice(window=(0, 0))


def test_lung_coverage_selection(ct_nifti):
    out = LoadCTSlice(min_lung_fraction=0.1)(ct_nifti)
    assert out.meta["slice_index"] == list(LUNG_SLICES)
    assert all(0.2 < f < 0.6 for f in out.meta["lung_fraction"])
    vol = phantom()
    assert lung_coverage(vol[..., 0].T) == 0.0 and lung_coverage(np.full((8, 8), -1000.0)) == 0.0
    with pytest.raises(InvalidImageError, match="lung coverage"):
        LoadCTSlice(min_lung_fraction=0.9)(ct_nifti)


def test_list_output_per_slice_metadata_and_collate(ct_nifti):
    slices = LoadCTSlice(slices=[2, 5], output="list")(ct_nifti)
    assert [s.shape for s in slices] == [(1, Y, X)] * 2
    assert [s.meta["slice_index"] for s in slices] == [2, 5]
    assert slices[1].meta["z_position"] - slices[0].meta["z_position"] == pytest.approx(3 * 2.5)
    batch = list_data_collate([{"image": s} for s in slices])
    assert batch["image"].shape == (2, 1, Y, X)


def test_dicom_series_folder_sorted_in_hu(tmp_path):
    vol = np.transpose(phantom(), (2, 1, 0)).astype(np.int16)  # (z, y, x)
    vol[np.arange(Z), 16, 16] = 40 + 10 * np.arange(Z)  # a slice-specific marker in the body centre
    write_series(tmp_path / "series", vol)
    out = LoadCTSlice(window=None)(tmp_path / "series")
    assert out.shape == (Z, Y, X) and out.meta["source_format"] == "dicom"
    np.testing.assert_array_equal(out[:, 16, 16].numpy(), 40 + 10 * np.arange(Z))  # sorted by z, in HU
    assert out.meta["z_position"] == pytest.approx([100.0 + 3 * k for k in range(Z)])
    assert out.meta["spacing"] == pytest.approx((0.6, 0.6))


def test_folder_with_two_series_needs_series_uid(tmp_path):
    vol = np.transpose(phantom(), (2, 1, 0))[:2]
    write_series(tmp_path / "mixed", vol)
    uid = write_series(tmp_path / "mixed_b", vol, z0=300.0)
    for f in (tmp_path / "mixed_b").iterdir():
        shutil.move(f, tmp_path / "mixed" / f"b_{f.name}")
    with pytest.raises(ConfigError, match="series_uid"):
        LoadCTSlice()(tmp_path / "mixed")
    out = LoadCTSlice(window=None, series_uid=uid)(tmp_path / "mixed")
    assert out.meta["z_position"] == pytest.approx([300.0, 303.0])


def test_real_ct_small_as_one_slice_series(tmp_path):
    source = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
    (tmp_path / "one").mkdir()
    shutil.copy(source, tmp_path / "one")
    out = LoadCTSlice(window=None)(tmp_path / "one")
    ref = pydicom.dcmread(source)
    hu = ref.pixel_array * float(ref.RescaleSlope) + float(ref.RescaleIntercept)
    assert out.shape == (1, 128, 128)
    assert float(out.min()) == hu.min() and float(out.max()) == hu.max()
    single = LoadCTSliced("ct", window="lung", output="list")({"ct": source, "id": 7})
    assert len(single) == 1 and single[0]["ct"].shape == (1, 128, 128) and single[0]["id"] == 7


def test_rejects_2d_non_hu_non_ct_and_missing(tmp_path):
    nib.save(
        nib.Nifti1Image(np.random.default_rng(0).normal(0, 500, (32, 24)).astype(np.float32), np.eye(4)),
        tmp_path / "flat.nii",
    )
    with pytest.raises(InvalidImageError, match="2-D"):
        LoadCTSlice()(tmp_path / "flat.nii")
    non_hu = np.random.default_rng(0).integers(0, 256, (16, 16, 4)).astype(np.uint8)
    nib.save(nib.Nifti1Image(non_hu, np.eye(4)), tmp_path / "u8.nii.gz")
    with pytest.raises(InvalidImageError, match="Hounsfield"):
        LoadCTSlice()(tmp_path / "u8.nii.gz")
    assert LoadCTSlice(window=None, check_hu=False)(tmp_path / "u8.nii.gz").shape == (4, 16, 16)
    rg = pydicom.data.get_testdata_file("RG1_UNCR.dcm", download=False)
    if rg is not None:
        with pytest.raises(InvalidImageError, match="Modality is CR"):
            LoadCTSlice()(rg)
    with pytest.raises(ImageReadError, match="not found"):
        LoadCTSlice()(tmp_path / "nope.nii.gz")
    (tmp_path / "junk.nii").write_text("not a volume")
    with pytest.raises(ImageReadError):
        LoadCTSlice()(tmp_path / "junk.nii")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ImageReadError, match="no DICOM series"):
        LoadCTSlice()(tmp_path / "empty_dir")


def test_dict_version_stack_list_and_missing_keys(ct_nifti):
    out = LoadCTSliceDict(["ct", "other"], slices=[1, 2], allow_missing_keys=True)({"ct": ct_nifti})
    assert out["ct"].shape == (2, Y, X) and "other" not in out
    samples = LoadCTSliced("ct", min_lung_fraction=0.1, output="list")({"ct": ct_nifti, "label": 1})
    assert [s["ct"].meta["slice_index"] for s in samples] == list(LUNG_SLICES) and all(
        s["label"] == 1 for s in samples
    )
    with pytest.raises(ConfigError, match="one key"):
        LoadCTSliced(["a", "b"], output="list")
    with pytest.raises(KeyError):
        LoadCTSliced(["ct", "other"])({"ct": ct_nifti})
