from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from monai_gan_aug.errors import ConfigError, InvalidImageError, MissingWeightsError
from monai_gan_aug.metrics.extractors import (
    EfficientNetLite0Extractor,
    InceptionV3Extractor,
    JudgeExtractor,
    ModuleExtractor,
    RandomConvExtractor,
    get_extractor,
    inception_weights_path,
    tf1_resize_bilinear,
)
from monai_gan_aug.networks.classifier import XRayClassifier
from tests.metrics._phantoms import phantoms

torch.set_num_threads(1)


def numpy_tf1_resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 resize_bilinear(align_corners=False): src = dst * in / out, clamped, linear blend."""
    h, w = img.shape
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        y = i * h / out_h
        y0 = int(np.floor(y))
        y1 = min(y0 + 1, h - 1)
        fy = y - y0  # noqa: E702
        for j in range(out_w):
            x = j * w / out_w
            x0 = int(np.floor(x))
            x1 = min(x0 + 1, w - 1)
            fx = x - x0  # noqa: E702
            top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
            bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bot * fy
    return out


@pytest.mark.parametrize("in_hw,out_hw", [((7, 5), (13, 11)), ((20, 16), (9, 8))])
def test_tf1_resize_matches_reference_formula(in_hw, out_hw):
    img = np.random.default_rng(0).random(in_hw)
    got = tf1_resize_bilinear(torch.from_numpy(img)[None, None], out_hw)[0, 0].numpy()
    np.testing.assert_allclose(got, numpy_tf1_resize(img, *out_hw), atol=1e-10)


def test_inception_shape_determinism_and_batch_independence():
    ext = InceptionV3Extractor()
    assert ext.path == inception_weights_path()
    imgs = phantoms(4, size=32, seed=0)
    a = ext.features(imgs)
    assert a.shape == (4, 2048) and torch.isfinite(a).all() and (a >= 0).all()  # pool3 follows a ReLU
    b = ext.features(imgs[:2])  # folded BN: features must not depend on the other batch members
    torch.testing.assert_close(a[:2], b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ext.features(imgs[:2]), b, atol=0, rtol=0)  # deterministic
    assert not torch.allclose(a[0], a[1])
    pre = ext.preprocess(imgs)
    assert pre.shape == (4, 3, 299, 299) and pre.min() >= -1 and pre.max() <= 0.9921875 + 1e-6


def test_efficientnet_lite0_probabilities_and_features():
    ext = get_extractor("efficientnet_lite0")
    assert isinstance(ext, EfficientNetLite0Extractor)
    imgs = phantoms(3, size=48, seed=0)
    p = ext.probabilities(imgs)
    assert p.shape == (3, 1000)
    torch.testing.assert_close(p.sum(1), torch.ones(3, dtype=torch.float64))
    assert ext.features(imgs).shape == (3, 1280)


def test_judge_extractor_with_given_model():
    net = XRayClassifier(spatial_size=64, block_inplanes=(8, 8, 16, 16)).eval()
    ext = JudgeExtractor(net)
    imgs = phantoms(5, size=40, seed=0)
    assert ext.features(imgs).shape == (5, 16)
    assert ext.probabilities(imgs).shape == (5, 2)
    assert ext.name.startswith("xray_judge_64px_16d")


def test_module_and_torchscript_extractors(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU())  # spatial output: average-pooled
    ext = ModuleExtractor(net, rgb=True, size=(20, 20), name="tiny")
    imgs = phantoms(3, size=32, seed=0)
    feats = ext.features(imgs)
    assert feats.shape == (3, 6) and ext.feature_dim == 6
    path = tmp_path / "tiny.pt"
    torch.jit.script(net).save(str(path))
    scripted = get_extractor(str(path))
    torch.testing.assert_close(ModuleExtractor(path, rgb=True, size=(20, 20)).features(imgs), feats)
    assert scripted.name == "torchscript_tiny"


def test_extract_handles_lists_of_mixed_sizes():
    ext = RandomConvExtractor(feature_dim=8, size=32)
    items = [phantoms(1, size=s, seed=i)[0] for i, s in enumerate((40, 40, 56, 40))]
    feats = ext.extract(items, batch_size=2)
    assert feats.shape == (4, 8) and feats.dtype == np.float64
    np.testing.assert_allclose(feats[2], ext.extract(items[2][None])[0], rtol=1e-5)


def test_random_conv_is_seeded():
    imgs = phantoms(2, size=32)
    torch.testing.assert_close(
        RandomConvExtractor(seed=3).features(imgs), RandomConvExtractor(seed=3).features(imgs)
    )
    assert not torch.allclose(
        RandomConvExtractor(seed=3).features(imgs), RandomConvExtractor(seed=4).features(imgs)
    )


def test_errors():
    ext = RandomConvExtractor()
    with pytest.raises(InvalidImageError):
        ext.features(torch.rand(2, 1, 32, 32) * 2 - 1)  # [-1, 1] not rescaled
    with pytest.raises(InvalidImageError):
        ext.features(torch.rand(1, 32, 32))
    with pytest.raises(ConfigError):
        get_extractor("no_such_extractor")
    with pytest.raises(ConfigError):
        ext.probabilities(torch.rand(2, 1, 32, 32))  # no classifier head
    with pytest.raises(MissingWeightsError):
        InceptionV3Extractor(path="/nonexistent/inception.pt")


def test_shipped_judge_by_name():
    from monai_gan_aug.networks.classifier import JUDGE_WEIGHTS
    from monai_gan_aug.utils.weights import WEIGHTS_DIR

    if not (WEIGHTS_DIR / JUDGE_WEIGHTS).is_file():
        pytest.skip("shipped judge weights not present")
    ext = get_extractor("judge")
    imgs = phantoms(3, size=48, seed=0)
    assert ext.features(imgs).shape == (3, 256)
    torch.testing.assert_close(ext.probabilities(imgs).sum(1), torch.ones(3, dtype=torch.float64))
