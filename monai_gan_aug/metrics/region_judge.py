"""The region judge: does an edited *region* read as pneumonia?

The whole-film judge (:func:`~monai_gan_aug.networks.classifier.load_pneumonia_judge`) scores a
radiograph; a lesion painted into one box moves that score little, and running the whole-film
judge on a crop is out of distribution (unedited normal-lung crops already score about 0.5).
The region judge is the same :class:`~monai_gan_aug.networks.classifier.XRayClassifier`
architecture trained on *context windows around lung regions*: square windows of
:data:`REGION_CONTEXT` times a box's longer side, centred on boxes drawn from the RSNA pneumonia
box prior inside the lung (:class:`~monai_gan_aug.transforms.region.RandRegionMask`) of the Kermany
training split, labelled by the film's diagnosis (``scripts/train_classifier.py --region-crops``).

The Kermany judge is paediatric; on adult films it is out of domain. The *covidqu* region judge
(:data:`COVIDQU_REGION_JUDGE_WEIGHTS`, ``load_region_judge(which="covidqu")``) is trained on the
adult covidqu train split (``scripts/train_classifier.py --dataset covidqu``): windows around the
real lesion boxes of COVID films (positives) and around boxes of the same real lesion-box
distribution transplanted onto normal films and clipped to their lung (negatives), built by
:func:`covidqu_region_items`. :func:`covidqu_away_items` gives windows on COVID films *away* from
the infection, the check that the judge reads the region and not the film.

It is independent of the lesion generator: another architecture, its own training run, and it
never sees generated images, so a generator cannot have been tuned against it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor

from ..errors import CheckpointError, ConfigError, DatasetError, InvalidImageError
from ..transforms.region import RandRegionMask
from ..transforms.window import context_window, crop_to_working
from ..utils.weights import shipped_weights_path

__all__ = [
    "REGION_JUDGE_WEIGHTS",
    "COVIDQU_REGION_JUDGE_WEIGHTS",
    "COVIDQU_LOCAL_REGION_JUDGE_WEIGHTS",
    "judge_context",
    "REGION_JUDGES",
    "REGION_CONTEXT",
    "manifest_boxes",
    "clip_box_to_lung",
    "covidqu_rows",
    "covidqu_region_items",
    "covidqu_away_items",
    "region_window",
    "region_window_bounds",
    "mirrored_box",
    "draw_lung_boxes",
    "load_region_judge",
    "region_pneumonia_probability",
]

#: file name of the shipped region judge in ``monai_gan_aug/weights/``
REGION_JUDGE_WEIGHTS = "pneumonia_region_judge.pt"
#: file name of the shipped covidqu (adult) region judge in ``monai_gan_aug/weights/``
COVIDQU_REGION_JUDGE_WEIGHTS = "covidqu_region_judge.pt"
#: ``which`` name -> shipped file, for :func:`load_region_judge`
#: the covidqu judge that sees only the box (context 1), trained on adult films only
COVIDQU_LOCAL_REGION_JUDGE_WEIGHTS = "covidqu_region_judge_local.pt"
REGION_JUDGES = {"kermany": REGION_JUDGE_WEIGHTS, "covidqu": COVIDQU_REGION_JUDGE_WEIGHTS,
                 "covidqu_local": COVIDQU_LOCAL_REGION_JUDGE_WEIGHTS}
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


def load_region_judge(device: str | torch.device = "cpu", path: str | None = None, which: str = "kermany"):
    """Load a shipped region judge (an ``XRayClassifier`` in eval mode), or the one at ``path``.

    Args:
        device: where to put it.
        path: a checkpoint file; overrides ``which``.
        which: the shipped judge: ``"kermany"`` (paediatric, :data:`REGION_JUDGE_WEIGHTS`) or
            ``"covidqu"`` (adult, :data:`COVIDQU_REGION_JUDGE_WEIGHTS`; window twice the box) or
            ``"covidqu_local"`` (adult films only, window = the box,
            :data:`COVIDQU_LOCAL_REGION_JUDGE_WEIGHTS`: reads the region more and the film less).

    Raises:
        ConfigError: ``which`` is not a key of :data:`REGION_JUDGES`.
        MissingWeightsError: the weights file is absent.
        CheckpointError: the file is not a region judge.
    """
    from ..networks.classifier import load_pneumonia_judge

    if which not in REGION_JUDGES:
        raise ConfigError(f"which must be one of {sorted(REGION_JUDGES)}, got {which!r}")
    name = path if path is not None else REGION_JUDGES[which]
    judge = load_pneumonia_judge(device, path if path is not None else shipped_weights_path(REGION_JUDGES[which]))
    if getattr(judge, "spatial_size", 0) > 128:
        raise CheckpointError(f"{name} looks like a whole-film judge, not a region judge")
    return judge


def judge_context(judge) -> float:
    """Window side over box side a region judge was trained with (``info["context"]``; default 2)."""
    info = getattr(judge, "info", None) or {}
    return float(info.get("context", REGION_CONTEXT))


@torch.no_grad()
def region_pneumonia_probability(
    judge, images: Sequence[torch.Tensor], boxes: Sequence[Sequence[float]], context: float | None = None
) -> torch.Tensor:
    """The region judge's P(pneumonia) ``(N,)`` of the window around each ``boxes[i]`` in ``images[i]``.

    ``context``: window side over the box's longer side; ``None``: the judge's own (:func:`judge_context`).
    """
    from ..networks.classifier import pneumonia_probability

    context = judge_context(judge) if context is None else context
    if len(images) != len(boxes):
        raise InvalidImageError(f"{len(images)} images for {len(boxes)} boxes")
    windows = torch.stack([region_window(torch.as_tensor(im), b, judge.spatial_size, context) for im, b in zip(images, boxes)])
    return pneumonia_probability(judge, windows)


def manifest_boxes(text: str | None) -> list[list[int]]:
    """Manifest boxes (``x0 y0 x1 y1``, end-inclusive, ``;``-separated) as end-exclusive int lists."""
    out = []
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        x0, y0, x1, y1 = (int(round(float(v))) for v in part.split())
        out.append([x0, y0, x1 + 1, y1 + 1])
    return out


def clip_box_to_lung(box: Sequence[int], lung: np.ndarray, min_side: int = 12,
                     min_lung: float = 0.3) -> list[int] | None:
    """``box`` clipped to the bounding box of ``lung``; ``None`` when too little of it is lung.

    Args:
        box: ``[x0, y0, x1, y1]``, end-exclusive.
        lung: ``(H, W)`` bool lung mask of the film.
        min_side: the clipped box must be at least this many pixels on both sides.
        min_lung: and at least this fraction of it must be lung.
    """
    ys, xs = np.nonzero(lung)
    if ys.size == 0:
        return None
    x0, y0 = max(int(box[0]), int(xs.min())), max(int(box[1]), int(ys.min()))
    x1, y1 = min(int(box[2]), int(xs.max()) + 1), min(int(box[3]), int(ys.max()) + 1)
    if x1 - x0 < min_side or y1 - y0 < min_side or lung[y0:y1, x0:x1].mean() < min_lung:
        return None
    return [x0, y0, x1, y1]


def _grey(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def covidqu_rows(root: str | Path, split: str) -> list[dict[str, str]]:
    """Rows of ``root/manifest.csv`` (the shared ``covidqu`` folder) of one official split."""
    manifest = Path(root) / "manifest.csv"
    if not manifest.is_file():
        raise DatasetError(f"{manifest} not found (expected the shared covidqu folder)")
    with manifest.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("split") == split]
    if not rows:
        raise DatasetError(f"{manifest} has no rows of split {split!r}")
    return rows


def _film_rng(film: str, seed: int) -> np.random.Generator:
    import zlib

    return np.random.default_rng([zlib.crc32(film.encode()), seed])  # stable across runs and hash seeds


def _transplanted_box(pool: Sequence[Sequence[int]], lung: np.ndarray, rng: np.random.Generator,
                      tries: int = 20) -> list[int] | None:
    for _ in range(tries):
        box = clip_box_to_lung(pool[int(rng.integers(len(pool)))], lung)
        if box is not None:
            return box
    return None


def _away_box(pool: Sequence[Sequence[int]], lung: np.ndarray, lesion: np.ndarray, rng: np.random.Generator,
              tries: int) -> list[int] | None:
    """A pool box clipped to the lung that does not touch ``lesion``, or ``None`` after ``tries`` draws."""
    for _ in range(tries):
        box = clip_box_to_lung(pool[int(rng.integers(len(pool)))], lung)
        if box is not None and not lesion[box[1]:box[3], box[0]:box[2]].any():
            return box
    return None


def covidqu_region_items(root: str | Path, rows: Sequence[dict[str, str]], per_film: int, size: int,
                         seed: int = 0, context: float = REGION_CONTEXT,
                         pool: Sequence[Sequence[int]] | None = None, away_negatives: int = 0) -> list[dict]:
    """Region windows of covidqu films: real lesion boxes on COVID films, transplanted boxes on normals.

    Both kinds of box go through the same geometry: clipped to the film's lung bounding box
    (:func:`clip_box_to_lung`, as :func:`~monai_gan_aug.metrics.scorecard.covidqu_cases` does for the
    scorecard; a real box that the clip rejects is kept as it is), then cut by :func:`region_window`.

    Args:
        root: the covidqu folder.
        rows: its manifest rows to use (e.g. part of one split; see :func:`covidqu_rows`).
        per_film: windows per film: up to this many of a COVID film's real boxes (chosen at random
            when it has more), exactly this many transplanted boxes on a normal film.
        size: window side.
        seed: with the film id, seeds every draw.
        context: window side over the box's longer side.
        pool: lesion boxes to transplant; default: every real box of the COVID films in ``rows``.
        away_negatives: also this many negatives per COVID film: pool boxes clipped to its lung that
            do not touch its infection mask (as :func:`covidqu_away_items` draws them), so that the
            film's collection alone cannot separate the classes. 0 (default): negatives only from
            normal films.

    Returns:
        ``{"image": (1, size, size), "label": 1 for COVID / 0 for normal, "film", "box"}`` dicts.
    """
    root = Path(root)
    if pool is None:
        pool = [b for r in rows if r["label"] == "covid" for b in manifest_boxes(r["bbox"])]
    if not pool:
        raise DatasetError(f"{root}: no lesion boxes to transplant among {len(rows)} rows")
    items = []
    for r in rows:
        if r["label"] not in ("covid", "normal"):
            continue
        film = Path(r["file"]).stem
        rng = _film_rng(film, seed)
        lung = _grey(root / r["mask_file"]) > 127
        if r["label"] == "covid":
            real = manifest_boxes(r["bbox"])
            if len(real) > per_film:
                real = [real[i] for i in sorted(rng.choice(len(real), per_film, replace=False))]
            boxes = [clip_box_to_lung(b, lung) or list(b) for b in real]
        else:
            boxes = [b for b in (_transplanted_box(pool, lung, rng) for _ in range(per_film)) if b is not None]
        labels = [int(r["label"] == "covid")] * len(boxes)
        if r["label"] == "covid" and away_negatives > 0:
            lesion = _grey(root / r["lesion_mask_file"]) > 127
            away = [_away_box(pool, lung, lesion, rng, 50) for _ in range(away_negatives)]
            away = [b for b in away if b is not None]
            boxes, labels = boxes + away, labels + [0] * len(away)
        if not boxes:
            continue
        image = torch.from_numpy(_grey(root / r["file"]).astype(np.float32) / 255.0)[None]
        for box, label in zip(boxes, labels):
            items.append({"image": region_window(image, box, size, context), "label": label, "film": film, "box": box})
    return items


def covidqu_away_items(root: str | Path, rows: Sequence[dict[str, str]], size: int, seed: int = 0,
                       context: float = REGION_CONTEXT, pool: Sequence[Sequence[int]] | None = None,
                       tries: int = 200) -> list[dict]:
    """Windows on COVID films *away* from the infection: the film-versus-region check.

    For every COVID film, lesion boxes of ``pool`` (default: the real boxes of ``rows``) are drawn
    and clipped to the lung (:func:`clip_box_to_lung`) until one does not overlap the film's
    infection mask (``lesion_mask_file``); films where ``tries`` draws find none are skipped.
    A judge that reads the region should score these like normal-film windows; one that reads the
    film (collection, exposure, age) scores them like lesion windows.

    Returns:
        ``{"image", "label": 1, "film", "box", "window_lesion_fraction"}`` dicts; the last is the
        share of the whole window (context included) covered by the infection mask.
    """
    root = Path(root)
    covid = [r for r in rows if r["label"] == "covid"]
    if pool is None:
        pool = [b for r in covid for b in manifest_boxes(r["bbox"])]
    items = []
    for r in covid:
        film = Path(r["file"]).stem
        rng = _film_rng(film, seed + 1)
        lung = _grey(root / r["mask_file"]) > 127
        lesion = _grey(root / r["lesion_mask_file"]) > 127
        box = _away_box(pool, lung, lesion, rng, tries)
        if box is None:
            continue
        y0, x0, y1, x1 = region_window_bounds(box, lesion.shape, context)
        image = torch.from_numpy(_grey(root / r["file"]).astype(np.float32) / 255.0)[None]
        items.append({"image": region_window(image, box, size, context), "label": 1, "film": film, "box": box,
                      "window_lesion_fraction": float(lesion[max(y0, 0):y1, max(x0, 0):x1].mean())})
    return items
