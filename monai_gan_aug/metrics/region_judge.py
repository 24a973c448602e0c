"""The region judge: does an edited *region* read as pneumonia?

The whole-film judge (:func:`~monai_gan_aug.networks.classifier.load_pneumonia_judge`) scores a
radiograph; a lesion painted into one box moves that score little, and running the whole-film
judge on a crop is out of distribution (unedited normal-lung crops already score about 0.5).
The region judge is the same :class:`~monai_gan_aug.networks.classifier.XRayClassifier`
architecture trained on *context windows around lung regions*: square windows of
:data:`REGION_CONTEXT` times a box's longer side, centred on boxes drawn from the RSNA pneumonia
box prior inside the lung (:class:`~monai_gan_aug.transforms.region.RandRegionMask`) of the Kermany
training split, labelled by the film's diagnosis (``scripts/train_classifier.py --region-crops``).

It is independent of the lesion generator: another architecture, its own training run, and it
never sees generated images, so a generator cannot have been tuned against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.data import MetaTensor

from ..errors import CheckpointError, InvalidImageError
from ..transforms.region import RandRegionMask
from ..transforms.window import context_window, crop_to_working
from ..utils.weights import shipped_weights_path

__all__ = [
    "REGION_JUDGE_WEIGHTS",
    "REGION_CONTEXT",
    "region_window",
    "region_window_bounds",
    "mirrored_box",
    "draw_lung_boxes",
    "load_region_judge",
    "region_pneumonia_probability",
]

#: file name of the shipped region judge in ``monai_gan_aug/weights/``
REGION_JUDGE_WEIGHTS = "pneumonia_region_judge.pt"
#: window side divided by the box's longer side (the box fills about a quarter of the window)
REGION_CONTEXT = 2.0
# Windows are taken at native resolution and then resampled; below this side a window would be
# mostly interpolation, so tiny boxes still get a window of at least this many pixels.
_MIN_WINDOW = 32


def region_window_bounds(
    box: Sequence[float], image_hw: Sequence[int], context: float = REGION_CONTEXT
) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` of the window :func:`region_window` takes around ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return context_window((y0, x0, y1, x1), image_hw, context=context, min_side=_MIN_WINDOW)


def region_window(image: torch.Tensor, box: Sequence[float], size: int, context: float = REGION_CONTEXT) -> torch.Tensor:
    """The square window around ``box`` resampled to ``(1, size, size)``.

    Args:
        image: ``(1, H, W)`` image in ``[0, 1]``.
        box: ``(x0, y0, x1, y1)`` in pixels (end-exclusive), as in region specs.
        size: output side.
        context: window side over the box's longer side.
    """
    if image.ndim != 3 or image.shape[0] != 1:
        raise InvalidImageError(f"expected a (1, H, W) image, got shape {tuple(image.shape)}")
    window = region_window_bounds(box, image.shape[-2:], context)
    crop, _ = crop_to_working(torch.as_tensor(image).float(), window, size)
    return crop.clamp(0, 1)


def mirrored_box(box: Sequence[float], width: int) -> list[int]:
    """``box`` reflected about the image's vertical midline: the same place in the other lung."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return [width - x1, y0, width - x0, y1]


def draw_lung_boxes(image: torch.Tensor, lung: torch.Tensor | np.ndarray, n: int, seed: int) -> list[list[int]]:
    """``n`` boxes from the RSNA prior inside ``lung`` (one draw per box, reproducible by ``seed``)."""
    drawer = RandRegionMask(feather=0)
    drawer.set_random_state(seed=seed)
    lung_t = torch.as_tensor(np.asarray(lung), dtype=torch.float32).reshape(1, *image.shape[-2:])
    image = image if isinstance(image, MetaTensor) else MetaTensor(image)  # the draw is recorded in its meta
    boxes = []
    for _ in range(n):
        drawn, _ = drawer(image, lung=lung_t)
        boxes.append([int(v) for v in drawn.meta["region"]["boxes"][0]])
    return boxes


def load_region_judge(device: str | torch.device = "cpu", path: str | None = None):
    """Load the shipped region judge (an ``XRayClassifier`` in eval mode), or the one at ``path``.

    Raises:
        MissingWeightsError: the weights file is absent.
        CheckpointError: the file is not a region judge.
    """
    from ..networks.classifier import load_pneumonia_judge

    judge = load_pneumonia_judge(device, path if path is not None else shipped_weights_path(REGION_JUDGE_WEIGHTS))
    if getattr(judge, "spatial_size", 0) > 128:
        raise CheckpointError(f"{path or REGION_JUDGE_WEIGHTS} looks like a whole-film judge, not a region judge")
    return judge


@torch.no_grad()
def region_pneumonia_probability(
    judge, images: Sequence[torch.Tensor], boxes: Sequence[Sequence[float]], context: float = REGION_CONTEXT
) -> torch.Tensor:
    """The region judge's P(pneumonia) ``(N,)`` of the window around each ``boxes[i]`` in ``images[i]``."""
    from ..networks.classifier import pneumonia_probability

    if len(images) != len(boxes):
        raise InvalidImageError(f"{len(images)} images for {len(boxes)} boxes")
    windows = torch.stack([region_window(torch.as_tensor(im), b, judge.spatial_size, context) for im, b in zip(images, boxes)])
    return pneumonia_probability(judge, windows)
