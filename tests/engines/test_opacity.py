"""LesionOpacityTrainer: every loss reported, the density penalty acts, panels, patch weighting, resume."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.engines.opacity import OPACITY_LOSS_KEYS, LesionOpacityTrainer, patch_weighted_hinge
from monai_gan_aug.errors import ConfigError
from monai_gan_aug.networks.opacity_generator import LesionOpacityGenerator
from monai_gan_aug.networks.patch_discriminator import PatchGANDiscriminator


def _batches(n=2, b=2, s=32):
    out = []
    for _ in range(n):
        m = torch.zeros(b, 1, s, s)
        m[:, :, 8:24, 6:22] = 1
        out.append({"real": torch.rand(b, 1, s, s), "real_mask": m, "base": torch.rand(b, 1, s, s),
                    "footprint": m.clone(), "footprint_mask": m.clone()})
    return out


def _trainer(data, **kwargs):
    torch.manual_seed(0)
    g = LesionOpacityGenerator(features=(4, 4, 8, 8, 8, 4))
    d = PatchGANDiscriminator(in_channels=1, ndf=4, receptive_field=16, norm="spectral")
    return LesionOpacityTrainer("cpu", 1, data, g, d, torch.optim.Adam(g.parameters(), 1e-3),
                                torch.optim.Adam(d.parameters(), 1e-3), **kwargs)


def test_one_epoch_reports_every_loss_and_lr():
    trainer = _trainer(_batches(), density_weight=0.1)
    trainer.run()
    out = trainer.state.output
    assert set(OPACITY_LOSS_KEYS) | {"lr_G", "lr_D"} <= set(out)
    assert all(isinstance(v, float) and v == v for v in out.values())
    assert out["loss_G_density"] == pytest.approx(0.1 * out["mean_density"], rel=1e-5)


def test_edit_changes_only_the_footprint_and_brightens_it():
    trainer = _trainer(_batches())
    batch = _batches(1)[0]
    edited, density = trainer.edit(batch["base"], batch["footprint"])
    outside = batch["footprint"] == 0
    assert torch.equal(edited[outside], batch["base"][outside])
    assert bool((edited[~outside] >= batch["base"][~outside]).all())


def test_sample_panels_are_images_in_unit_range():
    trainer = _trainer(_batches())
    panels = trainer.sample_panels(_batches(1)[0])
    assert set(panels) == {"input", "footprint", "edited", "density", "real_lesion"}
    assert all(p.shape == (2, 1, 32, 32) and float(p.min()) >= 0 and float(p.max()) <= 1 for p in panels.values())


def test_patch_weighting_ignores_patches_off_the_mask():
    logits = torch.zeros(1, 1, 4, 4)
    logits[..., :2, :] = 5.0  # confident "real" on the top half only
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16, :] = 1  # the mask covers the top half
    assert float(patch_weighted_hinge(logits, mask, True, True)) == 0.0  # relu(1 - 5) on the masked patches
    mask_bottom = torch.flip(mask, dims=[2])
    assert float(patch_weighted_hinge(logits, mask_bottom, True, True)) == pytest.approx(1.0)


def test_negative_density_weight_is_refused():
    with pytest.raises(ConfigError):
        _trainer(_batches(), density_weight=-1)


def test_region_classifier_learns_from_real_windows_and_scores_the_generator():
    from monai_gan_aug.engines.opacity import OPACITY_AUX_KEYS
    from monai_gan_aug.networks.lesion_generator import RegionClassifier

    torch.manual_seed(0)
    c = RegionClassifier(ndf=4)
    trainer = _trainer(_batches(), region_classifier=c, c_optimizer=torch.optim.Adam(c.parameters(), 1e-3))
    before = [p.detach().clone() for p in c.parameters()]
    trainer.run()
    assert set(OPACITY_AUX_KEYS) <= set(trainer.state.output)
    assert any(not torch.equal(a, b) for a, b in zip(before, c.parameters()))  # C was trained
    assert "opt_C" in trainer.checkpoint_objects()  # and is resumed with the rest


def test_a_classifier_without_optimiser_is_refused():
    from monai_gan_aug.networks.lesion_generator import RegionClassifier

    with pytest.raises(ConfigError):
        _trainer(_batches(), region_classifier=RegionClassifier(ndf=4))
