"""Stored values -> [0, 1] (shared by LoadXRay and re-encoding); the DICOM paths are also covered by test_io."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from monai_gan_aug.transforms.pixel_values import dicom_to_unit, scale_to_unit, stored_range


def test_scale_to_unit_clips_and_falls_back_to_min_max():
    arr = np.array([-10.0, 0.0, 50.0, 100.0, 300.0])
    assert scale_to_unit(arr, 0, 100).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert scale_to_unit(arr, np.nan, np.nan).tolist() == ((arr + 10) / 310).astype(np.float32).tolist()
    assert scale_to_unit(arr, 5, 5).dtype == np.float32  # empty range: min/max instead


def test_stored_range_and_bit_range_scaling_without_voi():
    ds = Dataset()
    ds.BitsStored, ds.PixelRepresentation = 12, 0
    assert stored_range(ds) == (0.0, 4095.0)
    unit, used_voi = dicom_to_unit(ds, np.array([0, 4095, 2048], dtype=np.uint16), "x.dcm")
    assert not used_voi and unit[0] == 0 and unit[1] == 1 and abs(unit[2] - 2048 / 4095) < 1e-6
    ds.PixelRepresentation = 1
    assert stored_range(ds) == (-2048.0, 2047.0)
