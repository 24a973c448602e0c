"""DifferenceMapInferer: a real (tiny) generator, any image size, lung restriction, outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from torch import nn

from monai_gan_aug.errors import ConfigError, InvalidImageError, MissingWeightsError
from monai_gan_aug.inferers.difference_map import DifferenceMapInferer, generator_size, load_sick_to_healthy
from monai_gan_aug.inferers.translation import TranslationInferer
from monai_gan_aug.networks.factory import save_network
from monai_gan_aug.networks.resnet_generator import ResNetGenerator
from monai_gan_aug.transforms.diffmap import DifferenceMap
from monai_gan_aug.utils import weights as weights_module


@pytest.fixture(scope="module")
def generator() -> nn.Module:
    torch.manual_seed(0)
    return ResNetGenerator(1, 1, ngf=4, n_blocks=1).eval()


class _DarkenBox(nn.Module):
    """A 'healthy' generator with a known answer: it removes an opacity by darkening a fixed box.

    Real ``nn.Module`` with a parameter (the inferer reads the device from it); works in [-1, 1]
    at the working size like a CycleGAN generator.
    """

    def __init__(self) -> None:
        super().__init__()
        self.amount = nn.Parameter(torch.tensor(0.6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[..., 8:16, 4:12] -= self.amount
        return out


def test_any_size_and_batch_with_metadata(generator):
    x = MetaTensor(torch.rand(2, 1, 40, 56), meta={"filename_or_obj": ["a.png", "b.png"]})
    out = DifferenceMapInferer(size=32, lung=None, output="both", min_size=0)(x, generator)
    assert isinstance(out, MetaTensor) and out.shape == (2, 2, 40, 56)
    assert out.meta["filename_or_obj"] == ["a.png", "b.png"] and out.meta["difference_map"]["low"] == 0.3
    mask, values = out[:, :1], out[:, 1:]
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    assert float(values.max()) == pytest.approx(1.0)
    # the mask is exactly the band of the map
    assert torch.equal(mask > 0, (values >= 0.3) & (values <= 0.8))
    single = DifferenceMapInferer(size=32, lung=None)(torch.rand(1, 33, 31), generator)
    assert single.shape == (1, 33, 31)


def test_compute_equals_translation_then_difference_map(generator):
    x = torch.rand(1, 1, 48, 48)
    lung = torch.zeros(1, 1, 48, 48)
    lung[..., 8:40, 6:42] = 1
    parts = DifferenceMapInferer(size=32, min_size=3).compute(x, generator, lung=lung)
    with torch.inference_mode():
        healthy = TranslationInferer(size=32, detail_preserving=True)(x, generator)
    torch.testing.assert_close(parts["healthy"], healthy)
    mask, values = DifferenceMap(min_size=3)(x[0], healthy[0], lung[0])
    torch.testing.assert_close(parts["mask"][0], torch.as_tensor(mask))
    torch.testing.assert_close(parts["map"][0], torch.as_tensor(values))
    assert parts["map"][..., ~lung[0, 0].bool()].max() == 0


def test_finds_the_region_the_generator_removed():
    x = torch.full((1, 1, 64, 64), 0.5)
    net = _DarkenBox()
    net.info = {"image_size": 32}  # the working size comes from the checkpoint info
    mask = DifferenceMapInferer(lung=None, high=1.0, min_size=4)(x, net)
    # box 8:16, 4:12 at 32 px is rows 16:32, cols 8:24 at 64 px (bilinear edges may add a ring)
    core = mask[0, 0, 18:30, 10:22]
    assert bool(core.all())
    assert float(mask[0, 0, 40:, 40:].sum()) == 0
    assert generator_size(net) == 32 and generator_size(nn.Linear(1, 1)) == 256


def test_auto_lung_uses_the_lung_network(chest_like, generator):
    x = torch.from_numpy(chest_like)[None, None]
    inferer = DifferenceMapInferer(size=32, min_size=0)
    parts = inferer.compute(x, generator)
    from monai_gan_aug.transforms.lung import LungMask

    lung = LungMask()(x[0]).as_tensor()
    torch.testing.assert_close(parts["lung"][0], lung)
    assert parts["map"][0][lung == 0].max() == 0


def test_errors(generator, tmp_path, monkeypatch):
    with pytest.raises(ConfigError):
        DifferenceMapInferer(output="probability")
    with pytest.raises(ConfigError):
        DifferenceMapInferer(lung="predicted")
    with pytest.raises(ConfigError):
        DifferenceMapInferer(low=0.9, high=0.1)
    with pytest.raises(InvalidImageError):
        DifferenceMapInferer(size=32, lung=None)(torch.rand(1, 3, 32, 32), generator)
    with pytest.raises(InvalidImageError, match="lung"):
        DifferenceMapInferer(size=32)(torch.rand(1, 1, 32, 32), generator, lung=torch.ones(1, 1, 16, 16))
    monkeypatch.setattr(weights_module, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(MissingWeightsError, match="cyclegan_G_BA.pt"):
        load_sick_to_healthy()


def test_loads_a_self_describing_checkpoint(generator, tmp_path):
    path = tmp_path / "g_ba.pt"
    save_network(
        generator,
        "resnet_generator",
        {"in_channels": 1, "out_channels": 1, "ngf": 4, "n_blocks": 1},
        path,
        info={"image_size": 32},
    )
    net = load_sick_to_healthy(path)
    assert generator_size(net) == 32
    x = torch.rand(1, 1, 40, 40)
    np.testing.assert_array_equal(
        DifferenceMapInferer(lung=None)(x, net).numpy(),
        DifferenceMapInferer(size=32, lung=None)(x, generator).numpy(),
    )


def test_pseudo_label_transform_matches_the_inferer(generator, tmp_path):
    from monai_gan_aug.inferers.difference_map import DifferenceMapLabeld

    path = tmp_path / "g.pt"
    save_network(
        generator,
        "resnet_generator",
        {"in_channels": 1, "out_channels": 1, "ngf": 4, "n_blocks": 1},
        path,
        info={"image_size": 32},
    )
    img = MetaTensor(torch.rand(1, 40, 40), meta={"filename_or_obj": "x.png"})
    lung = torch.zeros(1, 40, 40)
    lung[:, 5:35, 5:35] = 1
    out = DifferenceMapLabeld("image", weights=path, lung_key="lung", min_size=0)(
        {"image": img, "lung": lung}
    )
    expected = DifferenceMapInferer(size=32, min_size=0)(img[None].as_tensor(), generator, lung=lung[None])[0]
    assert isinstance(out["label"], MetaTensor) and out["label"].meta["filename_or_obj"] == "x.png"
    torch.testing.assert_close(out["label"].as_tensor(), expected)
    with pytest.raises(ConfigError, match="lung_key"):
        DifferenceMapLabeld("image", weights=path, lung_key="lung")({"image": img})
