from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.metrics.downstream import (
    check_disjoint,
    evaluate_classifier,
    paired_difference_ci,
    sample_real_subset,
    train_classifier,
    utility_experiment,
)

torch.set_num_threads(1)

SIZE = 32


def toy_items(n_per_class: int, seed: int, prefix: str = "p") -> list[dict]:
    """Class 1: a bright disc at a random place on a noisy background; class 0: background only."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    items = []
    for k in range(2 * n_per_class):
        label = k % 2
        img = 0.3 + 0.05 * rng.standard_normal((SIZE, SIZE))
        if label:
            cy, cx = rng.integers(8, SIZE - 8, size=2)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = 0.95
        items.append({"image": torch.from_numpy(np.clip(img, 0, 1)).float()[None], "label": label,
                      "patient": f"{prefix}{seed}_{k}"})
    return items


def test_classifier_learns_separable_toy_set():
    train, test = toy_items(16, seed=0, prefix="tr"), toy_items(12, seed=1, prefix="te")
    model = train_classifier(train, None, size=SIZE, epochs=6, seed=0, batch_size=8, lr=3e-3, augment=False)
    scores = evaluate_classifier(model, test)
    assert scores["auc"] > 0.9
    assert scores["n"] == 24 and scores["n_pneumonia"] == 12 and scores["n_normal"] == 12
    assert 0.0 <= scores["accuracy"] <= 1.0


def test_training_is_deterministic_given_seed():
    train, test = toy_items(6, seed=2), toy_items(4, seed=3, prefix="te")
    kw = dict(size=SIZE, epochs=1, seed=5, batch_size=4)
    p1 = evaluate_classifier(train_classifier(train, **kw), test)
    p2 = evaluate_classifier(train_classifier(train, **kw), test)
    assert p1 == p2


def test_paired_difference_ci_matches_numpy_t_interval():
    a, b = [0.70, 0.75, 0.80, 0.72], [0.74, 0.76, 0.86, 0.71]
    d = np.array(b) - np.array(a)
    half = stats.t.ppf(0.975, df=3) * d.std(ddof=1) / np.sqrt(4)
    out = paired_difference_ci(a, b)
    assert out["n"] == 4
    assert out["mean"] == pytest.approx(d.mean())
    assert out["sd"] == pytest.approx(d.std(ddof=1))
    assert out["ci"] == pytest.approx([d.mean() - half, d.mean() + half])
    # known numbers: d = [0.04, 0.01, 0.06, -0.01], mean 0.025, t_{0.975,3} = 3.182446
    assert out["mean"] == pytest.approx(0.025)
    assert out["ci"][1] - out["ci"][0] == pytest.approx(2 * 3.182446 * 0.0310913 / 2, rel=1e-4)
    assert paired_difference_ci([0.5], [0.6])["ci"] is None
    with pytest.raises(ConfigError):
        paired_difference_ci([0.5, 0.6], [0.6])


def test_real_subset_is_seeded_balanced_and_from_training_items():
    train, test = toy_items(10, seed=0, prefix="tr"), toy_items(5, seed=1, prefix="te")
    s1, s2, s3 = (sample_real_subset(train, 4, seed) for seed in (7, 7, 8))
    pats = lambda s: [i["patient"] for i in s]  # noqa: E731
    assert pats(s1) == pats(s2)
    assert pats(s1) != pats(s3)
    assert sorted(i["label"] for i in s1) == [0] * 4 + [1] * 4
    assert len(set(pats(s1))) == 8
    assert set(pats(s1)) <= {i["patient"] for i in train}
    assert not set(pats(s1)) & {i["patient"] for i in test}
    check_disjoint(s1, test, "real")  # no error
    with pytest.raises(DatasetError, match="overlap"):
        check_disjoint(s1 + test[:1], test, "real")


def test_errors():
    train = toy_items(3, seed=0)
    with pytest.raises(DatasetError, match="only 3 available"):
        sample_real_subset(train, 4, 0)
    model = train_classifier(train, size=SIZE, epochs=1, seed=0, batch_size=4)
    with pytest.raises(DatasetError, match="empty"):
        evaluate_classifier(model, [])
    with pytest.raises(DatasetError, match="only class 0"):
        evaluate_classifier(model, [i for i in toy_items(3, seed=1, prefix="te") if i["label"] == 0])
    with pytest.raises(DatasetError, match="only class 1"):
        train_classifier([i for i in train if i["label"] == 1], size=SIZE, epochs=1)
    synth = [dict(i, label=1) for i in toy_items(2, seed=4, prefix="sy")]
    with pytest.raises(DatasetError, match="only 3 available"):
        utility_experiment(train, synth, toy_items(2, seed=5, prefix="te"), seeds=[0], n_real=4,
                           n_synthetic=1, size=SIZE, epochs=1)
    with pytest.raises(DatasetError, match="overlap"):
        utility_experiment(train, synth, train, seeds=[0], n_real=2, n_synthetic=1, size=SIZE, epochs=1)


def test_utility_experiment_reports_both_arms_and_paired_difference():
    train, test = toy_items(8, seed=0, prefix="tr"), toy_items(6, seed=1, prefix="te")
    synth = [i for i in toy_items(6, seed=2, prefix="sy") if i["label"] == 1]
    out = utility_experiment(train, synth, test, seeds=[0, 1], n_real=3, n_synthetic=4, size=SIZE, epochs=1,
                             batch_size=4)
    assert [r["seed"] for r in out["per_seed"]] == [0, 1]
    for row in out["per_seed"]:
        assert row["real_only"]["n_train"] == 6 and row["real_plus_synthetic"]["n_train"] == 10
    a = [r["real_only"]["auc"] for r in out["per_seed"]]
    b = [r["real_plus_synthetic"]["auc"] for r in out["per_seed"]]
    assert out["auc_difference"] == paired_difference_ci(a, b)
    assert out["auc_difference"]["mean"] == pytest.approx(np.mean(np.array(b) - np.array(a)))


@pytest.mark.parametrize("method", ["lesion_inpaint", "cyclegan"])
def test_synthesize_pneumonia_with_shipped_generators(method):
    from monai_gan_aug.metrics.downstream import synthesize_pneumonia

    rng = np.random.default_rng(0)
    normals = [{"image": torch.from_numpy(rng.uniform(0.2, 0.6, (1, 96, 80))).float(), "label": 0,
                "patient": f"n{k}"} for k in range(2)]
    out = synthesize_pneumonia(normals, method, seed=3)
    again = synthesize_pneumonia(normals, method, seed=3)
    assert [o["label"] for o in out] == [1, 1]
    assert [o["patient"] for o in out] == ["n0", "n1"]
    assert all(o["synthetic"] == method for o in out)
    for src, o, o2 in zip(normals, out, again):
        assert o["image"].shape == (1, 96, 80)
        assert 0.0 <= float(o["image"].min()) and float(o["image"].max()) <= 1.0
        assert float((o["image"] - src["image"]).abs().max()) > 0.01  # the generator changed the film
        assert torch.equal(o["image"], o2["image"])  # seeded
    resized = synthesize_pneumonia(normals[:1], method, seed=3, size=SIZE)
    assert resized[0]["image"].shape == (1, SIZE, SIZE)
    with pytest.raises(ConfigError):
        synthesize_pneumonia(normals, "dcgan")


def test_validation_keeps_the_best_epoch():
    train, val = toy_items(6, seed=6, prefix="tr"), toy_items(4, seed=7, prefix="va")
    kw = dict(size=SIZE, epochs=3, seed=1, batch_size=4, augment=False)
    last = evaluate_classifier(train_classifier(train, None, **kw), val)["auc"]
    best = evaluate_classifier(train_classifier(train, val, **kw), val)["auc"]
    assert best >= last  # the kept epoch is the best of the three on val, the last one included


# --- online arm (issue #8): RandGANAugmentd inside the training pipeline, shipped generators ---


def tall_items(n_per_class: int, seed: int, prefix: str = "o") -> list[dict]:
    """Like ``toy_items`` but taller than wide (40 x 28), so the classifier input has zero-padded columns."""
    items = toy_items(n_per_class, seed, prefix)
    for item in items:
        item["image"] = torch.nn.functional.interpolate(item["image"][None], (40, 28), mode="bilinear")[0]
    return items


def _padded(item: dict) -> torch.Tensor:
    from monai_gan_aug.networks.classifier import resize_pad_square

    return resize_pad_square(item["image"][None], SIZE)[0]


def test_online_pipeline_translates_normals_before_padding_and_flips_their_labels():
    from monai_gan_aug.metrics.downstream import online_gan_augment, training_dataset

    items = tall_items(3, seed=0)
    pad_cols = _padded(items[0])[..., :5]  # resized to 32 x 22, centred: columns 0-4 are padding
    assert float(pad_cols.abs().max()) == 0.0
    # p = 0: the online pipeline hands the classifier exactly the offline arm's images and labels
    untouched = training_dataset(items, SIZE, augment=False, gan_augment=online_gan_augment("cyclegan", 0.0))
    for item, out in zip(items, untouched):
        assert torch.equal(torch.as_tensor(out["image"]), _padded(item)) and out["label"] == item["label"]
    # p = 1: every normal film is changed by the shipped CycleGAN and relabelled; pneumonia films untouched
    data = training_dataset(items, SIZE, augment=False, gan_augment=online_gan_augment("cyclegan", 1.0))
    for item, out in zip(items, data):
        image = torch.as_tensor(out["image"])
        assert image.shape == (1, SIZE, SIZE) and out["label"] == 1 and out["source_label"] == item["label"]
        if item["label"] == 0:
            assert float((image - _padded(item)).abs().max()) > 0.01
            # the generator ran before the zero padding (it never saw a black border)
            assert float(image[..., :5].abs().max()) == 0.0 and float(image[..., -5:].abs().max()) == 0.0
        else:
            assert torch.equal(image, _padded(item))


def test_online_lesion_pipeline_paints_inside_the_lung_and_sets_pneumonia():
    from monai_gan_aug.metrics.downstream import online_gan_augment, training_dataset

    size = 64
    items = toy_items(2, seed=3)
    lung = torch.zeros(1, SIZE, SIZE)
    lung[0, 4:28, 2:12] = 1  # left third of the film
    items = [dict(i, lung_mask=lung) for i in items]
    aug = online_gan_augment("lesion_inpaint", 1.0)
    aug.set_random_state(0)  # the drawn box and footprint: a faint lesion on a 10-px lung can change < 0.01
    data = training_dataset(items, size, augment=False, gan_augment=aug)
    from monai_gan_aug.networks.classifier import resize_pad_square

    for item, out in zip(items, data):
        before = resize_pad_square(item["image"][None], size)[0]
        change = (torch.as_tensor(out["image"]) - before).abs()
        assert out["label"] == 1 and "lung_mask" not in out
        # lesion mode paints every film it draws (normal or not); the composite is bit-identical where
        # it adds nothing, so any change at all is the painted lesion
        assert float(change.max()) > 0.0
        # lung columns 4-23 at 64 px; feather 8 px: nothing right of column 32 may change
        assert float(change[..., 33:].max()) == 0.0


def test_train_classifier_records_what_the_online_pipeline_fed_it():
    from monai_gan_aug.metrics.downstream import expected_class_mix, online_gan_augment

    train = tall_items(4, seed=4)
    record: dict = {}
    train_classifier(train, size=SIZE, epochs=2, seed=0, batch_size=4, record=record,
                     gan_augment=online_gan_augment("cyclegan", 0.5))
    n0, n1 = record["seen_per_class"]
    assert n0 + n1 == 2 * len(train) and record["epochs_run"] == 2
    assert record["label_flips"] == n1 - 2 * 4 == 2 * 4 - n0  # only normals were flipped, to pneumonia
    assert 0 < record["label_flips"] < 8
    mix = expected_class_mix([4, 4], 0.5)
    assert list(mix) == [2.0, 6.0]
    assert record["class_weight"] == pytest.approx([8 / (2 * 2.0), 8 / (2 * 6.0)])
    plain: dict = {}
    train_classifier(train, size=SIZE, epochs=1, seed=0, batch_size=4, record=plain)
    assert plain["seen_per_class"] == [4, 4] and plain["label_flips"] == 0
    with pytest.raises(ConfigError, match="no normal film"):
        train_classifier(train, size=SIZE, epochs=1, gan_augment=online_gan_augment("cyclegan", 1.0))
    with pytest.raises(ConfigError, match="method"):
        online_gan_augment("dcgan")


def test_online_utility_experiment_pairs_with_the_offline_real_only_arm():
    from monai_gan_aug.metrics.downstream import online_utility_experiment

    train, test = tall_items(6, seed=0, prefix="tr"), tall_items(5, seed=1, prefix="te")
    kw = dict(seeds=[0, 1], n_real=3, size=SIZE, epochs=2, batch_size=4)
    out = online_utility_experiment(train, test, method="cyclegan", prob=0.5, **kw)
    assert out["arms"] == ["real_only", "real_plus_online"]
    assert out["settings"]["expected_class_mix_per_epoch"] == {"normal": 1.5, "pneumonia": 4.5}
    synth = [i for i in toy_items(2, seed=2, prefix="sy") if i["label"] == 1]
    offline = utility_experiment(train, synth, test, n_synthetic=1, **kw)
    for row, ref in zip(out["per_seed"], offline["per_seed"]):
        assert row["real_only"]["auc"] == ref["real_only"]["auc"]  # same subsets, same training: paired
        assert row["real_plus_online"]["n_train"] == row["real_only"]["n_train"] == 6
        assert row["real_plus_online"]["seen"]["label_flips"] > 0
    a = [r["real_only"]["auc"] for r in out["per_seed"]]
    b = [r["real_plus_online"]["auc"] for r in out["per_seed"]]
    assert out["auc_difference"] == paired_difference_ci(a, b)
    with pytest.raises(ConfigError, match="no normal film"):
        online_utility_experiment(train, test, prob=1.0, **kw)


def test_label_flip_control_relabels_like_the_generators_but_keeps_the_pixels():
    from monai_gan_aug.metrics.downstream import label_flip_control, training_dataset

    items = tall_items(3, seed=5)
    data = training_dataset(items, SIZE, augment=False, gan_augment=label_flip_control(1.0))
    for item, out in zip(items, data):
        assert out["label"] == 1 and out["source_label"] == item["label"]
        assert torch.equal(torch.as_tensor(out["image"]), _padded(item))
    record: dict = {}
    train_classifier(items, size=SIZE, epochs=2, seed=0, batch_size=4, record=record,
                     gan_augment=label_flip_control(0.5))
    assert 0 < record["label_flips"] < 6 and record["seen_per_class"][1] == 6 + record["label_flips"]
    with pytest.raises(ConfigError):
        label_flip_control(1.5)
