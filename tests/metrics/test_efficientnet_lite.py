from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_gan_aug.errors import CheckpointError
from monai_gan_aug.metrics.efficientnet_lite import (
    EfficientNetLite0,
    SameConv2d,
    lite0_weights_path,
    load_efficientnet_lite0,
)

torch.set_num_threads(1)


def test_all_weights_load_strictly():
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    assert set(model.state_dict()) == set(state)
    net = load_efficientnet_lite0()
    assert sum(p.numel() for p in net.parameters()) == 4_652_008  # published Lite0 size: 4.65 M
    assert not net.training


def test_same_padding_is_tensorflow_style():
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    x = torch.randn(1, 1, 8, 8)
    # TF SAME for k=3, s=2 on an even size pads 0 before and 1 after
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2))
    assert conv(torch.randn(1, 1, 7, 7)).shape[-1] == 4  # ceil(7 / 2)


def test_wrong_file_is_a_checkpoint_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError):
        load_efficientnet_lite0(bad)
