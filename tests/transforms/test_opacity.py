"""Tests of monai_gan_aug/transforms/opacity.py: the additive opacity composite and the baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import ndimage

from monai_gan_aug.errors import ConfigError, InvalidImageError, RegionError
from monai_gan_aug.transforms.footprint import footprint_from_params, soft_footprint
from monai_gan_aug.transforms.opacity import (
    DEFAULT_PEAK_DENSITY,
    LesionOpacity,
    LesionOpacityD,
    LesionOpacityd,
    RandLesionOpacity,
    RandLesionOpacityd,
    RandLesionOpacityDict,
    add_opacity,
    lesion_density,
    opacity_density,
)


def _textured(h: int = 64, w: int = 64, seed: int = 0) -> torch.Tensor:
    """A chest-like image with rib-like stripes and fine noise, in [0.1, 0.7]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.35 + 0.12 * np.sin(yy / 3.0 + 0.3 * np.sin(xx / 9.0)) + 0.04 * rng.standard_normal((h, w))
    img += 0.1 * xx / w
    return torch.from_numpy(np.clip(img, 0.1, 0.7).astype(np.float32))[None]


def _highpass(x: np.ndarray) -> np.ndarray:
    return x - ndimage.gaussian_filter(x, 2.0)


def _box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


# ----------------------------------------------------------------------------------------------
# add_opacity
# ----------------------------------------------------------------------------------------------


def test_add_opacity_identity_where_density_zero() -> None:
    img = _textured()
    dens = torch.zeros_like(img)
    dens[0, 20:40, 20:40] = 0.3
    out = add_opacity(img, dens)
    outside = dens == 0
    assert torch.equal(out[outside], img[outside])  # bit for bit
    assert torch.equal(add_opacity(img, torch.zeros_like(img)), img)


def test_add_opacity_brightens_and_keeps_structure() -> None:
    img = _textured()
    dens = torch.zeros_like(img)
    dens[0, 16:48, 16:48] = 0.3  # moderate: ground glass
    out = add_opacity(img, dens)
    inside = dens > 0
    assert bool((out[inside] > img[inside]).all())
    assert float(out.max()) <= 1.0
    hp_in = _highpass(img[0].numpy())[20:44, 20:44].ravel()
    hp_out = _highpass(out[0].numpy())[20:44, 20:44].ravel()
    assert np.corrcoef(hp_in, hp_out)[0, 1] > 0.8  # ribs and texture stay visible through it
    # local contrast scaled by exp(-d), not erased
    ratio = hp_out.std() / hp_in.std()
    assert ratio == pytest.approx(np.exp(-0.3), abs=0.05)
    # the inverse recovers the density
    rec = opacity_density(img, out)
    assert torch.allclose(rec[inside], dens[inside], atol=1e-4)


def test_add_opacity_rejects_negative_density() -> None:
    img = _textured()
    with pytest.raises(InvalidImageError):
        add_opacity(img, torch.full_like(img, -0.1))


# ----------------------------------------------------------------------------------------------
# lesion_density
# ----------------------------------------------------------------------------------------------


def test_lesion_density_support_profile_texture() -> None:
    fp = footprint_from_params(_box(64, 64, 8, 56, 10, 54), fill=0.6, seed=1, extent=0.8)
    dens = lesion_density(
        fp, peak_density=0.4, texture_scale=0.03, texture_amount=0.3, edge_sigma=0.02, seed=2
    )
    assert dens.dtype == np.float32 and dens.shape == fp.shape and dens.min() >= 0
    support = soft_footprint(fp, 0.02 * 64) > 0
    assert not (dens[~support] != 0).any()  # zero beyond the soft edge
    assert (dens[fp] > 0).all()
    # denser in the middle: the deepest pixels vs the rim
    dist = ndimage.distance_transform_edt(fp)
    core, rim = dens[dist >= np.percentile(dist[fp], 80)], dens[fp & (dist <= 1)]
    assert core.mean() > 1.5 * rim.mean()
    # textured: not a smooth function of the distance only
    smooth = lesion_density(fp, 0.4, 0.03, 0.0, 0.02, seed=2)
    assert np.abs(dens - smooth)[fp].mean() > 0.02
    assert np.array_equal(dens, lesion_density(fp, 0.4, 0.03, 0.3, 0.02, seed=2))  # seeded
    assert not np.array_equal(dens, lesion_density(fp, 0.4, 0.03, 0.3, 0.02, seed=3))
    assert not lesion_density(np.zeros((8, 8), bool), 0.5).any()
    with pytest.raises(ConfigError):
        lesion_density(fp, -0.1)


