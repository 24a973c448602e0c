"""The headline edit's scorecard: does an edited region read as pneumonia, and only as pneumonia?

Every *arm* (a way of editing a region: the opacity generator, the previous repainting weights,
the non-learned opacity baseline, a healthy-lung fill, or no edit at all) edits the same held-out
healthy films in the same boxes with the same seeds, and is scored on:

* **region judge** (:mod:`monai_gan_aug.metrics.region_judge`): share of edited regions it calls
  pneumonia (P > 0.5) and mean P, with the healthy-fill and unedited controls beside it;
* **forensic AUC** (:func:`monai_gan_aug.metrics.forensic.classifier_two_sample_test`): a fresh
  CNN, cross-validated by film, tries to tell crops of edited regions from crops of *real* lesion
  regions; the unedited inputs' crops give the "do nothing" reference, which an edit must beat;
* **seam ratio** and **structure correlation** (:mod:`monai_gan_aug.metrics.edit_quality`):
  edge energy on the region's outline edited / original (1 = no seam), and correlation of the
  region's high-pass content before / after (1 = the anatomy under the lesion is kept);
* seconds per edit, in process.

:func:`covidqu_cases` and :func:`kermany_cases` build the held-out cases from the shared data;
:func:`real_lesion_crops` the reference crops; :func:`score_arms` runs everything.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import DatasetError
from ..utils.arrays import shift_array
from .region_judge import (clip_box_to_lung, draw_lung_boxes, manifest_boxes, region_pneumonia_probability,
                           region_window)

__all__ = [
    "EditCase",
    "EditArm",
    "FORENSIC_CONTEXT",
    "covidqu_cases",
    "kermany_cases",
    "real_lesion_crops",
    "generator_arm",
    "baseline_arm",
    "identity_arm",
    "LesionDonor",
    "real_lesion_donors",
    "transplant_arm",
    "score_arms",
    "format_scorecard",
]

#: window side / box side of the forensic crops (the region and a little of its surroundings)
FORENSIC_CONTEXT = 1.25


@dataclass
class EditCase:
    """One held-out healthy film and the box to edit in it.

    Attributes:
        film: film id (the forensic test's group).
        image: (1, H, W) float image in [0, 1].
        box: ``[x0, y0, x1, y1]`` end-exclusive pixels.
        lung: (H, W) bool lung mask, or ``None``.
    """

    film: str
    image: torch.Tensor
    box: list[int]
    lung: np.ndarray | None = field(default=None, repr=False)


#: ``arm(case, seed) -> (edited (1, H, W), label (1, H, W) of what was painted)``
EditArm = Callable[[EditCase, int], tuple[torch.Tensor, torch.Tensor]]


def _grey(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def _rows(manifest: Path) -> list[dict[str, str]]:
    if not manifest.is_file():
        raise DatasetError(f"{manifest} not found (expected the shared-data layout, ../shared/data)")
    with manifest.open(newline="") as fh:
        return list(csv.DictReader(fh))


# The manifest-box helpers are public in region_judge (the covidqu region judge trains on them too).


def covidqu_cases(root: str | Path, split: str = "val", n: int | None = None, seed: int = 0) -> list[EditCase]:
    """Normal films of a covidqu split, each with a real lesion box of the same split's COVID films.

    The boxes are the real infection-mask components' boxes (covidqu films share one 256 px frame),
    assigned at random (seeded) and clipped to the normal film's lung; films where no drawn box
    keeps enough lung after 20 tries are skipped.
    """
    root = Path(root)
    rows = [r for r in _rows(root / "manifest.csv") if r.get("split") == split]
    boxes = [b for r in rows if r["label"] == "covid" for b in manifest_boxes(r["bbox"])]
    normals = [r for r in rows if r["label"] == "normal"]
    if not boxes or not normals:
        raise DatasetError(f"{root} split {split!r}: {len(boxes)} lesion boxes, {len(normals)} normal films")
    rng = np.random.default_rng(seed)
    cases = []
    for r in normals[: n or None]:
        lung = _grey(root / r["mask_file"]) > 127
        for _ in range(20):
            box = clip_box_to_lung(boxes[rng.integers(len(boxes))], lung)
            if box is not None:
                break
        if box is None:
            continue
        image = torch.from_numpy(_grey(root / r["file"]).astype(np.float32) / 255.0)[None]
        cases.append(EditCase(Path(r["file"]).stem, image, box, lung))
    return cases


def kermany_cases(root: str | Path, split: str = "test", n: int | None = None, seed: int = 0) -> list[EditCase]:
    """Normal Kermany films of a patient split (with lung masks), one RSNA-prior box in the lung each."""
    from ..data.datasets import manifest_dataset
    from ..data.splits import patient_split

    items = patient_split(manifest_dataset(Path(root) / "manifest.csv"))[split]
    items = [d for d in items if d["class_index"] == 0 and d.get("lung_mask")][: n or None]
    cases = []
    for i, d in enumerate(items):
        image = torch.from_numpy(_grey(Path(d["image"])).astype(np.float32) / 255.0)[None]
        lung = _grey(Path(d["lung_mask"])) > 127
        box = draw_lung_boxes(image, lung, 1, seed + i)[0]
        cases.append(EditCase(Path(d["image"]).stem, image, box, lung))
    return cases


def real_lesion_crops(root: str | Path, split: str = "val", size: int = 64,
                      context: float = FORENSIC_CONTEXT) -> tuple[torch.Tensor, list[str]]:
    """Crops around the largest real lesion box of every COVID film of a covidqu split, and film ids."""
    root = Path(root)
    crops, groups = [], []
    for r in _rows(root / "manifest.csv"):
        if r.get("split") != split or r["label"] != "covid" or not r["bbox"]:
            continue
        box = max(manifest_boxes(r["bbox"]), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        image = torch.from_numpy(_grey(root / r["file"]).astype(np.float32) / 255.0)[None]
        crops.append(region_window(image, box, size, context))
        groups.append(Path(r["file"]).stem)
    if not crops:
        raise DatasetError(f"{root} split {split!r} has no COVID film with lesion boxes")
    return torch.stack(crops), groups


def _region(case: EditCase, feather: float) -> tuple[torch.Tensor, torch.Tensor]:
    from monai.data import MetaTensor

    from ..transforms.region import RegionMask

    lung = None if case.lung is None else torch.from_numpy(case.lung)[None].float()
    mask, weight = RegionMask(feather=feather, max_fraction=None)(MetaTensor(case.image), region={"box": case.box},
                                                                   lung=lung)
    return torch.as_tensor(mask), torch.as_tensor(weight)


def generator_arm(network: torch.nn.Module, class_index: int = 1, feather: float = 4.0,
                  detail: float | None = None, density_scale: float = 1.0, extent: str | None = None) -> EditArm:
    """An arm editing the box (clipped to the lung) with a lesion network through ``edit_lesion``.

    ``extent`` (opacity networks): how much of the box the sampled footprint spans, ``"loose"``
    (default) or ``"tight"`` (the scorecard's covidqu boxes are tight boxes of real lesions).
    """
    from ..inferers.opacity_edit import edit_lesion

    def arm(case: EditCase, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        mask, weight = _region(case, feather)
        return edit_lesion(case.image, network, mask, weight, class_index=class_index, seed=seed,
                           lung=case.lung, detail=detail, density_scale=density_scale, extent=extent)

    return arm


def baseline_arm(feather: float = 4.0, **opacity_kwargs: Any) -> EditArm:
    """The non-learned opacity baseline (:class:`~monai_gan_aug.transforms.opacity.RandLesionOpacity`)."""
    from ..transforms.opacity import RandLesionOpacity

    def arm(case: EditCase, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        mask, weight = _region(case, feather)
        t = RandLesionOpacity(prob=1.0, **opacity_kwargs)
        t.set_random_state(seed)
        out = t(case.image, region_mask=mask * (weight > 0))
        label = getattr(t, "footprint", None)
        label = mask if label is None else torch.as_tensor(np.asarray(label)).reshape(mask.shape)
        return torch.as_tensor(out).float(), label

    return arm


def identity_arm() -> EditArm:
    """No edit: the "do nothing" reference."""

    def arm(case: EditCase, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return case.image.clone(), torch.zeros_like(case.image, dtype=torch.uint8)

    return arm


def _interval(values: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (95 %) of the mean of ``values`` (one value per film)."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (reps, len(values)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


@dataclass
class LesionDonor:
    """One real lesion to transplant: its film, its infection-mask component and that component's box."""

    film: str
    image: np.ndarray = field(repr=False)  # (H, W) uint8
    component: np.ndarray = field(repr=False)  # (H, W) bool
    lung: np.ndarray = field(repr=False)  # (H, W) bool
    box: list[int] = field(default_factory=list)  # [x0, y0, x1, y1] end-exclusive


def real_lesion_donors(root: str | Path, split: str = "train", n: int | None = None) -> list[LesionDonor]:
    """The largest infection-mask component of every COVID film of a covidqu split (the transplant arm's donors).

    Use another split than the cases' (``train`` for ``val`` cases), so that the forensic test's
    reference crops (real ``val`` lesions) never share pixels with a transplanted lesion.
    """
    from scipy import ndimage

    root = Path(root)
    donors = []
    for r in _rows(root / "manifest.csv"):
        if r.get("split") != split or r["label"] != "covid" or not r.get("lesion_mask_file"):
            continue
        lesion = _grey(root / r["lesion_mask_file"]) > 127
        lab, count = ndimage.label(lesion, np.ones((3, 3), dtype=bool))
        if count == 0:
            continue
        k = int(np.argmax(ndimage.sum(lesion, lab, range(1, count + 1)))) + 1
        comp = lab == k
        ys, xs = np.nonzero(comp)
        donors.append(LesionDonor(Path(r["file"]).stem, _grey(root / r["file"]), comp, _grey(root / r["mask_file"]) > 127,
                                  [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]))
        if n and len(donors) >= n:
            break
    if not donors:
        raise DatasetError(f"{root} split {split!r} has no COVID film with an infection mask")
    return donors


def _iou(box: Sequence[int], boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area - inter, 1)


def transplant_arm(donors: Sequence[LesionDonor], feather: float = 4.0, edge_sigma: float = 2.0,
                   top_k: int = 5) -> EditArm:
    """Control: a *real* lesion's pixels moved into the box (the ceiling of any local edit?).

    For each case one donor is drawn (seeded) among the ``top_k`` whose lesion box overlaps the
    case's box most (IoU; covidqu films share one 256 px frame), its component is moved so that the
    two boxes' centres meet, cut to the case's box, lung and feather weight, softened (``edge_sigma``
    px) and pasted level-matched: ``x' = x + a * (donor - donor_lung_level + case_lung_level - x)``,
    where the levels are the median of each film's lung *outside* the lesion within the box's
    window, so the lesion keeps its excess brightness over its own film's lung but not that film's
    exposure. Not an edit a user could make (it copies a patient's lesion, anatomy included): it
    asks whether real pneumonia pixels in a normal film convince the judge at all.
    """
    from ..transforms.footprint import soft_footprint

    if not donors:
        raise DatasetError("the transplant arm needs at least one donor lesion")
    boxes = np.asarray([d.box for d in donors], dtype=np.float64)

    def arm(case: EditCase, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed)
        order = np.argsort(-_iou(case.box, boxes), kind="stable")[:top_k]
        donor = donors[int(rng.choice(order))]
        cy = (case.box[1] + case.box[3] - donor.box[1] - donor.box[3]) // 2
        cx = (case.box[0] + case.box[2] - donor.box[0] - donor.box[2]) // 2
        mask, weight = _region(case, feather)
        region = mask[0].numpy() > 0
        comp = shift_array(donor.component, cy, cx) & region & (weight[0].numpy() > 0)
        if not comp.any():
            return case.image.clone(), torch.zeros_like(case.image, dtype=torch.uint8)
        pixels = shift_array(donor.image.astype(np.float32) / 255.0, cy, cx)
        donor_lung = shift_array(donor.lung, cy, cx) & ~shift_array(donor.component, cy, cx)
        x = case.image[0].numpy()
        y0, y1 = max(case.box[1] - 32, 0), min(case.box[3] + 32, x.shape[0])
        x0, x1 = max(case.box[0] - 32, 0), min(case.box[2] + 32, x.shape[1])
        case_lung = (case.lung if case.lung is not None else np.ones_like(region)) & ~comp
        win = (slice(y0, y1), slice(x0, x1))
        d_level = np.median(pixels[win][donor_lung[win]]) if donor_lung[win].any() else np.median(pixels[comp])
        c_level = np.median(x[win][case_lung[win]]) if case_lung[win].any() else np.median(x[comp])
        alpha = soft_footprint(comp, edge_sigma) * weight[0].numpy()
        out = np.clip(x + alpha * (pixels - d_level + c_level - x), 0.0, 1.0).astype(np.float32)
        return torch.from_numpy(out)[None], torch.from_numpy(comp)[None].to(torch.uint8)

    return arm


def score_arms(
    cases: Sequence[EditCase],
    arms: Mapping[str, EditArm],
    judge: Any = None,
    real_crops: tuple[torch.Tensor, list[str]] | None = None,
    forensic_steps: int = 300,
    forensic_folds: int = 5,
    seed: int = 0,
    crop_size: int = 64,
    healthy_arm: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Edit every case with every arm and score each arm (see the module docstring).

    Args:
        cases: held-out healthy films with boxes.
        arms: name -> arm; the same seed per case in every arm.
        judge: region judge (:func:`~monai_gan_aug.metrics.region_judge.load_region_judge`) or ``None``.
        real_crops: reference crops of real lesion regions and their film ids (forensic test), or ``None``.
        forensic_steps: optimiser steps per fold of the forensic CNN.
        forensic_folds: cross-validation folds (by film) of the forensic test.
        seed: base seed (case ``i`` uses ``seed + i``).
        crop_size: side of the forensic crops.
        healthy_arm: name of the healthy-fill control arm: every arm also gets its paired judge
            difference to it (mean and 95 % bootstrap interval over films).

    Returns:
        name -> summary dict (plain values).
    """
    from .edit_quality import seam_ratio, structure_correlation
    from .forensic import classifier_two_sample_test

    boxes = [c.box for c in cases]
    out: dict[str, dict[str, Any]] = {}
    probs: dict[str, np.ndarray] = {}
    for name, arm in arms.items():
        edited, seams, structure, seconds, painted = [], [], [], [], []
        for i, case in enumerate(cases):
            t0 = time.perf_counter()
            image, label = arm(case, seed + i)
            seconds.append(time.perf_counter() - t0)
            image = torch.as_tensor(image).float().reshape(case.image.shape)
            edited.append(image)
            changed = bool((image != case.image).any())
            label_b = torch.as_tensor(label).reshape(case.image.shape) > 0
            painted.append(float(label_b.float().mean()))
            region = torch.zeros_like(case.image, dtype=torch.bool)
            region[:, case.box[1]:case.box[3], case.box[0]:case.box[2]] = True
            if changed:
                seams.append(seam_ratio(case.image, image, region))
                inside = label_b if bool(label_b.any()) else region
                structure.append(structure_correlation(case.image, image, inside))
        row: dict[str, Any] = {"n": len(cases), "sec_per_edit_median": float(np.median(seconds))}
        if seams:
            row["seam_ratio_median"] = float(np.median(seams))
            row["seam_ratio_p90"] = float(np.percentile(seams, 90))
            row["structure_corr_median"] = float(np.nanmedian(structure))
        row["painted_fraction_mean"] = float(np.mean(painted))
        if judge is not None:
            p = region_pneumonia_probability(judge, edited, boxes).numpy()
            probs[name] = p
            lo, hi = _interval((p > 0.5).astype(float))
            row.update(judge_rate=float((p > 0.5).mean()), judge_rate_ci=[lo, hi], judge_mean=float(p.mean()))
        if real_crops is not None:
            crops = torch.stack([region_window(im, b, crop_size, FORENSIC_CONTEXT) for im, b in zip(edited, boxes)])
            res = classifier_two_sample_test(real_crops[0], crops, real_crops[1], [c.film for c in cases],
                                             size=crop_size, steps=forensic_steps, folds=forensic_folds,
                                             seed=seed)
            row.update(forensic_auc=res.auc, forensic_ci=[res.ci_low, res.ci_high])
        out[name] = row
    if healthy_arm is not None and healthy_arm in probs:
        for name, p in probs.items():
            diff = p - probs[healthy_arm]
            lo, hi = _interval(diff)
            out[name]["judge_minus_healthy"] = float(diff.mean())
            out[name]["judge_minus_healthy_ci"] = [lo, hi]
    return out


def format_scorecard(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table of :func:`score_arms` results."""
    def f(row: Mapping[str, Any], key: str, ci: str | None = None, pct: bool = False) -> str:
        if key not in row:
            return "-"
        scale = 100.0 if pct else 1.0
        text = f"{row[key] * scale:.1f} %" if pct else f"{row[key]:.3f}"
        if ci and ci in row:
            lo, hi = row[ci]
            text += f" [{lo * scale:.1f}, {hi * scale:.1f}]" if pct else f" [{lo:.3f}, {hi:.3f}]"
        return text

    head = ("| arm | n | judge P>0.5 | judge mean | minus healthy fill | forensic AUC | seam ratio (median / p90) "
            "| structure corr | s / edit |")
    lines = [head, "|" + "---|" * 9]
    for name, r in rows.items():
        seam = f"{r['seam_ratio_median']:.2f} / {r['seam_ratio_p90']:.2f}" if "seam_ratio_median" in r else "-"
        lines.append(
            f"| {name} | {r['n']} | {f(r, 'judge_rate', 'judge_rate_ci', pct=True)} | {f(r, 'judge_mean')} "
            f"| {f(r, 'judge_minus_healthy', 'judge_minus_healthy_ci')} | {f(r, 'forensic_auc', 'forensic_ci')} "
            f"| {seam} | {f(r, 'structure_corr_median')} | {r['sec_per_edit_median']:.3f} |"
        )
    return "\n".join(lines)
