"""Runtime helpers shared by the GAN trainers: value ranges, AMP, channels-last and DDP.

Every trainer in :mod:`monai_gan_aug.engines` (and the lesion trainer built on them) uses these
instead of re-implementing them, so that mixed precision, memory format and distributed training
behave the same everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError

__all__ = [
    "GradScalers",
    "autocast",
    "cpu_supports_bf16",
    "from_net_range",
    "is_distributed",
    "is_rank0",
    "maybe_channels_last",
    "resolve_amp",
    "resolve_channels_last",
    "set_requires_grad",
    "to_net_range",
    "unwrap",
    "wrap_ddp",
]


def to_net_range(x: torch.Tensor) -> torch.Tensor:
    """Map loader images in ``[0, 1]`` to the ``[-1, 1]`` range of tanh generators."""
    return x * 2.0 - 1.0


def from_net_range(x: torch.Tensor) -> torch.Tensor:
    """Map network images in ``[-1, 1]`` back to ``[0, 1]`` (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


def is_distributed() -> bool:
    """True when ``torch.distributed`` is available and a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def is_rank0() -> bool:
    """True on the process that logs and saves (rank 0, or the only process)."""
    return not is_distributed() or dist.get_rank() == 0


def unwrap(net: nn.Module) -> nn.Module:
    """Return the bare module inside a ``DistributedDataParallel``/``DataParallel`` wrapper."""
    return net.module if isinstance(net, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else net


def wrap_ddp(net: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``net`` in ``DistributedDataParallel`` when a process group is initialised, else return it.

    ``broadcast_buffers=False``: the generators and PatchGAN discriminators use instance norm (no
    running statistics), and buffer broadcasts at every forward would only cost time.
    """
    if not is_distributed() or isinstance(net, nn.parallel.DistributedDataParallel):
        return net
    if not any(p.requires_grad for p in net.parameters()):
        return net  # nothing to synchronise
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=device_ids, broadcast_buffers=False)


def maybe_channels_last(x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """Convert a 4-D tensor to ``channels_last`` memory format when ``enabled``."""
    return x.contiguous(memory_format=torch.channels_last) if enabled and x.ndim == 4 else x


def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    """Switch gradient computation of all parameters of ``nets`` (frozen D while G is updated)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX), else emulated.

    Without native support, bfloat16 autocast on CPU still works but converts in software and is
    much slower than float32.
    """
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # builds without oneDNN or without the op
        return False


def resolve_amp(amp: bool | None, device: torch.device, amp_dtype: str | torch.dtype | None = None) -> torch.dtype | None:
    """Decide the autocast dtype: ``None`` means full float32.

    Args:
        amp: ``None`` = automatic: float16 (with loss scaling) on CUDA, float32 on CPU. bfloat16
            autocast on CPU is not the default even where the CPU runs bfloat16 natively: on an
            AVX512-BF16 CPU (no AMX) it was slower than the fastest float32 layout for every bundle's
            training step, and CycleGAN's FID after a short run was worse in both seeds tried
            (``docs/performance.md``). ``True`` = on (bfloat16 on CPU); ``False`` = off.
        device: the training device.
        amp_dtype: force a dtype (``"float16"`` or ``"bfloat16"``); default float16 on CUDA and
            bfloat16 on CPU. An explicit ``amp_dtype`` with ``amp=None`` turns autocast on.

    Raises:
        ConfigError: ``amp_dtype`` is not float16 or bfloat16.
    """
    dtype: torch.dtype | None = None
    if amp_dtype is not None:
        dtype = getattr(torch, amp_dtype, None) if isinstance(amp_dtype, str) else amp_dtype
        if dtype not in (torch.float16, torch.bfloat16):
            raise ConfigError(f"amp_dtype must be float16 or bfloat16, got {amp_dtype!r}")
    enabled = (device.type == "cuda" or dtype is not None) if amp is None else bool(amp)
    if not enabled:
        return None
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_supports_bf16():
        warnings.warn("bfloat16 autocast was asked for on a CPU without native bfloat16 support: it is "
                      "emulated and much slower than float32 (set amp to false)", stacklevel=2)
    return dtype


def resolve_channels_last(
    channels_last: bool | None, device: torch.device, amp_dtype: torch.dtype | None
) -> bool:
    """Decide the memory format: ``True`` = channels-last networks and batches.

    ``None`` = automatic: on with CUDA (tensor cores) and with bfloat16 autocast on CPU; off for
    float32 on CPU, where channels-last measured no reliable gain for the bundles' networks
    (0.86-1.16x at their default sizes, 0.90-0.93x for CycleGAN at 256 px; see
    ``docs/performance.md``). ``True``/``False`` are kept as given.
    """
    if channels_last is not None:
        return bool(channels_last)
    return device.type == "cuda" or amp_dtype is not None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast context for ``device`` with ``dtype``, or a no-op when ``dtype`` is ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class GradScalers:
    """Named ``torch.amp.GradScaler`` objects, one per optimisation phase (e.g. ``G`` and ``D``).

    Scaling is only needed for float16 on CUDA; otherwise the scalers are disabled and behave as
    identity. The object has ``state_dict``/``load_state_dict`` so that it sits in a checkpoint like
    any other object; an empty state (a disabled scaler saved on CPU) is accepted when loading, so a
    CPU checkpoint can resume on a GPU.

    Args:
        names: one scaler per name.
        enabled: whether scaling is active.
        device_type: device type of the scaler.
    """

    def __init__(self, names: Iterable[str], enabled: bool, device_type: str = "cuda") -> None:
        self.enabled = bool(enabled)
        self.scalers = {n: torch.amp.GradScaler(device_type, enabled=self.enabled) for n in names}

    def __getitem__(self, name: str) -> torch.amp.GradScaler:
        return self.scalers[name]

    def state_dict(self) -> dict[str, Any]:
        return {n: s.state_dict() for n, s in self.scalers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for n, s in self.scalers.items():
            if state.get(n) and self.enabled:  # a disabled scaler saves {}: nothing to restore
                s.load_state_dict(state[n])
