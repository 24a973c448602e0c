"""Exact and near-duplicate grouping of data dicts, and what to do with each group.

Input: data dicts carrying the fingerprints of
:class:`~monai_gan_aug.transforms.image_hash.PerceptualHash` (``sha256``, ``phash``). Two images
are linked when their pixels are equal (same ``sha256``: an *exact* duplicate) or their perceptual
hashes differ in at most ``near_threshold`` bits (a *near* duplicate: resized, re-encoded, noisy
or re-windowed copies). Groups are the connected components of these links (union-find), so a
chain of near copies ends up in one group.

Each group keeps one member, chosen deterministically: the original split ``train`` first (then
``val``, ``test``, none), then the larger image (more pixels), then the source path in sort order.
The other members are ``"exact"`` duplicates of the kept one if their pixels are equal to its,
else ``"near"``. A group whose members carry different labels is a *conflict* (the same film
labelled normal and pneumonia): no label can be trusted, so :func:`resolve_duplicates` marks
every member.

Policies (:data:`POLICIES`): ``"drop"`` drops the non-kept members, and every member of a
conflict group; ``"report"`` keeps everything and only reports; ``"group"`` keeps everything and
tags each member with its group, so that a patient-level split can keep a group on one side
(``monai-gan-aug prepare`` does). Comparing all pairs costs ``n^2 / 2`` XORs of 256-bit hashes
(vectorised: seconds for tens of thousands of images).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DatasetError

__all__ = [
    "POLICIES",
    "DEFAULT_NEAR_THRESHOLD",
    "SPLIT_PREFERENCE",
    "DuplicateGroup",
    "near_pairs",
    "duplicate_groups",
    "resolve_duplicates",
]

POLICIES = ("drop", "report", "group")
#: Largest Hamming distance (bits of the 256-bit pHash) of a near duplicate. Measured on the 1,215
#: Kermany films (docs/prepare.md): copies resized to 80 %, with noise (sigma 3/255), JPEG q80 and a
#: 5 % brightness change came within 0-4 bits; distinct films were >= 46 bits apart.
DEFAULT_NEAR_THRESHOLD = 24
#: Original splits in the order a group's kept member is preferred from.
SPLIT_PREFERENCE = ("train", "val", "test")
_BLOCK = 2048  # rows compared at once


@dataclass
class DuplicateGroup:
    """One group of duplicates.

    Attributes:
        group_id: 1-based id, stable for the same inputs (groups ordered by their first member).
        members: indices into the item list, ascending.
        keep: index of the member kept (the preferred one; still dropped under ``"drop"`` if
            ``conflict``).
        kinds: index -> ``"kept"``, ``"exact"`` or ``"near"`` (relative to ``keep``).
        labels: the distinct labels of the members, sorted.
        conflict: the members' labels differ.
    """

    group_id: int
    members: list[int]
    keep: int
    kinds: dict[int, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    @property
    def conflict(self) -> bool:
        return len(self.labels) > 1


def _hash_bits(hashes: Sequence[str]) -> np.ndarray:
    """Hex hashes of equal length -> ``(n, words)`` uint64 array."""
    lengths = {len(h) for h in hashes}
    if len(lengths) > 1:
        raise DatasetError(
            f"perceptual hashes of different lengths {sorted(lengths)}: computed with different hash sizes"
        )
    n_hex = lengths.pop() if lengths else 16
    words = (n_hex + 15) // 16
    out = np.zeros((len(hashes), words), dtype=np.uint64)
    for i, h in enumerate(hashes):
        padded = h.rjust(words * 16, "0")
        out[i] = [int(padded[16 * w : 16 * (w + 1)], 16) for w in range(words)]
    return out


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)  # numpy < 2
    return table[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1)


def near_pairs(hashes: Sequence[str], threshold: int = DEFAULT_NEAR_THRESHOLD) -> list[tuple[int, int, int]]:
    """All pairs ``(i, j, distance)`` with ``i < j`` whose hashes differ in at most ``threshold`` bits."""
    if threshold < 0:
        raise ConfigError(f"near_threshold must be >= 0 bits, found {threshold}")
    bits = _hash_bits(hashes)
    n = len(bits)
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, n, _BLOCK):
        block = bits[start : start + _BLOCK]
        dist = _popcount(block[:, None, :] ^ bits[None, start:, :]).sum(-1, dtype=np.int64)
        rows, cols = np.nonzero(dist <= threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            i, j = start + r, start + c
            if i < j:
                pairs.append((i, j, int(dist[r, c])))
    return pairs


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _preference(item: Mapping[str, Any]) -> tuple:
    split = str(item.get("source_split") or item.get("split") or "")
    rank = SPLIT_PREFERENCE.index(split) if split in SPLIT_PREFERENCE else len(SPLIT_PREFERENCE)
    pixels = int(item.get("height", 0)) * int(item.get("width", 0))
    return rank, -pixels, str(item.get("source_path") or item.get("image", ""))


def duplicate_groups(
    items: Sequence[Mapping[str, Any]],
    near_threshold: int | None = DEFAULT_NEAR_THRESHOLD,
    label_key: str = "label",
) -> list[DuplicateGroup]:
    """Group exact (``sha256``) and near (``phash``) duplicates among ``items``.

    Args:
        items: dicts with ``sha256`` and (unless ``near_threshold`` is ``None``) ``phash``;
            ``source_split``/``split``, ``height``/``width`` and ``source_path``/``image`` choose
            the kept member (see the module docstring).
        near_threshold: Hamming distance in bits; ``None`` finds exact duplicates only.
        label_key: the key whose differing values make a group a conflict.

    Returns:
        Groups of two or more members, ordered by their first member.

    Raises:
        DatasetError: an item lacks a needed hash.
    """
    need = ("sha256",) if near_threshold is None else ("sha256", "phash")
    for i, item in enumerate(items):
        if any(not item.get(k) for k in need):
            raise DatasetError(f"item {i} ({item.get('image')}) has no {' / '.join(need)} fingerprint")
    uf = _UnionFind(len(items))
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        uf.union(first.setdefault(str(item["sha256"]), i), i)
    if near_threshold is not None and len(items) > 1:
        for i, j, _ in near_pairs([str(it["phash"]) for it in items], near_threshold):
            uf.union(i, j)
    members: dict[int, list[int]] = {}
    for i in range(len(items)):
        members.setdefault(uf.find(i), []).append(i)
    groups = []
    for idx in sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0]):
        keep = min(idx, key=lambda i: _preference(items[i]))
        kinds = {i: "kept" if i == keep else ("exact" if items[i]["sha256"] == items[keep]["sha256"] else "near")
                 for i in idx}
        labels = sorted({str(items[i].get(label_key, "")) for i in idx})
        groups.append(DuplicateGroup(len(groups) + 1, idx, keep, kinds, labels))
    return groups


def resolve_duplicates(
    items: Sequence[Mapping[str, Any]], groups: Sequence[DuplicateGroup], policy: str = "drop"
) -> list[dict[str, Any]]:
    """Apply a policy: copies of ``items`` with ``dup_group``, ``dup_kind`` and ``dup_action`` set.

    ``dup_group`` is the group id (0: no duplicate); ``dup_kind`` is ``""``, ``"kept"``,
    ``"exact"``, ``"near"`` or ``"conflict"`` (every member of a conflict group); ``dup_action`` is
    ``"keep"`` or ``"drop"``. Under ``"drop"`` non-kept members and conflict groups are dropped;
    ``"report"`` and ``"group"`` keep every item.

    Raises:
        ConfigError: unknown policy.
    """
    if policy not in POLICIES:
        raise ConfigError(f"duplicates policy must be one of {POLICIES}, found {policy!r}")
    out = [{**item, "dup_group": 0, "dup_kind": "", "dup_action": "keep"} for item in items]
    for group in groups:
        for i in group.members:
            kind = "conflict" if group.conflict else group.kinds[i]
            drop = policy == "drop" and (group.conflict or i != group.keep)
            out[i].update(dup_group=group.group_id, dup_kind=kind, dup_action="drop" if drop else "keep")
    return out
