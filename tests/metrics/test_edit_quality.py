"""Seam ratio and structure correlation: known answers on synthetic images and edits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from monai_gan_aug.errors import InvalidImageError, RegionError
from monai_gan_aug.metrics.edit_quality import (
    SEAM_FLOOR,
    detail,
    gradient_magnitude,
    outline_band,
    box_edge_profiles,
    outline_edge_energy,
    seam_ratio,
    straight_seam_ratio,
    structure_correlation,
)

S = 64


@pytest.fixture()
def mask() -> np.ndarray:
    m = np.zeros((S, S), np.float32)
    m[20:44, 16:48] = 1
    return m


def opacity(amplitude: float = 0.2) -> np.ndarray:
    """A smooth Gaussian opacity centred in the region (sigma 6 x 8 px)."""
    yy, xx = np.mgrid[:S, :S]
    return amplitude * np.exp(-((yy - 32) ** 2 / (2 * 6**2) + (xx - 32) ** 2 / (2 * 8**2)))


def flat() -> np.ndarray:
    return np.full((S, S), 0.4)


def textured(seed: int = 0) -> np.ndarray:
    """Fine random texture around 0.4 (std 0.08, correlation length ~1 px)."""
    t = gaussian_filter(np.random.default_rng(seed).normal(0, 1, (S, S)), 1.0)
    return np.clip(0.4 + 0.08 * t / t.std(), 0, 1)


def test_outline_band_is_both_sides_of_the_outline(mask):
    band = outline_band(mask, width=3)
    inside = np.zeros_like(band)
    inside[20:44, 16:48] = True
    # 3 px on each side of the rectangle's edges, nothing deep inside or far outside
    assert band[20:23, 30].all() and band[17:20, 30].all() and not band[16, 30] and not band[23, 30]
    assert not band[32, 32] and not band[2, 2]
    assert (band & inside).sum() == 24 * 32 - 18 * 26  # inner ring of the 24 x 32 box
    # a region touching the image border has no band along that border
    edge = np.zeros((S, S))
    edge[:, :10] = 1
    assert not outline_band(edge)[:, :7].any() and outline_band(edge)[:, 7:13].all()


def test_identical_image_scores_one(mask):
    for image in (flat(), textured()):
        assert seam_ratio(image, image, mask) == pytest.approx(1.0)
        assert structure_correlation(textured(), textured(), mask) == pytest.approx(1.0)


def test_smooth_additive_opacity_leaves_no_seam(mask):
    assert seam_ratio(flat(), flat() + opacity(), mask) == pytest.approx(1.0, abs=0.1)
    assert seam_ratio(textured(), textured() + opacity(), mask) == pytest.approx(1.0, abs=0.02)
    # raw gradients (no high-pass) do see the opacity's slope on the outline
    assert seam_ratio(flat(), flat() + opacity(), mask, detail_sigma=None) > 1.5


def test_pasted_flat_rectangle_and_drawn_box_make_a_seam(mask):
    pasted = flat()
    pasted[mask > 0] = 0.6
    assert seam_ratio(flat(), pasted, mask) > 5
    # the same paste on a lightly textured film (noise std 0.01)
    base = flat() + 0.01 * np.random.default_rng(1).normal(size=(S, S))
    pasted = base.copy()
    pasted[mask > 0] = 0.6
    assert seam_ratio(base, pasted, mask) > 3
    boxed = base.copy()  # a 1-px box outline drawn on the region's border
    boxed[20, 16:48] = boxed[43, 16:48] = boxed[20:44, 16] = boxed[20:44, 47] = 0.7
    assert seam_ratio(base, boxed, mask) > 3
    # the ratio grows with the step's contrast
    soft = base.copy()
    soft[mask > 0] += 0.05
    assert 1.3 < seam_ratio(base, soft, mask) < seam_ratio(base, pasted, mask)


def test_seam_ratio_is_the_documented_formula(mask):
    base, edited = textured(2), textured(2)
    edited[mask > 0] = textured(3)[mask > 0]
    e0, e1 = outline_edge_energy(base, mask), outline_edge_energy(edited, mask)
    assert seam_ratio(base, edited, mask) == pytest.approx((e1 + SEAM_FLOOR) / (e0 + SEAM_FLOOR))
    band = outline_band(mask)
    assert e0 == pytest.approx(gradient_magnitude(detail(base, 2.0))[band].mean())
    # Sobel / 8 is intensity per pixel: a ramp of 0.01 per column has gradient 0.01
    ramp = np.tile(np.arange(S) * 0.01, (S, 1))
    assert gradient_magnitude(ramp)[5:-5, 5:-5] == pytest.approx(0.01)


def test_straight_seam_ratio_picks_out_a_faint_straight_seam(mask):
    box = (16, 20, 48, 44)  # the mask's rectangle as x0, y0, x1, y1
    base = flat() + 0.01 * np.random.default_rng(1).normal(size=(S, S))
    faint = base.copy()
    faint[mask > 0] += 0.02  # a 5-grey-level step, below the pixel noise's edge strength
    assert seam_ratio(base, faint, mask) < 1.2
    assert straight_seam_ratio(base, faint, box) > 1.5
    assert straight_seam_ratio(base, base, box) == pytest.approx(1.0)
    assert straight_seam_ratio(base, base + opacity(), box) == pytest.approx(1.0, abs=0.02)
    profiles = box_edge_profiles(base, box, width=3)
    assert len(profiles) == 4 and all(p.shape == (6,) for p in profiles)
    assert len(box_edge_profiles(base, (0, 20, 48, 44))) == 3  # the left edge lies on the border
    with pytest.raises(RegionError):
        straight_seam_ratio(base, faint, (16, 20, 80, 44))
    with pytest.raises(RegionError):
        box_edge_profiles(base, (0, 0, S, S))


def test_structure_correlation_known_answers(mask):
    base = textured(4)
    assert structure_correlation(base, base + opacity(), mask) > 0.98
    assert structure_correlation(base, 0.5 * base + 0.3, mask) == pytest.approx(1.0)  # contrast change
    replaced = base.copy()
    replaced[mask > 0] = np.random.default_rng(5).uniform(0, 1, int(mask.sum()))
    assert abs(structure_correlation(base, replaced, mask)) < 0.15
    other = base.copy()  # another patch of the same kind of texture
    other[mask > 0] = textured(6)[mask > 0]
    assert abs(structure_correlation(base, other, mask)) < 0.15
    assert structure_correlation(base, 1.0 - base, mask) == pytest.approx(-1.0)
    filled = base.copy()
    filled[:] = 0.5
    assert structure_correlation(base, filled, mask) == 0.0


def test_accepts_channel_first_tensors(mask):
    base = textured(7)
    edited = base + opacity()
    expected = (seam_ratio(base, edited, mask), structure_correlation(base, edited, mask))
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)[None]  # noqa: E731
    got = (seam_ratio(t(base), t(edited), t(mask)), structure_correlation(t(base), t(edited), t(mask)))
    assert got == pytest.approx(expected, rel=1e-4)


def test_errors(mask):
    base = textured()
    with pytest.raises(InvalidImageError, match="must match"):
        seam_ratio(base, base[:, :60], mask)
    with pytest.raises(RegionError, match="shape"):
        seam_ratio(base, base, mask[:60])
    with pytest.raises(RegionError, match="empty"):
        structure_correlation(base, base, np.zeros((S, S)))
    with pytest.raises(RegionError, match="whole image"):
        seam_ratio(base, base, np.ones((S, S)))
    with pytest.raises(InvalidImageError, match="shape"):
        seam_ratio(np.zeros((2, S, S)), np.zeros((2, S, S)), mask)
    with pytest.raises(InvalidImageError, match="NaN"):
        structure_correlation(base, np.full((S, S), np.nan), mask)
    with pytest.raises(InvalidImageError, match="no fine structure"):
        structure_correlation(flat(), textured(), mask)
    with pytest.raises(RegionError):
        outline_band(mask, width=0)
