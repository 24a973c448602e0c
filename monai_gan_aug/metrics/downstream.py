"""Downstream utility of synthetic images: does adding them raise a classifier's score on real data?

The experiment (:func:`utility_experiment`) trains, for each seed, two classifiers on a small,
class-balanced real subset: arm **A** on the real subset only, arm **B** on the same real subset
plus synthetic pneumonia-labelled images. Both are scored on held-out *real* test images.

Design choices (see ``docs/downstream.md``):

* **Training budget**: both arms run the same number of *epochs over their own data*, so arm B
  takes more optimiser steps (its data set is larger). This is the usual "add data" comparison.
* **Interval**: a two-sided Student-t interval over the per-seed paired differences ``B - A``
  (``mean +- t_{n-1} * sd / sqrt(n)``); it is ``None`` with fewer than two seeds.
* Items are dicts ``{"image": (1, H, W) tensor in [0, 1] or a file path, "label": 0 or 1}``; an
  optional ``"patient"`` key is used to check that training/synthetic items never share a patient
  with the test items.

:func:`online_utility_experiment` is the *online* variant: arm A as above, arm B the same real
subset with :class:`~monai_gan_aug.transforms.augment.RandGANAugmentd` inside the training data
pipeline (normal films turned into pneumonia with probability ``prob``, label flipped), so arm B
takes exactly as many optimiser steps as arm A.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DatasetError
from .utility.stats import paired_difference_ci  # moved there; re-exported here

__all__ = [
    "classifier_augmentation",
    "NETWORKS",
    "SYNTHESIS_METHODS",
    "prepare_items",
    "sample_real_subset",
    "build_network",
    "train_classifier",
    "predict_probabilities",
    "evaluate_classifier",
    "paired_difference_ci",
    "check_disjoint",
    "utility_experiment",
    "synthesize_pneumonia",
    "ONLINE_METHODS",
    "online_gan_augment",
    "LABEL_FLIP_CONTROL",
    "label_flip_control",
    "training_dataset",
    "expected_class_mix",
    "online_utility_experiment",
]

#: networks :func:`train_classifier` can build
NETWORKS = ("xray_classifier", "densenet121")
#: generators :func:`synthesize_pneumonia` can use
SYNTHESIS_METHODS = ("lesion_inpaint", "cyclegan")
#: online arm: generator name -> ``RandGANAugmentd`` mode (shipped weights of that mode by default)
ONLINE_METHODS = {"cyclegan": "translate", "lesion_inpaint": "lesion"}
#: the online control: the same relabelling as the generators, with the image left as it is
LABEL_FLIP_CONTROL = "label_flip"


def _load_image(image: Any) -> torch.Tensor:
    """A ``(1, H, W)`` float tensor in ``[0, 1]`` from a tensor or a file path."""
    if isinstance(image, (str, Path)):
        from ..transforms.io import LoadXRay

        image = LoadXRay()(image)
    t = image.as_tensor() if hasattr(image, "as_tensor") else torch.as_tensor(image)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.shape[0] != 1:
        raise DatasetError(f"expected a (1, H, W) image, got shape {tuple(t.shape)}")
    return t.float().clamp(0, 1)


def prepare_items(items: Sequence[Mapping[str, Any]], size: int) -> list[dict[str, Any]]:
    """Load and resize/pad items to ``(1, size, size)`` tensors, keeping ``label`` (0/1) and ``patient``.

    Raises:
        DatasetError: a label other than 0/1 or a malformed image.
    """
    from ..networks.classifier import resize_pad_square

    out = []
    for item in items:
        label = int(item["label"])
        if label not in (0, 1):
            raise DatasetError(f"labels must be 0 (normal) or 1 (pneumonia), got {item['label']!r}")
        img = resize_pad_square(_load_image(item["image"])[None], size)[0]
        out.append({"image": img, "label": label, "patient": item.get("patient")})
    return out


def _labels(items: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([int(i["label"]) for i in items], dtype=np.int64)


def sample_real_subset(
    items: Sequence[Mapping[str, Any]], n_per_class: int, seed: int
) -> list[dict[str, Any]]:
    """Draw ``n_per_class`` items of each label (0 and 1) without replacement, seeded.

    Raises:
        DatasetError: fewer than ``n_per_class`` items of some class.
        ConfigError: ``n_per_class < 1``.
    """
    if n_per_class < 1:
        raise ConfigError(f"n_per_class must be >= 1, got {n_per_class}")
    rng = np.random.default_rng(seed)
    labels = _labels(items)
    chosen: list[int] = []
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        if len(idx) < n_per_class:
            raise DatasetError(
                f"asked for {n_per_class} real items of class {cls}, only {len(idx)} available"
            )
        chosen.extend(rng.choice(idx, size=n_per_class, replace=False).tolist())
    return [dict(items[i]) for i in sorted(chosen)]


def build_network(network: str, size: int) -> nn.Module:
    """A fresh 2-class, 1-channel classifier: ``"xray_classifier"`` (project ResNet) or ``"densenet121"``."""
    if network == "xray_classifier":
        from ..networks.classifier import XRayClassifier

        return XRayClassifier(in_channels=1, num_classes=2, spatial_size=size)
    if network == "densenet121":
        from monai.networks.nets import DenseNet121

        net = DenseNet121(spatial_dims=2, in_channels=1, out_channels=2)
        net.spatial_size = int(size)  # lets predict_probabilities resize inputs as for XRayClassifier
        return net
    raise ConfigError(f"network must be one of {NETWORKS}, got {network!r}")


def classifier_augmentation(translate_px: float):
    """The MONAI augmentation the project's X-ray classifiers train with (the judge and this harness).

    Affine (p 0.8: rotation 0.15 rad, scale 12 %, shear 0.05, translation ``translate_px``),
    contrast gamma 0.7-1.5 (p 0.5), Gaussian noise sigma 0.02 (p 0.3), on key ``"image"``. No
    horizontal flip: chest films have laterality (heart on the left), a flipped film looks like
    dextrocardia, and since the judge's features also score GAN realism it should notice that.
    """
    from monai.transforms import Compose, RandAdjustContrastd, RandAffined, RandGaussianNoised

    return Compose([
        RandAffined("image", prob=0.8, rotate_range=0.15, scale_range=0.12,
                    translate_range=(translate_px, translate_px), shear_range=0.05, padding_mode="zeros"),
        RandAdjustContrastd("image", prob=0.5, gamma=(0.7, 1.5)),
        RandGaussianNoised("image", prob=0.3, std=0.02),
    ])


def online_gan_augment(
    method: str = "cyclegan",
    prob: float = 0.5,
    *,
    weights: str | Path | None = None,
    device: str | torch.device | None = "cpu",
):
    """The ``RandGANAugmentd`` of the online arm: normal films become pneumonia with probability ``prob``.

    * ``"cyclegan"``: ``mode="translate"`` (shipped ``cyclegan_G_AB.pt``); only class-0 films are
      eligible, their label becomes 1.
    * ``"lesion_inpaint"`` (method name kept): ``mode="lesion"`` (the shipped lesion weights of
      ``RandGANAugmentd``: ``lesion_opacity.pt`` since 2026-12-07, ``lesion_inpaint.pt`` before), one RSNA-prior box
      inside the film's ``"lung_mask"``. As the transform is built, it paints *any* film and sets
      label 1, so pneumonia films also get an extra lesion (their label does not change).

    The generator is loaded once (cached per file and device) and runs on ``device``: pass the
    classifier's training device.

    Raises:
        ConfigError: unknown ``method`` or ``prob`` outside ``[0, 1]`` (training refuses 1 as well:
            no normal film would be left, see :func:`expected_class_mix`).
    """
    from ..transforms.augment import RandGANAugmentd

    if method not in ONLINE_METHODS:
        raise ConfigError(f"method must be one of {tuple(ONLINE_METHODS)}, got {method!r}")
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"prob must be in [0, 1], got {prob}")
    mode = ONLINE_METHODS[method]
    return RandGANAugmentd("image", prob=prob, mode=mode, weights=weights, label_key="label",
                           lung_key="lung_mask" if mode == "lesion" else None, device=device)


def label_flip_control(prob: float = 0.5):
    """Control for the online arm: a drawn film gets label 1 with probability ``prob``, image unchanged.

    It relabels normal films exactly as often as :func:`online_gan_augment` does (pneumonia films
    keep label 1 either way), so the class mix and class weights are the same; comparing the two
    separates what the generator's *pixels* do from what the relabelling alone does.

    Raises:
        ConfigError: ``prob`` outside ``[0, 1]``.
    """
    from monai.transforms import MapTransform, RandomizableTransform

    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"prob must be in [0, 1], got {prob}")

    # MONAI's RandLambdad would push an inverse record onto the label, which needs a MetaTensor
    class RandRelabeld(RandomizableTransform, MapTransform):
        def __init__(self) -> None:
            MapTransform.__init__(self, "label")
            RandomizableTransform.__init__(self, prob)

        def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
            d = dict(data)
            self.randomize(None)
            if self._do_transform:
                d["label"] = 1
            return d

    return RandRelabeld()


def expected_class_mix(counts: Sequence[float], prob: float) -> np.ndarray:
    """Expected ``[normal, pneumonia]`` films per epoch when each normal film is relabelled with ``prob``.

    Both online generators turn a normal film into pneumonia with probability ``prob`` and never
    the reverse: ``[n0 (1 - p), n1 + n0 p]``.

    Raises:
        ConfigError: no normal film would be left (``n0 (1 - p) == 0``).
    """
    n0, n1 = (float(c) for c in counts)
    mix = np.array([n0 * (1.0 - prob), n1 + n0 * prob], dtype=np.float64)
    if mix[0] <= 0:
        raise ConfigError(f"with prob {prob} and {n0:g} normal films no normal film is left to train on")
    return mix


def _resize_longest(image: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """``(1, H, W)`` resized so the longest side is ``size``: ``resize_pad_square`` without the padding."""
    h, w = image.shape[-2:]
    if (h, w) == (size, size):
        return image
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return F.interpolate(image[None], size=(nh, nw), mode=mode, align_corners=False, antialias=scale < 1)[0]


def _load_lung(item: Mapping[str, Any], image: torch.Tensor) -> torch.Tensor:
    """The item's binary lung mask on ``image``'s grid; all ones (no constraint) when it has none."""
    source = item.get("lung_mask")
    if source is None or (isinstance(source, (str, Path)) and not str(source)):
        return torch.ones_like(image)
    lung = _load_image(source)
    if lung.shape != image.shape:
        raise DatasetError(
            f"lung mask {source} is {tuple(lung.shape)}, its image {tuple(image.shape)}: they must match"
        )
    return (lung > 0.5).float()


def training_dataset(
    items: Sequence[Mapping[str, Any]], size: int, *, augment: bool = True, gan_augment: Any = None
):
    """The MONAI ``Dataset`` :func:`train_classifier` iterates.

    Without ``gan_augment``: images resized/padded to ``(1, size, size)`` then the judge's
    augmentation (:func:`classifier_augmentation`). With it, the pipeline is
    ``gan_augment -> SpatialPadd(size) -> augmentation``: the generator sees the film resized to
    ``size`` on its longest side but *not yet zero-padded* (``TranslationInferer`` pads with edge
    values itself, so it never reacts to a black border), as the offline synthesis does. Items then
    carry ``source_label`` (the label before the pipeline) and, for ``lesion`` mode, ``lung_mask``
    (dropped after the generator).
    """
    from monai.data import Dataset
    from monai.transforms import Compose, DeleteItemsd, SpatialPadd

    aug = classifier_augmentation(0.08 * size) if augment else None
    if gan_augment is None:
        data = prepare_items(items, size)
        return Dataset([{"image": d["image"], "label": d["label"]} for d in data], transform=aug)
    _check_two_classes(items, "training")
    with_lung = getattr(gan_augment, "lung_key", None) is not None
    data = []
    for item in items:
        label = int(item["label"])
        if label not in (0, 1):
            raise DatasetError(f"labels must be 0 (normal) or 1 (pneumonia), got {item['label']!r}")
        native = _load_image(item["image"])
        row = {"image": _resize_longest(native, size), "label": label, "source_label": label}
        if with_lung:
            row["lung_mask"] = (_resize_longest(_load_lung(item, native), size) > 0.5).float()
        data.append(row)
    steps = [gan_augment, SpatialPadd("image", (size, size), mode="constant", value=0.0)]
    if with_lung:
        steps.append(DeleteItemsd("lung_mask"))
    return Dataset(data, transform=Compose(steps + ([aug] if aug is not None else [])))


def _check_two_classes(items: Sequence[Mapping[str, Any]], what: str) -> np.ndarray:
    if len(items) == 0:
        raise DatasetError(f"the {what} set is empty")
    labels = _labels(items)
    if len(np.unique(labels)) < 2:
        raise DatasetError(f"the {what} set holds only class {int(labels[0])}; ROC-AUC needs both 0 and 1")
    return labels


def train_classifier(
    train_items: Sequence[Mapping[str, Any]],
    val_items: Sequence[Mapping[str, Any]] | None = None,
    *,
    size: int = 128,
    epochs: int = 5,
    seed: int = 0,
    batch_size: int = 16,
    lr: float = 2e-3,
    device: str | torch.device = "cpu",
    max_minutes: float | None = None,
    network: str = "xray_classifier",
    augment: bool = True,
    gan_augment: Any = None,
    record: dict[str, Any] | None = None,
) -> nn.Module:
    """Train a 2-class classifier with class-weighted cross-entropy, AdamW and a one-cycle schedule.

    Deterministic for a given ``seed`` on CPU (``monai.utils.set_determinism``). With ``val_items``
    the epoch with the best validation ROC-AUC is kept, else the last one.

    Args:
        train_items: items with both labels; images are resized/padded to ``size``.
        val_items: optional validation items (both labels) for model selection.
        size: working size in pixels.
        epochs: passes over ``train_items``.
        seed: seed of weights, shuffling and augmentation.
        batch_size, lr: optimiser settings.
        device: where to train.
        max_minutes: stop after the epoch that exceeds this wall time.
        network: one of :data:`NETWORKS`.
        augment: apply the judge's MONAI augmentation (affine, contrast, noise).
        gan_augment: optional ``RandGANAugmentd`` (see :func:`online_gan_augment`) run first in the
            training pipeline, on each film before padding (see :func:`training_dataset`). The
            class weights then follow the *expected* class mix per epoch
            (:func:`expected_class_mix`), not the source labels.
        record: if given, filled with what training saw: ``seen_per_class`` (labels after the
            pipeline, summed over epochs), ``label_flips`` (samples whose label the pipeline
            changed), ``epochs_run`` and ``class_weight``.

    Returns:
        The trained network in eval mode.

    Raises:
        DatasetError: ``train_items`` empty or single-class.
        ConfigError: unknown ``network``, ``epochs < 1``, or a ``gan_augment`` that would leave no
            normal film (``prob`` 1).
    """
    from monai.data import DataLoader
    from monai.utils import set_determinism

    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    counts = np.bincount(_check_two_classes(train_items, "training"), minlength=2).astype(np.float64)
    if gan_augment is not None:
        counts = expected_class_mix(counts, float(gan_augment.prob))
    set_determinism(seed=seed)
    dataset = training_dataset(train_items, size, augment=augment, gan_augment=gan_augment)
    val = prepare_items(val_items, size) if val_items else None
    model = build_network(network, size).to(device)
    class_weight = torch.tensor(counts.sum() / (2.0 * counts), dtype=torch.float32, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(dataset) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    seen = {"seen_per_class": [0, 0], "label_flips": 0, "epochs_run": 0,
            "class_weight": [round(float(w), 6) for w in class_weight]}
    best_auc, best_state, start = -1.0, None, time.time()
    for _ in range(epochs):
        _train_epoch(model, loader, opt, sched, class_weight, device, seen)
        seen["epochs_run"] += 1
        if val is not None:
            score = evaluate_classifier(model, val)["auc"]
            if score > best_auc:
                best_auc = score
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if max_minutes is not None and (time.time() - start) / 60 > max_minutes:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    set_determinism(seed=None)
    if record is not None:
        record.update(seen)
    return model.eval()


def _train_epoch(
    model, loader, opt, sched, class_weight, device, seen: dict[str, Any] | None = None
) -> float:
    model.train()
    total = 0.0
    for batch in loader:
        x = torch.as_tensor(batch["image"]).float().clamp(0, 1).to(device)
        y = torch.as_tensor(batch["label"]).long().to(device)
        if seen is not None:  # counted from the batches the network really gets
            labels = y.cpu()
            for cls in (0, 1):
                seen["seen_per_class"][cls] += int((labels == cls).sum())
            if "source_label" in batch:
                seen["label_flips"] += int((labels != torch.as_tensor(batch["source_label"]).long()).sum())
        loss = F.cross_entropy(model(x), y, weight=class_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach()) * len(y)
    return total


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, items: Sequence[Mapping[str, Any]], batch_size: int = 64
) -> np.ndarray:
    """Softmax probability of class 1 (pneumonia) for each item, in eval mode.

    Items are resized/padded to the network's ``spatial_size`` when it has one (else used as given,
    after :func:`prepare_items` if they are paths).
    """
    from ..networks.classifier import pneumonia_probability

    size = getattr(model, "spatial_size", None)
    probs = []
    for i in range(0, len(items), batch_size):  # load and resize one batch at a time
        chunk = items[i : i + batch_size]
        if size is not None:
            x = torch.stack([d["image"] for d in prepare_items(chunk, size)])
        else:
            x = torch.stack([_load_image(d["image"]) for d in chunk])
        probs.append(pneumonia_probability(model, x, batch_size))
    return torch.cat(probs).numpy().astype(np.float64)


def evaluate_classifier(
    model: nn.Module, test_items: Sequence[Mapping[str, Any]], batch_size: int = 64
) -> dict[str, Any]:
    """ROC-AUC (``monai.metrics.ROCAUCMetric``) and accuracy at probability 0.5 on ``test_items``.

    Raises:
        DatasetError: ``test_items`` empty or holding one class only.
    """
    from monai.metrics import ROCAUCMetric

    labels = _check_two_classes(test_items, "test")
    probs = predict_probabilities(model, test_items, batch_size)
    metric = ROCAUCMetric()
    metric(torch.from_numpy(probs)[:, None], torch.from_numpy(labels)[:, None])
    return {
        "auc": float(metric.aggregate()),
        "accuracy": float(((probs >= 0.5).astype(np.int64) == labels).mean()),
        "n": int(len(labels)),
        "n_pneumonia": int(labels.sum()),
        "n_normal": int((labels == 0).sum()),
    }


def _ids(items: Sequence[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    patients = {str(i["patient"]) for i in items if i.get("patient")}
    paths = {str(Path(i["image"]).resolve()) for i in items if isinstance(i.get("image"), (str, Path))}
    return patients, paths


def check_disjoint(
    train_items: Sequence[Mapping[str, Any]], test_items: Sequence[Mapping[str, Any]], what: str
) -> None:
    """Raise :class:`DatasetError` if ``train_items`` share a patient id or image path with ``test_items``."""
    tr_pat, tr_path = _ids(train_items)
    te_pat, te_path = _ids(test_items)
    shared = sorted(tr_pat & te_pat) + sorted(tr_path & te_path)
    if shared:
        raise DatasetError(f"{what} items overlap the test set ({len(shared)} shared, e.g. {shared[:3]})")


def utility_experiment(
    real_train: Sequence[Mapping[str, Any]],
    synthetic: Sequence[Mapping[str, Any]],
    test: Sequence[Mapping[str, Any]],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    n_real: int = 20,
    n_synthetic: int = 40,
    size: int = 128,
    epochs: int = 5,
    batch_size: int = 16,
    lr: float = 2e-3,
    device: str | torch.device = "cpu",
    network: str = "xray_classifier",
    max_minutes: float | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Real-only (A) versus real + synthetic (B) classifiers, paired by seed, scored on real ``test``.

    Per seed: ``n_real`` real items per class are drawn from ``real_train`` (seeded), and
    ``n_synthetic`` items from ``synthetic`` (seeded, without replacement). Both arms train for
    ``epochs`` epochs over their own data with the same seed.

    Returns:
        ``{"arms": ["real_only", "real_plus_synthetic"], "per_seed": [...], "auc_difference":
        paired_difference_ci, "accuracy_difference": ..., "settings": {...}}``; each arm's row holds
        its scores, ``n_train``, ``seconds`` and ``seen`` (``record`` of :func:`train_classifier`).

    Raises:
        DatasetError: empty/single-class test set, too few real or synthetic items, or training
            or synthetic items sharing a patient/path with the test set.
    """
    _check_two_classes(test, "test")
    check_disjoint(real_train, test, "real training")
    check_disjoint(synthetic, test, "synthetic")
    if not 0 <= n_synthetic <= len(synthetic):
        raise DatasetError(f"asked for {n_synthetic} synthetic items, {len(synthetic)} available")
    kwargs = dict(size=size, epochs=epochs, batch_size=batch_size, lr=lr, device=device,
                  network=network, max_minutes=max_minutes)

    def arms(seed: int, real: list[dict[str, Any]]) -> list[tuple[str, list, dict]]:
        pick = np.random.default_rng(seed + 1_000_003).choice(len(synthetic), size=n_synthetic, replace=False)
        synth = [dict(synthetic[i]) for i in sorted(pick.tolist())]
        return [("real_only", real, {}), ("real_plus_synthetic", real + synth, {})]

    result = _paired_runs(real_train, test, arms, seeds=seeds, n_real=n_real, kwargs=kwargs, log=log)
    result["settings"].update({
        "n_synthetic": n_synthetic,
        "budget": "same number of epochs over each arm's own data (arm B takes more steps)",
    })
    return result


