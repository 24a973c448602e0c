"""Lesion detection task of the utility harness: MONAI RetinaNet, CL@IoU0.1 and FROC.

The detector is MONAI's :class:`~monai.apps.detection.networks.retinanet_detector.RetinaNetDetector`
with a small ResNet-FPN trained from scratch, the ATSS matcher and the hard negative sampler
(neither needs torchvision). MONAI's own ``resnet_fpn_feature_extractor`` reaches into
torchvision (``IntermediateLayerGetter``, ``_validate_trainable_layers``), so :class:`ResNetFPN`
wires the same pieces (MONAI ``ResNet`` + ``FeaturePyramidNetwork`` + ``LastLevelMaxPool``)
without it.

Ground-truth boxes are the bounding boxes of the 8-connected components of a lesion mask
(:func:`mask_boxes`), so real films (infection masks), synthetic films (painted footprints) and
augmented films (mask moved with the image) all get boxes the same way. **Boxes here are in
MONAI's axis order**: ``[a0, b0, a1, b1]`` with ``a`` the first spatial axis (rows) and ``b`` the
second (columns), end-exclusive; the metrics depend only on overlaps, not on the axis order.

Metrics (:func:`detection_scores`):

* **CL@IoU0.1** (correct location, as in Xing et al.): over the films that have at least one
  ground-truth box, the fraction whose *top-scoring* predicted box overlaps some ground-truth box
  with IoU >= 0.1. A film without any prediction counts as not located. Films without lesions
  are not part of CL.
* **FROC sensitivity at 1 FP per image**: predictions of every film (lesion and normal) are pooled
  and a score threshold is swept; at each threshold a ground-truth box is *found* when a kept
  prediction of its film has IoU >= 0.1 with it, and a kept prediction is a *false positive* when
  it has IoU < 0.1 with every ground-truth box of its film. The reported sensitivity is the
  highest fraction of ground-truth boxes found at any threshold whose false positives per film
  (all films) are <= 1.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, DatasetError

__all__ = [
    "ResNetFPN",
    "mask_boxes",
    "correct_location",
    "cl_at_iou",
    "froc_sensitivity",
    "build_detector",
    "train_detector",
    "predict_boxes",
    "detection_scores",
]


def mask_boxes(mask: torch.Tensor | np.ndarray, min_pixels: int = 4) -> torch.Tensor:
    """``(n, 4)`` float boxes ``[a0, b0, a1, b1]`` (end-exclusive) of the 8-connected components of ``mask``.

    Components smaller than ``min_pixels`` are dropped (the covidqu manifest's boxes drop
    components under 30 px at 256 px, about 8 px at 128 px).
    """
    from scipy import ndimage

    m = np.asarray(torch.as_tensor(mask).detach().cpu()).reshape(np.asarray(mask).shape[-2:]) > 0.5
    labels, n = ndimage.label(m, structure=np.ones((3, 3), bool))
    boxes = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or int((labels[sl] == k).sum()) < min_pixels:
            continue
        boxes.append([sl[0].start, sl[1].start, sl[0].stop, sl[1].stop])
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from monai.data.box_utils import box_iou

    if len(a) == 0 or len(b) == 0:
        return torch.zeros(len(a), len(b))
    return torch.as_tensor(box_iou(a.float(), b.float()))


def correct_location(boxes: torch.Tensor, scores: torch.Tensor, gt: torch.Tensor, iou: float = 0.1) -> bool:
    """Whether the top-scoring predicted box has IoU >= ``iou`` with some ground-truth box (see module docstring).

    Raises:
        DatasetError: ``gt`` is empty (CL is defined on films with lesions only).
    """
    if len(gt) == 0:
        raise DatasetError("correct location is defined for films with at least one ground-truth box")
    if len(boxes) == 0:
        return False
    top = boxes[int(torch.argmax(torch.as_tensor(scores)))][None]
    return bool(_iou(top, gt).max() >= iou)


def cl_at_iou(predictions: Sequence[Mapping[str, torch.Tensor]], gts: Sequence[torch.Tensor],
              iou: float = 0.1) -> float:
    """CL@IoU: fraction of films with lesions whose top prediction is correctly located.

    Args:
        predictions: per film ``{"box": (k, 4), "score": (k,)}``.
        gts: per film ``(n, 4)`` ground-truth boxes (films with ``n = 0`` are skipped).
        iou: overlap needed.

    Raises:
        DatasetError: lengths differ, or no film has a lesion.
    """
    if len(predictions) != len(gts):
        raise DatasetError(f"{len(predictions)} predictions for {len(gts)} films")
    hits = [correct_location(p["box"], p["score"], g, iou) for p, g in zip(predictions, gts) if len(g)]
    if not hits:
        raise DatasetError("no film has a ground-truth box: CL is undefined")
    return float(np.mean(hits))


def froc_sensitivity(predictions: Sequence[Mapping[str, torch.Tensor]], gts: Sequence[torch.Tensor],
                     fp_per_image: float = 1.0, iou: float = 0.1) -> float:
    """Highest lesion sensitivity at any score threshold with at most ``fp_per_image`` false positives per film.

    See the module docstring for the definitions of found boxes and false positives.

    Raises:
        DatasetError: lengths differ, or no ground-truth box at all.
    """
    if len(predictions) != len(gts):
        raise DatasetError(f"{len(predictions)} predictions for {len(gts)} films")
    n_gt = sum(len(g) for g in gts)
    if n_gt == 0:
        raise DatasetError("no ground-truth box: sensitivity is undefined")
    events = []  # (score, film, index of prediction)
    overlaps = []
    for f, (p, g) in enumerate(zip(predictions, gts)):
        ov = _iou(torch.as_tensor(p["box"]).reshape(-1, 4), torch.as_tensor(g).reshape(-1, 4)) >= iou
        overlaps.append(ov)
        events += [(float(s), f, k) for k, s in enumerate(torch.as_tensor(p["score"]).reshape(-1))]
    events.sort(key=lambda e: -e[0])
    found = [torch.zeros(len(g), dtype=torch.bool) for g in gts]
    n_found, n_fp, best = 0, 0, 0.0
    i = 0
    while i < len(events):  # lower the threshold one distinct score at a time
        j = i
        while j < len(events) and events[j][0] == events[i][0]:
            _, f, k = events[j]
            row = overlaps[f][k] if overlaps[f].numel() else torch.zeros(0, dtype=torch.bool)
            if row.any():
                new = row & ~found[f]
                n_found += int(new.sum())
                found[f] |= row
            else:
                n_fp += 1
            j += 1
        if n_fp / len(gts) <= fp_per_image:
            best = max(best, n_found / n_gt)
        i = j
    return float(best)


class ResNetFPN(nn.Module):
    """A MONAI ``ResNet`` body with a MONAI ``FeaturePyramidNetwork`` on chosen layers (no torchvision).

    Args:
        backbone: a MONAI :class:`~monai.networks.nets.resnet.ResNet`.
        returned_layers: which of ``layer1..layer4`` feed the pyramid.
        in_channels_list: their channel counts.
        out_channels: pyramid width.
        spatial_dims: 2 or 3.
    """

    def __init__(self, backbone: nn.Module, returned_layers: Sequence[int], in_channels_list: Sequence[int],
                 out_channels: int, spatial_dims: int = 2) -> None:
        from monai.networks.blocks.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

        super().__init__()
        self.body = backbone
        self.returned = [f"layer{k}" for k in returned_layers]
        self.fpn = FeaturePyramidNetwork(spatial_dims=spatial_dims, in_channels_list=list(in_channels_list),
                                         out_channels=out_channels, extra_blocks=LastLevelMaxPool(spatial_dims))
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b = self.body
        x = b.act(b.bn1(b.conv1(x)))
        if not getattr(b, "no_max_pool", False):
            x = b.maxpool(x)
        feats: OrderedDict[str, torch.Tensor] = OrderedDict()
        last = int(self.returned[-1][-1])
        for k in range(1, last + 1):
            x = getattr(b, f"layer{k}")(x)
            if f"layer{k}" in self.returned:
                feats[f"layer{k}"] = x
        return self.fpn(feats)


def _without_torchvision() -> None:
    """Let ``RetinaNetDetector`` run its ATSS / hard-negative path when torchvision is not installed.

    MONAI 1.x checks ``isinstance(matcher, Matcher)`` where ``Matcher`` (and
    ``BalancedPositiveNegativeSampler``) are optional imports from torchvision; without torchvision
    the placeholder raises on that check even though the ATSS matcher and the hard negative sampler
    never need it. The placeholders are replaced by empty classes, so the checks are simply false.
    """
    import monai.apps.detection.networks.retinanet_detector as rd

    for name in ("Matcher", "BalancedPositiveNegativeSampler"):
        try:
            isinstance(None, getattr(rd, name))
        except Exception:  # noqa: BLE001 - MONAI's OptionalImportError placeholder
            setattr(rd, name, type(f"Unavailable{name}", (), {}))


def build_detector(widths: Sequence[int] = (16, 32, 64, 128), anchor_sides: Sequence[int] = (8, 16, 32),
                   score_thresh: float = 0.02, detections_per_img: int = 10) -> Any:
    """A fresh 1-class MONAI ``RetinaNetDetector`` (ResNet-FPN from scratch, ATSS matcher, hard negatives).

    Pyramid levels: ``layer1`` and ``layer2`` of the ResNet plus a max-pooled level (strides 4, 8
    and 16 of the input); square and elongated anchors per level (base ``anchor_sides``).
    """
    from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector
    from monai.apps.detection.networks.retinanet_network import RetinaNet
    from monai.apps.detection.utils.anchor_utils import AnchorGeneratorWithAnchorShape
    from monai.networks.nets import resnet

    _without_torchvision()
    returned = [1, 2]
    s = int(anchor_sides[0])
    anchors = AnchorGeneratorWithAnchorShape(feature_map_scales=[1, 2, 4],
                                             base_anchor_shapes=[[s, s], [2 * s, s], [s, 2 * s]])
    backbone = resnet.ResNet(block=resnet.ResNetBlock, layers=[1, 1, 1, 1], block_inplanes=list(widths),
                             n_input_channels=1, conv1_t_stride=2, conv1_t_size=7, spatial_dims=2)
    features = ResNetFPN(backbone, returned, [int(widths[k - 1]) for k in returned], out_channels=int(widths[1]))
    net = RetinaNet(spatial_dims=2, num_classes=1, num_anchors=anchors.num_anchors_per_location()[0],
                    feature_extractor=features, size_divisible=[2 * 2 * 2 ** max(returned)] * 2)
    det = RetinaNetDetector(network=net, anchor_generator=anchors, debug=False)
    det.set_atss_matcher(num_candidates=4, center_in_gt=False)
    det.set_hard_negative_sampler(batch_size_per_image=64, positive_fraction=0.3, pool_size=20, min_neg=16)
    det.set_target_keys(box_key="box", label_key="label")
    det.set_box_selector_parameters(score_thresh=score_thresh, topk_candidates_per_level=100, nms_thresh=0.22,
                                    detections_per_img=detections_per_img)
    return det


def train_detector(
    train_items: Sequence[Mapping[str, Any]],
    *,
    steps: int = 300,
    seed: int = 0,
    batch_size: int = 8,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
    augment: bool = False,
    record: dict[str, Any] | None = None,
) -> Any:
    """Train :func:`build_detector` for exactly ``steps`` optimiser steps on ``{"image", "label": mask}`` items.

    Batches come from a seeded ``RandomSampler`` of ``steps * batch_size`` draws (as in the other
    tasks). Boxes are taken from each drawn film's mask *after* the augmentation
    (:func:`~monai_gan_aug.metrics.utility.segmentation.segmentation_augmentation`, which moves the
    mask with the image), so augmented boxes stay exact. Loss: RetinaNet focal classification loss
    plus box regression loss, AdamW, one-cycle learning rate.

    Raises:
        ConfigError: ``steps < 1`` or ``batch_size < 1``.
        DatasetError: empty pool.
    """
    from monai.data import DataLoader, Dataset
    from monai.utils import set_determinism
    from torch.utils.data import RandomSampler

    from .segmentation import one_cycle, segmentation_augmentation

    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    if len(train_items) == 0:
        raise DatasetError("the training set is empty")
    set_determinism(seed=seed)
    size = int(train_items[0]["image"].shape[-1])
    det = build_detector()
    det.network.to(device)
    opt = torch.optim.AdamW(det.network.parameters(), lr=lr, weight_decay=1e-4)
    sched = one_cycle(opt, lr, steps)
    sampler = RandomSampler(range(len(train_items)), num_samples=steps * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    transform = segmentation_augmentation(0.08 * size, seed) if augment else None
    pairs = [{"image": torch.as_tensor(d["image"]).float(), "label": torch.as_tensor(d["label"]).float()}
             for d in train_items]
    loader = DataLoader(Dataset(pairs, transform=transform), batch_size=batch_size, sampler=sampler,
                        num_workers=0, collate_fn=_as_list)
    det.train()
    done = 0
    for batch in loader:
        images = [torch.as_tensor(b["image"]).float().clamp(0, 1).to(device) for b in batch]
        targets = []
        for b in batch:
            boxes = mask_boxes(b["label"]).to(device)
            targets.append({"box": boxes, "label": torch.zeros(len(boxes), dtype=torch.long, device=device)})
        losses = det(images, targets)
        loss = losses[det.cls_key] + losses[det.box_reg_key]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        done += 1
    set_determinism(seed=None)
    if record is not None:
        record.update({"steps": done, "samples": done * batch_size, "pool": len(train_items)})
    det.eval()
    return det


def _as_list(batch: list) -> list:
    return batch


@torch.no_grad()
def predict_boxes(
    detector: Any, images: Sequence[torch.Tensor], batch_size: int = 16
) -> list[dict[str, torch.Tensor]]:
    """Per image ``{"box": (k, 4), "score": (k,)}`` from a trained detector (eval mode, no sliding window)."""
    detector.eval()
    device = next(detector.network.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        chunk = [torch.as_tensor(x).float().to(device) for x in images[i : i + batch_size]]
        for p in detector(chunk, use_inferer=False):
            out.append({"box": p[detector.target_box_key].detach().cpu().float().reshape(-1, 4),
                        "score": p[detector.pred_score_key].detach().cpu().float().reshape(-1)})
    return out


def detection_scores(detector: Any, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """CL@IoU0.1 and FROC sensitivity at 1 FP per film on ``{"image", "label": mask}`` items.

    Raises:
        DatasetError: no film with a lesion.
    """
    gts = [mask_boxes(d["label"]) for d in items]
    preds = predict_boxes(detector, [d["image"] for d in items])
    return {"cl_iou01": cl_at_iou(preds, gts, 0.1), "froc_1fp": froc_sensitivity(preds, gts, 1.0, 0.1),
            "n": len(items), "n_with_lesion": sum(1 for g in gts if len(g)), "n_boxes": sum(len(g) for g in gts)}
