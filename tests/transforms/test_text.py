"""Tests of monai_gan_aug/transforms/text.py on synthetic chest-like images with a rendered "R".

The images are 128 px (not 64): the detector's letter-size limits are fractions of the image side
(max 8%), and a readable "R" needs about 9 px.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.transforms.text import (
    RemoveBurnedInText,
    RemoveBurnedInTextd,
    TextDetectionParams,
    detect_text_components,
)

S = 128


def _chest() -> tuple[np.ndarray, np.ndarray]:
    """Body ellipse, two dark lungs, blurred bright rib bands (0.8, not saturated), and a
    saturated but blurred 'humeral head' near the border: bone-like things that must survive."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    img = np.full((S, S), 0.1, np.float32)
    img[((xx - S / 2) / (S * 0.42)) ** 2 + ((yy - S / 2) / (S * 0.48)) ** 2 < 1] = 0.6
    lung = np.zeros((S, S), bool)
    for cx in (S * 0.33, S * 0.67):
        inside = ((xx - cx) / (S * 0.13)) ** 2 + ((yy - S * 0.5) / (S * 0.3)) ** 2 < 1
        img[inside] = 0.3
        lung |= inside
    for y in range(30, 100, 12):
        img[y : y + 3, 20:108] = 0.8
    img[((xx - 118) ** 2 + (yy - 20) ** 2) < 36] = 1.0
    img = ndimage.gaussian_filter(img, 1.2)
    img = img + np.random.default_rng(0).normal(0, 0.02, img.shape)
    return np.clip(img, 0, 1).astype(np.float32), lung


def _with_text(img: np.ndarray, text: str = "R", xy: tuple[int, int] = (6, 4), size: int = 11) -> np.ndarray:
    im = Image.fromarray((img * 255).round().astype(np.uint8))
    ImageDraw.Draw(im).text(xy, text, fill=255, font=ImageFont.load_default(size=size))
    return np.asarray(im, np.float32) / 255.0


@pytest.fixture(scope="module")
def chest() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    clean, lung = _chest()
    clean8 = np.round(clean * 255) / 255  # same quantisation as the texted image
    return clean8.astype(np.float32), _with_text(clean8), lung


def test_default_removes_the_r(chest):
    clean, texted, _ = chest
    text_px = np.abs(texted - clean) > 0.05
    assert text_px.sum() > 15  # the letter is really there
    out, mask = RemoveBurnedInText()(texted[None])
    out, mask = np.asarray(out)[0], np.asarray(mask)[0] > 0
    assert out.dtype == np.float32 and out.shape == (S, S)
    assert mask[text_px].all()  # every letter pixel is in the removed mask
    # the letter is gone: nothing bright left where it was, close to the clean background
    assert out[text_px].max() < 0.5
    assert np.abs(out[text_px] - clean[text_px]).mean() < 0.1
    # pixels outside the removed mask are untouched, and the mask is small
    assert np.array_equal(out[~mask], texted[~mask])
    non_text = ~ndimage.binary_dilation(text_px, iterations=2)
    assert (np.abs(out - texted)[non_text] > 1e-6).mean() < 0.01
    # bone-like structures (ribs, the blurred saturated blob) are not removed
    assert not mask[20:108, 20:108].any()
    assert not mask[14:27, 111:125].any()


def test_nothing_to_remove_is_identity(chest):
    clean, _, _ = chest
    out, mask = RemoveBurnedInText()(clean[None])
    assert np.asarray(mask).sum() == 0
    np.testing.assert_array_equal(np.asarray(out)[0], clean)


def test_words_and_other_corners(chest):
    clean, _, _ = chest
    texted = _with_text(_with_text(clean, "L", (112, 108), size=13), "AP", (98, 4), size=13)
    removed = RemoveBurnedInText().text_mask(texted)
    text_px = np.abs(texted - clean) > 0.3
    assert removed[text_px].all()
    assert not removed[40:90, 20:108].any()  # the chest itself is left alone


def test_lung_mask_restricts_to_outside_lung(chest):
    clean, _, lung = chest
    texted = _with_text(clean)  # "R" in the top-left corner, outside the lungs
    assert detect_text_components(texted, lung=lung).any()
    # with a lung mask the rule is "outside the lung field": a lung over the letter protects it
    lung_over_letter = lung.copy()
    lung_over_letter[0:20, 0:20] = True
    assert not detect_text_components(texted, lung=lung_over_letter).any()


def test_threshold_method(chest):
    _, texted, _ = chest
    out, mask = RemoveBurnedInText(method="threshold", dilate=0, fill_value=0.0)(texted[None])
    out, mask = np.asarray(out)[0], np.asarray(mask)[0] > 0
    np.testing.assert_array_equal(mask, texted >= 0.85)
    assert np.all(out[mask] == 0.0)
    np.testing.assert_array_equal(out[~mask], texted[~mask])
    dilated = np.asarray(RemoveBurnedInText(method="threshold", dilate=1)(texted[None])[1])[0] > 0
    assert dilated.sum() > mask.sum() and dilated[mask].all()


def test_dict_transform_emits_mask_and_metadata(chest):
    _, texted, lung = chest
    data = {"image": MetaTensor(torch.from_numpy(texted[None].copy())), "lung": lung[None].astype(np.float32)}
    out = RemoveBurnedInTextd("image", lung_key="lung")(data)
    assert out["text_mask"].shape == (1, S, S) and out["text_mask"].dtype == torch.float32
    assert isinstance(out["image"], MetaTensor)
    rec = out["image"].meta["burned_in_text"]
    assert (
        rec == {"method": "components", "removed_px": int(out["text_mask"].sum())} and rec["removed_px"] > 0
    )
    assert float(out["image"][0, 4:16, 6:16].max()) < 0.5
    out = RemoveBurnedInTextd("image", mask_key=None)({"image": texted[None]})
    assert set(out) == {"image"} and isinstance(out["image"], np.ndarray)


def test_errors():
    with pytest.raises(ConfigError):
        RemoveBurnedInText(method="ocr")
    with pytest.raises(ConfigError):
        RemoveBurnedInText(dilate=-1)
    with pytest.raises(ConfigError):
        TextDetectionParams(min_size=0.1, max_size=0.05)
    with pytest.raises(InvalidImageError, match=r"\(1, H, W\)"):
        RemoveBurnedInText()(np.zeros((S, S), np.float32))
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        RemoveBurnedInText()(np.full((1, 8, 8), 255.0, np.float32))
    with pytest.raises(InvalidImageError, match="NaN"):
        RemoveBurnedInText()(np.full((1, 8, 8), np.nan, np.float32))
    with pytest.raises(InvalidImageError, match="lung"):
        RemoveBurnedInText()(np.zeros((1, 8, 8), np.float32), lung=np.zeros((1, 4, 4)))
    with pytest.raises(ConfigError, match="lung_key"):
        RemoveBurnedInTextd("image", lung_key="lung")({"image": np.zeros((1, 8, 8), np.float32)})
