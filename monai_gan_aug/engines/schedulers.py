"""Optimisers and learning-rate schedules of the GAN trainers.

The schedule is the one of the public CycleGAN/pix2pix reference: a constant learning rate for
``n_epochs``, then a linear decay to zero over ``n_epochs_decay`` epochs, stepped once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..errors import ConfigError

__all__ = ["ConfiguredLambdaLR", "LinearDecay", "build_adam", "linear_decay_scheduler"]


class LinearDecay:
    """Multiplier ``1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1)`` for ``LambdaLR``.

    The multiplier never goes below 0 (a run resumed past its planned end keeps a zero rate rather
    than stepping backwards).

    Args:
        n_epochs: epochs at the initial learning rate.
        n_epochs_decay: epochs of linear decay that follow.
        epoch_count: number of the first epoch (1 in the reference; larger when continuing a run
            with a fresh scheduler).
    """

    def __init__(self, n_epochs: int, n_epochs_decay: int, epoch_count: int = 1) -> None:
        if n_epochs < 0 or n_epochs_decay < 0:
            raise ConfigError(f"n_epochs and n_epochs_decay must be >= 0, got {n_epochs}, {n_epochs_decay}")
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)
        self.epoch_count = int(epoch_count)

    def __call__(self, epoch: int) -> float:
        return max(0.0, 1.0 - max(0, epoch + self.epoch_count - self.n_epochs) / float(self.n_epochs_decay + 1))


class ConfiguredLambdaLR(LambdaLR):
    """``LambdaLR`` whose schedule always comes from the configuration, not from a checkpoint.

    A resumed run restores the epoch counter and base rates, but a run resumed with more epochs
    must decay over its new length: stock ``LambdaLR.load_state_dict`` would bring back the old
    schedule's parameters (and, past its end, a negative rate).
    """

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["lr_lambdas"] = [None] * len(self.lr_lambdas)  # None: LambdaLR's "nothing to restore"
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        # checkpoints written before this class existed carry the old schedule's parameters: drop them
        state = {**state_dict, "lr_lambdas": [None] * len(self.lr_lambdas)}
        super().load_state_dict(state)
        # The restored _last_lr was computed under the old schedule; recompute under this one.
        for group, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            group["lr"] = base * fn(self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def linear_decay_scheduler(
    optimizer: torch.optim.Optimizer, n_epochs: int, n_epochs_decay: int, epoch_count: int = 1
) -> LambdaLR:
    """``LambdaLR`` with :class:`LinearDecay`; call ``step()`` once per epoch."""
    return ConfiguredLambdaLR(optimizer, lr_lambda=LinearDecay(n_epochs, n_epochs_decay, epoch_count))


def build_adam(
    params: Iterable[torch.nn.Parameter] | torch.nn.Module,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    fast: bool = True,
) -> torch.optim.Adam:
    """Adam with the GAN defaults (lr 2e-4, beta1 0.5).

    Args:
        params: parameters, or a module whose parameters to optimise.
        lr: learning rate.
        betas: Adam betas.
        fast: use the fused implementation (one kernel for all parameters; measured about 8x faster
            than the per-tensor loop for a ResNet-9 generator on one CPU thread), or the multi-tensor
            ``foreach`` one where fused is not supported (parameters that are not floating point or
            live on another device type); the maths is the same.
    """
    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    if lr <= 0:
        raise ConfigError(f"learning rate must be > 0, got {lr}")
    params = list(params)
    if not fast:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), foreach=False)
    fused_ok = all(
        isinstance(p, torch.Tensor) and p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params
    )
    if fused_ok:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=True)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), foreach=True)