def _paired_runs(real_train, test, arms, *, seeds, n_real, kwargs, log) -> dict[str, Any]:
    """Per seed: draw the real subset, train every arm ``arms(seed, real)`` returns, score on ``test``."""
    test_prepared = prepare_items(test, kwargs["size"])
    per_seed, names = [], None
    for seed in seeds:
        real = sample_real_subset(real_train, n_real, seed)
        row: dict[str, Any] = {"seed": int(seed)}
        plan = arms(int(seed), real)
        names = [name for name, _, _ in plan]
        for name, items, extra in plan:
            t0, record = time.time(), {}
            model = train_classifier(items, None, seed=int(seed), record=record, **kwargs, **extra)
            row[name] = {**evaluate_classifier(model, test_prepared), "n_train": len(items),
                         "seconds": round(time.time() - t0, 1), "seen": record}
        per_seed.append(row)
        if log is not None:
            log(f"seed {seed}: AUC A {row[names[0]]['auc']:.4f} B {row[names[1]]['auc']:.4f}")
    a_name, b_name = names
    arm = lambda name, key: [r[name][key] for r in per_seed]  # noqa: E731
    return {
        "arms": [a_name, b_name],
        "per_seed": per_seed,
        "auc_difference": paired_difference_ci(arm(a_name, "auc"), arm(b_name, "auc")),
        "accuracy_difference": paired_difference_ci(arm(a_name, "accuracy"), arm(b_name, "accuracy")),
        "settings": {"seeds": [int(s) for s in seeds], "n_real_per_class": n_real,
                     "n_test": len(test), **{k: str(v) for k, v in kwargs.items()},
                     "interval": "two-sided 95% Student-t over per-seed paired differences B - A"},
    }