def test_lesion_density_scale_invariant() -> None:
    """The same parameters on a 4x larger grid give the same picture, up to resampling."""
    small = footprint_from_params(_box(48, 48, 8, 40, 8, 40), fill=0.6, seed=5, extent=0.8)
    big = np.kron(small, np.ones((4, 4), dtype=bool))
    d_small = lesion_density(small, 0.4, 0.02, 0.0, 0.02)
    d_big = lesion_density(big, 0.4, 0.02, 0.0, 0.02)
    d_big_down = d_big.reshape(48, 4, 48, 4).mean(axis=(1, 3))
    assert np.abs(d_big_down - d_small).max() < 0.05
    assert d_big[big].mean() == pytest.approx(d_small[small].mean(), rel=0.05)


# ----------------------------------------------------------------------------------------------
# transforms
# ----------------------------------------------------------------------------------------------


def test_lesion_opacity_changes_only_the_soft_footprint() -> None:
    img = MetaTensor(_textured())
    fp = footprint_from_params(_box(64, 64, 10, 50, 12, 44), fill=0.5, seed=0, extent=0.7)
    t = LesionOpacity(peak_density=0.4, edge_sigma=0.02, seed=4)
    out = t(img, fp)
    assert isinstance(out, MetaTensor) and out.shape == img.shape and out.dtype == torch.float32
    changed = (out != img)[0].numpy()
    support = soft_footprint(fp, 0.02 * 64) > 0
    assert changed.any() and not (changed & ~support).any()
    assert bool((out >= img).all())
    assert out.meta["lesion_opacity"]["peak_density"] == 0.4
    again = LesionOpacity(peak_density=0.4, edge_sigma=0.02, seed=4)(img, fp)
    assert torch.equal(again, out)  # deterministic
    assert np.array_equal(  # numpy in, numpy out
        LesionOpacity(peak_density=0.4, edge_sigma=0.02, seed=4)(img.numpy(), fp), out.numpy()
    )
    with pytest.raises(InvalidImageError):
        t(img, np.ones((32, 32), bool))


def test_rand_lesion_opacity_draws_footprint_in_region() -> None:
    img = _textured()
    region = _box(64, 64, 12, 52, 8, 40)
    t = RandLesionOpacity().set_random_state(3)
    out = t(img, region_mask=torch.from_numpy(region)[None].float())
    fp = t.footprint
    assert fp is not None and fp.any() and not (fp & ~region).any()
    assert t.params is not None
    assert DEFAULT_PEAK_DENSITY[0] <= t.params["peak_density"] <= DEFAULT_PEAK_DENSITY[1]
    assert t.footprint_params is not None
    changed = (out != img)[0].numpy()
    assert changed.any() and not (changed & ~(soft_footprint(fp, t.params["edge_sigma"] * 64) > 0)).any()
    # same seed -> same image; the deterministic twin with the drawn parameters reproduces it
    again = RandLesionOpacity().set_random_state(3)(img, region_mask=region)
    assert torch.equal(again, out)
    assert torch.equal(LesionOpacity()(img, fp, t.params), out)
    # a given footprint is used as is
    t(img, footprint=fp)
    assert np.array_equal(t.footprint, fp) and t.footprint_params is None
    with pytest.raises(RegionError):
        t(img)
    # prob=0: unchanged, no footprint
    skip = RandLesionOpacity(prob=0.0)
    assert skip(img, region_mask=region) is img and skip.footprint is None
    for bad in ((0.5, 0.1), (0.1, 0.2, 0.3), "x", -1.0):
        with pytest.raises(ConfigError):
            RandLesionOpacity(peak_density=bad)


