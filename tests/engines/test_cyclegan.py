from __future__ import annotations

import pytest
import torch
from ignite.engine import Events

from monai_gan_aug.engines.cyclegan import CYCLEGAN_LOSS_KEYS
from monai_gan_aug.errors import DatasetError

from .helpers import tiny_cyclegan


def test_output_has_every_loss_and_lr_and_lr_decays_linearly():
    trainer = tiny_cyclegan(max_epochs=3, n_epochs=1, n_epochs_decay=2)
    lrs = []
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: lrs.append(dict(e.state.output)))
    before = {k: v.detach().clone() for k, v in trainer.bare_networks["G_AB"].state_dict().items()}
    trainer.run()
    out = trainer.state.output
    expected = set(CYCLEGAN_LOSS_KEYS) | {"lr_G_AB", "lr_G_BA", "lr_D_A", "lr_D_B"}
    assert expected == set(out)
    assert all(isinstance(v, float) and v == v for v in out.values())
    g_terms = [k for k in CYCLEGAN_LOSS_KEYS if k.startswith("loss_") and not k.startswith(("loss_D", "loss_G"))]
    g_terms += ["loss_G_AB_adv", "loss_G_BA_adv"]
    assert out["loss_G"] == pytest.approx(sum(out[k] for k in g_terms), rel=1e-5)
    # lr seen in epochs 1, 2, 3: 2e-4 * (1, 2/3, 1/3)
    assert [e["lr_G_AB"] for e in lrs] == pytest.approx([2e-4, 2e-4 * 2 / 3, 2e-4 / 3])
    assert [e["lr_D_B"] for e in lrs] == pytest.approx([2e-4, 2e-4 * 2 / 3, 2e-4 / 3])
    after = trainer.bare_networks["G_AB"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert len(trainer.pools["A"]) == 3 and len(trainer.pools["B"]) == 3


def test_identity_weight_zero_skips_identity_terms_and_channels_last_runs():
    trainer = tiny_cyclegan(max_epochs=1, identity_weight=0.0, channels_last=True, adversarial_loss="hinge")
    trainer.run()
    assert trainer.state.output["loss_idt_A"] == 0.0 and trainer.state.output["loss_idt_B"] == 0.0


def test_bf16_autocast_on_cpu_runs():
    trainer = tiny_cyclegan(max_epochs=1, amp=True, amp_dtype="bfloat16")
    trainer.run()
    assert trainer.amp_dtype == torch.bfloat16
    assert all(v == v for v in trainer.state.output.values())


def test_sample_panels_in_unit_range():
    trainer = tiny_cyclegan(max_epochs=1)
    batch = next(iter(trainer.data_loader))
    panels = trainer.sample_panels(batch)
    assert list(panels) == ["A", "G_AB(A)", "G_BA(G_AB(A))", "B", "G_BA(B)"]
    for p in panels.values():
        assert p.shape == (2, 1, 32, 32) and p.min() >= 0 and p.max() <= 1
    assert torch.allclose(panels["A"], batch["image_a"], atol=1e-6)
    assert trainer.bare_networks["G_AB"].training  # train mode restored


def test_missing_key_is_a_clear_error():
    trainer = tiny_cyclegan(max_epochs=1)
    with pytest.raises(DatasetError, match="image_b"):
        trainer.prepare_batch({"image_a": torch.rand(1, 1, 32, 32)}, "cpu")


def test_fused_batches_compute_the_same_step_as_separate_calls():
    batch = next(iter(tiny_cyclegan(max_epochs=1).data_loader))
    outs = []
    for fuse in (True, False):
        trainer = tiny_cyclegan(max_epochs=1, fuse_batches=fuse, seed=5)
        outs.append(trainer._iteration(trainer, batch))
    for k in outs[0]:
        assert outs[0][k] == pytest.approx(outs[1][k], rel=1e-4, abs=1e-6), k
