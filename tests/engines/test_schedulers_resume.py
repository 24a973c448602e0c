"""A resumed run follows its configured schedule and never gets a negative learning rate."""

from __future__ import annotations

import torch

from monai_gan_aug.engines.schedulers import linear_decay_scheduler


def _sched(n, decay):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return opt, linear_decay_scheduler(opt, n, decay)


def test_resume_with_more_epochs_uses_the_new_schedule():
    opt, old = _sched(2, 3)
    for _ in range(5):
        old.step()
    state = old.state_dict()
    assert state["lr_lambdas"] == [None]
    opt2, new = _sched(4, 3)  # the user resumes with --epochs 7 instead of 5
    new.load_state_dict(state)
    assert new.last_epoch == 5
    assert abs(opt2.param_groups[0]["lr"] - (1 - 2 / 4)) < 1e-9
    for _ in range(5):
        new.step()
        assert opt2.param_groups[0]["lr"] >= 0.0


def test_rate_is_never_negative_past_the_end():
    opt, sched = _sched(1, 1)
    for _ in range(6):
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0
