"""Healing by inpainting (issue #18): window tiling, Hann averaging, the ``source="healing"`` difference map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.inferers.difference_map import (
    DifferenceMapInferer,
    otsu_threshold,
    raw_difference,
    remove_small_components,
    threshold_difference,
)
from monai_gan_aug.inferers.healing import HealingInferer, hann_weight, window_positions
from monai_gan_aug.networks.lesion_generator import LesionInpaintGenerator


class _FlatHealthyFill(nn.Module):
    """A 'healthy lung' inpainter with a known answer: it fills the blanked square with the median of its context.

    Same call as :class:`LesionInpaintGenerator` (``image, mask, class_index, noise`` in [-1, 1]).
    """

    size_multiple = 8
    def __init__(self) -> None:
        super().__init__()
        self.info = {"working_size": 16, "context": 2.0}
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, mask, class_index, noise=None):
        out = x.clone()
        for i in range(x.shape[0]):
            ctx = x[i][mask[i] < 0.5]
            out[i][mask[i] > 0.5] = ctx.median() + self.dummy
        return out


def _blob_film(size: int = 48):
    img = np.full((size, size), 0.1, np.float32)
    lung = np.zeros((size, size), bool)
    lung[6:42, 6:42] = True
    img[lung] = 0.3  # flat lung
    blob = np.zeros_like(lung)
    blob[18:26, 20:28] = True
    img[blob] = 0.8  # a bright opacity
    return img, lung, blob


def test_windows_cover_the_lung_and_weights_are_positive():
    lung = np.zeros((50, 60), bool)
    lung[5:40, 7:55] = True
    lung[20:25, 30:35] = False
    pos = window_positions(lung, side=12, step=6)
    covered = np.zeros_like(lung)
    for ty, tx in pos:
        covered[max(ty, 0) : ty + 12, max(tx, 0) : tx + 12] = True
    assert covered[lung].all()
    assert window_positions(np.zeros((8, 8), bool), 4, 2) == []
    w = hann_weight(9)
    assert w.shape == (9, 9) and float(w.min()) > 0 and float(w[4, 4]) == pytest.approx(1.0)


def test_healing_removes_a_bright_blob_and_leaves_the_rest():
    img, lung, blob = _blob_film()
    healer = HealingInferer(window=24, stride=0.25, batch_size=7)  # 24 ref px = 5 native px on this lung
    healed, diff = healer.heal_one(torch.from_numpy(img)[None], _FlatHealthyFill(), torch.from_numpy(lung))
    d = diff[0].numpy()
    assert healed.shape == (1, 48, 48)
    assert d[blob].mean() > 0.3  # the blob is healed: the difference is large and positive there
    assert np.abs(d[lung & ~blob]).mean() < 0.5 * d[blob].mean()
    far = np.ones_like(lung)
    far[:, :] = True
    assert np.allclose(d[~lung][:10], d[~lung][:10])  # defined everywhere
    np.testing.assert_allclose(healed[0].numpy() + d, img, atol=1e-6)


def test_difference_map_inferer_healing_source_marks_the_blob():
    img, lung, blob = _blob_film()
    x = torch.from_numpy(img)[None, None]
    lung_t = torch.from_numpy(lung.astype(np.float32))[None, None]
    for thresholding, threshold in (("band", None), ("absolute", 0.25), ("otsu", None)):
        inferer = DifferenceMapInferer(
            source="healing",
            window=24,
            stride=0.25,
            lung=None,
            min_size=0,
            low=0.3,
            high=1.0,
            thresholding=thresholding,
            threshold=threshold,
            output="both",
        )
        out = inferer(x, _FlatHealthyFill(), lung=lung_t)
        mask = out[0, 0].numpy() > 0
        assert mask[blob].mean() > 0.6, thresholding
        assert mask[~blob].mean() < 0.1, thresholding
        assert out.shape == (1, 2, 48, 48)
    parts = DifferenceMapInferer(source="healing", window=24, stride=0.25, lung=None).compute(
        x, _FlatHealthyFill(), lung=lung_t
    )
    assert set(parts) == {"healthy", "map", "mask", "lung", "difference"}
    assert float(parts["difference"][0, 0][~torch.from_numpy(lung)].abs().max()) == 0.0


def test_real_tiny_inpainting_generator_runs_deterministically():
    torch.manual_seed(0)
    net = LesionInpaintGenerator(ngf=4, n_res_blocks=1).eval()
    net.info = {"working_size": 16, "context": 2.25}
    img, lung, _ = _blob_film(40)
    healer = HealingInferer(window=40, stride=0.5, seed=3)
    a = healer.heal(torch.from_numpy(img)[None, None], net, torch.from_numpy(lung)[None, None])
    b = healer.heal(torch.from_numpy(img)[None, None], net, torch.from_numpy(lung)[None, None])
    assert a[0].shape == (1, 1, 40, 40) and torch.isfinite(a[0]).all()
    torch.testing.assert_close(a[1], b[1])


def test_thresholding_helpers_and_errors():
    rng = np.random.default_rng(0)
    assert 0.3 < otsu_threshold(np.r_[rng.normal(0.2, 0.02, 500), rng.normal(0.8, 0.02, 500)]) < 0.7
    assert otsu_threshold(np.full(5, 0.2)) == pytest.approx(0.2)
    m = np.zeros((10, 10), bool)
    m[0, 0] = True
    m[4:8, 4:8] = True
    assert remove_small_components(m, 4).sum() == 16
    raw = raw_difference(np.full((4, 4), 0.5), np.full((4, 4), 0.7), polarity="positive")
    assert raw.max() == 0.0 and raw_difference(
        np.full((4, 4), 0.5), np.full((4, 4), 0.7)
    ).min() == pytest.approx(0.2)
    assert not threshold_difference(np.zeros((5, 5)), thresholding="otsu").any()
    with pytest.raises(ConfigError):
        threshold_difference(np.zeros((5, 5)), thresholding="absolute")
    with pytest.raises(ConfigError):
        DifferenceMapInferer(source="diffusion")
    with pytest.raises(ConfigError):
        DifferenceMapInferer(thresholding="absolute")
    with pytest.raises(ConfigError):
        HealingInferer(stride=0)
