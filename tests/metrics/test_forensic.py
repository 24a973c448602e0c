"""Classifier two-sample test: known answers on synthetic textures, group-wise folds, determinism, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.metrics import compute_roc_auc
from PIL import Image
from scipy.ndimage import gaussian_filter

from monai_gan_aug.cli import main
from monai_gan_aug.errors import ConfigError, DatasetError, InvalidImageError
from monai_gan_aug.metrics.forensic import (
    _balanced_batches,
    c2st_folders,
    classifier_two_sample_test,
    group_folds,
    group_of,
    load_crops,
    prepare_crops,
)

SIZE = 16
FAST = dict(size=SIZE, folds=3, steps=60, batch_size=16, lr=3e-3, n_bootstrap=300)


def textures(n: int, seed: int, blob: bool = False, size: int = SIZE) -> np.ndarray:
    """``(n, size, size)`` smooth random textures in [0, 1]; ``blob`` adds a bright Gaussian spot."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        t = gaussian_filter(rng.normal(0, 1, (size, size)), 1.5)
        t = 0.5 + 0.12 * t / t.std()
        if blob:
            cy, cx = rng.uniform(0.3 * size, 0.7 * size, 2)
            t = t + 0.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 6) ** 2))
        out.append(np.clip(t, 0, 1))
    return np.stack(out).astype(np.float32)


def films(n: int, per_film: int, tag: str) -> list[str]:
    return [f"{tag}{i // per_film}" for i in range(n)]


def test_same_distribution_gives_auc_near_half_with_ci_covering_it():
    pool = textures(120, seed=0)
    a, b = pool[:60], pool[60:]  # two halves of the same texture set
    res = classifier_two_sample_test(a, b, films(60, 2, "a"), films(60, 2, "b"), seed=0, **FAST)
    assert abs(res.auc - 0.5) < 0.15
    assert res.ci_low < 0.5 < res.ci_high
    assert (res.n_a, res.n_b, res.n_groups, res.folds) == (60, 60, 60, 3)
    assert len(res.fold_aucs) == 3


def test_obviously_different_sets_give_high_auc():
    a, b = textures(60, seed=1), textures(60, seed=2, blob=True)
    res = classifier_two_sample_test(a, b, films(60, 2, "a"), films(60, 2, "b"), seed=0, **FAST)
    assert res.auc > 0.9 and res.ci_low > 0.8
    assert res.ci_low <= res.auc <= res.ci_high
    assert min(res.fold_aucs) > 0.8
    # the pooled AUC is the AUC of the returned out-of-fold scores
    pooled = compute_roc_auc(torch.from_numpy(res.scores), torch.from_numpy(res.labels))
    assert res.auc == pytest.approx(float(pooled))
    d = res.to_dict()
    assert json.loads(json.dumps(d))["auc"] == pytest.approx(res.auc) and "scores" not in d


def test_group_folds_never_split_a_group_and_balance_sets():
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 40, 300).astype(str).tolist()
    labels = rng.integers(0, 2, 300)
    fold = group_folds(groups, labels, 5, seed=1)
    assert set(fold.tolist()) == set(range(5))
    for g in set(groups):
        assert len(set(fold[np.asarray(groups) == g].tolist())) == 1, g
    for k in range(5):  # no group on both the held-out and the training side of fold k
        assert not set(np.asarray(groups)[fold == k]) & set(np.asarray(groups)[fold != k])
        share = [(labels[fold == k] == c).sum() / (labels == c).sum() for c in (0, 1)]
        assert all(0.1 < s < 0.3 for s in share), share


def test_c2st_folds_hold_out_whole_films_shared_by_both_sets():
    # films 0..9 contribute crops to *both* sets: they must still sit in one fold each
    a, b = textures(40, seed=4), textures(40, seed=5)
    ga, gb = films(40, 4, "film"), films(40, 4, "film")
    res = classifier_two_sample_test(a, b, ga, gb, seed=0, **{**FAST, "steps": 5, "n_bootstrap": 50})
    groups = np.asarray(res.groups)
    assert res.n_groups == 10
    for k in range(3):
        assert not set(groups[res.fold_index == k]) & set(groups[res.fold_index != k])
        held = res.labels[res.fold_index == k]
        assert 0 < held.sum() < len(held)


def test_balanced_batches_take_half_of_each_set():
    labels = np.array([0] * 7 + [1] * 30)
    gen = torch.Generator().manual_seed(0)
    batches = list(_balanced_batches(labels, 8, 20, gen))
    assert len(batches) == 20
    for idx in batches:
        assert len(idx) == 8 and (labels[idx.numpy()] == 1).sum() == 4
    seen = torch.cat(batches).numpy()
    assert set(seen[labels[seen] == 0].tolist()) == set(range(7))  # cycles through the small set


