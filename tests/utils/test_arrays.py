"""Tests of monai_gan_aug/utils/arrays.py."""

from __future__ import annotations

import numpy as np

from monai_gan_aug.utils.arrays import shift_array


def test_shift_array_moves_and_zero_fills():
    a = np.arange(12).reshape(3, 4) + 1
    assert np.array_equal(shift_array(a, 0, 0), a)
    down_right = shift_array(a, 1, 2)
    assert np.array_equal(down_right[1:, 2:], a[:-1, :-2]) and not down_right[0].any() and not down_right[:, :2].any()
    up_left = shift_array(a, -2, -1)
    assert np.array_equal(up_left[:1, :3], a[2:, 1:]) and not up_left[1:].any()
    assert not shift_array(a, 3, 0).any() and not shift_array(a, 0, -4).any()  # moved out entirely
    m = np.zeros((5, 5), bool)
    m[1, 1] = True
    assert shift_array(m, 2, 3)[3, 4] and shift_array(m, 2, 3).dtype == bool