def online_utility_experiment(
    real_train: Sequence[Mapping[str, Any]],
    test: Sequence[Mapping[str, Any]],
    *,
    method: str = "cyclegan",
    prob: float = 0.5,
    weights: str | Path | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    n_real: int = 20,
    size: int = 128,
    epochs: int = 5,
    batch_size: int = 16,
    lr: float = 2e-3,
    device: str | torch.device = "cpu",
    network: str = "xray_classifier",
    max_minutes: float | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Real-only (A) versus real + online ``RandGANAugmentd`` (B), paired by seed, scored on real ``test``.

    Arm A is exactly :func:`utility_experiment`'s arm A (same seeds, real subsets and training, so
    the same scores). Arm B trains on the *same* real subset with :func:`online_gan_augment` first
    in its data pipeline: every time a normal film is drawn, with probability ``prob`` the generator
    (loaded once, on ``device``) turns it into pneumonia and its label becomes 1. Arm B therefore
    takes exactly as many optimiser steps as arm A; what changes is what the films look like and
    the class mix, ``[n0 (1 - p), n1 + n0 p]`` films per epoch in expectation. The class weights
    follow that expected mix (inverse frequency, as for the other arms), and what training really
    saw is reported per seed under ``["real_plus_online"]["seen"]``.

    ``method`` is a key of :data:`ONLINE_METHODS` or :data:`LABEL_FLIP_CONTROL` (the same
    relabelling without the generator, :func:`label_flip_control`).

    Returns:
        As :func:`utility_experiment`, with arms ``real_only`` and ``real_plus_online`` and
        ``settings["expected_class_mix_per_epoch"]``.

    Raises:
        DatasetError: empty/single-class test set, too few real items, or overlap with the test set.
        ConfigError: unknown ``method`` or ``prob`` outside ``[0, 1)``.
    """
    if method != LABEL_FLIP_CONTROL and method not in ONLINE_METHODS:
        raise ConfigError(f"method must be one of {(*ONLINE_METHODS, LABEL_FLIP_CONTROL)}, got {method!r}")
    _check_two_classes(test, "test")
    check_disjoint(real_train, test, "real training")
    mix = expected_class_mix([n_real, n_real], prob)  # refuses prob 1 before any training
    if method == LABEL_FLIP_CONTROL:
        gan, mode, generator = label_flip_control(prob), "relabel only", None
    else:
        gan = online_gan_augment(method, prob, weights=weights, device=device)
        mode, generator = ONLINE_METHODS[method], gan.rand_augment.augment.weights_path.name
    kwargs = dict(size=size, epochs=epochs, batch_size=batch_size, lr=lr, device=device,
                  network=network, max_minutes=max_minutes)

    def arms(seed: int, real: list[dict[str, Any]]) -> list[tuple[str, list, dict]]:
        return [("real_only", real, {}), ("real_plus_online", real, {"gan_augment": gan})]

    result = _paired_runs(real_train, test, arms, seeds=seeds, n_real=n_real, kwargs=kwargs, log=log)
    result["settings"].update({
        "online_method": method, "mode": mode, "prob": prob, "generator": generator,
        "expected_class_mix_per_epoch": {"normal": float(mix[0]), "pneumonia": float(mix[1])},
        "budget": "same real films, same epochs and optimiser steps in both arms",
    })
    return result


def synthesize_pneumonia(
    normal_items: Sequence[Mapping[str, Any]],
    method: str = "lesion_inpaint",
    seed: int = 0,
    *,
    size: int | None = None,
    device: str | torch.device | None = "cpu",
) -> list[dict[str, Any]]:
    """Turn real normal films into synthetic pneumonia-labelled items with the shipped generators.

    * ``"lesion_inpaint"``: one RSNA-prior box per image drawn with ``RandRegionMask`` inside the
      item's ``lung_mask`` (if given), painted by :class:`~monai_gan_aug.inferers.edit.PneumoniaEditor`.
    * ``"cyclegan"``: the whole film through the shipped ``cyclegan_G_AB.pt`` (normal -> pneumonia)
      with a detail-preserving :class:`~monai_gan_aug.inferers.translation.TranslationInferer`.

    Pass only training-split items: the outputs keep the source's ``patient``, so
    :func:`check_disjoint` can catch leakage into the test set.

    Args:
        normal_items: items with an ``image`` (path or tensor) and optional ``lung_mask`` path.
        method: one of :data:`SYNTHESIS_METHODS`.
        seed: base seed (image ``i`` uses ``seed * 100003 + i``).
        size: if given, outputs are resized/padded to ``(1, size, size)`` to save memory.
        device: device for the generator.

    Returns:
        Items ``{"image": (1, H, W) tensor, "label": 1, "patient", "source", "synthetic": method}``.
    """
    if method not in SYNTHESIS_METHODS:
        raise ConfigError(f"method must be one of {SYNTHESIS_METHODS}, got {method!r}")
    make = _lesion_inpaint_fn(device) if method == "lesion_inpaint" else _cyclegan_fn(device)
    out = []
    for i, item in enumerate(normal_items):
        image = make(item, seed * 100003 + i)
        if size is not None:
            from ..networks.classifier import resize_pad_square

            image = resize_pad_square(image[None], size)[0]
        out.append({"image": image, "label": 1, "patient": item.get("patient"),
                    "source": str(item["image"]) if isinstance(item["image"], (str, Path)) else None,
                    "synthetic": method})
    return out


def _as_meta(item: Mapping[str, Any]):
    from monai.data import MetaTensor

    image = item["image"]
    if isinstance(image, (str, Path)):
        from ..transforms.io import LoadXRay

        return LoadXRay()(image)
    return image if isinstance(image, MetaTensor) else MetaTensor(_load_image(image))


def _lesion_inpaint_fn(device):
    from PIL import Image

    from ..inferers.edit import PneumoniaEditor
    from ..transforms.region import RandRegionMask

    editor = PneumoniaEditor(feather=8, device=device)

    def make(item: Mapping[str, Any], seed: int) -> torch.Tensor:
        image = _as_meta(item)
        lung = None
        if item.get("lung_mask"):
            arr = np.asarray(Image.open(item["lung_mask"]).convert("L")) > 127
            lung = torch.from_numpy(arr.astype(np.float32))[None]
        drawer = RandRegionMask(feather=8)
        drawer.set_random_state(seed=seed)
        drawn, _ = drawer(image, lung=lung)
        box = drawn.meta["region"]["boxes"][0]
        return editor.edit(image, {"box": box}, seed=seed).edited.as_tensor().detach().float()

    return make


def _cyclegan_fn(device):
    from ..inferers.translation import TranslationInferer
    from ..networks.factory import load_network
    from ..utils.weights import shipped_weights_path

    net = load_network(shipped_weights_path("cyclegan_G_AB.pt")).to(device or "cpu").eval()
    size = int(getattr(net, "info", {}).get("image_size", 256))
    inferer = TranslationInferer(size=size, detail_preserving=True)

    @torch.no_grad()
    def make(item: Mapping[str, Any], seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        image = _load_image(_as_meta(item))
        return inferer(image[None], net)[0].detach().float()

    return make
