from __future__ import annotations

import pytest
import torch

from monai_gan_aug.engines.image_pool import ImagePool
from monai_gan_aug.errors import CheckpointError, ConfigError


def test_pool_fills_then_mixes_history():
    pool = ImagePool(pool_size=3, seed=1)
    first = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1)
    # while filling, queries return their input and store it
    assert torch.equal(pool.query(first), first)
    assert len(pool) == 3
    outs = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(40)])
    assert len(pool) == 3
    from_history = outs.flatten() < 10
    fresh = ~from_history
    # with p = 0.5 both happen over 40 draws; old images come back, at most once each
    assert from_history.any() and fresh.any()
    assert set(outs.flatten()[from_history].tolist()) <= {0.0, 1.0, 2.0} | {10.0 + i for i in range(40)}


def test_pool_size_zero_is_identity_and_negative_rejected():
    x = torch.rand(2, 1, 4, 4)
    assert torch.equal(ImagePool(0).query(x), x)
    with pytest.raises(ConfigError):
        ImagePool(-1)


def test_pool_state_round_trip_reproduces_future_draws():
    pool = ImagePool(pool_size=4, seed=3)
    for i in range(6):
        pool.query(torch.full((2, 1, 2, 2), float(i)))
    state = pool.state_dict()
    assert isinstance(state["images"], torch.Tensor) and state["images"].shape == (4, 1, 2, 2)
    clone = ImagePool(pool_size=4, seed=99)
    clone.load_state_dict(state)
    new = torch.full((3, 1, 2, 2), 7.0)
    assert torch.equal(pool.query(new), clone.query(new))
    with pytest.raises(CheckpointError):
        ImagePool(pool_size=5).load_state_dict(state)
