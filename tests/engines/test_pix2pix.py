from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from monai_gan_aug.engines.pix2pix import PIX2PIX_LOSS_KEYS, Pix2PixTrainer, masked_l1
from monai_gan_aug.engines.schedulers import build_adam, linear_decay_scheduler
from monai_gan_aug.errors import DatasetError
from monai_gan_aug.networks.patch_discriminator import PatchGANDiscriminator
from monai_gan_aug.networks.unet_generator import UNetGenerator

from .helpers import unpaired_data


def _data(n=2):
    items = unpaired_data(n)
    for it in items:
        mask = torch.zeros(1, 32, 32)
        mask[:, 8:20, 10:24] = 1
        it["region_mask"] = mask
    return items


def _trainer(inpainting=False, mask_aware_l1=False, max_epochs=2, mask_channel=True):
    torch.manual_seed(0)
    g_in = 2 if inpainting and mask_channel else 1
    g = UNetGenerator(in_channels=g_in, out_channels=1, ngf=4, num_downs=3)
    d = PatchGANDiscriminator(in_channels=g_in + 1, ndf=4, receptive_field=16)
    og, od = build_adam(g), build_adam(d)
    scheds = {"G": linear_decay_scheduler(og, 1, 1), "D": linear_decay_scheduler(od, 1, 1)}
    return Pix2PixTrainer("cpu", max_epochs, DataLoader(_data(), batch_size=2), g, d, og, od, lr_schedulers=scheds,
                          inpainting=inpainting, mask_aware_l1=mask_aware_l1, mask_channel=mask_channel)


def test_paired_training_outputs_all_losses_and_lrs():
    trainer = _trainer(mask_aware_l1=True)
    trainer.run()
    out = trainer.state.output
    assert set(out) == set(PIX2PIX_LOSS_KEYS) | {"lr_G", "lr_D"}
    assert out["loss_G"] == pytest.approx(out["loss_G_adv"] + out["loss_G_L1"], rel=1e-5)
    assert out["loss_D"] == pytest.approx(0.5 * (out["loss_D_real"] + out["loss_D_fake"]), rel=1e-5)
    assert out["lr_G"] == pytest.approx(1e-4)  # second epoch of 1 constant + 1 decay


def test_inpainting_composite_keeps_pixels_outside_region_exactly():
    trainer = _trainer(inpainting=True, max_epochs=1)
    trainer.run()
    batch = next(iter(trainer.data_loader))
    x, _, mask = trainer._unpack(batch)
    with torch.no_grad():
        cond, out = trainer.generate(trainer.bare_networks["G"], x, mask)
    assert cond.shape[1] == 2
    outside = mask == 0
    assert torch.equal(out[outside.expand_as(out)], x[outside.expand_as(x)])
    assert not torch.equal(out[~outside], x[~outside])
    assert torch.all(cond[:, :1][~outside] == 0)  # hole is mid-grey in [-1, 1]
    panels = trainer.sample_panels(batch)
    assert list(panels) == ["input", "condition", "output", "target"]


def test_inpainting_needs_a_mask():
    trainer = _trainer(inpainting=True, max_epochs=1)
    with pytest.raises(DatasetError, match="region_mask"):
        trainer._unpack({"image_a": torch.rand(1, 1, 32, 32)})


def test_masked_l1_weights():
    pred, target = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    target[..., 0, 0] = 1
    w = torch.zeros(1, 1, 2, 2)
    w[..., 0, 0] = 1
    assert masked_l1(pred, target, w).item() == 0.0
    assert masked_l1(pred, target).item() == pytest.approx(0.75)


def test_boundary_band_is_the_synthesised_ring_next_to_the_kept_region():
    from monai_gan_aug.engines.pix2pix import boundary_band

    region = torch.ones(1, 1, 12, 12)
    region[..., 4:8, 4:8] = 0  # kept square
    band = boundary_band(region, 1)
    assert band.sum() == 6 * 6 - 4 * 4 and band[..., 4:8, 4:8].sum() == 0 and band[0, 0, 3, 3] == 1
    with pytest.raises(Exception):
        boundary_band(region, 0)


def test_boundary_weight_adds_a_published_band_loss():
    torch.manual_seed(0)
    g = UNetGenerator(in_channels=2, out_channels=1, ngf=4, num_downs=3)
    d = PatchGANDiscriminator(in_channels=3, ndf=4, receptive_field=16)
    og, od = build_adam(g), build_adam(d)
    trainer = Pix2PixTrainer("cpu", 1, DataLoader(_data(), batch_size=2), g, d, og, od, inpainting=True,
                             boundary_weight=10.0, boundary_width=2, input_key="image_a")
    trainer.run()
    out = trainer.state.output
    assert out["loss_G_band"] > 0
    assert out["loss_G"] == pytest.approx(out["loss_G_adv"] + out["loss_G_L1"] + out["loss_G_band"], rel=1e-5)
    with pytest.raises(Exception, match="inpainting"):
        Pix2PixTrainer("cpu", 1, DataLoader(_data(), batch_size=2), g, d, og, od, boundary_weight=1.0)
