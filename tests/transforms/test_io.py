"""Tests for monai_gan_aug.transforms.io: LoadXRay(d) and SaveXRay(d) on small generated files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import (
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from monai_gan_aug.errors import (
    ConfigError,
    ImageReadError,
    InvalidImageError,
    MissingCodecError,
    NotARadiographError,
)
from monai_gan_aug.transforms.io import LoadXRay, LoadXRayD, LoadXRayd, SaveXRay, SaveXRayd, SaveXRayDict

H, W = 40, 56  # non-square on purpose


def ramp(bits: int = 12) -> np.ndarray:
    """A non-constant (H, W) integer image using most of ``bits``."""
    yy, xx = np.mgrid[0:H, 0:W]
    return ((yy * W + xx) * (2**bits - 1) // (H * W - 1)).astype(np.uint16)


def make_dicom(
    path: Path,
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits: int = 12,
    modality: str = "DX",
    **attrs,
) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (
        generate_uid(),
        generate_uid(),
        generate_uid(),
    )
    ds.Modality, ds.PatientName, ds.PatientID = modality, "Test^Patient", "P001"
    ds.set_pixel_data(pixels, photometric, bits)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def save_png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


# ------------------------------------------------------------------ loading: PNG / JPEG / TIFF


def test_png_8bit(tmp_path):
    arr = (ramp(8)).astype(np.uint8)
    img = LoadXRay()(save_png(tmp_path / "a.png", arr))
    assert isinstance(img, MetaTensor) and img.shape == (1, H, W) and img.dtype == torch.float32
    np.testing.assert_allclose(img[0].numpy(), arr / 255.0, atol=1e-6)
    m = img.meta
    assert m["source_format"] == "png" and m["bits_stored"] == 8 and m["original_dtype"] == "uint8"
    assert (
        m["original_size"] == (H, W)
        and m["spacing"] == (1.0, 1.0)
        and m["photometric_interpretation"] == "MONOCHROME2"
    )


def test_png_16bit_keeps_dynamic_range(tmp_path):
    arr = ramp(16)
    path = save_png(tmp_path / "a16.png", arr)
    assert Image.open(path).mode.startswith("I")
    img = LoadXRay()(path)
    np.testing.assert_allclose(img[0].numpy(), arr / 65535.0, atol=1e-6)
    assert len(np.unique(img.numpy())) > 256  # more levels than 8 bits could hold
    assert img.meta["bits_stored"] == 16 and img.meta["original_dtype"] == "uint16"


def test_tiff_16bit_and_grey_jpeg(tmp_path):
    arr = ramp(16)
    tif = tmp_path / "a.tif"
    Image.fromarray(arr).save(tif)
    img = LoadXRay()(tif)
    assert img.meta["source_format"] == "tiff"
    np.testing.assert_allclose(img[0].numpy(), arr / 65535.0, atol=1e-6)
    grey8 = ramp(8).astype(np.uint8)
    jpg = tmp_path / "grey_as_rgb.jpg"
    Image.fromarray(np.stack([grey8] * 3, -1)).save(jpg, quality=95)
    img = LoadXRay()(jpg)
    assert img.meta["source_format"] == "jpeg" and img.shape == (1, H, W)
    assert float((img[0] - torch.from_numpy(grey8 / 255.0)).abs().mean()) < 0.02


def test_rgb_photo_rejected_unless_allowed(tmp_path):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    path = save_png(tmp_path / "photo.png", photo)
    with pytest.raises(NotARadiographError, match="colour"):
        LoadXRay()(path)
    img = LoadXRay(allow_non_radiograph=True)(path)
    assert img.shape == (1, H, W)


def test_grey_rgb_png_accepted(tmp_path):
    grey = ramp(8).astype(np.uint8)
    img = LoadXRay()(save_png(tmp_path / "g.png", np.stack([grey] * 3, -1)))
    np.testing.assert_allclose(img[0].numpy(), grey / 255.0, atol=1e-5)


# ------------------------------------------------------------------ loading: DICOM


def test_monochrome1_equals_inverted_monochrome2(tmp_path):
    arr = ramp(12)
    m2 = LoadXRay()(make_dicom(tmp_path / "m2.dcm", arr, "MONOCHROME2"))
    m1 = LoadXRay()(make_dicom(tmp_path / "m1.dcm", 4095 - arr, "MONOCHROME1"))
    np.testing.assert_allclose(m1.numpy(), m2.numpy(), atol=1e-6)
    assert m1.meta["photometric_interpretation"] == "MONOCHROME1"
    assert float(m2[0, -1, -1]) > float(m2[0, 0, 0])  # stored values up -> brighter in both


def test_rescale_slope_intercept_applied(tmp_path):
    arr = ramp(12)
    img = LoadXRay()(
        make_dicom(tmp_path / "r.dcm", arr, RescaleSlope=2, RescaleIntercept=-100, PixelSpacing=[0.2, 0.3])
    )
    lo, hi = -100.0, 4095 * 2 - 100.0
    np.testing.assert_allclose(img[0].numpy(), (arr * 2.0 - 100 - lo) / (hi - lo), atol=1e-6)
    assert img.meta["spacing"] == (0.2, 0.3) and img.meta["spacing_source"] == "PixelSpacing"
    assert img.meta["bits_stored"] == 12 and img.meta["source_format"] == "dicom"


def test_window_center_width_applied(tmp_path):
    arr = ramp(12)
    img = LoadXRay()(make_dicom(tmp_path / "w.dcm", arr, WindowCenter=2000, WindowWidth=1000))
    out = img[0].numpy()
    assert img.meta["voi_applied"] is True
    assert np.all(out[arr <= 1499] == 0.0) and np.all(out[arr >= 2500] == 1.0)
    mid = (arr > 1600) & (arr < 2400)
    np.testing.assert_allclose(out[mid], (arr[mid] - 1500) / 1000.0, atol=2e-3)


def test_rle_compressed_dicom_matches_uncompressed(tmp_path):
    arr = ramp(12)
    plain = make_dicom(tmp_path / "plain.dcm", arr)
    ds = pydicom.dcmread(plain)
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(LoadXRay()(tmp_path / "rle.dcm").numpy(), LoadXRay()(plain).numpy())


def test_missing_codec_names_transfer_syntax_and_package(tmp_path):
    source = pydicom.data.get_testdata_file("MR_small_jpeg_ls_lossless.dcm", download=False)
    if source is None:
        pytest.skip("pydicom test file MR_small_jpeg_ls_lossless.dcm not installed")
    ds = pydicom.dcmread(source)
    if get_decoder(ds.file_meta.TransferSyntaxUID).is_available:
        pytest.skip("a JPEG-LS decoder is installed here; nothing is missing")
    ds.Modality = "DX"
    ds.save_as(tmp_path / "jls.dcm")
    with pytest.raises(MissingCodecError, match=r"JPEG-LS.*pip install"):
        LoadXRay()(tmp_path / "jls.dcm")


def test_ct_dicom_rejected_unless_allowed(tmp_path):
    path = make_dicom(tmp_path / "ct.dcm", ramp(12), modality="CT")
    with pytest.raises(NotARadiographError, match="CT"):
        LoadXRay()(path)
    assert LoadXRay(allow_non_radiograph=True)(path).shape == (1, H, W)


# ------------------------------------------------------------------ loading: NIfTI


def test_nifti_2d_and_singleton_third_dim(tmp_path):
    arr = ramp(12).astype(np.uint16)  # (H, W); NIfTI stores (W, H)
    for name, data in (("a.nii", arr.T), ("b.nii.gz", arr.T[:, :, None])):
        img_nii = nib.Nifti1Image(data, np.diag([0.5, 0.25, 1.0, 1.0]))
        nib.save(img_nii, tmp_path / name)
        img = LoadXRay()(tmp_path / name)
        assert img.shape == (1, H, W) and img.meta["source_format"] == "nifti"
        np.testing.assert_allclose(img[0].numpy(), arr / 65535.0, atol=1e-6)
        assert img.meta["spacing"] == (0.25, 0.5)


def test_ct_volume_nifti_rejected_by_dict_transform(tmp_path):
    vol = np.random.default_rng(0).normal(0, 100, (32, 32, 8)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "ct.nii.gz")
    with pytest.raises(NotARadiographError, match="volume"):
        LoadXRayd("image")({"image": tmp_path / "ct.nii.gz"})


def test_nan_and_empty_and_constant_images(tmp_path):
    data = np.random.default_rng(0).random((W, H)).astype(np.float32)
    data[3, 4] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "nan.nii")
    with pytest.raises(InvalidImageError, match="NaN"):
        LoadXRay()(tmp_path / "nan.nii")
    nib.save(nib.Nifti1Image(np.zeros((0, 5), np.float32), np.eye(4)), tmp_path / "empty.nii")
    with pytest.raises(InvalidImageError, match="empty"):
        LoadXRay()(tmp_path / "empty.nii")
    with pytest.raises(InvalidImageError, match="constant"):
        LoadXRay()(save_png(tmp_path / "flat.png", np.full((H, W), 7, np.uint8)))


# ------------------------------------------------------------------ loading: bad files


def test_missing_truncated_and_fake_files(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        LoadXRay()(tmp_path / "nope.dcm")
    good = make_dicom(tmp_path / "good.dcm", ramp(12))
    raw = good.read_bytes()
    (tmp_path / "cut.dcm").write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(ImageReadError, match="cut.dcm"):
        LoadXRay()(tmp_path / "cut.dcm")
    (tmp_path / "header_only.dcm").write_bytes(raw[:200])
    with pytest.raises(ImageReadError):
        LoadXRay()(tmp_path / "header_only.dcm")
    for name in ("notes.dcm", "notes.png", "notes.nii"):
        (tmp_path / name).write_text("just some text, not an image\n")
        with pytest.raises(ImageReadError, match="notes"):
            LoadXRay()(tmp_path / name)


def test_max_size_refuses_large_images(tmp_path):
    path = save_png(tmp_path / "a.png", ramp(8).astype(np.uint8))
    with pytest.raises(InvalidImageError, match="max_size"):
        LoadXRay(max_size=100)(path)
    assert LoadXRay(max_size=H * W)(path).shape == (1, H, W)


def test_load_dict_allow_missing_keys(tmp_path):
    path = save_png(tmp_path / "a.png", ramp(8).astype(np.uint8))
    out = LoadXRayD(["image", "prior"], allow_missing_keys=True)({"image": path, "label": 1})
    assert out["image"].shape == (1, H, W) and out["label"] == 1 and "prior" not in out
    with pytest.raises(KeyError):
        LoadXRayd(["image", "prior"])({"image": path})


# ------------------------------------------------------------------ saving


def test_png_16bit_round_trip_with_text(tmp_path):
    img = LoadXRay()(save_png(tmp_path / "in.png", ramp(16)))
    out = tmp_path / "out.png"
    SaveXRay(description="box 1,2,3,4 seed 3")(img, out)
    with Image.open(out) as im:
        assert (
            im.mode.startswith("I;16")
            and im.text["Description"].startswith("SYNTHETIC")
            and "seed 3" in im.text["Description"]
        )
        assert im.text["Software"].startswith("monai-gan-aug")
    np.testing.assert_allclose(LoadXRay()(out).numpy(), img.numpy(), atol=1e-6)
    assert img.meta["saved_to"] == str(out)
    SaveXRay(png_bits=8, synthetic=False)(img, tmp_path / "out8.png")
    with Image.open(tmp_path / "out8.png") as im:
        assert im.mode == "L" and im.text["Description"].startswith("DERIVED")


def test_nifti_round_trip(tmp_path):
    img = LoadXRay()(make_dicom(tmp_path / "in.dcm", ramp(12), PixelSpacing=[0.2, 0.3]))
    out = tmp_path / "out.nii.gz"
    SaveXRay(description="nifti test")(img, out)
    nii = nib.load(out)
    assert nii.shape == (W, H) and nii.header["descrip"].tobytes().startswith(b"SYNTHETIC")
    back = LoadXRay()(out)
    np.testing.assert_allclose(back.numpy(), img.numpy(), atol=1e-6)
    assert back.meta["spacing"] == pytest.approx((0.2, 0.3))


def test_derived_dicom_markers_new_uids_and_round_trip(tmp_path):
    src_path = make_dicom(
        tmp_path / "in.dcm", 4095 - ramp(12), "MONOCHROME1", WindowCenter=2048, WindowWidth=4096,
        RescaleSlope=1, RescaleIntercept=0, ImageType=["ORIGINAL", "PRIMARY"],
    )  # fmt: skip
    src = pydicom.dcmread(src_path)
    src.add_new(0x60000010, "US", H)  # an overlay of the source image: stale in the output
    src.private_block(0x0009, "VENDOR", create=True).add_new(0x01, "LO", "processing secret")
    src.save_as(src_path)
    img = LoadXRay()(src_path)
    out = tmp_path / "out.dcm"
    SaveXRay(description="lesion_inpaint seed 3")(img, out)
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "SYNTHETIC" in ds.SeriesDescription and "lesion_inpaint seed 3" in ds.DerivationDescription
    assert ds.BurnedInAnnotation == "NO"
    assert ds.SOPInstanceUID != src.SOPInstanceUID and ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert (
        ds.StudyInstanceUID == src.StudyInstanceUID
        and ds.PatientID == "P001"
        and ds.PatientName == "Test^Patient"
    )
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.BitsStored == 12 and ds.BitsAllocated == 16
    assert ds.PixelRepresentation == 0 and ds.RescaleSlope == 1 and ds.RescaleIntercept == 0
    assert 0x60000010 not in ds and not any(elem.tag.is_private for elem in ds)
    np.testing.assert_array_equal(ds.pixel_array, src.pixel_array)  # identity window: stored values unchanged
    np.testing.assert_allclose(LoadXRay()(out).numpy(), img.numpy(), atol=1e-6)


def test_secondary_capture_from_png(tmp_path):
    img = LoadXRay()(save_png(tmp_path / "in.png", ramp(16)))
    SaveXRayDict("image", output_dir=tmp_path / "out", output_format="dicom")({"image": img})
    out = tmp_path / "out" / "in_synthetic.dcm"
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == SecondaryCaptureImageStorage and ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.BitsAllocated == 16 and ds.BitsStored == 16 and ds.ConversionType == "SYN"
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"] and "SYNTHETIC" in ds.DerivationDescription
    assert len({ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}) == 3
    np.testing.assert_allclose(LoadXRay()(out).numpy(), img.numpy(), atol=1e-6)


def test_save_never_overwrites_input_and_leaves_no_temp(tmp_path):
    src = save_png(tmp_path / "in.png", ramp(8).astype(np.uint8))
    before = src.read_bytes()
    img = LoadXRay()(src)
    with pytest.raises(ConfigError, match="input"):
        SaveXRay(overwrite=True)(img, tmp_path / "in.png")
    with pytest.raises(ConfigError, match="input"):
        SaveXRay(overwrite=True)(img, tmp_path / "sub" / ".." / "in.png")
    assert src.read_bytes() == before
    SaveXRay()(img, tmp_path / "out.png")
    with pytest.raises(ConfigError, match="exists"):
        SaveXRay()(img, tmp_path / "out.png")
    SaveXRay(overwrite=True)(img, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["in.png", "out.png"]
    with pytest.raises(InvalidImageError, match="NaN"):
        SaveXRay()(torch.full((1, 4, 4), float("nan")), tmp_path / "nan.png")
    assert not (tmp_path / "nan.png").exists() and not list(tmp_path.glob(".*tmp*"))


def test_save_dict_filename_key_and_missing_keys(tmp_path):
    img = LoadXRay()(save_png(tmp_path / "in.png", ramp(8).astype(np.uint8)))
    saver = SaveXRayd(["image", "fake"], filename_key="out_path", allow_missing_keys=True)
    saver({"image": img, "out_path": str(tmp_path / "x.nii")})
    assert (tmp_path / "x.nii").is_file()
    with pytest.raises(ConfigError, match="contradicts"):
        SaveXRay(output_format="png")(img, tmp_path / "y.dcm")
    with pytest.raises(ConfigError, match="format"):
        SaveXRay()(img, tmp_path / "y.bmp")


# ------------------------------------------------------------------ the real CR radiograph


def test_rg1_real_cr_air_dark_and_dicom_round_trip(tmp_path):
    source = pydicom.data.get_testdata_file("RG1_UNCR.dcm", download=False)
    if source is None:
        pytest.skip("pydicom-data (RG1_UNCR.dcm) is not installed")
    img = LoadXRay()(source)
    assert img.shape == (1, 1955, 1841) and img.meta["photometric_interpretation"] == "MONOCHROME1"
    x = img[0]
    corners = torch.stack(
        [x[:150, :150].mean(), x[:150, -150:].mean(), x[-150:, :150].mean(), x[-150:, -150:].mean()]
    )
    h, w = x.shape
    centre = x[h // 2 - 150 : h // 2 + 150, w // 2 - 60 : w // 2 + 60].mean()  # mediastinum/spine
    assert float(corners.max()) < float(centre) - 0.2
    out = tmp_path / "rg1_synthetic.dcm"
    SaveXRay(description="round trip test")(img, out)
    ds = pydicom.dcmread(out)
    src = pydicom.dcmread(source, stop_before_pixels=True)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.BitsStored == src.BitsStored
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"] and "SYNTHETIC" in ds.DerivationDescription
    assert ds.SOPInstanceUID != src.SOPInstanceUID and ds.StudyInstanceUID == src.StudyInstanceUID
    assert "DataSetTrailingPadding" not in ds
    again = LoadXRay()(out)
    assert float((again - img).abs().max()) < 1.0 / 2**src.BitsStored


def test_save_without_overwrite_never_replaces_a_file_created_by_a_concurrent_run(tmp_path, monkeypatch):
    import monai_gan_aug.transforms.io as xio

    src = save_png(tmp_path / "a.png", ramp(8).astype(np.uint8))
    img = LoadXRay()(src)
    out = tmp_path / "out.png"
    real_write = xio._write_png

    def slow_write(arr, tmp, bits, text):  # the other run finishes while this one is writing
        out.write_bytes(b"the other run's output")
        real_write(arr, tmp, bits, text)

    monkeypatch.setattr(xio, "_write_png", slow_write)
    with pytest.raises(ConfigError, match="exists"):
        SaveXRay()(img, out)
    assert out.read_bytes() == b"the other run's output"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_pixel_limit_is_checked_from_the_header_and_says_how_to_raise_it(tmp_path):
    from monai_gan_aug.transforms.io import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == 12000 * 12000
    path = save_png(tmp_path / "a.png", ramp(8).astype(np.uint8))
    with pytest.raises(InvalidImageError, match=r"pixel limit of 100; raise the limit with max_size=N or .*MONAI_GAN_AUG_MAX_PIXELS"):
        LoadXRay(max_size=100)(path)
