from __future__ import annotations

import pytest
import torch

from monai_gan_aug.engines.schedulers import LinearDecay, build_adam, linear_decay_scheduler
from monai_gan_aug.errors import ConfigError


def test_linear_decay_matches_reference_rule():
    opt = build_adam(torch.nn.Linear(2, 2), lr=1.0)
    sched = linear_decay_scheduler(opt, n_epochs=2, n_epochs_decay=3)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    # constant for epochs 1-2, then 1 - k / 4 for the decay epochs
    assert lrs == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_linear_decay_state_loads_with_weights_only(tmp_path):
    # The schedule itself comes from the configuration on resume (tests/engines/test_schedulers_resume.py),
    # so the state holds only plain values and no schedule parameters.
    opt = build_adam(torch.nn.Linear(2, 2))
    sched = linear_decay_scheduler(opt, 3, 4)
    sched.step()
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    assert state["lr_lambdas"] == [None] and state["last_epoch"] == 1


def test_bad_values_rejected():
    with pytest.raises(ConfigError):
        LinearDecay(-1, 2)
    with pytest.raises(ConfigError):
        build_adam(torch.nn.Linear(2, 2), lr=0.0)
