"""Automatic mixed precision and memory format of the trainers (engines/runtime.py, engines/base.py)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from monai_gan_aug.engines import runtime
from monai_gan_aug.engines.runtime import resolve_amp, resolve_channels_last
from monai_gan_aug.errors import ConfigError
from tests.engines.helpers import tiny_cyclegan

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend the CPU runs bfloat16 natively (AVX512-BF16 / AMX)."""
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: True)


@pytest.fixture
def no_bf16(monkeypatch):
    """Pretend the CPU has no native bfloat16 (oneDNN would emulate it)."""
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: False)


def test_cpu_supports_bf16_matches_onednn():
    expected = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert runtime.cpu_supports_bf16() is bool(expected)


def test_cpu_supports_bf16_is_false_without_the_onednn_op(monkeypatch):
    def missing() -> bool:
        raise RuntimeError("no such op")

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing)
    assert runtime.cpu_supports_bf16.__wrapped__() is False


@pytest.mark.parametrize("fixture", ["native_bf16", "no_bf16"])
def test_automatic_amp_on_cpu_is_float32_with_or_without_native_bf16(request, fixture):
    """bfloat16 measured slower than float32 on an AVX512-BF16 CPU (docs/performance.md): not the default."""
    request.getfixturevalue(fixture)
    assert resolve_amp(None, CPU) is None


@pytest.mark.parametrize("fixture", ["native_bf16", "no_bf16"])
def test_cuda_path_unchanged(request, fixture):
    request.getfixturevalue(fixture)
    assert resolve_amp(None, CUDA) == torch.float16
    assert resolve_amp(True, CUDA) == torch.float16
    assert resolve_amp(False, CUDA) is None
    assert resolve_amp(None, CUDA, "bfloat16") == torch.bfloat16
    assert resolve_amp(False, CUDA, "float16") is None


@pytest.mark.usefixtures("native_bf16")
def test_explicit_overrides_on_cpu():
    assert resolve_amp(True, CPU) == torch.bfloat16
    assert resolve_amp(True, CPU, "float16") == torch.float16
    assert resolve_amp(True, CPU, torch.bfloat16) == torch.bfloat16
    assert resolve_amp(None, CPU, "bfloat16") == torch.bfloat16  # naming a dtype asks for autocast
    assert resolve_amp(False, CPU) is None
    assert resolve_amp(False, CPU, "bfloat16") is None  # amp: false wins


def test_bad_amp_dtype_is_a_config_error():
    with pytest.raises(ConfigError, match="float16 or bfloat16"):
        resolve_amp(True, CPU, "float32")
    with pytest.raises(ConfigError, match="float16 or bfloat16"):
        resolve_amp(None, CPU, "bf16")


@pytest.mark.usefixtures("no_bf16")
def test_bf16_asked_for_on_cpu_without_native_support_warns():
    with pytest.warns(UserWarning, match="emulated"):
        assert resolve_amp(True, CPU) == torch.bfloat16


@pytest.mark.usefixtures("native_bf16")
def test_bf16_with_native_support_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_amp(True, CPU) == torch.bfloat16


def test_channels_last_automatic_and_explicit():
    assert resolve_channels_last(None, CPU, None) is False  # float32 on CPU: never by default
    assert resolve_channels_last(None, CPU, torch.bfloat16) is True
    assert resolve_channels_last(None, CUDA, None) is True
    assert resolve_channels_last(None, CUDA, torch.float16) is True
    assert resolve_channels_last(True, CPU, None) is True
    assert resolve_channels_last(False, CPU, torch.bfloat16) is False
    assert resolve_channels_last(False, CUDA, torch.float16) is False


def _output_dtypes(trainer) -> list[torch.dtype]:
    """Record the dtype of every G_AB output during the trainer's iterations."""
    seen: list[torch.dtype] = []
    trainer.bare_networks["G_AB"].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


def test_trainer_defaults_to_float32_nchw_on_cpu():
    trainer = tiny_cyclegan(max_epochs=1, n=2, amp=None, channels_last=None)
    assert trainer.amp_dtype is None and not trainer.amp and not trainer.channels_last
    assert next(trainer.bare_networks["G_AB"].parameters()).is_contiguous()
    seen = _output_dtypes(trainer)
    trainer.run()
    assert seen and all(d == torch.float32 for d in seen)
    assert all(math.isfinite(v) for k, v in trainer.state.output.items() if k.startswith("loss"))


@pytest.mark.usefixtures("native_bf16")
def test_bf16_on_cpu_trains_one_step_with_finite_losses_and_no_grad_scaler():
    trainer = tiny_cyclegan(max_epochs=1, n=2, amp=True, channels_last=None)
    assert trainer.amp_dtype == torch.bfloat16 and trainer.channels_last  # automatic layout follows bf16
    assert not trainer.scalers.enabled and not any(s.is_enabled() for s in trainer.scalers.scalers.values())
    seen = _output_dtypes(trainer)
    before = {k: v.clone() for k, v in trainer.bare_networks["G_AB"].state_dict().items()}
    trainer.run()
    assert seen and all(d == torch.bfloat16 for d in seen)  # the step really ran under bf16 autocast
    losses = {k: v for k, v in trainer.state.output.items() if k.startswith("loss")}
    assert losses and all(math.isfinite(v) for v in losses.values())
    after = trainer.bare_networks["G_AB"].state_dict()
    assert all(v.dtype == torch.float32 for v in after.values() if v.is_floating_point())  # fp32 weights
    assert any(not torch.equal(before[k], after[k]) for k in before)
