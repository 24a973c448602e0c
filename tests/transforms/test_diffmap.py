"""DifferenceMap / DifferenceMapd: lesion masks from an image and its healthy translation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.transforms.diffmap import DifferenceMap, DifferenceMapd, band_mask, lesion_map
from monai_gan_aug.transforms.lung import LungMaskd


def _pair(h: int = 48, w: int = 40):
    """A healthy image, a sick twin with an opacity blob of known size, and a lung mask."""
    rng = np.random.default_rng(0)
    healthy = (0.3 + 0.02 * rng.standard_normal((1, h, w))).astype(np.float32)
    lesion = np.zeros((1, h, w), bool)
    lesion[0, 10:20, 8:18] = True  # 100 px
    sick = healthy + 0.3 * lesion
    lung = np.zeros((1, h, w), np.float32)
    lung[0, 4:40, 4:36] = 1
    return sick, healthy, lesion, lung


def test_map_is_normalised_difference_inside_the_lung():
    sick, healthy, lesion, lung = _pair()
    sick_outside = sick.copy()
    sick_outside[0, 44:, :] += 0.9  # a large change outside the lung must not count, nor set the maximum
    m = lesion_map(sick_outside, healthy, lung)
    assert m.dtype == np.float32 and m.shape == sick.shape[1:]
    assert m.max() == pytest.approx(1.0) and m[44:].max() == 0
    np.testing.assert_allclose(m[lesion[0]], 1.0, atol=1e-5)
    assert m[~lesion[0]].max() == 0
    # without a lung mask the outside change dominates
    assert lesion_map(sick_outside, healthy)[44:].max() == pytest.approx(1.0)


def test_polarity_positive_ignores_what_the_generator_brightened():
    sick, healthy, _lesion, lung = _pair()
    sick[0, 30:35, 25:30] -= 0.3  # generator made this brighter: not an opacity it removed
    assert lesion_map(sick, healthy, lung, polarity="abs")[30:35, 25:30].min() > 0.9
    assert lesion_map(sick, healthy, lung, polarity="positive")[30:35, 25:30].max() == 0


def test_band_and_small_component_removal():
    values = np.zeros((20, 20), np.float32)
    values[2:8, 2:8] = 0.5  # 36 px inside the band
    values[12:18, 12:18] = 0.95  # above the band: excluded
    values[0, 19] = 0.5  # a 1 px speck
    mask = band_mask(values, 0.3, 0.8, min_size=5)
    assert mask.sum() == 36 and mask[2:8, 2:8].all()
    assert band_mask(values, 0.3, 1.0, min_size=0).sum() == 36 + 36 + 1


def test_transform_recovers_the_lesion_and_keeps_metadata():
    sick, healthy, lesion, lung = _pair()
    # a soft lesion: values spread over the band, a bright core above it is dropped
    sick = healthy + 0.3 * lesion
    sick[0, 14:16, 12:14] += 0.3
    img = MetaTensor(torch.from_numpy(sick), meta={"filename_or_obj": "x.png"})
    mask, values = DifferenceMap(low=0.3, high=0.8, min_size=5)(img, torch.from_numpy(healthy), lung)
    assert isinstance(mask, MetaTensor) and mask.meta["filename_or_obj"] == "x.png"
    assert mask.meta["difference_map"]["area_px"] == 96 and mask.meta["difference_map"]["lung_restricted"]
    expected = lesion.copy()
    expected[0, 14:16, 12:14] = False
    np.testing.assert_array_equal(mask.numpy() > 0, expected)
    assert values.shape == (1, 48, 40)
    # numpy in, numpy out
    mask_np, _ = DifferenceMap()(sick, healthy, lung)
    assert isinstance(mask_np, np.ndarray) and mask_np.dtype == np.float32


def test_identical_images_give_an_empty_mask():
    _, healthy, _, lung = _pair()
    mask, values = DifferenceMap()(healthy, healthy, lung)
    assert mask.sum() == 0 and values.max() == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"low": 0.9, "high": 0.2}, ConfigError),
        ({"high": 1.5}, ConfigError),
        ({"min_size": -1}, ConfigError),
        ({"polarity": "signed"}, ConfigError),
        ({"smooth_sigma": -1.0}, ConfigError),
    ],
)
def test_bad_parameters(kwargs, error):
    with pytest.raises(error):
        DifferenceMap(**kwargs)


def test_bad_images():
    sick, healthy, _, lung = _pair()
    with pytest.raises(InvalidImageError, match="differ in size"):
        DifferenceMap()(sick, healthy[:, :40])
    with pytest.raises(InvalidImageError, match="lung mask"):
        DifferenceMap()(sick, healthy, lung[:, :10])
    bad = sick.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        DifferenceMap()(bad, healthy)
    with pytest.raises(InvalidImageError, match="shape"):
        DifferenceMap()(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 5)))
    with pytest.raises(InvalidImageError):
        DifferenceMap()([[0.0]], [[0.0]])


def test_dictionary_twin_with_lung_maskd(chest_like):
    """LungMaskd (the shipped lung UNet) feeds the restriction, as in a pipeline.

    The cartoon chest is not a radiograph the net recognises well, so the check is the wiring:
    the restricted result is the unrestricted one cut to whatever lung mask was predicted.
    """
    img = torch.from_numpy(chest_like[None].copy())
    sick = img.clone()
    sick[0, 40:50, 20:30] += 0.2
    data = LungMaskd("healthy")({"image": sick, "healthy": img})
    lung = data["lung_mask"].numpy()[0] > 0
    out = DifferenceMapd("image", min_size=0, high=1.0)(data)
    free = DifferenceMapd("image", lung_key=None, min_size=0, high=1.0)(data)
    assert set(out) >= {"lesion_mask", "lesion_map"}
    assert out["lesion_map"].numpy()[0][~lung].max() == 0
    np.testing.assert_allclose(out["lesion_map"].numpy()[0], lesion_map(sick, img, data["lung_mask"]))
    free_mask = free["lesion_mask"].numpy()[0] > 0
    assert free_mask[40:50, 20:30].all() and free_mask.sum() == 100
    assert not (out["lesion_mask"].numpy()[0] > 0)[~lung].any()


def test_dictionary_twin_errors_and_options():
    sick, healthy, _, _lung = _pair()
    with pytest.raises(ConfigError, match="lung_key"):
        DifferenceMapd("image")({"image": sick, "healthy": healthy})
    with pytest.raises(ConfigError, match="healthy_key"):
        DifferenceMapd("image", lung_key=None)({"image": sick})
    out = DifferenceMapd("image", lung_key=None, map_key=None, mask_key="pseudo")(
        {"image": sick, "healthy": healthy}
    )
    assert "pseudo" in out and "lesion_map" not in out
    assert DifferenceMapd("missing", allow_missing_keys=True, lung_key=None)({"image": sick}) == {
        "image": sick
    }


def test_overlay_tints_the_mask_red_and_is_written(tmp_path):
    from PIL import Image

    from monai_gan_aug.transforms.diffmap import SaveLesionOverlayd, overlay_rgb

    sick, _, lesion, _ = _pair()
    rgb = overlay_rgb(sick, lesion)
    assert rgb.shape == (48, 40, 3) and rgb.dtype == np.uint8
    inside, outside = rgb[lesion[0]].astype(int), rgb[~lesion[0]].astype(int)
    assert (inside[:, 0] > inside[:, 1]).all()
    assert (outside[:, 0] == outside[:, 1]).all() and (outside[:, 1] == outside[:, 2]).all()
    with pytest.raises(InvalidImageError):
        overlay_rgb(sick, lesion[:, :10])
    img = MetaTensor(torch.from_numpy(sick), meta={"filename_or_obj": "/data/case 1.nii.gz"})
    SaveLesionOverlayd("image", mask_key="pred", output_dir=str(tmp_path))(
        {"image": img, "pred": lesion.astype(np.float32)}
    )
    assert np.array_equal(np.asarray(Image.open(tmp_path / "case 1_overlay.png")), rgb)
