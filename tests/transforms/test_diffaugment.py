"""Tests of DiffAugment: each policy does what it says, and gradients reach the input."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, InvalidImageError
from monai_gan_aug.transforms.diffaugment import DiffAugment, DiffAugmentd, diff_augment


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_differentiable(policy):
    x = torch.rand(4, 1, 16, 16, requires_grad=True)
    out = diff_augment(x, policy, generator=_gen())
    assert out.shape == x.shape
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_is_an_integer_shift_with_zero_fill():
    x = torch.rand(6, 1, 16, 16) + 1.0  # strictly positive: zeros in the output are fill
    out = diff_augment(x, "translation", translation_ratio=0.125, generator=_gen(1))
    for b in range(6):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros_like(x[b])
                ys, yd = (slice(0, 16 - dy), slice(dy, 16)) if dy >= 0 else (slice(-dy, 16), slice(0, 16 + dy))
                xs, xd = (slice(0, 16 - dx), slice(dx, 16)) if dx >= 0 else (slice(-dx, 16), slice(0, 16 + dx))
                ref[:, yd, xd] = x[b][:, ys, xs]
                found |= torch.equal(out[b], ref)
        assert found, f"sample {b} is not a shift of at most 2 px"


def test_cutout_zeroes_at_most_a_half_side_square():
    x = torch.ones(8, 1, 16, 16)
    out = diff_augment(x, "cutout", cutout_ratio=0.5, generator=_gen(2))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert ((zeros > 0) & (zeros <= 64)).all()
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    for b in range(8):  # the zeroed pixels form an axis-aligned rectangle
        rows, cols = torch.nonzero(out[b, 0] == 0, as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert int(box) == int(zeros[b])


def test_color_on_single_channel_shifts_brightness_and_scales_contrast():
    x = torch.rand(4, 1, 8, 8)
    out = diff_augment(x, "color", generator=_gen(3))
    # per sample an affine map a * x + b with contrast a in [0.5, 1.5] (saturation is a no-op on one channel)
    for b in range(4):
        xs, ys = x[b].flatten(), out[b].flatten()
        a = ((xs - xs.mean()) * (ys - ys.mean())).sum() / ((xs - xs.mean()) ** 2).sum()
        torch.testing.assert_close(ys, a * xs + (ys.mean() - a * xs.mean()), atol=1e-5, rtol=1e-5)
        assert 0.5 - 1e-5 <= a <= 1.5 + 1e-5


def test_module_seeded_reproducible_and_empty_policy_identity():
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(DiffAugment(seed=5)(x), DiffAugment(seed=5)(x))
    assert DiffAugment("")(x) is x
    assert "translation" in repr(DiffAugment("translation"))


def test_dictionary_version():
    x = torch.rand(2, 1, 16, 16)
    t1, t2 = DiffAugmentd("image", policy="cutout"), DiffAugmentd("image", policy="cutout")
    t1.set_random_state(7)
    t2.set_random_state(7)
    a, b = t1({"image": x, "other": 1}), t2({"image": x})
    torch.testing.assert_close(a["image"], b["image"])
    assert a["other"] == 1 and not torch.equal(a["image"], x)
    assert DiffAugmentd("image", prob=0.0)({"image": x})["image"] is x


def test_bad_input():
    with pytest.raises(ConfigError, match="unknown DiffAugment"):
        DiffAugment("rotate")
    with pytest.raises(ConfigError):
        diff_augment(torch.rand(1, 1, 4, 4), "cutout", cutout_ratio=2.0)
    with pytest.raises(InvalidImageError):
        diff_augment(torch.rand(1, 4, 4), "color")
    with pytest.raises(InvalidImageError):
        diff_augment(torch.ones(1, 1, 4, 4, dtype=torch.uint8), "color")