def test_rand_lesion_opacity_dict_writes_label_and_records() -> None:
    img = MetaTensor(_textured(), meta={"filename_or_obj": "film.png"})
    region = torch.from_numpy(_box(64, 64, 6, 58, 30, 60))[None].float()
    t = RandLesionOpacityd(keys="image", region_key="region_mask", footprint_key="lesion_mask", prob=1.0)
    t.set_random_state(7)
    out = t({"image": img, "region_mask": region})
    label = out["lesion_mask"]
    rec = out["image"].meta["lesion_opacity"]
    assert rec["applied"] is True and rec["footprint"]["area_px"] == int(label.sum()) > 0
    assert label.shape == (1, 64, 64) and set(np.unique(label.numpy())) <= {0.0, 1.0}
    assert label.meta["lesion_footprint"]["seed"] == rec["footprint"]["seed"]
    assert label.meta["filename_or_obj"] == "film.png" and "lesion_opacity" not in label.meta
    assert not (label.numpy().astype(bool) & ~region.numpy().astype(bool)).any()
    # the label is exactly the footprint the opacity was laid in
    changed = (out["image"] != img)[0].numpy()
    support = soft_footprint(label[0].numpy() > 0, rec["edge_sigma"] * 64) > 0
    assert changed.any() and not (changed & ~support).any()
    assert (changed | ~(label[0].numpy() > 0)).all()  # every footprint pixel brightened
    # deterministic: same seed -> same output; the deterministic dict twin reproduces it
    again = RandLesionOpacityd().set_random_state(7)({"image": img, "region_mask": region})
    assert torch.equal(again["image"].as_tensor(), out["image"].as_tensor())
    assert torch.equal(again["lesion_mask"].as_tensor(), label.as_tensor())
    det = LesionOpacityd(params_key="p")({"image": img, "lesion_mask": label, "p": rec})
    assert torch.equal(det["image"].as_tensor(), out["image"].as_tensor())
    # a footprint already in the data is used (not redrawn) and left as it is
    given = torch.from_numpy(_box(64, 64, 20, 30, 20, 30))[None].float()
    used = RandLesionOpacityd().set_random_state(1)({"image": img, "lesion_mask": given})
    assert used["lesion_mask"] is given and "footprint" not in used["image"].meta["lesion_opacity"]
    support = soft_footprint(given[0].numpy() > 0, 0.02 * 64) > 0
    assert not ((used["image"] != img)[0].numpy() & ~support).any()
    # prob=0: image unchanged, an all-zero label
    skipped = RandLesionOpacityd(prob=0.0)({"image": img, "region_mask": region})
    assert torch.equal(skipped["image"].as_tensor(), img.as_tensor())
    assert not skipped["lesion_mask"].any() and skipped["image"].meta["lesion_opacity"] == {"applied": False}
    # two image keys: the same footprint and parameters for both
    two = RandLesionOpacityd(keys=["image", "other"]).set_random_state(7)(
        {"image": img, "other": img.clone(), "region_mask": region}
    )
    assert torch.equal(two["image"].as_tensor(), two["other"].as_tensor())
    assert two["image"].meta["lesion_opacity"] == two["other"].meta["lesion_opacity"]
    with pytest.raises(RegionError):
        RandLesionOpacityd()({"image": img})
    with pytest.raises(RegionError):
        LesionOpacityd()({"image": img})
    assert LesionOpacityD is LesionOpacityd and RandLesionOpacityDict is RandLesionOpacityd


def test_lazy_exports() -> None:
    import monai_gan_aug.transforms as T
    from monai_gan_aug.transforms import opacity

    for name in ("add_opacity", "RandLesionOpacityd", "LesionOpacity", "lesion_density"):
        assert getattr(T, name) is getattr(opacity, name)
