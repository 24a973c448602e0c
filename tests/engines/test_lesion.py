"""LesionInpaintTrainer: losses in the output, class swapping, L1 only on reconstruction samples."""

from __future__ import annotations

import pytest
import torch

from monai_gan_aug.engines.lesion import LESION_AUX_KEYS, LESION_LOSS_KEYS, LesionInpaintTrainer
from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.networks.lesion_generator import LesionDiscriminator, LesionInpaintGenerator


def _batches(n=3, classes=(0, 1)):
    out = []
    for _ in range(n):
        m = torch.zeros(len(classes), 1, 32, 32)
        m[:, :, 8:24, 8:20] = 1
        out.append({"image": torch.rand(len(classes), 1, 32, 32), "region_mask": m,
                    "class_index": torch.tensor(classes)})
    return out


def _trainer(data, **kwargs):
    torch.manual_seed(0)
    g, d = LesionInpaintGenerator(ngf=8, n_res_blocks=1), LesionDiscriminator(ndf=8, n_layers=2)
    return LesionInpaintTrainer("cpu", 1, data, g, d, torch.optim.Adam(g.parameters(), 1e-3),
                                torch.optim.Adam(d.parameters(), 1e-3), **kwargs)


def test_one_epoch_reports_every_loss_and_lr():
    trainer = _trainer(_batches(), swap_prob=0.0)
    trainer.run()
    out = trainer.state.output
    assert set(LESION_LOSS_KEYS) | {"lr_G", "lr_D"} <= set(out)
    assert all(isinstance(v, float) and v == v for v in out.values())
    assert out["loss_G_L1"] > 0  # no swaps: every sample is a reconstruction sample


def test_all_swapped_means_no_reconstruction_loss():
    trainer = _trainer(_batches(), swap_prob=1.0)
    trainer.run()
    assert trainer.state.output["loss_G_L1"] == 0.0


def test_requested_classes_swap_to_the_other_class():
    trainer = _trainer(_batches(), swap_prob=1.0)
    y = torch.tensor([0, 1, 1, 0])
    asked, keep = trainer._requested_classes(y)
    assert torch.equal(asked, 1 - y) and float(keep.sum()) == 0


def test_sample_panels_show_both_classes():
    trainer = _trainer(_batches())
    panels = trainer.sample_panels(_batches(1)[0])
    assert set(panels) == {"input", "masked", "as_healthy", "as_pneumonia"}
    assert all(p.shape == (2, 1, 32, 32) and 0 <= float(p.min()) and float(p.max()) <= 1 for p in panels.values())
    outside = (_batches(1)[0]["region_mask"] == 0).expand_as(panels["input"])
    assert torch.allclose(panels["as_pneumonia"][outside], panels["input"][outside], atol=1e-6)


def test_bad_batches_and_options():
    with pytest.raises(ConfigError):
        _trainer(_batches(), swap_prob=1.5)
    bad = _batches(1, classes=(0, 3))
    with pytest.raises(DatasetError, match="classes must be in"):
        _trainer(bad).run()
    empty = _batches(1)
    empty[0]["region_mask"].zero_()
    with pytest.raises(DatasetError, match="empty region"):
        _trainer(empty).run()


def _aux_trainer(data, **kwargs):
    torch.manual_seed(0)
    g = LesionInpaintGenerator(ngf=8, n_res_blocks=1)
    d = LesionDiscriminator(ndf=8, n_layers=2, region_classifier=True)
    return LesionInpaintTrainer("cpu", 1, data, g, d, torch.optim.Adam(g.parameters(), 1e-3),
                                torch.optim.Adam(d.parameters(), 1e-3), **kwargs)


def test_aux_weight_reports_classifier_losses_and_accuracy():
    trainer = _aux_trainer(_batches(), aux_weight=1.0)
    trainer.run()
    out = trainer.state.output
    assert set(LESION_LOSS_KEYS) | set(LESION_AUX_KEYS) <= set(out)
    assert 0.0 <= out["acc_D_aux_real"] <= 1.0 and out["loss_D_aux"] > 0 and out["loss_G_aux"] > 0


def test_aux_classifier_learns_real_region_classes_from_region_pixels_only():
    # Class 1 regions are bright inside, class 0 dark; outside the region both are the same noise.
    def batch():
        x = torch.rand(8, 1, 32, 32) * 0.2
        m = torch.zeros(8, 1, 32, 32)
        m[:, :, 8:24, 8:24] = 1
        y = torch.tensor([0, 1] * 4)
        x = torch.where((m > 0) & (y[:, None, None, None] == 1), x + 0.8, x)
        return {"image": x, "region_mask": m, "class_index": y}

    trainer = _aux_trainer([batch() for _ in range(30)], aux_weight=1.0, swap_prob=0.0)
    trainer.run()
    assert trainer.state.output["acc_D_aux_real"] == 1.0
    # The classifier sees only the region: swapping the surroundings changes no logit.
    b = batch()
    x, m = b["image"] * 2 - 1, b["region_mask"]
    other = torch.rand_like(x) * 2 - 1
    d = trainer.bare_networks["D"].eval()
    with torch.no_grad():
        assert torch.allclose(d.classify_region(x, m), d.classify_region(x * m + other * (1 - m), m), atol=1e-5)


def test_aux_weight_needs_a_region_classifier():
    with pytest.raises(ConfigError, match="region_classifier"):
        _trainer(_batches(), aux_weight=1.0)
    with pytest.raises(ConfigError, match="aux_weight"):
        _aux_trainer(_batches(), aux_weight=-1.0)
