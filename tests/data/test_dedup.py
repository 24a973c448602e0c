"""Duplicate grouping and policies on hand-made fingerprints."""

from __future__ import annotations

import pytest

from monai_gan_aug.data.dedup import duplicate_groups, near_pairs, resolve_duplicates
from monai_gan_aug.errors import ConfigError, DatasetError

H0 = "0" * 64
H_NEAR = "0" * 62 + "0f"  # 4 bits from H0
H_FAR = "f" * 64


def _item(path, sha, ph, label="normal", split="", hw=(100, 100)):
    return {"source_path": path, "sha256": sha, "phash": ph, "label": label, "source_split": split,
            "height": hw[0], "width": hw[1]}


def test_near_pairs_threshold():
    assert near_pairs([H0, H_NEAR, H_FAR], threshold=4) == [(0, 1, 4)]
    assert near_pairs([H0, H_NEAR, H_FAR], threshold=3) == []
    with pytest.raises(ConfigError):
        near_pairs([H0], threshold=-1)


def test_groups_keep_train_then_larger_then_path_and_flag_conflicts():
    items = [
        _item("test/a.png", "s1", H0, split="test", hw=(200, 200)),
        _item("train/b.png", "s1", H0, split="train"),
        _item("val/c.png", "s2", H_NEAR, split="val"),
        _item("x/d.png", "s3", H_FAR, label="normal", hw=(50, 50)),
        _item("x/e.png", "s4", H_FAR, label="pneumonia", hw=(60, 60)),
        _item("x/f.png", "s5", "0123456789abcdef" * 4),
    ]
    groups = duplicate_groups(items, near_threshold=8)
    assert [g.members for g in groups] == [[0, 1, 2], [3, 4]]
    first, second = groups
    assert first.keep == 1 and first.kinds == {0: "exact", 1: "kept", 2: "near"} and not first.conflict
    assert second.conflict and second.labels == ["normal", "pneumonia"] and second.keep == 4  # larger
    dropped = [it["source_path"] for it in resolve_duplicates(items, groups, "drop") if it["dup_action"] == "drop"]
    assert dropped == ["test/a.png", "val/c.png", "x/d.png", "x/e.png"]
    assert all(it["dup_action"] == "keep" for it in resolve_duplicates(items, groups, "report"))
    assert [g.members for g in duplicate_groups(items, near_threshold=None)] == [[0, 1]]


def test_bad_inputs():
    with pytest.raises(DatasetError, match="fingerprint"):
        duplicate_groups([{"image": "a"}])
    with pytest.raises(ConfigError, match="policy"):
        resolve_duplicates([], [], "delete")
