"""Common base of the multi-network GAN trainers (CycleGAN, pix2pix, the lesion trainer).

MONAI's :class:`monai.engines.GanTrainer` holds one generator fed with latent codes. Image-to-image
GANs need several networks, one optimiser (and LR schedule) each, image pools, mixed precision
with a gradient scaler per phase, channels-last tensors and DDP. :class:`MultiNetworkGanTrainer`
does that bookkeeping once; a subclass only writes ``_iteration`` (one training step returning a
dict of floats) and ``sample_panels`` (images for the sample grid).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from monai.engines import Trainer
from monai.engines.utils import IterationEvents, default_metric_cmp_fn
from monai.engines.workflow import Workflow
from monai.handlers import LrScheduleHandler
from torch import nn
from torch.optim import Optimizer

from ..errors import ConfigError, DatasetError
from .image_pool import ImagePool
from .runtime import (
    GradScalers,
    autocast,
    maybe_channels_last,
    resolve_amp,
    resolve_channels_last,
    unwrap,
    wrap_ddp,
)

__all__ = ["MultiNetworkGanTrainer", "PrepareKeysBatch", "resolve_adversarial_loss"]


class PrepareKeysBatch:
    """MONAI-style ``prepare_batch``: pick ``keys`` from a dict batch and move them to the device.

    ``MetaTensor`` values are turned into plain tensors (the metadata is not needed for training and
    plain tensors are faster and work with ``torch.compile``).

    Args:
        keys: required keys, returned in this order.
        optional_keys: keys returned after ``keys`` as ``None`` when absent.
    """

    def __init__(self, keys: Sequence[str], optional_keys: Sequence[str] = ()) -> None:
        self.keys = tuple(keys)
        self.optional_keys = tuple(optional_keys)

    def __call__(
        self, batchdata: Mapping[str, Any], device: torch.device | str | None = None, non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor | None, ...]:
        if not isinstance(batchdata, Mapping):
            raise DatasetError(f"expected a dict batch with keys {self.keys}, got {type(batchdata).__name__}")
        missing = [k for k in self.keys if k not in batchdata]
        if missing:
            raise DatasetError(f"batch lacks keys {missing}; it has {sorted(batchdata)}")
        return tuple(self._move(batchdata[k], device, non_blocking, **kwargs) for k in self.keys) + tuple(
            self._move(batchdata[k], device, non_blocking, **kwargs) if batchdata.get(k) is not None else None
            for k in self.optional_keys
        )

    @staticmethod
    def _move(value: Any, device: torch.device | str | None, non_blocking: bool, **kwargs: Any) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise DatasetError(f"batch values must be tensors, got {type(value).__name__}")
        value = value.as_tensor() if hasattr(value, "as_tensor") else value
        if value.ndim != 4:
            raise DatasetError(f"expected image batches (N, C, H, W), got shape {tuple(value.shape)}")
        return value.to(device=device, non_blocking=non_blocking, dtype=torch.float32, **kwargs)


class MultiNetworkGanTrainer(Trainer):
    """Ignite trainer holding named networks, optimisers, LR schedulers, image pools and AMP scalers.

    Args:
        device: training device.
        max_epochs: epochs to train.
        train_data_loader: loader of dict batches.
        networks: name -> network (e.g. ``{"G_AB": ..., "D_B": ...}``); moved to ``device``, converted
            to channels-last if asked, wrapped in DDP when a process group is initialised.
        optimizers: name -> optimiser; names are free (the same as ``networks`` by convention).
        prepare_batch: MONAI ``prepare_batch`` callable returning the tensors ``_iteration`` needs.
        lr_schedulers: name -> LR scheduler, stepped once per epoch (Ignite ``EPOCH_COMPLETED``).
        pools: name -> :class:`ImagePool`.
        scaler_names: one gradient scaler per optimisation phase (used for float16 AMP only).
        epoch_length: iterations per epoch (default ``len(train_data_loader)``).
        non_blocking: non-blocking host-to-device copies.
        amp: ``None`` automatic (float16 autocast + GradScaler on CUDA, float32 on CPU, where bfloat16
            autocast measured slower; see :func:`~monai_gan_aug.engines.runtime.resolve_amp`), or
            ``True`` (float16 on CUDA, bfloat16 on CPU) / ``False``.
        amp_dtype: ``"float16"``/``"bfloat16"`` to force the autocast dtype (turns autocast on when
            ``amp`` is ``None``). No gradient scaler for bfloat16.
        channels_last: convert networks and input batches to channels-last memory format; ``None``
            automatic (on with CUDA or CPU bfloat16 autocast, off for float32 on CPU, see
            :func:`~monai_gan_aug.engines.runtime.resolve_channels_last`).
        compile: run the networks through ``torch.compile`` (checkpoints still hold the plain modules).
        compile_kwargs: arguments of ``torch.compile``.
        optim_set_to_none: ``zero_grad(set_to_none=...)``; ``True`` skips a memset per parameter.
        train_handlers: Ignite/MONAI handlers to attach (StatsHandler, CheckpointSaver, MLFlowHandler...).
        key_train_metric, additional_metrics, metric_cmp_fn, iteration_update, event_names,
            event_to_attr, to_kwargs: as in :class:`monai.engines.SupervisedTrainer`.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Any,
        networks: Mapping[str, nn.Module],
        optimizers: Mapping[str, Optimizer],
        prepare_batch: Callable,
        lr_schedulers: Mapping[str, Any] | None = None,
        pools: Mapping[str, ImagePool] | None = None,
        scaler_names: Sequence[str] = ("G", "D"),
        epoch_length: int | None = None,
        non_blocking: bool = False,
        amp: bool | None = None,
        amp_dtype: str | None = None,
        channels_last: bool | None = False,
        compile: bool = False,
        compile_kwargs: dict | None = None,
        optim_set_to_none: bool = True,
        train_handlers: Sequence | None = None,
        key_train_metric: dict | None = None,
        additional_metrics: dict | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        iteration_update: Callable | None = None,
        event_names: list | None = None,
        event_to_attr: dict | None = None,
        to_kwargs: dict | None = None,
    ) -> None:
        if int(max_epochs) < 1:
            raise ConfigError(f"max_epochs must be >= 1, got {max_epochs}")
        device = torch.device(device)
        # Handlers are attached at the end of __init__ so that they can see the fully built trainer.
        super().__init__(
            device=device, max_epochs=int(max_epochs), data_loader=train_data_loader, epoch_length=epoch_length,
            non_blocking=non_blocking, prepare_batch=prepare_batch, iteration_update=iteration_update,
            key_metric=key_train_metric, additional_metrics=additional_metrics, metric_cmp_fn=metric_cmp_fn,
            handlers=None, amp=False, event_names=event_names, event_to_attr=event_to_attr,
            decollate=False,  # outputs are dicts of floats, nothing to decollate
            to_kwargs=to_kwargs,
        )
        self.amp_dtype = resolve_amp(amp, device, amp_dtype)
        self.channels_last = resolve_channels_last(channels_last, device, self.amp_dtype)
        self.amp = self.amp_dtype is not None
        # float16 needs loss scaling against underflow; bfloat16 has float32's exponent range and does not.
        self.scalers = GradScalers(scaler_names, enabled=self.amp_dtype == torch.float16, device_type=device.type)
        self.optim_set_to_none = bool(optim_set_to_none)
        self.bare_networks: dict[str, nn.Module] = {}
        self.networks: dict[str, nn.Module] = {}
        for name, net in networks.items():
            if not isinstance(net, nn.Module):
                raise ConfigError(f"network {name!r} must be a torch.nn.Module, got {type(net).__name__}")
            net = net.to(device, memory_format=torch.channels_last) if self.channels_last else net.to(device)
            self.bare_networks[name] = net
            wrapped = wrap_ddp(net, device)
            self.networks[name] = torch.compile(wrapped, **(compile_kwargs or {})) if compile else wrapped
        self.optimizers = dict(optimizers)
        self.lr_schedulers = dict(lr_schedulers or {})
        unknown = set(self.lr_schedulers) - set(self.optimizers)
        if unknown:
            raise ConfigError(f"lr_schedulers {sorted(unknown)} have no optimiser of the same name")
        self.pools = dict(pools or {})
        for sched in self.lr_schedulers.values():
            LrScheduleHandler(sched, print_lr=False, epoch_level=True).attach(self)
        if train_handlers is not None:
            self._register_handlers(train_handlers)

    def run(self) -> None:  # type: ignore[override]
        """Run training; resumes from ``self.state`` if a checkpoint was loaded.

        ``Trainer.run`` would create its own legacy ``torch.cuda.amp.GradScaler``; the scalers here are
        per phase and checkpointed, so the base ``Workflow.run`` is called directly.
        """
        Workflow.run(self)

    # ----------------------------------------------------------------------------------- helpers
    def autocast(self):
        """Autocast context of this trainer (no-op in float32)."""
        return autocast(self.state.device, self.amp_dtype)

    def prepare_images(self, x: torch.Tensor) -> torch.Tensor:
        """Map a ``[0, 1]`` batch to ``[-1, 1]`` in the trainer's memory format."""
        return maybe_channels_last(x * 2.0 - 1.0, self.channels_last)

    def zero_grad(self, names: Sequence[str]) -> None:
        for n in names:
            self.optimizers[n].zero_grad(set_to_none=self.optim_set_to_none)

    def backward_step(self, loss: torch.Tensor, phase: str, names: Sequence[str]) -> None:
        """Backpropagate ``loss`` and step the optimisers ``names`` through the ``phase`` scaler."""
        scaler = self.scalers[phase]
        scaler.scale(loss).backward()
        self.fire_event(IterationEvents.BACKWARD_COMPLETED)
        for n in names:
            scaler.step(self.optimizers[n])
        scaler.update()

    def publish_output(self, losses: Mapping[str, torch.Tensor | float]) -> dict[str, float]:
        """End an iteration: losses as floats plus every optimiser's LR, set as ``state.output``.

        Every trainer reports this way so that stock ``StatsHandler``/``MLFlowHandler`` log all of them.
        """
        out = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in losses.items()}
        out.update(self.current_lrs())
        self.state.output = out
        self.fire_event(IterationEvents.MODEL_COMPLETED)
        return out

    def current_lrs(self) -> dict[str, float]:
        """``{"lr_<name>": lr}`` of the first parameter group of every optimiser."""
        return {f"lr_{n}": float(opt.param_groups[0]["lr"]) for n, opt in self.optimizers.items()}

    def checkpoint_objects(self) -> dict[str, Any]:
        """Everything a resumed run needs, for ``CheckpointSaver``/``CheckpointLoader`` ``save_dict``.

        Keys: the network names (bare modules, not DDP/compiled wrappers), ``opt_<name>``,
        ``sched_<name>``, ``pool_<name>``, ``scalers`` and ``trainer`` (epoch and iteration).
        """
        objs: dict[str, Any] = dict(self.bare_networks)
        objs.update({f"opt_{n}": o for n, o in self.optimizers.items()})
        objs.update({f"sched_{n}": s for n, s in self.lr_schedulers.items()})
        objs.update({f"pool_{n}": p for n, p in self.pools.items()})
        objs["scalers"] = self.scalers
        objs["trainer"] = self
        return objs

    def sample_panels(self, batchdata: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Named ``(N, C, H, W)`` images in ``[0, 1]`` for the sample grid; see subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample_panels")

    def _forward_eval(self, fn: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Run ``fn`` with the bare networks in eval mode under ``inference_mode``, then restore train mode."""
        modes = {n: m.training for n, m in self.bare_networks.items()}
        for m in self.bare_networks.values():
            m.eval()
        try:
            with torch.inference_mode(), self.autocast():
                out = fn()
        finally:
            for n, m in self.bare_networks.items():
                m.train(modes[n])
        return {k: ((v.float() + 1.0) * 0.5).clamp(0.0, 1.0).contiguous().cpu() for k, v in out.items()}

    @staticmethod
    def bare(net: nn.Module) -> nn.Module:
        """The module inside DDP/compile wrappers."""
        net = getattr(net, "_orig_mod", net)
        return unwrap(net)




def resolve_adversarial_loss(loss: Callable | str) -> Callable:
    """Return an adversarial loss ``f(pred, target_is_real, for_discriminator) -> Tensor``.

    Args:
        loss: a callable with that signature, or a mode name (``"lsgan"``, ``"vanilla"``,
            ``"hinge"``, ``"wgan"``) built with :class:`monai_gan_aug.losses.adversarial.AdversarialLoss`.
    """
    if callable(loss):
        return loss
    from ..losses.adversarial import AdversarialLoss  # lazy: losses import engines' users, not vice versa

    return AdversarialLoss(mode=str(loss))
