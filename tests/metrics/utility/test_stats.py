from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.metrics.utility.stats import mean_sd, paired_difference_ci


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_paired_interval_matches_scipy_ttest_rel(seed, confidence):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.4, 0.6, size=5)
    b = a + rng.normal(0.02, 0.03, size=5)
    out = paired_difference_ci(a, b, confidence)
    ref = stats.ttest_rel(b, a).confidence_interval(confidence)
    assert out["mean"] == pytest.approx(float(np.mean(b - a)))
    assert out["ci"] == pytest.approx([ref.low, ref.high])
    assert out["sd"] == pytest.approx(float(np.std(b - a, ddof=1)))
    assert out["n"] == 5


def test_one_seed_has_no_interval_and_bad_input_is_refused():
    assert paired_difference_ci([0.5], [0.7])["ci"] is None
    with pytest.raises(ConfigError):
        paired_difference_ci([0.5, 0.6], [0.6])
    with pytest.raises(ConfigError):
        paired_difference_ci([], [])
    assert mean_sd([1.0, 3.0]) == {"mean": 2.0, "sd": pytest.approx(np.sqrt(2.0)), "n": 2}
    assert mean_sd([1.0])["sd"] is None
    with pytest.raises(ConfigError):
        mean_sd([])


def test_the_older_harnesses_reexport_the_moved_helpers():
    from monai_gan_aug.metrics import downstream, downstream_segmentation
    from monai_gan_aug.metrics.utility import budgets, segmentation
    from monai_gan_aug.metrics.utility import stats as moved

    assert downstream.paired_difference_ci is moved.paired_difference_ci
    assert downstream_segmentation.paired_difference_ci is moved.paired_difference_ci
    assert downstream_segmentation.sample_items is budgets.sample_items
    for name in ("train_segmenter", "evaluate_segmenter", "prepare_segmentation_items", "build_unet",
                 "predict_masks", "segmentation_augmentation", "UNET_CHANNELS"):
        assert getattr(downstream_segmentation, name) is getattr(segmentation, name)