def test_deterministic_for_a_seed_and_leaves_global_rng_alone():
    a, b = textures(24, seed=6), textures(24, seed=7, blob=True)
    kw = {**FAST, "steps": 8, "n_bootstrap": 50}
    state = torch.get_rng_state()
    r1 = classifier_two_sample_test(a, b, films(24, 2, "a"), films(24, 2, "b"), seed=3, **kw)
    assert torch.equal(state, torch.get_rng_state())
    r2 = classifier_two_sample_test(a, b, films(24, 2, "a"), films(24, 2, "b"), seed=3, **kw)
    r3 = classifier_two_sample_test(a, b, films(24, 2, "a"), films(24, 2, "b"), seed=4, **kw)
    assert np.array_equal(r1.scores, r2.scores) and r1 == r2
    assert not np.array_equal(r1.scores, r3.scores)


def test_errors():
    a, b = textures(6, seed=8), textures(6, seed=9)
    with pytest.raises(DatasetError, match="groups"):
        classifier_two_sample_test(a, b, ["x"] * 6, ["y"] * 6, **FAST)  # 2 films, 3 folds
    with pytest.raises(ConfigError, match="group ids"):
        classifier_two_sample_test(a, b, ["x"] * 5, None, **FAST)
    with pytest.raises(ConfigError):
        group_folds(["a", "b"], [0, 1], folds=1)
    with pytest.raises(InvalidImageError, match="crop 1"):
        prepare_crops([np.zeros((8, 8)), np.zeros((3, 8, 8))], 8)
    with pytest.raises(DatasetError):
        prepare_crops([], 8)
    # crops of any size are resized; (H, W) and (1, H, W) both accepted
    x = prepare_crops([np.zeros((20, 30)), torch.ones(1, 8, 8)], 16)
    assert x.shape == (2, 1, 16, 16) and float(x[1].min()) == 1.0


def test_group_of_modes():
    assert group_of("/d/person12_bacteria_3.png") == "person12"
    assert group_of("/d/person12-x.png", sep="-") == "person12"
    assert group_of("/d/abc.dcm") == "abc"
    assert group_of("/d/film7/crop_3.png", "parent") == "film7"
    assert group_of("/d/film7_crop_3.nii.gz", "file") == "film7_crop_3"
    with pytest.raises(ConfigError):
        group_of("/d/a.png", "folder")


def _save(folder, names, crops):
    folder.mkdir(parents=True, exist_ok=True)
    for name, crop in zip(names, crops):
        Image.fromarray((crop * 255).round().astype(np.uint8)).save(folder / name)


def test_load_crops_groups_from_names_and_manifest(tmp_path):
    crops = textures(4, seed=10)
    _save(tmp_path / "real", ["f1_a.png", "f1_b.png", "f2_a.png", "f3_a.png"], crops)
    images, groups, files = load_crops(tmp_path / "real")
    assert groups == ["f1", "f1", "f2", "f3"] and len(images) == 4
    assert images[0].shape == (1, SIZE, SIZE)
    (tmp_path / "m.csv").write_text("file,group\nreal/f1_a.png,P9\nreal/f2_a.png,P9\nreal/f3_a.png,P4\n")
    _, groups, files = load_crops(tmp_path / "m.csv")
    assert groups == ["P9", "P9", "P4"] and files[2].endswith("f3_a.png")


def test_cli_forensic_writes_json(tmp_path, capsys):
    a, b = textures(18, seed=11), textures(18, seed=12, blob=True)
    _save(tmp_path / "real", [f"r{i // 2}_{i}.png" for i in range(18)], a)
    _save(tmp_path / "fake", [f"f{i // 2}_{i}.png" for i in range(18)], b)
    out = tmp_path / "c2st.json"
    code = main(["evaluate", "--forensic", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                 "--crop-size", str(SIZE), "--folds", "3", "--steps", "30", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "AUC" in printed and "18 groups" in printed
    result = json.loads(out.read_text())
    assert result["n_real"] == result["n_fake"] == 18 and result["c2st"]["n_groups"] == 18
    assert result["c2st"]["auc"] > 0.8  # bright blobs are easy to spot
    direct = c2st_folders(tmp_path / "real", tmp_path / "fake", size=SIZE, folds=3, steps=30)
    assert direct["c2st"]["auc"] == pytest.approx(result["c2st"]["auc"])


def test_cli_forensic_user_error_is_one_line(tmp_path, capsys):
    _save(tmp_path / "real", ["a_1.png", "a_2.png"], textures(2, seed=13))
    _save(tmp_path / "fake", ["b_1.png", "b_2.png"], textures(2, seed=14))
    code = main(["evaluate", "--forensic", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                 "--crop-size", str(SIZE), "--folds", "3"])
    assert code == 2
    assert "groups" in capsys.readouterr().err
