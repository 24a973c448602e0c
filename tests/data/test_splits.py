"""Tests for monai_gan_aug.data.splits: deterministic patient-level splits without leakage."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from monai_gan_aug.data.splits import SPLIT_NAMES, patient_split, split_of_patient
from monai_gan_aug.errors import DatasetError


def test_split_of_patient_is_deterministic_and_seeded() -> None:
    ids = [f"P{i:04d}" for i in range(200)]
    first = [split_of_patient(p) for p in ids]
    assert first == [split_of_patient(p) for p in ids]
    assert set(first) == set(SPLIT_NAMES)
    other_seed = [split_of_patient(p, seed=1) for p in ids]
    assert other_seed != first


def test_split_of_patient_fractions() -> None:
    ids = [f"id-{i}" for i in range(4000)]
    counts = Counter(split_of_patient(p, (0.6, 0.3, 0.1)) for p in ids)
    # a hash is uniform: each share within 0.03 of its target on 4000 ids (binomial sd <= 0.008)
    for name, target in zip(SPLIT_NAMES, (0.6, 0.3, 0.1)):
        assert abs(counts[name] / len(ids) - target) < 0.03
    assert {split_of_patient(p, (1.0, 0.0, 0.0)) for p in ids[:100]} == {"train"}
    assert {split_of_patient(p, (0.0, 0.0, 1.0)) for p in ids[:100]} == {"test"}


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1), (0.5, 0.25, 0.25, 0.0)])
def test_split_of_patient_bad_fractions(fractions: tuple[float, ...]) -> None:
    with pytest.raises(DatasetError, match="fractions must be"):
        split_of_patient("p", fractions)


def _items(n_patients: int = 60, per_patient: int = 3) -> list[dict[str, str]]:
    return [{"image": f"/d/p{p}_{k}.png", "patient": f"p{p}"} for p in range(n_patients) for k in range(per_patient)]


def test_patient_split_keeps_patients_together_and_order() -> None:
    items = _items()
    splits = patient_split(items)
    assert sorted(splits) == sorted(SPLIT_NAMES)
    assert sum(len(v) for v in splits.values()) == len(items)
    owner: dict[str, set[str]] = {}
    for name, part in splits.items():
        for item in part:
            owner.setdefault(item["patient"], set()).add(name)
        positions = [items.index(item) for item in part]
        assert positions == sorted(positions)  # input order kept
    assert all(len(s) == 1 for s in owner.values())


def test_patient_split_independent_of_order_and_subset() -> None:
    items = _items()
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    by_image = {i["image"]: name for name, part in patient_split(items).items() for i in part}
    by_image_shuffled = {i["image"]: name for name, part in patient_split(shuffled).items() for i in part}
    by_image_subset = {i["image"]: name for name, part in patient_split(items[::7]).items() for i in part}
    assert by_image == by_image_shuffled
    assert all(by_image[k] == v for k, v in by_image_subset.items())


def test_patient_split_fallback_and_errors() -> None:
    items = [{"image": "/d/a.png", "patient": ""}, {"image": "/d/b.png"}]
    splits = patient_split(items)
    placed = {i["image"]: name for name, part in splits.items() for i in part}
    assert placed == {"/d/a.png": split_of_patient("/d/a.png"), "/d/b.png": split_of_patient("/d/b.png")}
    with pytest.raises(DatasetError, match="has no 'patient'"):
        patient_split(items, fallback_key=None)
    with pytest.raises(DatasetError, match="has no 'patient'"):
        patient_split([{"label": "normal"}])
    # the split dicts are copies: editing them leaves the caller's items untouched
    next(part for part in splits.values() if part)[0]["patient"] = "changed"
    assert items[0]["patient"] == ""
