"""Lesion inpainting generator and discriminator: shapes, class conditioning, input checks."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.networks.factory import load_network, save_network
from monai_gan_aug.networks.lesion_generator import LesionDiscriminator, LesionInpaintGenerator


def _inputs(h=32, w=48, b=2):
    x = torch.rand(b, 1, h, w) * 2 - 1
    m = torch.zeros(b, 1, h, w)
    m[..., 8:20, 10:30] = 1
    return x, m


def test_shapes_non_square_and_range():
    g, d = LesionInpaintGenerator(ngf=8, n_res_blocks=2), LesionDiscriminator(ndf=8)
    x, m = _inputs()
    fill = g(x, m, torch.tensor([0, 1]))
    assert fill.shape == x.shape and float(fill.abs().max()) <= 1
    assert d(fill, m, torch.tensor([0, 1])).shape[:2] == (2, 1)


def test_class_and_noise_change_the_fill_and_region_content_is_ignored():
    torch.manual_seed(0)
    g = LesionInpaintGenerator(ngf=8, n_res_blocks=1).eval()
    for p in g.modules():  # give the class embeddings distinct values, as training would
        if isinstance(p, torch.nn.Embedding):
            torch.nn.init.normal_(p.weight, 1.0, 0.5)
    x, m = _inputs(b=1)
    noise = torch.randn_like(x)
    healthy = g(x, m, torch.tensor([0]), noise)
    sick = g(x, m, torch.tensor([1]), noise)
    assert not torch.allclose(healthy, sick)
    assert not torch.allclose(sick, g(x, m, torch.tensor([1]), torch.randn_like(x)))
    scrambled = x.clone()
    scrambled[m > 0] = torch.rand(int(m.sum())) * 2 - 1  # what was inside the region must not leak
    assert torch.allclose(g(scrambled, m, torch.tensor([1]), noise), sick)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"h": 30}, "multiple of 8"), ({"b": 1}, "class_index must have shape")],
)
def test_bad_inputs(kwargs, match):
    g = LesionInpaintGenerator(ngf=8, n_res_blocks=1)
    x, m = _inputs(h=kwargs.get("h", 32), b=kwargs.get("b", 2))
    with pytest.raises(InvalidImageError, match=match):
        g(x, m, torch.tensor([0, 1]) if "b" not in kwargs else torch.tensor([0, 1]))


def test_class_out_of_range_and_mask_mismatch():
    g = LesionInpaintGenerator(ngf=8, n_res_blocks=1)
    x, m = _inputs()
    with pytest.raises(InvalidImageError, match="class_index must be in"):
        g(x, m, torch.tensor([0, 2]))
    with pytest.raises(InvalidImageError, match="expected image and mask"):
        g(x, m[:, :, :16], torch.tensor([0, 1]))


def test_self_describing_checkpoint_round_trip(tmp_path):
    kwargs = {"ngf": 8, "n_res_blocks": 1, "num_classes": 2}
    g = LesionInpaintGenerator(**kwargs)
    save_network(g, "lesion_generator", kwargs, tmp_path / "g.pt", info={"working_size": 64})
    loaded = load_network(tmp_path / "g.pt")
    assert loaded.info["working_size"] == 64 and not loaded.training
    for a, b in zip(g.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
