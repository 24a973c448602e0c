"""Classifier two-sample test (C2ST): can a fresh CNN tell two sets of image crops apart?

The headline realism check of region edits (issue #16): crops of *edited* regions versus crops of
*real* lesion regions. A small CNN is trained from scratch to separate the two sets with K-fold
cross-validation split **by group** (the film a crop came from: no film has crops on both the
training and the held-out side of a fold), and the held-out (out-of-fold) probabilities are scored
with ROC-AUC (:func:`monai.metrics.compute_roc_auc`). An AUC of 0.5 means the classifier cannot
tell the sets apart; 1.0 means it always can.

Design (see ``docs/forensic_metrics.md``):

* **Network**: MONAI :class:`~monai.networks.nets.Classifier`, four stride-2 3x3 convolutions
  (16-32-64-64 channels, batch norm, PReLU) and a linear logit, trained with AdamW for a fixed
  number of optimiser steps per fold on class-balanced batches (half from each set) with random
  horizontal/vertical flips. Batch norm (not instance norm) keeps per-crop brightness visible.
* **Folds**: groups are dealt to folds greedily (largest first, seeded tie-break), each to the
  fold where it least unbalances the per-set counts; a fold missing either set is an error.
* **AUC**: pooled over all out-of-fold predictions (each crop scored once, by the model that did
  not see its film). Models of different folds are calibrated differently, which can only blur the
  pooled ranking, so the pooled AUC errs towards 0.5; the per-fold AUCs are reported as well.
* **Interval**: percentile bootstrap over *groups* (films resampled with replacement, all their
  crops kept together, the out-of-fold scores kept fixed), ``n_bootstrap`` draws. It covers the
  sampling of films given the trained fold models, not the training noise of the CNN.
* Deterministic for a given ``seed`` on CPU (weights, batches, flips and bootstrap draw from
  seeded generators; the global RNG state is left untouched); on GPU up to cuDNN's
  non-determinism.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DatasetError, InvalidImageError

__all__ = [
    "C2STResult",
    "GROUP_MODES",
    "group_folds",
    "prepare_crops",
    "classifier_two_sample_test",
    "group_of",
    "load_crops",
    "c2st_folders",
]

#: how :func:`group_of` derives a crop's group (film) id from its path
GROUP_MODES = ("prefix", "parent", "file")
#: CSV manifest columns read as the group id, in order of preference
_GROUP_COLUMNS = ("group", "film", "patient")
_CHANNELS = (16, 32, 64, 64)


@dataclass(frozen=True)
class C2STResult:
    """Outcome of :func:`classifier_two_sample_test`.

    Attributes:
        auc: ROC-AUC of the out-of-fold probabilities of "set B", pooled over folds (0.5 = the
            sets are indistinguishable to this classifier).
        ci_low, ci_high: bounds of the bootstrap-over-groups percentile interval of ``auc``.
        n_a, n_b: crops in set A (label 0) and set B (label 1).
        n_groups: distinct groups (films) over both sets.
        folds: number of cross-validation folds.
        fold_aucs: held-out AUC of each fold's model on its own fold.
        confidence: coverage of the interval.
        ci_method: how the interval was computed.
        steps: optimiser steps per fold. seed: the seed used.
        scores, labels, fold_index, groups: per crop (set A first, then set B): out-of-fold
            probability of set B, label (0 = A, 1 = B), the fold that held it out, its group.
            Left out of :meth:`to_dict`.
    """

    auc: float
    ci_low: float
    ci_high: float
    n_a: int
    n_b: int
    n_groups: int
    folds: int
    fold_aucs: tuple[float, ...]
    confidence: float = 0.95
    ci_method: str = "percentile bootstrap over groups"
    steps: int = 0
    seed: int = 0
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    fold_index: np.ndarray | None = field(default=None, repr=False, compare=False)
    groups: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def mean_fold_auc(self) -> float:
        """Mean of :attr:`fold_aucs` (free of between-fold calibration differences)."""
        return float(np.mean(self.fold_aucs))

    def to_dict(self) -> dict[str, Any]:
        """The summary as a JSON-able dict (no per-crop arrays)."""
        out = asdict(self)
        for key in ("scores", "labels", "fold_index", "groups"):
            out.pop(key)
        out["fold_aucs"] = list(self.fold_aucs)
        out["mean_fold_auc"] = self.mean_fold_auc
        return out


def group_folds(groups: Sequence[Any], labels: Sequence[int], folds: int, seed: int = 0) -> np.ndarray:
    """Fold index (``0 .. folds-1``) of each sample, every group wholly inside one fold.

    Groups are dealt largest first (ties in a seeded random order), each to the fold that keeps
    the per-label fractions most even (least sum of squared per-label fractions after adding it).

    Args:
        groups: group id of each sample (compared as strings).
        labels: 0/1 label of each sample.
        folds: number of folds (>= 2).
        seed: tie-break order of equal-size groups.

    Raises:
        ConfigError: ``folds < 2`` or lengths differ.
        DatasetError: fewer groups than folds.
    """
    labels_arr = np.asarray(labels, dtype=np.int64)
    if len(groups) != len(labels_arr):
        raise ConfigError(f"{len(groups)} group ids for {len(labels_arr)} labels")
    if folds < 2:
        raise ConfigError(f"folds must be >= 2, got {folds}")
    unique, inverse = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    if len(unique) < folds:
        raise DatasetError(f"{folds} folds need at least {folds} groups (films), got {len(unique)}")
    counts = np.zeros((len(unique), 2), np.float64)
    np.add.at(counts, (inverse, labels_arr), 1.0)
    totals = np.maximum(counts.sum(0), 1.0)
    tie = np.random.default_rng(seed).permutation(len(unique))
    order = np.lexsort((tie, -counts.sum(1)))  # largest first, seeded among equals
    load = np.zeros((folds, 2), np.float64)
    group_fold = np.empty(len(unique), np.int64)
    for g in order:
        cost = (((load + counts[g]) / totals) ** 2).sum(1)
        k = int(np.argmin(cost))
        group_fold[g] = k
        load[k] += counts[g]
    return group_fold[inverse]


def prepare_crops(crops: Any, size: int) -> torch.Tensor:
    """Stack crops as a float ``(N, 1, size, size)`` tensor (bilinear, antialiased resize if needed).

    Args:
        crops: a sequence of ``(H, W)`` / ``(1, H, W)`` arrays or tensors (sizes may differ), or an
            ``(N, 1, H, W)`` / ``(N, H, W)`` array or tensor. Values are expected in ``[0, 1]``.
        size: output side.

    Raises:
        InvalidImageError: a crop is not 2-D single-channel, or holds NaN/Inf.
        DatasetError: no crops.
    """
    if isinstance(crops, (np.ndarray, torch.Tensor)) and crops.ndim in (3, 4):
        crops = list(crops)
    out = []
    for i, crop in enumerate(crops):
        if hasattr(crop, "as_tensor"):  # MetaTensor
            crop = crop.as_tensor()
        t = (crop if isinstance(crop, torch.Tensor) else torch.as_tensor(np.asarray(crop))).detach().float().cpu()
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] != 1:
            raise InvalidImageError(f"crop {i}: expected (H, W) or (1, H, W), got shape {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise InvalidImageError(f"crop {i} holds NaN or Inf values")
        if tuple(t.shape[-2:]) != (size, size):
            t = F.interpolate(t[None], size=(size, size), mode="bilinear", align_corners=False,
                              antialias=min(t.shape[-2:]) > size)[0]
        out.append(t)
    if not out:
        raise DatasetError("no crops given")
    return torch.stack(out)


def _balanced_batches(labels: np.ndarray, batch_size: int, steps: int, gen: torch.Generator):
    """Index batches with ``batch_size // 2`` samples of each label, cycling seeded permutations."""
    pools = [torch.from_numpy(np.flatnonzero(labels == c)) for c in (0, 1)]
    perms, pos = [p[torch.randperm(len(p), generator=gen)] for p in pools], [0, 0]
    half = max(1, batch_size // 2)
    for _ in range(steps):
        batch = []
        for c in (0, 1):
            take, got = [], 0
            while got < half:
                if pos[c] == len(perms[c]):
                    perms[c], pos[c] = pools[c][torch.randperm(len(pools[c]), generator=gen)], 0
                n = min(half - got, len(perms[c]) - pos[c])
                take.append(perms[c][pos[c] : pos[c] + n])
                pos[c], got = pos[c] + n, got + n
            batch.append(torch.cat(take))
        yield torch.cat(batch)


def _random_flips(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flips = torch.rand(2, x.shape[0], generator=gen).to(x.device) < 0.5
    x = torch.where(flips[0].view(-1, 1, 1, 1), x.flip(-1), x)
    return torch.where(flips[1].view(-1, 1, 1, 1), x.flip(-2), x)


def _fit_and_score(x: torch.Tensor, labels: np.ndarray, train: np.ndarray, test: np.ndarray, *,
                   steps: int, batch_size: int, lr: float, flips: bool, seed: int,
                   device: torch.device) -> np.ndarray:
    """Train a fresh classifier on ``train`` indices; probabilities of label 1 on ``test`` indices."""
    from monai.networks.nets import Classifier

    size = x.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Classifier(in_shape=(1, size, size), classes=1, channels=_CHANNELS,
                         strides=(2,) * len(_CHANNELS), num_res_units=0, norm="BATCH", act="PRELU")
    net = net.to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = x[train], torch.from_numpy(labels[train]).float()
    for idx in _balanced_batches(labels[train], batch_size, steps, gen):
        xb = x_train[idx].to(device)
        if flips:
            xb = _random_flips(xb, gen)
        loss = F.binary_cross_entropy_with_logits(net(xb)[:, 0], y_train[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        x_test = x[test]
        logits = torch.cat([net(x_test[i : i + 256].to(device))[:, 0].cpu()
                            for i in range(0, len(test), 256)])
    return torch.sigmoid(logits).double().numpy()


def _fold_seed(seed: int, fold: int) -> int:
    """A 32-bit seed for fold ``fold`` of a run seeded ``seed`` (any non-negative int)."""
    return int(np.random.SeedSequence([int(seed), int(fold)]).generate_state(1)[0])


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from monai.metrics import compute_roc_auc

    return float(compute_roc_auc(torch.from_numpy(scores), torch.from_numpy(labels)))


def _group_bootstrap(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, n: int, confidence: float,
                     seed: int) -> tuple[float, float]:
    """Percentile interval of the pooled AUC over ``n`` resamplings of whole groups.

    Each draw's AUC is the Mann-Whitney ``U / (n_pos n_neg)`` of :func:`scipy.stats.mannwhitneyu`
    (ties count one half, as in :func:`monai.metrics.compute_roc_auc`, which is pure Python and
    too slow for thousands of draws).
    """
    from scipy.stats import mannwhitneyu

    _, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        y = labels[idx]
        if 0 < y.sum() < len(y):  # a draw with one set only has no AUC
            s, n_pos = scores[idx], int(y.sum())
            u = mannwhitneyu(s[y == 1], s[y == 0], method="asymptotic").statistic
            values.append(float(u) / (n_pos * (len(y) - n_pos)))
    if len(values) < max(10, n // 2):
        raise DatasetError(
            f"only {len(values)} of {n} bootstrap draws held both sets: too few groups for an interval"
        )
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def classifier_two_sample_test(
    crops_a: Any,
    crops_b: Any,
    groups_a: Sequence[Any] | None = None,
    groups_b: Sequence[Any] | None = None,
    *,
    size: int = 64,
    folds: int = 5,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 1e-3,
    flips: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
) -> C2STResult:
    """Group-wise cross-validated classifier two-sample test between two sets of crops.

    For each of ``folds`` folds a fresh CNN (see the module docstring) is trained for ``steps``
    optimiser steps on the other folds' crops, with batches of ``batch_size // 2`` crops of each
    set, and predicts P(set B) for its fold's crops. The AUC of all these out-of-fold predictions
    (set B = positive) is returned with a percentile bootstrap-over-groups interval.

    With the defaults, ~300 crops per side at 64 px take about a minute on one CPU thread.

    Args:
        crops_a: crops of set A (e.g. real lesion regions): see :func:`prepare_crops`.
        crops_b: crops of set B (e.g. edited regions).
        groups_a, groups_b: group (film) id of each crop; ids are shared between the sets, so
            crops of one film in both sets land in the same fold. ``None``: each crop is its own
            group (only correct when no two crops come from the same film).
        size: crops are resized to ``size x size``.
        folds: cross-validation folds (>= 2).
        steps: optimiser steps per fold.
        batch_size: crops per step (half from each set).
        lr: AdamW learning rate.
        flips: random horizontal and vertical flips during training.
        seed: seed of fold assignment, weights, batches, flips and bootstrap.
        device: where to train.
        n_bootstrap: bootstrap draws for the interval.
        confidence: interval coverage.

    Returns:
        A :class:`C2STResult`.

    Raises:
        DatasetError: no crops on a side, fewer groups than folds, or a fold without crops of
            both sets (too few groups).
        ConfigError: bad ``folds`` / ``steps`` / ``batch_size`` / ``confidence``, or group ids
            whose count does not match the crops.
        InvalidImageError: a malformed crop.
    """
    if steps < 1 or batch_size < 2:
        raise ConfigError(f"need steps >= 1 and batch_size >= 2, got steps={steps}, batch_size={batch_size}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    xa, xb = prepare_crops(crops_a, size), prepare_crops(crops_b, size)
    n_a, n_b = len(xa), len(xb)
    ga = [f"a{i}" for i in range(n_a)] if groups_a is None else [str(g) for g in groups_a]
    gb = [f"b{i}" for i in range(n_b)] if groups_b is None else [str(g) for g in groups_b]
    if len(ga) != n_a or len(gb) != n_b:
        raise ConfigError(f"group ids: {len(ga)} for {n_a} crops of set A, {len(gb)} for {n_b} of set B")
    x = torch.cat([xa, xb])
    labels = np.concatenate([np.zeros(n_a, np.int64), np.ones(n_b, np.int64)])
    groups = np.asarray(ga + gb)
    fold_index = group_folds(groups, labels, folds, seed)
    for k in range(folds):
        held = labels[fold_index == k]
        if held.sum() == 0 or held.sum() == len(held):
            raise DatasetError(
                f"fold {k} holds crops of only one set ({len(held)} crops): too few groups for {folds} folds"
            )
    scores = np.empty(len(labels), np.float64)
    fold_aucs = []
    device = torch.device(device)
    for k in range(folds):
        test, train = np.flatnonzero(fold_index == k), np.flatnonzero(fold_index != k)
        scores[test] = _fit_and_score(x, labels, train, test, steps=steps, batch_size=batch_size, lr=lr,
                                      flips=flips, seed=_fold_seed(seed, k), device=device)
        fold_aucs.append(_auc(scores[test], labels[test]))
    lo, hi = _group_bootstrap(scores, labels, groups, n_bootstrap, confidence, seed)
    return C2STResult(
        auc=_auc(scores, labels), ci_low=lo, ci_high=hi, n_a=n_a, n_b=n_b, n_groups=len(set(groups.tolist())),
        folds=folds, fold_aucs=tuple(fold_aucs), confidence=confidence, steps=steps, seed=seed,
        scores=scores, labels=labels, fold_index=fold_index, groups=tuple(groups.tolist()),
    )


def group_of(path: str | os.PathLike, mode: str = "prefix", sep: str = "_") -> str:
    """The group (film) id of a crop file.

    Args:
        path: the crop's path.
        mode: ``"prefix"``: the file name up to the first ``sep`` (``person12_crop3.png`` ->
            ``person12``; the whole stem when it holds no ``sep``); ``"parent"``: the name of the
            folder holding the file (``real/person12/crop3.png`` -> ``person12``); ``"file"``: the
            file's stem (each file its own group).
        sep: separator of ``"prefix"`` mode.

    Raises:
        ConfigError: unknown ``mode`` or empty ``sep`` in ``"prefix"`` mode.
    """
    p = Path(path)
    stem = p.name.split(".")[0]
    if mode == "prefix":
        if not sep:
            raise ConfigError("group separator must be a non-empty string")
        return stem.split(sep)[0]
    if mode == "parent":
        return p.parent.name
    if mode == "file":
        return stem
    raise ConfigError(f"group mode must be one of {GROUP_MODES}, got {mode!r}")


def load_crops(source: str | os.PathLike, group_mode: str = "prefix", sep: str = "_",
               max_images: int | None = None) -> tuple[list[torch.Tensor], list[str], list[str]]:
    """Crops, group ids and paths of a folder (recursive, sorted) or a CSV manifest.

    A manifest names the file in a ``file``, ``image`` or ``path`` column (relative to the CSV's
    folder); a ``group``, ``film`` or ``patient`` column, when present, gives the group id, else it
    comes from the file name (:func:`group_of`).

    Raises:
        DatasetError: missing folder/manifest, no images, or an empty group id in a manifest.
        ImageReadError: an unreadable image.
    """
    from .evaluate import _PATH_COLUMNS, list_images, load_image

    src = Path(source)
    files = list_images(src, max_images)
    groups = [group_of(f, group_mode, sep) for f in files]
    if src.is_file():
        with open(src, newline="") as fh:
            rows = list(csv.DictReader(fh))
        path_col = next(c for c in _PATH_COLUMNS if c in rows[0])
        group_col = next((c for c in _GROUP_COLUMNS if c in rows[0]), None)
        if group_col is not None:
            groups = [r[group_col].strip() for r in rows if r[path_col]][: len(files)]
            if not all(groups):
                raise DatasetError(f"{src}: empty {group_col!r} value in a row")
    return [load_image(f) for f in files], groups, files


def c2st_folders(
    real: str | os.PathLike,
    fake: str | os.PathLike,
    *,
    group_mode: str = "prefix",
    sep: str = "_",
    max_images: int | None = None,
    out_json: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`classifier_two_sample_test` between two folders/manifests of crops (real = A, fake = B).

    Args:
        real, fake: folders (recursive) or CSV manifests of crops; see :func:`load_crops`.
        group_mode, sep: how group ids come from file names (:func:`group_of`).
        max_images: at most this many crops per side (first in listing order).
        out_json: also write the result here (atomically).
        **kwargs: passed to :func:`classifier_two_sample_test` (``size``, ``folds``, ``steps``, ...).

    Returns:
        ``{"real", "fake", "n_real", "n_fake", "group_mode", "c2st": C2STResult.to_dict(), "seconds"}``.
    """
    t0 = time.time()
    crops_r, groups_r, _ = load_crops(real, group_mode, sep, max_images)
    crops_f, groups_f, _ = load_crops(fake, group_mode, sep, max_images)
    res = classifier_two_sample_test(crops_r, crops_f, groups_r, groups_f, **kwargs)
    result = {"real": str(real), "fake": str(fake), "n_real": res.n_a, "n_fake": res.n_b,
              "group_mode": group_mode if group_mode != "prefix" else f"prefix (sep {sep!r})",
              "c2st": res.to_dict(), "seconds": round(time.time() - t0, 2)}
    if out_json is not None:
        from ..utils.atomic import atomic_write

        with atomic_write(out_json) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result
