from __future__ import annotations

import pytest
import torch

from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.metrics.utility.arms import Arm, build_arm
from monai_gan_aug.metrics.utility.harness import REFERENCE_ARM, prepare_harness_items, run_utility, summarise
from monai_gan_aug.metrics.utility.tasks import SegmentationTask
from tests.metrics.utility._toys import SIZE, SMALL, OracleDiscs, toy_set

torch.set_num_threads(1)


def _task() -> SegmentationTask:
    return SegmentationTask(batch_size=8, lr=1e-2, channels=SMALL)


def test_synthetic_lesions_must_help_when_they_cover_what_the_real_films_miss():
    # real lesions are all brighter than the background; half the held-out lesions are darker. A
    # synthesizer that paints both kinds adds exactly what real-only cannot learn: Dice must rise.
    train = toy_set(6, 6, seed=0, prefix="tr", intensity=(0.9,))
    test = toy_set(16, 4, seed=1, prefix="te", intensity=(0.05, 0.9))
    arms = [Arm("real_only"), Arm("oracle", synthesizer=OracleDiscs((0.05, 0.9)), ratio=3.0)]
    out = run_utility(_task(), train, test, budgets=[2], arms=arms, seeds=[0, 1], steps=50, size=SIZE)
    row = next(r for r in out["summary"] if r["arm"] == "oracle")
    assert row["dice_diff"]["mean"] > 0.1, out["summary"]
    assert row["dice_diff"]["ci"][0] > 0


def test_synthetic_lesions_cannot_help_a_saturated_task():
    # the real films already show the held-out distribution and real-only segments almost perfectly:
    # the same oracle synthesizer has nothing left to add
    train = toy_set(8, 8, seed=0, prefix="tr")
    test = toy_set(12, 4, seed=1, prefix="te")
    arms = [Arm("real_only"), Arm("oracle", synthesizer=OracleDiscs((0.9,)), ratio=1.0)]
    out = run_utility(_task(), train, test, budgets=[8], arms=arms, seeds=[0, 1], steps=50, size=SIZE)
    ref = next(r for r in out["summary"] if r["arm"] == REFERENCE_ARM)
    row = next(r for r in out["summary"] if r["arm"] == "oracle")
    assert ref["dice"]["mean"] > 0.8
    assert abs(row["dice_diff"]["mean"]) < 0.05, out["summary"]


def test_every_arm_takes_the_same_number_of_optimiser_steps_and_seeds_reproduce():
    train = toy_set(4, 4, seed=0, prefix="tr")
    test = toy_set(4, 2, seed=1, prefix="te")
    arms = [Arm("real_only"), build_arm("classical"), Arm("oracle", synthesizer=OracleDiscs((0.9,)), ratio=2.0)]
    kw = dict(budgets=[2, 4], arms=arms, seeds=[3], steps=7, size=SIZE)
    first = run_utility(_task(), train, test, **kw)
    assert {r["steps"] for r in first["runs"]} == {7}
    assert len(first["runs"]) == 6
    pools = {(r["n"], r["arm"]): r["pool"] for r in first["runs"]}
    assert pools[(2, "real_only")] == pools[(2, "classical")] == 4 and pools[(2, "oracle")] == 8
    assert pools[(4, "oracle")] == 16
    again = run_utility(_task(), train, test, **kw)
    assert [r["scores"] for r in again["runs"]] == [r["scores"] for r in first["runs"]]


def test_summary_pairs_by_seed_and_refuses_leaks_and_bad_arms():
    runs = [{"n": 2, "arm": a, "seed": s, "scores": {"dice": v}}
            for a, vals in (("real_only", (0.5, 0.6, 0.7)), ("x", (0.6, 0.6, 0.9))) for s, v in enumerate(vals)]
    rows = summarise(runs, ["dice"], ["real_only", "x"])
    assert rows[0]["dice_diff"] is None and rows[0]["dice"]["mean"] == pytest.approx(0.6)
    assert rows[1]["dice_diff"]["mean"] == pytest.approx((0.1 + 0.0 + 0.2) / 3)
    train = toy_set(2, 2, seed=0, prefix="tr")
    with pytest.raises(DatasetError, match="also test films"):
        run_utility(_task(), train, train[:1], budgets=[1], arms=[Arm("real_only")], seeds=[0], steps=1, size=SIZE)
    with pytest.raises(ConfigError):
        run_utility(_task(), train, [], budgets=[1], arms=[Arm("a"), Arm("a")], seeds=[0], steps=1, size=SIZE)


def test_prepare_harness_items_gives_normals_an_empty_mask():
    film = toy_set(0, 1, seed=0, prefix="n")[0]
    film.pop("lesion_mask")
    item = prepare_harness_items([film], 16)[0]
    assert item["image"].shape == (1, 16, 16) and item["mask"].sum() == 0 and item["cls"] == 0
