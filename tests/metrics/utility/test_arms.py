from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.metrics.utility.arms import (
    Arm,
    GanLesionSynthesizer,
    OpacityBaselineSynthesizer,
    build_arm,
    region_mask,
    synthesize_arm_items,
)
from tests.metrics.utility._toys import SIZE, OracleDiscs, toy_set


def _film(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = 0.3 + 0.05 * torch.rand(1, size, size, generator=g)
    lung = torch.zeros(1, size, size)
    lung[:, 8:56, 6:30] = 1
    return image, lung


def test_arm_specs():
    assert build_arm("real_only") == Arm("real_only")
    assert build_arm("classical").augment is True
    arm = build_arm("opacity_baseline:2")
    assert arm.name == "opacity_baseline:2" and arm.ratio == 2.0 and arm.n_synthetic(25) == 50
    assert build_arm("opacity_baseline").n_synthetic(25) == 25
    assert Arm("real_only").n_synthetic(25) == 0
    for bad in ("nope", "classical:2", "gan_lesion:0"):
        with pytest.raises(ConfigError):
            build_arm(bad)


def test_opacity_baseline_paints_inside_the_region_and_labels_its_footprint():
    image, lung = _film()
    edited, label = OpacityBaselineSynthesizer()(image, lung, [0, 10, 40, 40], seed=5)
    inside = region_mask(image.shape, [0, 10, 40, 40], lung)
    assert edited.shape == label.shape == image.shape
    assert label.sum() > 0 and set(label.unique().tolist()) <= {0.0, 1.0}
    assert bool((label <= inside).all())  # the footprint stays in box and lung
    assert float((edited - image)[label > 0].mean()) > 0  # an opacity brightens (air is dark)
    again, label2 = OpacityBaselineSynthesizer()(image, lung, [0, 10, 40, 40], seed=5)
    assert torch.equal(again, edited) and torch.equal(label2, label)


def test_gan_arm_uses_edit_lesion_and_its_exact_footprint(tiny_opacity_weights):
    image, lung = _film()
    import hashlib

    synth = GanLesionSynthesizer(tiny_opacity_weights)
    assert synth.weights_sha256 is None
    edited, label = synth(image, lung, [0, 10, 40, 40], seed=1)
    assert synth.weights_sha256 == hashlib.sha256(tiny_opacity_weights.read_bytes()).hexdigest()
    assert edited.shape == image.shape and label.sum() > 0
    assert bool((label <= region_mask(image.shape, [0, 10, 40, 40], lung)).all())
    changed = (edited - image).abs() > 0
    assert not bool(changed[region_mask(image.shape, [0, 0, 64, 64]) * (1 - lung) > 0].any())
    with pytest.raises(ConfigError, match="not found"):
        GanLesionSynthesizer("/nowhere/lesion.pt").network  # noqa: B018


def test_synthetic_items_cycle_the_budget_normals_with_budget_boxes():
    films = toy_set(2, 2, seed=0, prefix="p")
    budget = {"lesion": films[:2], "normal": films[2:]}
    arm = Arm("oracle", synthesizer=OracleDiscs((0.9,)), ratio=2.0)
    items = synthesize_arm_items(arm, budget, seed=0, size=16)
    assert len(items) == 4
    assert [d["patient"] for d in items] == ["p2", "p3", "p2", "p3"]
    boxes = [b for d in films[:2] for b in d["boxes"]]
    for d in items:
        assert d["image"].shape == d["mask"].shape == (1, 16, 16) and d["cls"] == 1 and d["mask"].sum() > 0
        assert any(all(abs(a - b) <= 1 for a, b in zip(d["region"], box)) for box in boxes)
    assert synthesize_arm_items(Arm("real_only"), budget, seed=0, size=16) == []
    assert [d["region"] for d in synthesize_arm_items(arm, budget, seed=0, size=SIZE)] == \
           [d["region"] for d in items]
    assert np.all([torch.equal(a["image"], b["image"]) for a, b in
                   zip(items, synthesize_arm_items(arm, budget, seed=0, size=16))])
